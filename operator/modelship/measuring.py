"""What the reconcile measures besides Kubernetes state: canary analysis rounds, drift
of the stable track, and the retraining Jobs drift starts.

One object per operator keeps the metrics providers alive between reconciles (HTTP
pools, scrape histories) and knows where to find a ModelDeployment's pods' metrics and
its drift reference; the decisions themselves stay pure (decisions/analysis.py,
decisions/drift.py, decisions/retraining.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelship import telemetry
from modelship.analysis.collect import AnalysisOutcome, Analyst, CanaryDrift
from modelship.api import ModelDeploymentSpec
from modelship.api.status import CanaryStatus, ModelDeploymentStatus
from modelship.decisions.drift import with_drift
from modelship.decisions.events import Event
from modelship.drift.assess import DriftAssessment
from modelship.drift.monitor import DriftMonitor
from modelship.drift.read import track_drift
from modelship.drift.reference import Reference, parse
from modelship.kube import Kube
from modelship.providers.pool import ProviderPool
from modelship.render.labels import TRACK, Owner
from modelship.retrain import retrain

Obj = dict[str, Any]

# Parsed drift references kept, one per ConfigMap key (least recently used dropped past
# this): parsing 50 features costs ~2 ms, ~50 KiB each once parsed.
REFERENCES_KEPT = 1024


@dataclass(frozen=True)
class Measured:
    """Status with drift and retraining folded in, their Events, when to look again."""

    status: ModelDeploymentStatus
    events: list[Event] = field(default_factory=list)
    waits: tuple[float | None, ...] = ()


class Measuring:
    def __init__(self, kube: Kube, pods: Callable[[Owner], list[Obj]]) -> None:
        self.kube = kube
        self.pods = pods
        self.pool = ProviderPool()
        self.analyst = Analyst(self.pool)
        self.drift = DriftMonitor(self.pool)
        # (namespace, ConfigMap, key) -> (its resourceVersion, the parsed reference)
        self._references: dict[tuple[str, str, str], tuple[str, Reference]] = {}

    def forget(self, key: tuple[str, str]) -> None:
        """The ModelDeployment is gone: drop its providers' histories."""
        self.pool.forget(key)

    def analyse(
        self,
        owner: Owner,
        spec: ModelDeploymentSpec,
        previous: ModelDeploymentStatus,
        now: datetime,
    ) -> AnalysisOutcome:
        """Before the canary decision: a round if one is due, and the verdict."""
        outcome = self.analyst.run(
            (owner.namespace, owner.name),
            spec.analysis,
            previous.canary,
            previous.analysis,
            now,
            lambda track: self.metrics_urls(owner, track),
            self._canary_drift(owner, spec, previous.canary) if spec.drift else None,
        )
        if outcome.measured and outcome.status is not None:
            telemetry.analysis_round(owner.namespace, owner.name, outcome.status)
        return outcome

    def begin(
        self,
        owner: Owner,
        spec: ModelDeploymentSpec,
        canary: CanaryStatus | None,
        outcome: AnalysisOutcome,
        now: datetime,
    ) -> AnalysisOutcome:
        """After the canary decision: start the window of a canary that just got traffic."""
        return self.analyst.begin(
            (owner.namespace, owner.name),
            spec.analysis,
            canary,
            outcome,
            now,
            lambda track: self.metrics_urls(owner, track),
        )

    def after(
        self,
        owner: Owner,
        spec: ModelDeploymentSpec,
        generation: int,
        previous: ModelDeploymentStatus,
        status: ModelDeploymentStatus,
        now: datetime,
    ) -> Measured:
        """Drift of the stable track (when due) and the retraining it may start."""
        drift = self.drift.run(
            (owner.namespace, owner.name),
            spec,
            previous.drift,
            now,
            lambda: self.reference(owner, spec),
            lambda track: self.metrics_urls(owner, track),
        )
        status = with_drift(status, drift.status, generation, now)
        if drift.evaluated and drift.status is not None:
            telemetry.drift_window(owner.namespace, owner.name, drift.status)
        retraining = retrain(self.kube, owner, spec, status.drift, previous.retraining, now)
        status = status.model_copy(update={"retraining": retraining.status})
        return Measured(
            status,
            [*drift.events, *retraining.events],
            (drift.next_in, retraining.requeue_after),
        )

    def _canary_drift(
        self, owner: Owner, spec: ModelDeploymentSpec, canary: CanaryStatus | None
    ) -> CanaryDrift:
        """The canary's inputs against spec.drift's reference (the analysis drift check)."""
        scope = canary.revision.name if canary else "canary"

        def judge(window: float, threshold: float | None) -> DriftAssessment | str:
            return track_drift(
                self.pool,
                (owner.namespace, owner.name),
                spec,
                "canary",
                scope,
                window,
                lambda: self.reference(owner, spec),
                lambda track: self.metrics_urls(owner, track),
                threshold,
            )

        return judge

    def reference(self, owner: Owner, spec: ModelDeploymentSpec) -> Reference:
        """spec.drift's reference from its ConfigMap, parsed again only when the ConfigMap
        changed; LookupError says what is missing, InvalidReferenceError what is invalid."""
        assert spec.drift is not None
        ref = spec.drift.reference.config_map_ref
        cm = self.kube.get("v1", "ConfigMap", owner.namespace, ref.name)
        if cm is None:
            raise LookupError(f"ConfigMap {owner.namespace}/{ref.name} not found")
        data = cm.get("data") or {}
        if ref.key not in data:
            raise LookupError(f"ConfigMap {ref.name} has no key {ref.key!r}")
        where = (owner.namespace, ref.name, ref.key)
        version = str(cm.get("metadata", {}).get("resourceVersion", ""))
        kept = self._references.pop(where, None)
        parsed = kept[1] if kept is not None and kept[0] == version and version else None
        if parsed is None:
            parsed = parse(str(data[ref.key]))
        self._references[where] = (version, parsed)
        while len(self._references) > REFERENCES_KEPT:
            del self._references[next(iter(self._references))]
        return parsed

    def metrics_urls(self, owner: Owner, track: str) -> list[str]:
        """Where the scrape provider reads a track's running pods (their prometheus.io
        annotations, which the operator sets)."""
        urls = []
        for pod in self.pods(owner):
            labels = pod["metadata"].get("labels") or {}
            notes = pod["metadata"].get("annotations") or {}
            ip = (pod.get("status") or {}).get("podIP")
            if labels.get(TRACK) != track or not ip or pod["status"].get("phase") != "Running":
                continue
            port, path = notes.get("prometheus.io/port"), notes.get("prometheus.io/path")
            if port and path:
                urls.append(f"http://{ip}:{port}{path}")
        return urls
