"""A canary that leaves by promotion or a revert keeps its pods a little (pure).

Its weight reaches 0 in the plan that stops rendering it; if its Deployment were pruned
in that same plan, requests a gateway had already routed to it would fail. So the
Deployment is kept (the kernel's ``Keep``), untouched, for spec.rollout.scaleDownDelay
after that plan, and pruned after. An abort keeps its canary the same way
(decisions/steps.py: ``aborted_plan``), at 0 replicas afterwards rather than deleted,
since ``retry`` may bring it back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from modelship.api.status import RetiringCanary, RevisionRef
from modelship.conditions import parse_time, rfc3339
from modelship.observed import DeploymentState


def retiring(
    previous: RetiringCanary | None,
    planned_canary: RevisionRef | None,
    observed: DeploymentState | None,
    delay_seconds: float,
    now: datetime,
) -> tuple[RetiringCanary | None, float | None]:
    """The canary kept while it retires, and the seconds until it may go; (None, None)
    when there is none to keep: a canary is still planned, or none runs, or its time is up."""
    if planned_canary is not None or observed is None or observed.desired_replicas == 0:
        return None, None
    revision = observed.revision or ""
    since = now
    if previous is not None and previous.revision == revision:
        try:
            since = parse_time(previous.since)
        except ValueError:
            since = now  # an unreadable time counts as missing: the delay starts again
    ends = since + timedelta(seconds=delay_seconds)
    if now >= ends:
        return None, None
    return RetiringCanary(revision=revision, since=rfc3339(since)), (ends - now).total_seconds()
