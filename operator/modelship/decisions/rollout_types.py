"""What the canary state machine takes and gives: see ``decisions/rollout.py``.

A module of its own so that ``rollout`` (starting a canary) and ``steps`` (walking it)
can share the types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal

from modelship.api import ModelDeploymentSpec
from modelship.api.status import CanaryStatus, RevisionRef
from modelship.decisions.replicas import GpuNeed
from modelship.kernel.plan import Event
from modelship.observed import DeploymentState


class Command(Enum):
    PROMOTE = "promote"
    PROMOTE_FULL = "promote-full"
    ABORT = "abort"
    RETRY = "retry"


Verdict = Literal["Pass", "Fail", "Inconclusive", "Error"]


@dataclass(frozen=True)
class AnalysisGate:
    """The analysis so far. Fail aborts; Inconclusive or Error pauses. With ``required``
    (checks are configured) a timed pause step ends, and the canary promotes, only
    after a round passed (``passed_at``) since the step started; ``retry_in`` is
    when the next round is due."""

    verdict: Verdict = "Pass"
    message: str = ""
    required: bool = False
    passed_at: datetime | None = None
    retry_in: float | None = None


@dataclass(frozen=True)
class RolloutInput:
    spec: ModelDeploymentSpec
    desired: RevisionRef
    stable: RevisionRef | None
    canary: CanaryStatus | None
    stable_track: DeploymentState | None
    canary_track: DeploymentState | None
    now: datetime
    commands: frozenset[Command] = frozenset()
    paused: bool = False
    exact_weights: bool = False
    gpu: GpuNeed | None = None
    analysis: AnalysisGate = AnalysisGate()


@dataclass(frozen=True)
class RolloutPlan:
    stable_revision: RevisionRef
    stable_replicas: int
    canary_revision: RevisionRef | None  # None: no canary Deployment at all
    canary_replicas: int
    weight: int
    canary: CanaryStatus | None
    promoted: RevisionRef | None = None
    aborted: tuple[str, str] | None = None  # (reason, message) while an abort stands
    capacity_problem: str | None = None
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    repaired: str | None = None  # canary status that was not usable, and what was done
