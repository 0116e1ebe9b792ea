"""The write fence: whether this process may change anything in the cluster (or push
to a Git remote) right now.

Without leader election every write is allowed. With it, only the leader writes, and
only while its lease is fresh: the fence is a function of the clock, not a flag set by
the lease loop, so a leader whose renewals stopped (the process was frozen, the loop
starved, the API server unreachable) refuses writes by itself once the renew deadline
has passed, before another replica can take the lease over.
"""

from __future__ import annotations

from collections.abc import Callable

from modelship.errors import ModelshipError


class NotLeaderError(ModelshipError):
    """A write was refused because this process does not hold the leader lease."""


_allowed: Callable[[], bool] | None = None


def install(allowed: Callable[[], bool] | None) -> None:
    """Guard every write with ``allowed`` (None: no guard, a single operator)."""
    global _allowed
    _allowed = allowed


def check(what: str) -> None:
    """Raise NotLeaderError unless writes are allowed now; ``what`` names the write."""
    if _allowed is not None and not _allowed():
        raise NotLeaderError(f"not the leader: refused to {what}")
