"""The lease rules (decisions/leadership.py) and the write fence (modelship.fence)."""

from __future__ import annotations

import pytest

from modelship import fence
from modelship.decisions.leadership import LeaseRecord, Timing, may_acquire, still_leading


def held(by: str, duration: float = 15.0, renewed: str = "t1") -> LeaseRecord:
    return LeaseRecord(holder=by, lease_duration=duration, renew_time=renewed, transitions=0)


def test_a_missing_or_released_lease_is_free() -> None:
    assert may_acquire(None, 0.0, 0.0, "me")
    assert may_acquire(held(""), 100.0, 100.0, "me")


def test_the_holder_renews_its_own_lease() -> None:
    assert may_acquire(held("me"), 0.0, 1.0, "me")


def test_another_holders_lease_expires_by_the_candidates_own_clock() -> None:
    # seen changing at 100 on this candidate's clock; the lease lasts 15
    assert not may_acquire(held("other"), 100.0, 114.9, "me")
    assert may_acquire(held("other"), 100.0, 115.0, "me")


def test_a_leader_stops_before_its_lease_can_expire() -> None:
    timing = Timing()
    assert still_leading(50.0, 59.9, timing)
    assert not still_leading(50.0, 60.0, timing)
    assert not still_leading(None, 0.0, timing)
    # The standby counts the lease from when it saw it change, which is no earlier
    # than the leader's renewal was sent: the leader stops 5 s before it may take over.
    assert timing.lease_duration - timing.renew_deadline == 5.0


@pytest.mark.parametrize(
    ("timing", "problem"),
    [
        (Timing(retry_period=0), "retry period must be positive"),
        (Timing(renew_deadline=2, retry_period=2), "renew deadline must be longer"),
        (Timing(lease_duration=10, renew_deadline=10), "lease duration must be longer"),
    ],
)
def test_durations_that_allow_two_leaders_are_refused(timing: Timing, problem: str) -> None:
    assert any(problem in p for p in timing.problems())


def test_defaults_are_controller_runtimes() -> None:
    assert Timing() == Timing(15.0, 10.0, 2.0)
    assert Timing().problems() == []


def test_the_fence_refuses_writes_it_does_not_allow() -> None:
    allowed = [True]
    fence.install(lambda: allowed[0])
    try:
        fence.check("PATCH x")
        allowed[0] = False
        with pytest.raises(fence.NotLeaderError, match="refused to PATCH x"):
            fence.check("PATCH x")
    finally:
        fence.install(None)
    fence.check("PATCH x")  # no fence: a single operator writes
