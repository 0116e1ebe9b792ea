"""Free GPUs of one resource (and product) on each node a runtime pod may use.

Counts like the scheduler's NodeResourcesFit: allocatable minus the requests of
pods bound to the node that have not finished. Nodes that are cordoned, lack the
product label asked for, or carry a NoSchedule taint our pods do not tolerate
are left out.

A pod takes all of its GPUs from one node, so the free GPUs are kept per node and
the question asked of them is how many pods of a size fit (``GpuFree.pods``): 3 free
on each of two nodes is 6 GPUs but no room for one 4-GPU pod. MIG slices are their
own extended resources (``nvidia.com/mig-1g.10gb``), counted the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelship.render.serving import GPU_PRODUCT_LABEL, GPU_TAINT

Obj = dict[str, Any]


@dataclass(frozen=True)
class GpuFree:
    """Free GPUs of one kind on each usable node, most first (nodes with none left out)."""

    per_node: tuple[int, ...] = ()

    @classmethod
    def of(cls, counts: Iterable[int]) -> GpuFree:
        return cls(tuple(sorted((c for c in counts if c > 0), reverse=True)))

    @property
    def total(self) -> int:
        return sum(self.per_node)

    @property
    def largest(self) -> int:
        return self.per_node[0] if self.per_node else 0

    def pods(self, per_pod: int) -> int:
        """How many pods taking ``per_pod`` GPUs each the nodes can take."""
        if per_pod <= 0:
            raise ValueError("a pod that takes no GPUs is not counted here")
        return sum(free // per_pod for free in self.per_node)

    def why_short(self, per_pod: int, resource: str) -> str:
        """The free GPUs, and why they are fewer pods than they look when they are."""
        text = f"{self.total} {resource} free"
        if self.total >= per_pod and self.pods(per_pod) == 0:
            return f"{text}, but no node has {per_pod} free for one pod"
        if self.total >= per_pod and len(self.per_node) > 1:
            return f"{text}, at most {self.largest} on one node"
        return text


def _quantity(value: Any) -> int:
    """Extended resources are whole numbers."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _usable(node: Obj, resource: str, product: str | None) -> bool:
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return False
    labels = node["metadata"].get("labels") or {}
    if product and labels.get(GPU_PRODUCT_LABEL) != product:
        return False
    tolerated = {GPU_TAINT, resource}
    return all(
        t.get("effect") not in ("NoSchedule", "NoExecute") or t.get("key") in tolerated
        for t in spec.get("taints") or []
    )


def _requested(pod: Obj, resource: str) -> int:
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        res = container.get("resources") or {}
        amount = (res.get("requests") or {}).get(resource, (res.get("limits") or {}).get(resource))
        total += _quantity(amount) if amount is not None else 0
    return total


def free_gpus(
    nodes: Iterable[Obj], pods: Iterable[Obj], resource: str, product: str | None
) -> GpuFree:
    usable = {
        n["metadata"]["name"]: _quantity(
            (n.get("status") or {}).get("allocatable", {}).get(resource, 0)
        )
        for n in nodes
        if _usable(n, resource, product)
    }
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if node in usable and phase not in ("Succeeded", "Failed"):
            usable[node] -= _requested(pod, resource)
    return GpuFree.of(usable.values())
