"""The operator's own metrics (prometheus-client), served with ``--metrics-address``.

Reconciles (count by result, duration), canaries started/promoted/aborted, and each
analysis check's last value and verdict per ModelDeployment.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from modelship.api.status import AnalysisStatus, DriftStatus, ModelDeploymentStatus

REGISTRY = CollectorRegistry()
RECONCILES = Counter(
    "modelship_reconcile_total",
    "Reconciles, by controller kind and result (ok, error).",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "modelship_reconcile_duration_seconds",
    "Time one reconcile took, by controller kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
ROLLOUTS = Counter(
    "modelship_rollouts_total",
    "Canaries by outcome: started, promoted, aborted.",
    ["namespace", "name", "outcome"],
    registry=REGISTRY,
)
CHECK_VALUE = Gauge(
    "modelship_analysis_check_value",
    "The last measured value of an analysis check (seconds, ratio, or the query's unit).",
    ["namespace", "name", "check"],
    registry=REGISTRY,
)
CHECK_VERDICT = Gauge(
    "modelship_analysis_check_verdict",
    "1 for the verdict of an analysis check's last measurement, 0 for the others.",
    ["namespace", "name", "check", "verdict"],
    registry=REGISTRY,
)
DRIFT_SCORE = Gauge(
    "modelship_drift_score",
    "The last drift window's score per input feature (spec.drift.method).",
    ["namespace", "name", "feature"],
    registry=REGISTRY,
)
DRIFTED = Gauge(
    "modelship_drifted",
    "1 when the last drift window found drift, 0 when not (absent while unknown).",
    ["namespace", "name"],
    registry=REGISTRY,
)
PROMOTION_RUNS = Counter(
    "modelship_promotion_runs_total",
    "ModelPromotion runs by outcome: started, succeeded, failed (with the reason).",
    ["namespace", "name", "outcome", "reason"],
    registry=REGISTRY,
)
PROMOTION_GATE = Gauge(
    "modelship_promotion_gate_verdict",
    "1 for the verdict of a ModelPromotion gate's last evaluation, 0 for the others.",
    ["namespace", "name", "gate", "verdict"],
    registry=REGISTRY,
)
VERDICTS = ("Pass", "Fail", "Inconclusive", "Error")
GATE_VERDICTS = (*VERDICTS, "Waiting")
# Label values set per ModelDeployment (namespace and name first), to remove them later.
_series: dict[tuple[str, str], set[tuple[Any, tuple[str, ...]]]] = {}


def _labels(metric: Any, namespace: str, name: str, *rest: str, kind: str = "") -> Any:
    values = (namespace, name, *rest)
    _series.setdefault((namespace, kind + name), set()).add((metric, values))
    return metric.labels(*values)


PROMOTION = "promotion/"  # series of a ModelPromotion are kept apart from a same-named md's


LEADER = Gauge(
    "modelship_leader",
    "1 while this replica may write (holds the leader lease, or leader election is off), "
    "0 for a standby.",
    registry=REGISTRY,
)
SHARD_DEPLOYMENTS = Gauge(
    "modelship_shard_model_deployments",
    "With --selector: the ModelDeployments this shard serves (served), and the other "
    "shards' whose children it has seen and keeps no copy of (foreign).",
    ["state"],
    registry=REGISTRY,
)


def serve(address: str) -> None:
    """Serve /metrics at HOST:PORT in a daemon thread."""
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0", registry=REGISTRY)


def rollout_outcomes(
    namespace: str, name: str, before: ModelDeploymentStatus, after: ModelDeploymentStatus
) -> None:
    old, new = before.canary, after.canary
    if new is not None and (
        old is None or (old.revision.name, old.started_at) != (new.revision.name, new.started_at)
    ):
        _labels(ROLLOUTS, namespace, name, "started").inc()
    if new is not None and new.phase == "Aborted" and (old is None or old.phase != "Aborted"):
        _labels(ROLLOUTS, namespace, name, "aborted").inc()
    if (
        old is not None
        and old.phase != "Aborted"
        and new is None
        and after.stable_revision is not None
        and after.stable_revision.name == old.revision.name
    ):
        _labels(ROLLOUTS, namespace, name, "promoted").inc()


def analysis_round(namespace: str, name: str, status: AnalysisStatus) -> None:
    for check in status.checks:
        if check.value is not None:
            _labels(CHECK_VALUE, namespace, name, check.name).set(check.value)
        for verdict in VERDICTS:
            _labels(CHECK_VERDICT, namespace, name, check.name, verdict).set(
                1.0 if verdict == check.verdict else 0.0
            )


def drift_window(namespace: str, name: str, status: DriftStatus) -> None:
    for feature in status.features:
        _labels(DRIFT_SCORE, namespace, name, feature.name).set(feature.score)
    if status.verdict in ("Drifted", "NotDrifted"):
        _labels(DRIFTED, namespace, name).set(1.0 if status.verdict == "Drifted" else 0.0)


def promotion(namespace: str, name: str, before: Any, after: Any) -> None:
    """A ModelPromotion's status changed (``before``/``after``: its Evidence or None)."""
    if after is None:
        return
    if before is None or before.run != after.run:
        _labels(PROMOTION_RUNS, namespace, name, "started", "", kind=PROMOTION).inc()
    if after.outcome != "Running" and (before is None or before.outcome == "Running"):
        outcome = "succeeded" if after.outcome == "Succeeded" else "failed"
        _labels(PROMOTION_RUNS, namespace, name, outcome, after.reason, kind=PROMOTION).inc()
    for gate in after.gates:
        for verdict in GATE_VERDICTS:
            _labels(PROMOTION_GATE, namespace, name, gate.name, verdict, kind=PROMOTION).set(
                1.0 if verdict == gate.verdict else 0.0
            )


def forget(namespace: str, name: str, kind: str = "") -> None:
    """The ModelDeployment (kind PROMOTION: the ModelPromotion) is gone: drop its series,
    so dashboards do not show it forever."""
    for metric, values in _series.pop((namespace, kind + name), set()):
        with contextlib.suppress(KeyError):
            metric.remove(*values)
