"""A real local Kubernetes control plane built from Go modules (see docs/testenv.md).

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as
plain processes on 127.0.0.1; kwok stands in for kubelets on fake CPU, GPU and
MIG nodes. Development and test tooling only: the operator never imports it.
"""

from modelship.devcluster.cluster import Cluster, ClusterError

__all__ = ["Cluster", "ClusterError"]
