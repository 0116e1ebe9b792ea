"""One analysis round end to end: decide whether it is due, read the numbers through
the metrics provider, judge them, fold the result into status.

The only part of analysis that does I/O, and only through the MetricsProvider
Protocol (the Prometheus HTTP API or the pods' /metrics); it never touches the
Kubernetes API: the reconcile passes in the pods' metrics URLs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from modelship.analysis.checks import Observed, measure
from modelship.analysis.presets import PRESETS, Preset, track_labels
from modelship.api.analysis import Analysis as AnalysisSpec
from modelship.api.status import AnalysisStatus, CanaryStatus
from modelship.api.types import parse_duration
from modelship.decisions.analysis import active, begin, plan_round, record_round, rollout_verdict
from modelship.decisions.events import Event
from modelship.decisions.rollout import Analysis
from modelship.drift.assess import DriftAssessment
from modelship.providers import MetricsProvider, ProviderError
from modelship.providers.pool import DRIFT_SCOPE, ProviderPool, Targets
from modelship.providers.prometheus import PrometheusProvider
from modelship.providers.scrape import ScrapeProvider

log = logging.getLogger(__name__)
TRACKS = ("canary", "stable")
# (window seconds, threshold override) -> the canary inputs' drift assessment, or why not
CanaryDrift = Callable[[float, float | None], "DriftAssessment | str"]
NO_DATA_RETRY = 1.0  # seconds between looks while a new canary's metrics are not there yet


@dataclass(frozen=True)
class AnalysisOutcome:
    status: AnalysisStatus | None
    verdict: Analysis
    events: list[Event] = field(default_factory=list)
    next_in: float | None = None  # seconds until the next round, while analysing
    measured: bool = False


class Analyst:
    """Runs analysis rounds with providers from the pool (kept between rounds)."""

    def __init__(self, pool: ProviderPool) -> None:
        self.pool = pool

    def run(
        self,
        key: tuple[str, str],
        spec: AnalysisSpec | None,
        canary: CanaryStatus | None,
        previous: AnalysisStatus | None,
        now: datetime,
        targets: Targets,
        canary_drift: CanaryDrift | None = None,
    ) -> AnalysisOutcome:
        running = active(spec, canary)
        if not running:
            self.forget(key)
        rnd = plan_round(spec, canary, previous, now)
        status = rnd.status
        events: list[Event] = []
        next_in = rnd.next_in
        if rnd.due and spec is not None and status is not None and canary is not None:
            observed = self.observe(
                key, spec, canary.revision.name, rnd.window, targets, canary_drift
            )
            if _not_yet(observed, status, rnd.window, spec):
                # A new pod's series reach Prometheus only after service discovery (up to
                # ~5 s) and two scrapes: look again soon instead of a whole interval later.
                log.info("%s/%s: no canary metrics yet; looking again shortly", *key)
                return AnalysisOutcome(
                    status, rollout_verdict(spec, status, NO_DATA_RETRY), [], NO_DATA_RETRY
                )
            measurements = [measure(c, observed, rnd.look) for c in spec.checks or []]
            what = f"canary {canary.revision.model_version} ({canary.revision.name})"
            status, events = record_round(spec, status, measurements, now, what)
            log.info(
                "%s/%s: analysis round %d over %.0fs: %s: %s",
                *key,
                status.rounds,
                rnd.window,
                status.verdict,
                status.message,
            )
        return AnalysisOutcome(
            status,
            rollout_verdict(spec, status if running else None, next_in),
            events,
            next_in if running else None,
            rnd.due,
        )

    def begin(
        self,
        key: tuple[str, str],
        spec: AnalysisSpec | None,
        canary: CanaryStatus | None,
        outcome: AnalysisOutcome,
        now: datetime,
        targets: Targets,
    ) -> AnalysisOutcome:
        """After the canary decision: start measuring a canary that just got traffic. The
        scrape provider reads stable's pods now, so the window starts from here."""
        status, next_in = begin(spec, canary, outcome.status, now)
        if next_in is None or spec is None or canary is None:
            return outcome
        stable = self._provider(key, spec, canary.revision.name, "stable", targets)
        if isinstance(stable, ScrapeProvider) and _compares_with_stable(spec):
            try:
                stable.prime()
            except ProviderError as exc:
                log.info("%s/%s: could not read stable's metrics yet: %s", *key, exc)
        return replace(outcome, status=status, next_in=next_in)

    def forget(self, key: tuple[str, str]) -> None:
        """No canary to measure: drop canary-scoped histories (drift keeps its own)."""
        self.pool.forget(key, keep=DRIFT_SCOPE)

    def _provider(
        self, key: tuple[str, str], spec: AnalysisSpec, revision: str, track: str, targets: Targets
    ) -> MetricsProvider:
        return self.pool.get(key, spec.provider, revision, track, targets)

    def observe(
        self,
        key: tuple[str, str],
        spec: AnalysisSpec,
        revision: str,
        window: float,
        targets: Targets,
        canary_drift: CanaryDrift | None = None,
    ) -> Observed:
        """Read every number the checks need over ``window`` seconds."""
        preset = PRESETS[spec.preset]
        checks = spec.checks or []
        prometheus = spec.provider is not None and spec.provider.prometheus is not None
        check_errors = _unanswerable(preset, spec)
        metrics = {"request"} | {c.latency.metric for c in checks if c.latency is not None}
        metrics = {m for m in metrics if preset.histogram(m)}
        latency: dict[tuple[str, str], dict[float, float] | None] = {}
        requests: dict[str, float | None] = {}
        errors: dict[str, float | None] = {}
        queries: dict[str, float | None] = {}
        # Stable's pages cost as much to read as the canary's: only when a check uses them.
        tracks = TRACKS if _compares_with_stable(spec) else ("canary",)
        try:
            for track in tracks:
                provider = self._provider(key, spec, revision, track, targets)
                labels = track_labels(preset, key[0], key[1], track, with_namespace=prometheus)
                for metric in sorted(metrics):
                    histogram = preset.histogram(metric)
                    assert histogram is not None
                    latency[(track, metric)] = provider.buckets(histogram, labels, window)
                if preset.requests:
                    requests[track] = provider.increase(preset.requests, labels, window)
                if preset.requests and preset.errors:
                    errors[track] = provider.increase(
                        preset.requests, {**labels, **preset.errors}, window
                    )
            for check in checks:
                if check.query is None:
                    continue
                assert isinstance(provider, PrometheusProvider)
                try:
                    queries[check.name] = provider.scalar(check.query.promql)
                except ProviderError as exc:
                    check_errors[check.name] = str(exc)
        except ProviderError as exc:
            log.info("%s/%s: analysis could not read metrics: %s", *key, exc)
            return Observed(check_errors=check_errors, error=str(exc))
        drift: dict[str, DriftAssessment | str] = {}
        for check in checks:
            if check.drift is None:
                continue
            if canary_drift is None:
                check_errors[check.name] = "drift checks need spec.drift (its reference, method)"
            else:
                drift[check.name] = canary_drift(window, check.drift.threshold)
        return Observed(latency, requests, errors, queries, check_errors, drift=drift)


def _not_yet(observed: Observed, status: AnalysisStatus, window: float, spec: AnalysisSpec) -> bool:
    """No canary series at all before the first round, early in the window."""
    return (
        status.rounds == 0
        and observed.error is None
        and not observed.has_canary_data()
        and window < 2 * parse_duration(spec.interval)
    )


def _compares_with_stable(spec: AnalysisSpec) -> bool:
    """A check that judges the canary against stable (compare, latency maxIncrease)."""
    return any(
        c.compare is not None or (c.latency is not None and c.latency.max_increase is not None)
        for c in spec.checks or []
    )


def _unanswerable(preset: Preset, spec: AnalysisSpec) -> dict[str, str]:
    """Checks the runtime's metrics cannot answer, with the reason."""
    out = {}
    for check in spec.checks or []:
        if check.latency is not None and not preset.histogram(check.latency.metric):
            out[check.name] = f"preset {preset.name} has no {check.latency.metric} latency metric"
        wants_errors = check.error_rate is not None or (
            check.compare is not None and check.compare.metric == "errorRate"
        )
        if wants_errors and not preset.errors:
            out[check.name] = (
                f"preset {preset.name} exposes no error counter; use a query check instead"
            )
    return out
