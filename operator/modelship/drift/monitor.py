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

from modelship.analysis.collect import DRIFT_SCOPE
from modelship.analysis.presets import PRESETS, track_labels
from modelship.api import ModelDeploymentSpec
from modelship.api.status import DriftStatus
from modelship.decisions.drift import record, window_due
from modelship.decisions.events import Event
from modelship.drift.assess import DriftAssessment, assess
from modelship.drift.reference import ReferenceError, live_counts, parse
from modelship.providers import ProviderError
from modelship.providers.pool import ProviderPool, Targets

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
        reference_text: Callable[[], str],
        targets: Targets,
    ) -> DriftOutcome:
        """``reference_text`` returns the reference JSON or raises LookupError saying
        what is missing (the ConfigMap, the key)."""
        drift = spec.drift
        if drift is None:
            self.pool.forget(key, only=DRIFT_SCOPE)
            return DriftOutcome(None)
        due = window_due(drift, previous, now)
        if not due.due:
            return DriftOutcome(previous, next_in=due.next_in)
        result = self.assess(key, spec, due.window, reference_text, targets)
        status, events = record(drift, previous, result, now)
        log.info("%s/%s: drift window: %s: %s", *key, status.verdict, status.message)
        return DriftOutcome(status, events, due.next_in, evaluated=True)

    def assess(
        self,
        key: tuple[str, str],
        spec: ModelDeploymentSpec,
        window: float,
        reference_text: Callable[[], str],
        targets: Targets,
    ) -> DriftAssessment | str:
        assert spec.drift is not None
        provider_spec = spec.analysis.provider if spec.analysis else None
        preset = PRESETS[spec.analysis.preset if spec.analysis else "modelship"]
        if preset.features is None or preset.categories is None:
            return f"preset {preset.name} exposes no input-feature metrics to monitor drift on"
        try:
            reference = parse(reference_text())
        except LookupError as exc:
            return f"drift reference: {exc}"
        except ReferenceError as exc:
            return f"drift reference is not valid: {exc}"
        prometheus = provider_spec is not None and provider_spec.prometheus is not None
        labels = track_labels(preset, key[0], key[1], "stable", with_namespace=prometheus)
        provider = self.pool.get(key, provider_spec, DRIFT_SCOPE, "stable", targets)
        try:
            buckets = provider.increase_by(
                f"{preset.features}_bucket", labels, window, ("feature", "le")
            )
            cats = provider.increase_by(preset.categories, labels, window, ("feature", "category"))
            live = live_counts(reference, buckets, cats)
        except ProviderError as exc:
            return f"could not read the stable track's input metrics: {exc}"
        except ReferenceError as exc:
            return str(exc)
        return assess(reference, live, spec.drift.method, spec.drift.threshold)
