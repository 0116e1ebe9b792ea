"""What an analysis round and a drift window read, through the providers (I/O).

Returns plain readings; the verdicts are made by the pure packages: analysis/checks.py
turns an ``Observed`` into measurements, drift/live.py and drift/assess.py turn a
``FeatureReading`` into a drift assessment. Never touches the Kubernetes API: the
pods' metrics URLs come in as ``Targets``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from modelship.analysis.checks import Observed
from modelship.analysis.presets import PRESETS, Preset, track_labels
from modelship.api.analysis import AnalysisSpec, Check, ProviderSpec
from modelship.conditions import bounded
from modelship.drift.live import FeatureReading, FeatureResult
from modelship.drift.reference import Reference
from modelship.metrics import BackendUnreachable, ProviderError
from modelship.metrics.pool import ProviderPool, Targets

log = logging.getLogger(__name__)
TRACKS = ("canary", "stable")
Key = tuple[str, str]  # namespace, ModelDeployment name
T = TypeVar("T")
WHY_LIMIT = 1024  # characters of a provider's failure kept in a verdict's message


def compares_with_stable(spec: AnalysisSpec) -> bool:
    """A check that judges the canary against stable (compare, latency maxIncrease)."""
    return any(
        c.compare is not None or (c.latency is not None and c.latency.max_increase is not None)
        for c in spec.checks or []
    )


def unanswerable(preset: Preset, spec: AnalysisSpec) -> dict[str, str]:
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


def _why(exc: Exception) -> str:
    """A provider's failure as a verdict's message. ProviderError is the contract; any
    other exception is a provider bug or an answer it did not foresee, and must not stop
    the reconcile (manual commands never wait on analysis)."""
    # A backend's error body can be kilobytes: enough of it to tell what went wrong.
    if isinstance(exc, ProviderError):
        return bounded(str(exc), WHY_LIMIT)
    return bounded(f"the metrics provider failed: {type(exc).__name__}: {exc}", WHY_LIMIT)


class _Reads:
    """The round's reads of the operator's own series, each on its own: a bad answer
    to one is an Error for the checks that use it, not for the round. Once the backend
    is unreachable the rest are not tried (each would wait out the same timeout)."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self.failed: dict[tuple[str, str], str] = {}
        self.down: str | None = None

    def take(self, what: tuple[str, str], read: Callable[..., T | None], *args: Any) -> T | None:
        if self.down is not None:
            self.failed[what] = self.down
            return None
        try:
            return read(*args)
        except Exception as exc:  # any bad answer is an Error verdict, not a failed reconcile
            why = self.failed[what] = _why(exc)
            if isinstance(exc, BackendUnreachable):
                self.down = why
            log.info("%s/%s: analysis could not read %s %s: %s", *self.key, *what, why)
            return None


def _inputs(check: Check, tracks: tuple[str, ...], subject: str) -> list[tuple[str, str]]:
    """The reads a check's verdict is made of (query checks ask their own PromQL)."""
    if check.latency is not None:
        metric = check.latency.metric
        both = check.latency.max_increase is not None
        return [(subject, metric), *([("stable", metric)] if both else [])]
    if check.error_rate is not None:
        return [(subject, "requests"), (subject, "errors")]
    if check.compare is not None:
        return [(t, what) for t in tracks for what in ("request", "requests", "errors")]
    return []


class Readings:
    """Reads through providers from the pool (kept between reconciles)."""

    def __init__(self, pool: ProviderPool | None = None) -> None:
        self.pool = pool or ProviderPool()

    def analysis(
        self,
        key: Key,
        spec: AnalysisSpec,
        revision: str,
        window: float,
        targets: Targets,
        subject: str = "canary",
    ) -> Observed:
        """Every number the checks need over ``window`` seconds (drift checks aside:
        ``canary_features`` reads those). ``subject`` is the track judged: the canary, or
        (a promotion's checks) the stable track alone; ``revision`` scopes scrape
        histories."""
        preset = PRESETS[spec.preset]
        checks = spec.checks or []
        prometheus = spec.provider is not None and spec.provider.prometheus is not None
        check_errors = unanswerable(preset, spec)
        metrics = {c.latency.metric for c in checks if c.latency is not None}
        # Request latency also feeds compare checks and, where the preset counts no
        # requests, tells whether the canary has traffic yet; otherwise it is not read
        # (a histogram is the round's largest answer: at fleet scale a third of its cost).
        if not preset.requests or any(c.compare is not None for c in checks):
            metrics.add("request")
        histograms = {m: h for m in metrics if (h := preset.histogram(m)) is not None}
        latency: dict[tuple[str, str], dict[float, float] | None] = {}
        requests: dict[str, float | None] = {}
        errors: dict[str, float | None] = {}
        queries: dict[str, float | None] = {}
        # Stable's pages cost as much to read as the canary's: only when a check uses them.
        tracks = TRACKS if compares_with_stable(spec) else (subject,)
        reads = _Reads(key)
        for track in tracks:
            provider = self.pool.get(key, spec.provider, revision, track, targets)
            labels = track_labels(preset, key[0], key[1], track, with_namespace=prometheus)
            for metric, histogram in sorted(histograms.items()):
                latency[(track, metric)] = reads.take(
                    (track, metric), provider.buckets, histogram, labels, window
                )
            if preset.requests:
                requests[track] = reads.take(
                    (track, "requests"), provider.increase, preset.requests, labels, window
                )
            if preset.requests and preset.errors:
                failed = {**labels, **preset.errors}
                errors[track] = reads.take(
                    (track, "errors"), provider.increase, preset.requests, failed, window
                )
        for check in checks:
            inputs = _inputs(check, tracks, subject)
            why = next((reads.failed[i] for i in inputs if i in reads.failed), None)
            if why is not None:
                check_errors.setdefault(check.name, why)
        # The user's PromQL is asked whatever happened to the operator's own queries.
        provider = self.pool.get(key, spec.provider, revision, subject, targets)
        for check in checks:
            if check.query is None:
                continue
            try:
                queries[check.name] = provider.scalar(check.query.promql)
            except Exception as exc:  # this check is an Error; the others go on
                check_errors[check.name] = _why(exc)
        return Observed(
            latency,
            requests,
            errors,
            queries,
            check_errors,
            error=reads.down,
            read_error=next(iter(reads.failed.values()), None),
            subject=subject,
        )

    def baseline(self, key: Key, spec: AnalysisSpec, revision: str, targets: Targets) -> None:
        """Before a canary's window starts: where increases are computed here, stable's
        pods are read now so the window has a base (the canary's pods count from zero)."""
        if not compares_with_stable(spec):
            return
        try:
            self.pool.get(key, spec.provider, revision, "stable", targets).prime()
        except Exception as exc:  # the first round will say what is wrong
            log.info("%s/%s: could not read stable's metrics yet: %s", *key, _why(exc))

    def features(
        self,
        key: Key,
        provider_spec: ProviderSpec | None,
        preset_name: str,
        track: str,
        scope: str,
        window: float,
        reference: Reference | str,
        targets: Targets,
    ) -> FeatureResult:
        """``track``'s input-feature increases over ``window`` seconds, or why there are
        none; ``reference`` is the parsed reference or why it could not be had."""
        preset = PRESETS[preset_name]
        if preset.features is None or preset.categories is None:
            return f"preset {preset.name} exposes no input-feature metrics to judge drift on"
        if isinstance(reference, str):
            return reference
        prometheus = provider_spec is not None and provider_spec.prometheus is not None
        labels = track_labels(preset, key[0], key[1], track, with_namespace=prometheus)
        provider = self.pool.get(key, provider_spec, scope, track, targets)
        try:
            buckets = provider.increase_by(
                f"{preset.features}_bucket", labels, window, ("feature", "le")
            )
            cats = provider.increase_by(preset.categories, labels, window, ("feature", "category"))
        except Exception as exc:  # an Error verdict, never a failed reconcile
            return f"could not read the {track} track's input metrics: {_why(exc)}"
        return FeatureReading(reference, buckets, cats)

    def forget(self, key: Key, *, only: str | None = None, keep: str | None = None) -> None:
        self.pool.forget(key, only=only, keep=keep)
