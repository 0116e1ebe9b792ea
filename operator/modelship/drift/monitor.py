"""Continuous drift monitoring of the stable track: read, assess, record.

Every ``spec.drift.interval`` it reads the stable pods' input-feature histograms
over ``spec.drift.window`` through the metrics provider (spec.analysis.provider, or
the pods' own /metrics), counts them in the reference's bins and asks
``drift.assess``; ``decisions.drift.record`` folds the verdict into status. I/O only
through the provider; the reconcile hands in the reference's text (read from its
ConfigMap) and the pods' metrics URLs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from modelship.api import ModelDeploymentSpec
from modelship.api.status import DriftStatus
from modelship.decisions.drift import record, window_due
from modelship.decisions.events import Event
from modelship.drift.read import track_drift
from modelship.drift.reference import Reference
from modelship.providers.pool import DRIFT_SCOPE, ProviderPool, Targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftOutcome:
    status: DriftStatus | None
    events: list[Event] = field(default_factory=list)
    next_in: float | None = None
    evaluated: bool = False


class DriftMonitor:
    def __init__(self, pool: ProviderPool) -> None:
        self.pool = pool

    def run(
        self,
        key: tuple[str, str],
        spec: ModelDeploymentSpec,
        previous: DriftStatus | None,
        now: datetime,
        load_reference: Callable[[], Reference],
        targets: Targets,
    ) -> DriftOutcome:
        """``load_reference`` returns the reference or raises LookupError saying what is
        missing (the ConfigMap, the key), InvalidReferenceError what is invalid."""
        drift = spec.drift
        if drift is None:
            self.pool.forget(key, only=DRIFT_SCOPE)
            return DriftOutcome(None)
        due = window_due(drift, previous, now)
        if not due.due:
            return DriftOutcome(previous, next_in=due.next_in)
        result = track_drift(
            self.pool, key, spec, "stable", DRIFT_SCOPE, due.window, load_reference, targets
        )
        status, events = record(drift, previous, result, now)
        log.info("%s/%s: drift window: %s: %s", *key, status.verdict, status.message)
        return DriftOutcome(status, events, due.next_in, evaluated=True)
