#!/usr/bin/env python3
"""Write charts/modelship/files/grafana-dashboard.json, the Grafana dashboard the chart
ships as a ConfigMap (grafanaDashboard.enabled), from the panels below.

The panels are data: a row is a title and its panels, a panel a title, a type, a unit and
its PromQL. Ids and positions (gridPos) are computed here, so a panel added in the middle
renumbers nothing by hand. ``--check`` writes nothing and fails when the file is stale.

Series and their labels (docs/analysis.md, "Operator metrics"; docs/runtime.md):
- the operator's own (operator/modelship/telemetry.py) carry ``namespace`` and ``name``
  of the ModelDeployment or ModelPromotion; the scrape adds ``pod`` (which replica said
  it) and its own ``namespace``, which turns the operator's into ``exported_namespace``
  unless the scrape honours labels;
- the runtime's carry ``model``, ``version``, ``track``; Kubernetes service discovery
  adds ``namespace`` and ``pod``. A ModelDeployment's pods are NAME-TRACK-<hash>-<id>,
  the same selector the prometheus metrics provider uses (analysis/presets.py).

Template variables: ``datasource`` (a Prometheus), ``ns_label`` (which label holds a
ModelDeployment's namespace on the operator's series, see NS below), ``namespace``
(multi), ``model`` (the ModelDeployments in those namespaces, multi). The
per-ModelDeployment rows repeat for each selected model, so each repetition reads one
ModelDeployment: canary and stable side by side in one panel, told apart by ``track``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "charts" / "modelship" / "files" / "grafana-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24  # Grafana's grid
HEIGHT = 8

# The operator's series of ModelDeployments: their namespace is exported_namespace when
# the scrape keeps the target's own namespace label (the chart's ServiceMonitor and
# PodMonitor, and the PrometheusRule's alerts, go by that), namespace when it honours
# the operator's labels: the ns_label variable says which.
NS = '$ns_label=~"$namespace"'
MD = f'{NS}, name=~"$model"'  # the operator's series of one ModelDeployment
# The runtime's series of one ModelDeployment: its pods, as analysis/presets.py selects
# (the runtime exports no namespace label: service discovery's is the pod's).
PODS = 'namespace=~"$namespace", pod=~"$model-(stable|canary)-[a-z0-9]+-[a-z0-9]+"'
RATE = "[$__rate_interval]"


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    description: str
    kind: str = "timeseries"
    unit: str = "short"
    width: int = 8
    height: int = HEIGHT
    options: dict[str, Any] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]
    repeat: str | None = None


def quantiles(metric: str, by: str, selector: str = "") -> tuple[Target, ...]:
    sel = f"{{{selector}}}" if selector else ""
    return tuple(
        Target(
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{sel}{RATE})))",
            f"{{{{{by}}}}} p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    )


def per_track_rate(selector: str) -> str:
    return f"sum by (track) (rate(modelship_requests_total{{{selector}}}{RATE}))"


def error_ratio() -> str:
    """5xx share per track; a track without errors shows 0 (the ``or`` adds it), not a
    gap that reads as "no data"."""
    errors = per_track_rate(f'{PODS}, code=~"5.."')
    every = per_track_rate(PODS)
    return f"({errors} or 0 * {every}) / {every}"


def zero_filled(expr: str, base: str) -> str:
    """``expr``, and 0 for every group of ``base`` that ``expr`` has not (a counter whose
    label value has not occurred yet)."""
    return f"{expr} or 0 * {base}"


OPERATOR = Row(
    "Operator",
    (
        Panel(
            "Reconciles by result",
            (
                Target(
                    f"sum by (kind, result) (rate(modelship_reconcile_total{RATE}))",
                    "{{kind}} {{result}}",
                ),
            ),
            "Reconciles per second, by controller kind and result (ok, error).",
            unit="ops",
        ),
        Panel(
            "Reconcile errors",
            (
                Target(
                    zero_filled(
                        f'sum by (kind) (rate(modelship_reconcile_total{{result="error"}}{RATE}))',
                        f"sum by (kind) (rate(modelship_reconcile_total{RATE}))",
                    ),
                    "{{kind}}",
                ),
            ),
            "Failed reconciles per second (retried with backoff); the operator log says why.",
            unit="ops",
        ),
        Panel(
            "Reconcile duration",
            quantiles("modelship_reconcile_duration_seconds", "kind"),
            "p50, p95 and p99 of one reconcile (observe, decide, execute), by kind.",
            unit="s",
        ),
        Panel(
            "Work queue depth",
            (Target("sum by (pod, queue) (modelship_workqueue_depth)", "{{pod}} {{queue}}"),),
            "Keys waiting for a worker, per replica and queue. Growing: reconciles do not "
            "keep up (more workers, or shard the fleet).",
        ),
        Panel(
            "Work queue wait",
            (
                Target(
                    "histogram_quantile(0.99, sum by (le, queue, lane) "
                    f"(rate(modelship_workqueue_queue_duration_seconds_bucket{RATE})))",
                    "{{queue}} {{lane}} p99",
                ),
            ),
            "p99 of the time a key waited for a worker, by queue and lane (urgent: the "
            "object itself changed). High for urgent keys: every worker is busy.",
            unit="s",
        ),
        Panel(
            "API server request latency",
            quantiles("modelship_kube_request_duration_seconds", "verb"),
            "p50, p95 and p99 of the operator's requests to the Kubernetes API server, by "
            "verb. Most of a slow reconcile is usually here.",
            unit="s",
        ),
        Panel(
            "Metrics provider latency",
            quantiles("modelship_metrics_query_duration_seconds", "provider"),
            "p50, p95 and p99 of one metrics read (a PromQL query, a scrape of one pod), "
            "by provider.",
            unit="s",
        ),
        Panel(
            "Leader",
            (Target("max by (pod) (modelship_leader)", "{{pod}}", instant=True),),
            "1 for the replica that may write (holds the Lease), 0 for standbys.",
            kind="stat",
            options={"colorMode": "background", "graphMode": "none", "textMode": "value_and_name"},
        ),
        Panel(
            "Shards",
            (
                Target(
                    "sum by (pod, state) (modelship_shard_model_deployments)",
                    "{{pod}} {{state}}",
                ),
            ),
            "With --selector: ModelDeployments each shard serves, and the other shards' "
            "it has seen (foreign).",
        ),
    ),
)

CANARY = Row(
    "$model: canary vs stable",
    (
        Panel(
            "Latency per track",
            quantiles("modelship_request_duration_seconds", "track", PODS),
            "p50, p95 and p99 request latency of the stable and canary pods side by side.",
            unit="s",
            width=12,
        ),
        Panel(
            "Error rate per track",
            (Target(error_ratio(), "{{track}}"),),
            "Share of 5xx responses per track.",
            unit="percentunit",
            width=12,
            min=0,
        ),
        Panel(
            "Request rate per track",
            (Target(per_track_rate(PODS), "{{track}}"),),
            "Requests per second each track serves.",
            unit="reqps",
        ),
        Panel(
            "Canary weight: set vs actual",
            (
                Target(
                    f"max by (weight) (modelship_canary_weight{{{MD}}})",
                    "{{weight}}",
                ),
            ),
            "set: the percent of traffic the operator asks for (status.canary.weight); "
            "actual: as observed on the HTTPRoute or the ready pods' share. 0 without a "
            "canary.",
            unit="percent",
            min=0,
            max=100,
        ),
        Panel(
            "Requests in flight per track",
            (
                Target(
                    f"sum by (track) (modelship_requests_in_flight{{{PODS}}})",
                    "{{track}}",
                ),
            ),
            "Requests being served now, per track.",
        ),
        Panel(
            "Canaries by outcome",
            (
                Target(
                    f"sum by (outcome) (increase(modelship_rollouts_total{{{MD}}}[$__range]))",
                    "{{outcome}}",
                    instant=True,
                ),
            ),
            "Canaries started, promoted and aborted in the time range.",
            kind="bargauge",
            width=8,
        ),
        Panel(
            "Analysis check values",
            (
                Target(
                    f"max by (check) (modelship_analysis_check_value{{{MD}}})",
                    "{{check}}",
                ),
            ),
            "Each analysis check's last measured value (seconds, ratio, or the query's "
            "unit), per round; `modelship status NAME` shows it against its threshold.",
            width=8,
        ),
        Panel(
            "Analysis check verdicts",
            (
                Target(
                    f"max by (check, verdict) (modelship_analysis_check_verdict{{{MD}}}) == 1",
                    "{{check}}: {{verdict}}",
                    instant=True,
                ),
            ),
            "The verdict of each check's last measurement: Pass, Fail, Inconclusive "
            "(too little data: never a rollback) or Error.",
            kind="table",
            width=8,
        ),
    ),
    repeat="model",
)

DRIFT = Row(
    "$model: drift and retraining",
    (
        Panel(
            "Drift score per feature",
            (
                Target(
                    f"max by (feature) (modelship_drift_score{{{MD}}})",
                    "{{feature}}",
                ),
            ),
            "The last drift window's score per input feature (spec.drift.method).",
            width=12,
        ),
        Panel(
            "Drifted",
            (Target(f"max(modelship_drifted{{{MD}}})", "drifted"),),
            "1 when the last drift window found drift, 0 when not.",
            kind="state-timeline",
            width=6,
            min=0,
            max=1,
        ),
        Panel(
            "Retraining Jobs by outcome",
            (
                Target(
                    "sum by (outcome) "
                    f"(increase(modelship_retraining_jobs_total{{{MD}}}[$__range]))",
                    "{{outcome}}",
                    instant=True,
                ),
            ),
            "Retraining Jobs started, succeeded and failed in the time range.",
            kind="bargauge",
            width=6,
        ),
    ),
    repeat="model",
)

PROMOTIONS = Row(
    "Promotions",
    (
        Panel(
            "Promotion runs by outcome",
            (
                Target(
                    "sum by ($ns_label, name, outcome, reason) "
                    f"(increase(modelship_promotion_runs_total{{{NS}}}[$__range]))",
                    "{{name}} {{outcome}} {{reason}}",
                    instant=True,
                ),
            ),
            "ModelPromotion runs started, succeeded and failed (with the reason) in the "
            "time range.",
            kind="bargauge",
            width=12,
        ),
        Panel(
            "Promotion gate verdicts",
            (
                Target(
                    "max by ($ns_label, name, gate, verdict) "
                    f"(modelship_promotion_gate_verdict{{{NS}}}) == 1",
                    "{{name}} {{gate}}: {{verdict}}",
                    instant=True,
                ),
            ),
            "Each gate's last verdict: Pass, Fail, Inconclusive, Error, or Waiting (a soak "
            "or an approval not there yet).",
            kind="table",
            width=12,
        ),
    ),
)

ROWS = (OPERATOR, CANARY, DRIFT, PROMOTIONS)


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": name},
        "refresh": 2,  # on time range change
        "includeAll": True,
        "multi": True,
        "sort": 1,
        "current": {},
        "options": [],
    }


def templating() -> dict[str, Any]:
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "options": [],
            },
            {
                "name": "ns_label",
                "label": "Namespace label",
                "description": "The label holding a ModelDeployment's namespace on the "
                "operator's series: exported_namespace when the scrape keeps its own "
                "namespace label (the chart's ServiceMonitor/PodMonitor), namespace when it "
                "honours the operator's.",
                "type": "custom",
                "query": "exported_namespace,namespace",
                "current": {"text": "exported_namespace", "value": "exported_namespace"},
                "options": [
                    {"text": v, "value": v, "selected": v == "exported_namespace"}
                    for v in ("exported_namespace", "namespace")
                ],
                "hide": 0,
            },
            variable("namespace", "Namespace", "label_values(modelship_canary_weight, $ns_label)"),
            variable(
                "model",
                "ModelDeployment",
                'label_values(modelship_canary_weight{$ns_label=~"$namespace"}, name)',
            ),
        ]
    }


def panel_json(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    targets = []
    for i, target in enumerate(panel.targets):
        t: dict[str, Any] = {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": target.expr,
            "legendFormat": target.legend or "__auto",
            "range": not target.instant,
            "instant": target.instant,
        }
        if panel.kind == "table":
            t["format"] = "table"
        targets.append(t)
    out: dict[str, Any] = {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": panel.options,
        "targets": targets,
    }
    if panel.kind == "table":
        out["transformations"] = [
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True, "Value": True}},
            }
        ]
    return out


def panels() -> list[dict[str, Any]]:
    """Rows and their panels as Grafana's flat list (a row's panels follow it), laid out
    left to right, wrapping at the grid's 24 columns."""
    out: list[dict[str, Any]] = []
    pid, y = 0, 0
    for row in ROWS:
        pid += 1
        header: dict[str, Any] = {
            "id": pid,
            "type": "row",
            "title": row.title,
            "collapsed": False,
            "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y},
            "panels": [],
        }
        if row.repeat:
            header["repeat"] = row.repeat
        out.append(header)
        y += 1
        x, line = 0, 0
        for panel in row.panels:
            if x + panel.width > WIDTH:
                x, y, line = 0, y + line, 0
            pid += 1
            out.append(panel_json(panel, pid, x, y))
            x += panel.width
            line = max(line, panel.height)
        y += line
    return out


def dashboard() -> dict[str, Any]:
    return {
        "title": "modelship",
        "uid": "modelship-overview",
        "description": "The modelship operator and its ModelDeployments: reconciles, canary "
        "vs stable, analysis verdicts, drift, retraining, promotions. Generated by "
        "hack/grafana.py.",
        "tags": ["modelship"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,  # shared crosshair: tracks line up across panels
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [],
        "templating": templating(),
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--output", type=Path, default=OUT, help=f"where to write ({OUT})")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python hack/grafana.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
