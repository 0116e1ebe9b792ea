"""The chart's alerts, evaluated by Prometheus's own rule engine (``promtool test rules``).

The PrometheusRule is rendered by helm, its groups written as a rule file, and series
shaped as the chart's ServiceMonitor scrapes the operator (its pod and namespace, the
ModelDeployment's namespace as ``exported_namespace``) are fed to promtool, which says
whether each alert fires at each time. Counters that start at 0 (canary outcomes) and
counters that only appear with their first increment (promotion failures: the reasons
are not known in advance) must both raise their alert.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_chart import helm, rendered

pytestmark = pytest.mark.cluster  # helm comes from the dev cluster's build
__all__ = ["helm"]  # fixture used by name

POD = 'namespace="modelship-system", pod="modelship-5d9f7c-abcde"'
PROMOTION = f'{POD}, exported_namespace="team", name="to-prod"'
DEPLOYMENT = f'{POD}, exported_namespace="team", name="scorer"'


def promotion_failed(reason: str) -> dict[str, Any]:
    return {
        "exp_labels": {
            "severity": "warning",
            "exported_namespace": "team",
            "namespace": "modelship-system",
            "name": "to-prod",
            "reason": reason,
        },
        "exp_annotations": {"summary": f"A run of ModelPromotion to-prod failed ({reason})"},
    }


TESTS = {
    "rule_files": ["rules.yaml"],
    "evaluation_interval": "1m",
    "tests": [
        {
            # A promotion's first failure for a reason: the series appears at 1.
            "interval": "1m",
            "input_series": [
                {
                    "series": "modelship_promotion_runs_total"
                    f'{{{PROMOTION}, outcome="failed", reason="GateFailed"}}',
                    "values": "_x15 1x30",
                },
                {
                    # failed once long ago, and not since: nothing to say now
                    "series": "modelship_promotion_runs_total"
                    f'{{{PROMOTION}, outcome="failed", reason="SoakFailed"}}',
                    "values": "1x45",
                },
                {
                    "series": "modelship_promotion_runs_total"
                    f'{{{PROMOTION}, outcome="failed", reason="JobFailed"}}',
                    "values": "1x20 2x25",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "ModelshipPromotionFailed", "exp_alerts": []},
                {
                    "eval_time": "17m",
                    "alertname": "ModelshipPromotionFailed",
                    "exp_alerts": [promotion_failed("GateFailed")],
                },
                {
                    "eval_time": "23m",
                    "alertname": "ModelshipPromotionFailed",
                    "exp_alerts": [promotion_failed("GateFailed"), promotion_failed("JobFailed")],
                },
                {"eval_time": "40m", "alertname": "ModelshipPromotionFailed", "exp_alerts": []},
            ],
        },
        {
            # Canary outcomes start at 0 with a ModelDeployment's first reconcile.
            "interval": "1m",
            "input_series": [
                {
                    "series": f'modelship_rollouts_total{{{DEPLOYMENT}, outcome="aborted"}}',
                    "values": "0x10 1x20",
                }
            ],
            "alert_rule_test": [
                {"eval_time": "8m", "alertname": "ModelshipCanaryAborted", "exp_alerts": []},
                {
                    "eval_time": "12m",
                    "alertname": "ModelshipCanaryAborted",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "severity": "warning",
                                "exported_namespace": "team",
                                "namespace": "modelship-system",
                                "name": "scorer",
                            },
                            "exp_annotations": {
                                "summary": "A canary of ModelDeployment scorer was aborted",
                                "description": "The analysis or a command aborted the canary; "
                                "`kubectl describe md scorer` shows the failed check in its "
                                "conditions and Events.",
                            },
                        }
                    ],
                },
                {"eval_time": "28m", "alertname": "ModelshipCanaryAborted", "exp_alerts": []},
            ],
        },
    ],
}


def test_alerts_fire_on_the_first_failure_and_only_while_it_is_recent(
    helm: Path, tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package) is needed: hack/system-deps.sh"
    docs = rendered(helm, tmp_path, {"prometheusRule": {"enabled": True}})
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(TESTS, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
