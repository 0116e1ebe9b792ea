"""The operator's own metrics (prometheus-client), served with ``--metrics-address``.

Reconciles (count by result, duration), work queue depth and wait, the latency of
requests to the API server and of metrics reads, canaries started/promoted/
aborted and their set and actual weights, each analysis check's last value and verdict,
drift scores, retraining Jobs by outcome, per ModelDeployment. The Grafana dashboard
(hack/grafana.py) reads these names; its unit test fails on a name used there and
defined nowhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from modelship.api.status import (
    AnalysisStatus,
    DriftStatus,
    ModelDeploymentStatus,
    RetrainingStatus,
)

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
QUEUE_DEPTH = Gauge(
    "modelship_workqueue_depth",
    "Keys waiting for a worker in a work queue (not those being reconciled, nor timers "
    "not yet due), by queue: ModelDeployment, ModelPromotion.",
    ["queue"],
    registry=REGISTRY,
)
QUEUE_WAIT_SECONDS = Histogram(
    "modelship_workqueue_queue_duration_seconds",
    "Time a key waited in a work queue for a worker, by queue and lane (urgent: the "
    "object's spec or annotations changed; normal: a child moved, a timer fired).",
    ["queue", "lane"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
KUBE_REQUEST_SECONDS = Histogram(
    "modelship_kube_request_duration_seconds",
    "Time one request to the Kubernetes API server took, from sending it to its body "
    "read, by verb and resource (a plural, with /status for the status subresource).",
    ["verb", "resource"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
METRICS_QUERY_SECONDS = Histogram(
    "modelship_metrics_query_duration_seconds",
    "Time one read of a metrics provider took (a PromQL query; a scrape of one pod), by provider.",
    ["provider"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
CANARY_WEIGHT = Gauge(
    "modelship_canary_weight",
    "Percent of traffic on the canary: weight=set (status.canary.weight, what the operator "
    "asks for) and weight=actual (status.canary.actualWeight, as observed; absent while "
    "unknown); 0 without a canary.",
    ["namespace", "name", "weight"],
    registry=REGISTRY,
)
RETRAINING_JOBS = Counter(
    "modelship_retraining_jobs_total",
    "Retraining Jobs by outcome: started, succeeded, failed.",
    ["namespace", "name", "outcome"],
    registry=REGISTRY,
)
RETRAINING_OUTCOMES = ("started", "succeeded", "failed")
ROLLOUT_OUTCOMES = ("started", "promoted", "aborted")
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


def watch_queue(queue: str, depth: Callable[[], int]) -> None:
    """The depth of work queue ``queue``, read from ``depth`` when scraped (nothing to keep
    in step on every add)."""
    QUEUE_DEPTH.labels(queue).set_function(depth)


def queue_waited(queue: str) -> Callable[[float, bool], None]:
    """The work queue's ``on_wait`` for ``queue``: observes the wait by lane."""

    def observe(seconds: float, urgent: bool) -> None:
        QUEUE_WAIT_SECONDS.labels(queue, "urgent" if urgent else "normal").observe(seconds)

    return observe


def kube_request(verb: str, resource: str, seconds: float) -> None:
    """The Kubernetes client's ``on_request``."""
    KUBE_REQUEST_SECONDS.labels(verb, resource).observe(seconds)


def canary_weights(namespace: str, name: str, status: ModelDeploymentStatus) -> None:
    """Set and actual canary weight, after every reconcile (not only on a status change:
    an operator restarted mid-canary shows its weights at once). The canary outcome
    counters start here too, at 0: a counter whose first sample is already 1 shows no
    increase() in PromQL, so the first abort of a ModelDeployment since the operator
    started would be missed by the chart's ModelshipCanaryAborted alert and by the
    dashboard."""
    for outcome in ROLLOUT_OUTCOMES:
        _labels(ROLLOUTS, namespace, name, outcome)
    canary = status.canary
    set_weight, actual = (0, 0) if canary is None else (canary.weight, canary.actual_weight)
    _labels(CANARY_WEIGHT, namespace, name, "set").set(set_weight)
    if actual is None:
        with contextlib.suppress(KeyError):
            CANARY_WEIGHT.remove(namespace, name, "actual")
    else:
        _labels(CANARY_WEIGHT, namespace, name, "actual").set(actual)


def retraining_jobs(
    namespace: str,
    name: str,
    before: RetrainingStatus | None,
    after: RetrainingStatus | None,
    enabled: bool,
) -> None:
    """Count Jobs started (status.retraining.count grew) and finished (a new
    status.retraining.last). With retraining enabled (``enabled``) every outcome's series
    exists from the first reconcile, at 0: the first Job is then an increase PromQL sees,
    and a panel of failures shows 0 rather than nothing."""
    if enabled:
        for outcome in RETRAINING_OUTCOMES:
            _labels(RETRAINING_JOBS, namespace, name, outcome)
    if after is None:
        return
    started = after.count - (before.count if before is not None else 0)
    if started > 0:
        _labels(RETRAINING_JOBS, namespace, name, "started").inc(started)
    last, was = after.last, before.last if before is not None else None
    if last is not None and (
        was is None or (was.name, was.finished_at) != (last.name, last.finished_at)
    ):
        outcome = "succeeded" if last.outcome == "Succeeded" else "failed"
        _labels(RETRAINING_JOBS, namespace, name, outcome).inc()


def forget(namespace: str, name: str, kind: str = "") -> None:
    """The ModelDeployment (kind PROMOTION: the ModelPromotion) is gone: drop its series,
    so dashboards do not show it forever."""
    for metric, values in _series.pop((namespace, kind + name), set()):
        with contextlib.suppress(KeyError):
            metric.remove(*values)
