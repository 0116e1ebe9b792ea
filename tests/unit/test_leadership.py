"""The lease rules (decisions/leadership.py) and the write fence (modelship.fence)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modelship import fence
from modelship.decisions.leadership import LeaseRecord, Timing, may_acquire, still_leading
from modelship.errors import TransientError
from modelship.leader import LeaderElector


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


class Leases:
    """The two calls LeaderElector makes, over one Lease in memory, with the API
    server's optimistic concurrency (a stale resourceVersion is refused)."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.version = 0

    def lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        return copy.deepcopy(self.obj)

    def write_lease(self, lease: dict[str, Any], timeout: float) -> dict[str, Any]:
        sent = lease["metadata"].get("resourceVersion")
        current = self.obj["metadata"]["resourceVersion"] if self.obj else None
        if sent != current:
            raise TransientError("409 Conflict")
        self.version += 1
        self.obj = copy.deepcopy(lease)
        self.obj["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.obj)


def test_a_standby_takes_over_only_after_the_lease_went_unrenewed() -> None:
    now = [0.0]
    leases = Leases()
    a = LeaderElector(leases, "ns", "lease", "a_1", clock=lambda: now[0])  # type: ignore[arg-type]
    b = LeaderElector(leases, "ns", "lease", "b_1", clock=lambda: now[0])  # type: ignore[arg-type]
    assert a._acquire_or_renew()
    a._renewed_at = now[0]
    assert a.may_write() and not b.may_write()
    assert not b._acquire_or_renew()  # b starts counting from here
    now[0] = 9.9
    assert a.may_write()
    now[0] = 10.0
    assert not a.may_write(), "a stops writing at the renew deadline"
    now[0] = 14.9
    assert not b._acquire_or_renew(), "the lease has not gone unrenewed for 15 s yet"
    now[0] = 15.0
    assert b._acquire_or_renew()
    assert leases.obj is not None and leases.obj["spec"]["leaseTransitions"] == 1
    # a wakes up: the lease names b, so a's term is over whatever its clock says
    assert not a._acquire_or_renew() and a._displaced


def test_a_renewal_keeps_the_lease_from_a_standby() -> None:
    now = [0.0]
    leases = Leases()
    a = LeaderElector(leases, "ns", "lease", "a_1", clock=lambda: now[0])  # type: ignore[arg-type]
    b = LeaderElector(leases, "ns", "lease", "b_1", clock=lambda: now[0])  # type: ignore[arg-type]
    assert a._acquire_or_renew()
    for t in range(2, 40, 2):
        now[0] = float(t)
        assert a._acquire_or_renew()
        assert not b._acquire_or_renew()
    assert not a._displaced
