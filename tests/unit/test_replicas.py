from dataclasses import replace

import pytest

from modelship.decisions.gpu_capacity import GpuFree
from modelship.decisions.replicas import GpuNeed, Split, choose_capacity, split


@pytest.mark.parametrize(
    ("name", "replicas", "weight", "mode", "exact", "expected"),
    [
        ("exact surge keeps stable whole", 2, 10, "surge", True, Split(2, 1, 10)),
        ("exact surge sizes the canary for its share", 10, 50, "surge", True, Split(10, 5, 50)),
        ("ratio surge: one pod beside two is a third", 2, 10, "surge", False, Split(2, 1, 33)),
        ("ratio surge: equal pods at 50%", 2, 50, "surge", False, Split(2, 2, 50)),
        ("ratio surge cannot reach 100 with stable up", 2, 100, "surge", False, Split(2, 2, 50)),
        ("exact swap divides the replicas", 4, 50, "swap", True, Split(2, 2, 50)),
        ("ratio swap divides the replicas", 10, 10, "swap", False, Split(9, 1, 10)),
        ("swap at 100 leaves no stable", 2, 100, "swap", True, Split(0, 2, 100)),
        ("swap with one replica replaces it", 1, 10, "swap", True, Split(0, 1, 100)),
        ("zero replicas", 0, 50, "surge", True, Split(0, 0, 0)),
        ("weight 0 still gets one canary pod", 3, 0, "surge", True, Split(3, 1, 0)),
    ],
)
def test_split(
    name: str, replicas: int, weight: int, mode: str, exact: bool, expected: Split
) -> None:
    assert split(replicas, weight, mode, exact) == expected, name  # type: ignore[arg-type]


def on_one_node(free: int) -> GpuFree:
    return GpuFree.of([free])


@pytest.mark.parametrize(
    ("name", "requested", "pods", "gpu", "mode", "fits"),
    [
        ("cpu model surges", "auto", 2, None, "surge", True),
        ("cpu model honours swap", "swap", 2, None, "swap", True),
        ("auto surges with room", "auto", 2, GpuNeed("g", 1, 1, on_one_node(2)), "surge", True),
        ("auto swaps without room", "auto", 2, GpuNeed("g", 1, 1, on_one_node(1)), "swap", True),
        (
            "swap needs the difference",
            "auto",
            2,
            GpuNeed("g", 2, 1, on_one_node(2)),
            "swap",
            True,
        ),
        ("neither fits", "auto", 2, GpuNeed("g", 4, 1, on_one_node(2)), "swap", False),
        (
            "surge forced without room",
            "surge",
            1,
            GpuNeed("g", 1, 1, on_one_node(0)),
            "surge",
            False,
        ),
    ],
)
def test_choose_capacity(
    name: str, requested: str, pods: int, gpu: GpuNeed | None, mode: str, fits: bool
) -> None:
    choice = choose_capacity(requested, pods, gpu)  # type: ignore[arg-type]
    assert (choice.mode, choice.fits) == (mode, fits), name
    if not fits:
        assert "needs" in choice.message and "room for" in choice.message
        assert "free" in choice.message


def test_gpus_free_across_nodes_are_not_room_for_one_pod() -> None:
    """4-GPU pods, 3 free on each of two nodes: 6 GPUs but no pod fits (the issue's case)."""
    gpu = GpuNeed("nvidia.com/gpu", 4, 4, free=GpuFree.of([3, 3]))
    assert choose_capacity("auto", 1, gpu).mode == "swap"  # was surge, and stayed Pending
    forced = choose_capacity("surge", 1, gpu)
    assert not forced.fits
    assert forced.message == (
        "surge needs 1 pod of 4 nvidia.com/gpu, room for 0: "
        "6 nvidia.com/gpu free, but no node has 4 free for one pod"
    )


def test_pods_fit_per_node_and_count_what_is_left_on_each() -> None:
    free = GpuFree.of([0, 7, 5, 3])
    assert free.per_node == (7, 5, 3) and free.total == 15 and free.largest == 7
    assert (free.pods(1), free.pods(2), free.pods(4), free.pods(8)) == (15, 6, 2, 0)
    gpu = GpuNeed("nvidia.com/gpu", 4, 4, free=free)
    assert choose_capacity("auto", 2, gpu).mode == "surge"
    short = choose_capacity("surge", 3, gpu)
    assert not short.fits
    assert short.message.endswith("room for 2: 15 nvidia.com/gpu free, at most 7 on one node")


def test_a_larger_canary_pod_under_swap_needs_the_difference_on_one_node() -> None:
    """Stable pods take 2, canary pods 4: each replaced stable pod leaves 2 and the
    other 2 must be free on a node too."""
    gpu = GpuNeed("nvidia.com/gpu", 4, 2, free=GpuFree.of([1, 1, 1]))
    choice = choose_capacity("swap", 1, gpu)
    assert not choice.fits
    assert "swap needs 1 pod of 2 more nvidia.com/gpu than the stable's, room for 0" in (
        choice.message
    )
    assert "3 nvidia.com/gpu free, but no node has 2 free for one pod" in choice.message
    assert choose_capacity("swap", 1, replace(gpu, free=GpuFree.of([2, 1]))).fits


def test_mig_slices_are_pods_of_their_own_resource() -> None:
    gpu = GpuNeed("nvidia.com/mig-1g.10gb", 1, 1, free=GpuFree.of([2, 1]))
    assert choose_capacity("auto", 3, gpu).mode == "surge"
    assert choose_capacity("auto", 4, gpu).mode == "swap"
