"""The Kubernetes I/O layer: the only package that imports a Kubernetes client."""

from modelship.kube.client import Kube, connect, current_namespace

__all__ = ["Kube", "connect", "current_namespace"]
