"""Drift monitoring of the stable track: when a window is due, and what it means (pure).

Every ``spec.drift.interval`` the stable track's inputs over the last ``window`` are
compared with the reference (``drift.assess``). The result becomes ``status.drift``,
the ``Drifted`` condition (True: DriftDetected, False: NoDrift, Unknown: too few rows,
a reference feature without live data, or the metrics/reference could not be read) and
an Event when the verdict changes.
Drifted windows in a row are counted for the retraining trigger; any other verdict
resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from modelship.api.drift import Drift
from modelship.api.status import DriftStatus, FeatureScore, ModelDeploymentStatus
from modelship.api.types import parse_duration
from modelship.conditions import Reason, Status, parse_time, rfc3339, set_condition
from modelship.drift.assess import DriftAssessment, assess
from modelship.drift.live import FeatureReading, live_counts
from modelship.drift.reference import InvalidReferenceError
from modelship.kernel.plan import Event

MAX_FEATURES = 200
DRIFTED = "Drifted"


@dataclass(frozen=True)
class DriftWindow:
    due: bool
    window: float  # seconds
    next_in: float  # seconds until the next window after this one


def window_due(spec: Drift, previous: DriftStatus | None, now: datetime) -> DriftWindow:
    interval = parse_duration(spec.interval)
    window = parse_duration(spec.window)
    if previous is None:
        return DriftWindow(True, window, interval)
    due_at = parse_time(previous.evaluated_at) + timedelta(seconds=interval)
    if now >= due_at:
        return DriftWindow(True, window, interval)
    return DriftWindow(False, window, (due_at - now).total_seconds())


def record(
    spec: Drift,
    previous: DriftStatus | None,
    result: DriftAssessment | str,
    now: datetime,
) -> tuple[DriftStatus, list[Event]]:
    """``result``: the assessment, or why there is none (an Error verdict)."""
    if isinstance(result, str):
        verdict, message, features, threshold = "Error", result, [], spec.threshold or 0.0
    else:
        verdict, message, threshold = result.verdict, result.message, result.threshold
        features = sorted(result.features, key=lambda f: -f.score)[:MAX_FEATURES]
    run = (previous.consecutive_drifted if previous else 0) + 1 if verdict == "Drifted" else 0
    status = DriftStatus(
        verdict=verdict,
        method=spec.method,
        threshold=threshold,
        window=spec.window,
        evaluated_at=rfc3339(now),
        message=message,
        drifted_features=sum(f.drifted for f in features),
        consecutive_drifted=run,
        features=[
            FeatureScore(name=f.name, score=f.score, p_value=f.p_value, drifted=f.drifted)
            for f in features
        ],
    )
    events = []
    if previous is None or previous.verdict != verdict:
        if verdict == "Drifted":
            events.append(Event("Warning", Reason.DRIFT_DETECTED, message))
        elif verdict == "NotDrifted" and previous is not None and previous.verdict == "Drifted":
            events.append(Event("Normal", Reason.DRIFT_CLEARED, message))
        elif verdict in ("Inconclusive", "Error"):
            events.append(Event("Warning", Reason.DRIFT_UNKNOWN, message))
    return status, events


def drifted_condition(status: DriftStatus) -> tuple[Status, str, str]:
    """(status, reason, message) of the Drifted condition."""
    if status.verdict == "Drifted":
        return "True", Reason.DRIFT_DETECTED, status.message
    if status.verdict == "NotDrifted":
        return "False", Reason.NO_DRIFT, status.message
    return "Unknown", Reason.DRIFT_UNKNOWN, status.message


def with_drift(
    status: ModelDeploymentStatus, drift: DriftStatus | None, generation: int, now: datetime
) -> ModelDeploymentStatus:
    """``status`` carrying the drift result and the Drifted condition (none without
    spec.drift: a stale condition would mislead)."""
    if drift is None:
        conditions = [c for c in status.conditions if c.type != DRIFTED]
        return status.model_copy(update={"drift": None, "conditions": conditions})
    value, reason, message = drifted_condition(drift)
    conditions = set_condition(status.conditions, DRIFTED, value, reason, message, generation, now)
    return status.model_copy(update={"drift": drift, "conditions": conditions})


def assess_reading(
    reading: FeatureReading | str, method: str, threshold: float | None
) -> DriftAssessment | str:
    """A track's feature increases, binned as the reference's, judged; or why not."""
    if isinstance(reading, str):
        return reading
    try:
        live = live_counts(reading.reference, reading.buckets, reading.categories)
    except InvalidReferenceError as exc:
        return str(exc)
    return assess(reading.reference, live, method, threshold)
