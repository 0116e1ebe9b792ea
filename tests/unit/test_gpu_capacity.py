from typing import Any

from modelship.decisions.gpu_capacity import free_gpus

H100 = "NVIDIA-H100-80GB-HBM3"


def node(
    name: str,
    gpus: int,
    product: str = H100,
    taint: str | None = "nvidia.com/gpu",
    cordoned: bool = False,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
        "spec": {
            "unschedulable": cordoned,
            "taints": [{"key": taint, "effect": "NoSchedule"}] if taint else [],
        },
        "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}},
    }


def pod(on: str, gpus: int, phase: str = "Running") -> dict[str, Any]:
    return {
        "spec": {
            "nodeName": on,
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": gpus}}}],
        },
        "status": {"phase": phase},
    }


def test_free_is_allocatable_minus_requests_of_unfinished_pods() -> None:
    nodes = [node("a", 8), node("b", 8)]
    pods = [pod("a", 3), pod("a", 2), pod("b", 8, phase="Succeeded"), pod("c", 1)]
    assert free_gpus(nodes, pods, "nvidia.com/gpu", None).per_node == (8, 3)


def test_product_cordon_and_foreign_taints_exclude_nodes() -> None:
    nodes = [
        node("a", 8),
        node("b", 8, product="other"),
        node("c", 8, cordoned=True),
        node("d", 8, taint="dedicated"),
    ]
    assert free_gpus(nodes, [], "nvidia.com/gpu", H100).per_node == (8,)


def test_other_resources_are_not_counted() -> None:
    assert free_gpus([node("a", 8)], [], "nvidia.com/mig-1g.10gb", None).total == 0


def test_each_node_keeps_its_own_count() -> None:
    """Two H100 nodes with 5 of 8 taken on each: 6 free, room for no 4-GPU pod."""
    free = free_gpus(
        [node("a", 8), node("b", 8)], [pod("a", 5), pod("b", 5)], "nvidia.com/gpu", H100
    )
    assert free.per_node == (3, 3) and free.total == 6
    assert free.pods(4) == 0 and free.pods(3) == 2 and free.pods(1) == 6


def test_an_overcommitted_node_counts_as_none_free() -> None:
    free = free_gpus([node("a", 2), node("b", 8)], [pod("a", 4)], "nvidia.com/gpu", None)
    assert free.per_node == (8,) and free.pods(8) == 1
