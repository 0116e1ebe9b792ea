"""Who may hold the leader lease: pure rules over a Lease as this candidate saw it.

The rules are client-go's: a candidate never compares the lease's renewTime with its
own clock (the clocks of two machines differ); it notes, on its own monotonic clock,
when it last saw the lease's record change, and counts the lease as expired once it has
not changed for leaseDurationSeconds. A leader keeps leading only while its last
successful renewal is younger than the renew deadline, which is shorter than the lease:
it stops writing before any other candidate can count the lease as expired.
"""

from __future__ import annotations

from dataclasses import dataclass

# controller-runtime's defaults (seconds).
LEASE_DURATION = 15.0
RENEW_DEADLINE = 10.0
RETRY_PERIOD = 2.0


@dataclass(frozen=True)
class Timing:
    lease_duration: float = LEASE_DURATION
    renew_deadline: float = RENEW_DEADLINE
    retry_period: float = RETRY_PERIOD

    def problems(self) -> list[str]:
        """Why these durations cannot guarantee a single leader (empty: they can)."""
        found = []
        if self.retry_period <= 0:
            found.append("the retry period must be positive")
        if self.renew_deadline <= self.retry_period:
            found.append("the renew deadline must be longer than the retry period")
        if self.lease_duration <= self.renew_deadline:
            found.append("the lease duration must be longer than the renew deadline")
        return found


@dataclass(frozen=True)
class LeaseRecord:
    """The spec of a coordination.k8s.io/v1 Lease, as far as leadership goes."""

    holder: str  # "" once released
    lease_duration: float
    renew_time: str
    transitions: int

    @property
    def released(self) -> bool:
        return not self.holder


def may_acquire(
    record: LeaseRecord | None, seen_changing_at: float, now: float, identity: str
) -> bool:
    """Whether ``identity`` may write itself into the lease now. ``seen_changing_at``:
    when (on this candidate's clock) the record was last seen to change."""
    if record is None or record.released or record.holder == identity:
        return True
    return now - seen_changing_at >= record.lease_duration


def still_leading(renewed_at: float | None, now: float, timing: Timing) -> bool:
    """Whether a leader whose last successful renewal was at ``renewed_at`` may still
    write."""
    return renewed_at is not None and now - renewed_at < timing.renew_deadline
