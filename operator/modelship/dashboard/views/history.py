"""What the dashboard remembers between watch events: pure, bounded, per object.

A ModelDeployment's status holds only the last analysis round (each check's value,
threshold and verdict) and the last drift window. The charts want every round and
every window, so the dashboard keeps them as it sees them go by on its watch: each new
``analysis.rounds`` (or ``lastRoundAt``) adds one round, each new ``drift.evaluatedAt``
one window, each change of the canary's weight or phase one timeline point. History
therefore starts when the dashboard starts (the page says so); what happened before
comes from status (the last round, the current window) and from the Events.

``observe(history, obj)`` is a pure function: it returns the new history and never
mutates its input, so the watch thread's updates and the page renderers never see a
half-written history.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from modelship.api.status import ModelDeploymentStatus

LIMIT = 200  # rounds, windows and timeline points kept per object

Obj = dict[str, Any]


@dataclass(frozen=True)
class CheckRound:
    revision: str
    round: int
    at: str
    value: float | None
    threshold: float | None
    verdict: str


@dataclass(frozen=True)
class DriftWindow:
    at: str
    verdict: str
    threshold: float
    consecutive: int
    scores: tuple[tuple[str, float], ...]  # (feature, score), as status lists them

    @property
    def top(self) -> float | None:
        return max((s for _, s in self.scores), default=None)


@dataclass(frozen=True)
class WeightSample:
    at: str
    revision: str
    weight: int
    phase: str
    step: int


@dataclass(frozen=True)
class History:
    checks: dict[str, tuple[CheckRound, ...]] = field(default_factory=dict)
    windows: tuple[DriftWindow, ...] = ()
    weights: tuple[WeightSample, ...] = ()


def _keep(items: tuple[Any, ...]) -> tuple[Any, ...]:
    return items[-LIMIT:]


def observe(history: History, obj: Obj) -> History:
    """History with what ``obj``'s status adds to it (nothing when it adds nothing)."""
    try:
        st = ModelDeploymentStatus.model_validate(obj.get("status") or {})
    except ValueError:  # a status the dashboard cannot read adds nothing
        return history
    checks = dict(history.checks)
    a = st.analysis
    if a is not None and a.rounds > 0:
        for check in a.checks:
            rounds = checks.get(check.name, ())
            last = rounds[-1] if rounds else None
            if last is not None and last.revision == a.revision and last.round >= a.rounds:
                continue
            if last is not None and last.revision != a.revision:
                rounds = ()  # a new canary: its own rounds
            point = CheckRound(
                a.revision,
                a.rounds,
                a.last_round_at or "",
                check.value,
                check.threshold,
                check.verdict,
            )
            checks[check.name] = _keep((*rounds, point))
    windows = history.windows
    d = st.drift
    if d is not None and (not windows or windows[-1].at != d.evaluated_at):
        window = DriftWindow(
            d.evaluated_at,
            d.verdict,
            d.threshold,
            d.consecutive_drifted,
            tuple((f.name, f.score) for f in d.features),
        )
        windows = _keep((*windows, window))
    weights = history.weights
    c = st.canary
    if c is not None:
        sample = WeightSample(
            c.last_progress_at or c.started_at, c.revision.name, c.weight, c.phase, c.step
        )
        prev = weights[-1] if weights else None
        if prev is None or (prev.revision, prev.weight, prev.phase) != (
            sample.revision,
            sample.weight,
            sample.phase,
        ):
            weights = _keep((*weights, sample))
    elif weights and weights[-1].phase != "Done":
        # The canary is gone (promoted or dropped): the timeline ends.
        # Promoted: the canary took all traffic and became stable; else it went to 0.
        final = weights[-1]
        newest = st.history[0] if st.history else None
        at = newest.deployed_at if newest is not None and newest.deployed_at else final.at
        promoted = newest is not None and newest.revision == final.revision
        weight = 100 if promoted else 0
        weights = _keep((*weights, replace(final, at=at, weight=weight, phase="Done")))
    if checks == history.checks and windows is history.windows and weights is history.weights:
        return history
    return History(checks, windows, weights)
