"""Free GPUs of one resource (and product) on the nodes a runtime pod may use.

Counts like the scheduler's NodeResourcesFit: allocatable minus the requests of
pods bound to the node that have not finished. Nodes that are cordoned, lack the
product label asked for, or carry a NoSchedule taint our pods do not tolerate
are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelship.render.serving import GPU_PRODUCT_LABEL, GPU_TAINT

Obj = dict[str, Any]


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


def free_gpus(nodes: Iterable[Obj], pods: Iterable[Obj], resource: str, product: str | None) -> int:
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
    return sum(max(0, free) for free in usable.values())
