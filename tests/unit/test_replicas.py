import pytest

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


@pytest.mark.parametrize(
    ("name", "requested", "pods", "gpu", "mode", "fits"),
    [
        ("cpu model surges", "auto", 2, None, "surge", True),
        ("cpu model honours swap", "swap", 2, None, "swap", True),
        ("auto surges with room", "auto", 2, GpuNeed("g", 1, 1, free=2), "surge", True),
        ("auto swaps without room", "auto", 2, GpuNeed("g", 1, 1, free=1), "swap", True),
        ("swap needs the difference", "auto", 2, GpuNeed("g", 2, 1, free=2), "swap", True),
        ("neither fits", "auto", 2, GpuNeed("g", 4, 1, free=2), "swap", False),
        ("surge forced without room", "surge", 1, GpuNeed("g", 1, 1, free=0), "surge", False),
    ],
)
def test_choose_capacity(
    name: str, requested: str, pods: int, gpu: GpuNeed | None, mode: str, fits: bool
) -> None:
    choice = choose_capacity(requested, pods, gpu)  # type: ignore[arg-type]
    assert (choice.mode, choice.fits) == (mode, fits), name
    if not fits:
        assert "needed" in choice.message and "free" in choice.message
