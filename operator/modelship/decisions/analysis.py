"""Analysis rounds of a canary: when one is due, and what its measurements mean (pure).

A round is due one ``interval`` after the canary first took traffic and every
interval after that; it measures from that first moment to now, so later rounds see
more data. Failed rounds are counted for the canary's life (``failureLimit`` of them
abort); inconclusive ones only in a row (``inconclusiveLimit`` of them pause, until
a round passes). A retry or a new canary starts the count again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from modelship.analysis.checks import Observed, measure
from modelship.analysis.verdict import Measurement, Verdict
from modelship.api.analysis import AnalysisSpec
from modelship.api.status import AnalysisStatus, CanaryStatus, CheckResult
from modelship.api.types import parse_duration
from modelship.conditions import Reason, parse_time, rfc3339
from modelship.decisions.rollout import AnalysisGate
from modelship.drift.assess import DriftAssessment
from modelship.kernel.plan import Event

_SEVERITY: dict[Verdict, int] = {"Pass": 0, "Inconclusive": 1, "Error": 2, "Fail": 3}
_VERDICT_REASONS: dict[Verdict, str] = {
    "Pass": Reason.ANALYSIS_PASS,
    "Inconclusive": Reason.ANALYSIS_INCONCLUSIVE,
    "Error": Reason.ANALYSIS_ERROR,
    "Fail": Reason.ANALYSIS_FAILED,
}
# Seconds between looks while a new canary's metrics are not there yet: a new pod's
# series reach Prometheus only after service discovery (up to ~5 s) and two scrapes.
NO_DATA_RETRY = 1.0


@dataclass(frozen=True)
class Round:
    """What the reconcile must do now: measure (``due``) over ``window`` seconds."""

    status: AnalysisStatus | None
    due: bool = False
    window: float = 0.0
    look: int = 1
    next_in: float | None = None  # seconds until the next round


def active(spec: AnalysisSpec | None, canary: CanaryStatus | None) -> bool:
    return (
        spec is not None
        and bool(spec.checks)
        and canary is not None
        and canary.phase in ("Progressing", "Paused")
    )


def plan_round(
    spec: AnalysisSpec | None,
    canary: CanaryStatus | None,
    previous: AnalysisStatus | None,
    now: datetime,
) -> Round:
    """Start, continue or leave alone the analysis of ``canary``."""
    if spec is None or canary is None or not active(spec, canary):
        return Round(previous)
    status = previous
    fresh = (
        status is None
        or status.revision != canary.revision.name
        or parse_time(status.since) < parse_time(canary.started_at)
    )
    if fresh:
        if canary.weight <= 0:
            # Nothing to measure before the canary takes traffic, and nothing carried
            # over: another revision's (or an earlier try's) rounds never judge this one.
            return Round(None)
        status = AnalysisStatus(revision=canary.revision.name, since=rfc3339(now))
    assert status is not None
    interval = parse_duration(spec.interval)
    last = parse_time(status.last_round_at or status.since)
    due_at = last + timedelta(seconds=interval)
    if now < due_at:
        return Round(status, next_in=(due_at - now).total_seconds())
    window = (now - parse_time(status.since)).total_seconds()
    return Round(status, due=True, window=window, look=status.rounds + 1, next_in=interval)


def begin(
    spec: AnalysisSpec | None,
    canary: CanaryStatus | None,
    status: AnalysisStatus | None,
    now: datetime,
) -> tuple[AnalysisStatus | None, float | None]:
    """Start the window in the very reconcile that gave the canary traffic (so the first
    round comes one interval after the breach could begin, not at the next event)."""
    rnd = plan_round(spec, canary, status, now)
    if rnd.status is status or rnd.status is None:
        return status, None
    return rnd.status, rnd.next_in


def record_round(
    spec: AnalysisSpec,
    status: AnalysisStatus,
    measurements: Sequence[Measurement],
    now: datetime,
    canary_text: str,
) -> tuple[AnalysisStatus, list[Event]]:
    """Fold one round's measurements into the status; Events when the verdict changes
    and for every failed round."""
    verdict: Verdict = max(
        (m.verdict for m in measurements), key=_SEVERITY.__getitem__, default="Pass"
    )
    worst = [m for m in measurements if m.verdict == verdict] if verdict != "Pass" else []
    message = "; ".join(f"{m.check}: {m.message}" for m in worst) or "all checks passed"
    stamp = rfc3339(now)
    updated = status.model_copy(
        update={
            "rounds": status.rounds + 1,
            "failures": status.failures + (verdict == "Fail"),
            "inconclusive": status.inconclusive + 1 if verdict in ("Inconclusive", "Error") else 0,
            "verdict": verdict,
            "message": message,
            "last_round_at": stamp,
            "last_pass_at": stamp if verdict == "Pass" else status.last_pass_at,
            "checks": [
                CheckResult(
                    name=m.check,
                    verdict=m.verdict,
                    value=m.value,
                    threshold=m.threshold,
                    message=m.message,
                )
                for m in measurements
            ],
        }
    )
    events = []
    if verdict == "Fail":
        events.append(
            Event(
                "Warning",
                Reason.ANALYSIS_ROUND_FAILED,
                f"{canary_text}: {message} ({updated.failures} of {spec.failure_limit} failures)",
            )
        )
    elif verdict != status.verdict:
        events.append(
            Event(
                "Normal" if verdict == "Pass" else "Warning",
                _VERDICT_REASONS[verdict],
                f"{canary_text}: {message}",
            )
        )
    return updated, events


def rollout_verdict(
    spec: AnalysisSpec | None, status: AnalysisStatus | None, nxt: float | None
) -> AnalysisGate:
    """What the canary state machine must do with the analysis so far."""
    if spec is None or not spec.checks:
        return AnalysisGate()
    if status is None:
        return AnalysisGate(required=True, retry_in=nxt)
    if spec.failure_limit and status.failures >= spec.failure_limit:
        return AnalysisGate(
            "Fail", f"{status.message} ({status.failures} of {spec.failure_limit} failures)"
        )
    if (
        spec.inconclusive_limit
        and status.inconclusive >= spec.inconclusive_limit
        and status.verdict
        in (
            "Inconclusive",
            "Error",
        )
    ):
        return AnalysisGate(
            status.verdict,
            f"{status.message} ({status.inconclusive} inconclusive rounds in a row)",
        )
    passed = parse_time(status.last_pass_at) if status.last_pass_at else None
    return AnalysisGate(required=True, passed_at=passed, retry_in=nxt)


def window_pending(
    spec: AnalysisSpec | None, canary: CanaryStatus | None, status: AnalysisStatus | None
) -> bool:
    """A measured canary whose window has not started yet (it starts when the canary
    first takes traffic): the time to take stable's baseline."""
    if spec is None or canary is None or not active(spec, canary):
        return False
    return (
        status is None
        or status.revision != canary.revision.name
        or parse_time(status.since) < parse_time(canary.started_at)
    )


@dataclass(frozen=True)
class AnalysisResult:
    """The analysis after this reconcile: status, the gate the canary machine takes,
    Events, seconds until the next round (while analysing), whether a round ran."""

    status: AnalysisStatus | None
    gate: AnalysisGate
    events: list[Event] = field(default_factory=list)
    next_in: float | None = None
    measured: bool = False


def _not_yet(observed: Observed, status: AnalysisStatus, window: float, spec: AnalysisSpec) -> bool:
    """No canary series at all before the first round, early in the window."""
    return (
        status.rounds == 0
        and observed.error is None
        and observed.read_error is None  # a bad answer is news now, not data to wait for
        and not observed.has_canary_data()
        and window < 2 * parse_duration(spec.interval)
    )


def analyse(
    spec: AnalysisSpec | None,
    canary: CanaryStatus | None,
    previous: AnalysisStatus | None,
    now: datetime,
    observed: Observed | None,
    drift: Mapping[str, DriftAssessment | str] | None = None,
) -> AnalysisResult:
    """A round if one is due (``observed``: what observe read for it; ``drift``: each
    drift check's assessment of the canary's inputs), folded into status."""
    running = active(spec, canary)
    rnd = plan_round(spec, canary, previous, now)
    status, next_in = rnd.status, rnd.next_in
    events: list[Event] = []
    if rnd.due and spec is not None and status is not None and canary is not None:
        seen = observed if observed is not None else Observed(error="metrics were not read")
        seen = replace(seen, drift=dict(drift or {}))
        if _not_yet(seen, status, rnd.window, spec):
            gate = rollout_verdict(spec, status, NO_DATA_RETRY)
            return AnalysisResult(status, gate, [], NO_DATA_RETRY)
        measurements = [measure(c, seen, rnd.look) for c in spec.checks or []]
        what = f"canary {canary.revision.model_version} ({canary.revision.name})"
        status, events = record_round(spec, status, measurements, now, what)
    return AnalysisResult(
        status,
        rollout_verdict(spec, status if running else None, next_in),
        events,
        next_in if running else None,
        rnd.due,
    )


def begin_window(
    spec: AnalysisSpec | None, canary: CanaryStatus | None, result: AnalysisResult, now: datetime
) -> AnalysisResult:
    """After the canary decision: start the window of a canary that just got traffic."""
    status, next_in = begin(spec, canary, result.status, now)
    if next_in is None:
        return result
    return replace(result, status=status, next_in=next_in)
