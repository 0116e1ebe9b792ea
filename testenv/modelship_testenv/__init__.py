"""A real local Kubernetes control plane built from Go modules (see docs/testenv.md).

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as
plain processes on 127.0.0.1; kwok stands in for kubelets on fake CPU, GPU and
MIG nodes. Development and test tooling only, in its own package
(``modelship-testenv``, testenv/ of the source checkout): it needs that checkout
(hack/, crds/, examples/), so the operator's wheel and image do not carry it.
"""

from modelship_testenv.cluster import Cluster, ClusterError

__all__ = ["Cluster", "ClusterError"]
