"""Every panel of the chart's Grafana dashboard against a real Prometheus scraping a real
operator and real runtime processes.

One scenario holds what the panels show: a ModelDeployment whose stable inputs drift
(a retraining Job, completed by the dev cluster), then a canary at 50 % with a few
percent of errors under analysis, paused for a person; a ModelPromotion of it into a
second namespace, held by its soak. Prometheus scrapes the runtime pods (file-based
discovery, labelled namespace and pod as Kubernetes discovery would) and the operator
twice: as the chart's ServiceMonitor does (the target's own namespace and pod labels;
the operator's namespace becomes exported_namespace) and honouring the operator's labels
(namespace stays), one per value of the dashboard's ns_label variable.

For every panel target, with the template variables filled in as Grafana would, the
PromQL must parse (the query API answers success) and return at least one series.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.kube import connect
from modelship_testenv.harness import OperatorProcess
from modelship_testenv.loadgen import LoadGenerator
from modelship_testenv.podrunner import PodRunner
from modelship_testenv.prometheus import PrometheusProcess, config
from tests.integration.conftest import Kubectl, fresh_namespace, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_analysis import SERVICE_TIME, roll
from tests.integration.test_canary import GATEWAY, canary_of
from tests.integration.test_drift import RETRAINING, drift_of, reference_configmap
from tests.integration.test_real_runtime import runner, trained, wait_serving
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
__all__ = ["runner", "trained"]  # fixtures used by name

DASHBOARD = Path(__file__).resolve().parents[2] / "charts/modelship/files/grafana-dashboard.json"
OPERATOR_NAMESPACE = "modelship-system"
OPERATOR_POD = "modelship-5d8f7c9b6-x2x4q"
NAME = "dash"
# Panels with no series in this scenario, and why. Each must still parse, and must
# really be empty here (else it belongs back in the check).
NO_SERIES = {
    "Shards": "only a sharded operator (--selector) has them; the shared one serves all",
}


@pytest.fixture
def prod(kubectl: Kubectl) -> Iterator[str]:
    with fresh_namespace(kubectl, "p") as name:
        yield name


@pytest.fixture
def prometheus_and_operator(
    runner: PodRunner, tmp_path: Path, running_operator: OperatorProcess
) -> Iterator[str]:
    """Prometheus scraping the runtime pods and, in two jobs, the operator."""
    assert runner.targets_file is not None and running_operator.metrics_url is not None
    prom = PrometheusProcess(tmp_path / "prometheus", runner.targets_file)
    url = prom.start()
    try:
        address = urllib.parse.urlsplit(running_operator.metrics_url).netloc
        labels = {"namespace": OPERATOR_NAMESPACE, "pod": OPERATOR_POD}
        full = config(runner.targets_file)
        for job, honour in (("modelship-operator", False), ("modelship-operator-honoured", True)):
            full["scrape_configs"].append(
                {
                    "job_name": job,
                    "honor_labels": honour,
                    "static_configs": [{"targets": [address], "labels": labels}],
                }
            )
        (prom.dir / "prometheus.yml").write_text(yaml.safe_dump(full))
        assert prom.proc is not None
        prom.proc.send_signal(signal.SIGHUP)  # reload the configuration
        wait_for(
            "Prometheus scraping the operator in both jobs",
            lambda: len(series(url, 'up{job=~"modelship-operator.*"} == 1')) == 2,
            30,
        )
        yield url
    finally:
        prom.stop()


def query(base: str, promql: str) -> dict[str, Any]:
    """The query API's answer, an error (a parse error: HTTP 400) included."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())  # type: ignore[no-any-return]


def series(base: str, promql: str) -> list[dict[str, Any]]:
    answer = query(base, promql)
    assert answer["status"] == "success", (promql, answer)
    return answer["data"]["result"]  # type: ignore[no-any-return]


def label_values(base: str, label: str, match: str) -> list[str]:
    url = f"{base}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": match})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())["data"]  # type: ignore[no-any-return]


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's interpolation: ${name} and $name, longest names first."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    assert "$" not in expr.replace("$1", ""), f"a variable left in {expr}"
    return expr


def targets() -> list[tuple[str, str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [
        (p["title"], t["refId"], t["expr"])
        for p in board["panels"]
        if p["type"] != "row"
        for t in p["targets"]
    ]


class Traffic:
    """Requests at 40/s, split by the route's weights, until stopped."""

    def __init__(self, kubectl: Kubectl, ns: str) -> None:
        kube = connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig))
        self.gen = LoadGenerator(kube, ns, NAME, "fraud-scorer", seed=5)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.gen.run,
            args=(40_000, 400),
            kwargs={"rate": 40, "stop": self.stop},
            daemon=True,
        )

    def __enter__(self) -> Traffic:
        wait_serving(self.gen, stable=1)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(15)


@contextlib.contextmanager
def scenario(
    kubectl: Kubectl, ns: str, prod: str, trained: Path, prometheus: str
) -> Iterator[None]:
    """Drifted stable inputs and a retraining Job; then a canary with a few percent of
    errors under analysis, paused at 50 %; a ModelPromotion of it held by its soak."""
    reference_configmap(kubectl, ns, "ref", trained)
    shift = {"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": "1.5"}
    manifest = model_deployment(
        NAME,
        replicas=1,
        model={"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"},
        runtime={
            "image": "registry.example.com/modelship-runtime:0.1",
            "env": [SERVICE_TIME, shift],
        },
        rollout={"steps": [{"setWeight": 50}, {"pause": {}}], "trafficRouting": GATEWAY},
        analysis={
            "interval": "5s",
            "provider": {"prometheus": {"address": prometheus}},
            "checks": [
                {"name": "errors", "errorRate": {"max": 0.5}},
                {"name": "p90-latency", "latency": {"quantile": 0.9, "max": "2s"}},
            ],
        },
        drift={
            "reference": {"configMapRef": {"name": "ref", "key": "reference.json"}},
            "method": "ks",
            "window": "30s",
            "interval": "3s",
        },
        retraining=RETRAINING,
    )
    kubectl.apply(dump(manifest), ns)
    wait_ready(kubectl, ns, NAME)
    with Traffic(kubectl, ns):
        wait_for(
            "the retraining Job finished",
            lambda: (md(kubectl, ns, NAME)["status"].get("retraining") or {}).get("last"),
            120,
        )
        errors = {"name": "MODELSHIP_FAULT_ERROR_RATE", "value": "0.03"}
        roll(kubectl, ns, NAME, trained, "2.0.0", [shift, errors])
        wait_for(
            "the canary paused at 50%",
            lambda: (
                canary_of(kubectl, ns, NAME).get("phase") == "Paused"
                and canary_of(kubectl, ns, NAME).get("weight") == 50
            ),
            60,
        )
        target = model_deployment(
            NAME,
            replicas=1,
            model={"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"},
        )
        kubectl.apply(dump(target), prod)
        promotion = {
            "apiVersion": "modelship.io/v1alpha1",
            "kind": "ModelPromotion",
            "metadata": {"name": "to-prod"},
            "spec": {
                "from": {"name": NAME, "namespace": ns},
                "to": {"name": NAME},
                "gates": {"soakTime": "1h"},
            },
        }
        assert kubectl.apply(dump(promotion), prod).returncode == 0
        wait_for(
            "analysis rounds with verdicts",
            lambda: (md(kubectl, ns, NAME)["status"].get("analysis") or {}).get("rounds", 0) >= 2,
            90,
        )
        wait_for(
            "the promotion's gates evaluated",
            lambda: (
                kubectl.json("get", "mpromo", "to-prod", "-n", prod)
                .get("status", {})
                .get("evidence", {})
                .get("gates")
            ),
            60,
        )
        assert drift_of(kubectl, ns, NAME).get("features"), drift_of(kubectl, ns, NAME)
        yield


def test_every_panel_parses_and_shows_the_scenario(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    trained: Path,
    runner: PodRunner,
    prometheus_and_operator: str,
) -> None:
    prom = prometheus_and_operator
    started = time.monotonic()
    with scenario(kubectl, namespace, prod, trained, prom):
        ready = time.monotonic() - started
        for ns_label in ("exported_namespace", "namespace"):
            # the variables' own queries list the scenario's namespaces and model
            assert {namespace, prod} <= set(
                label_values(prom, ns_label, "modelship_canary_weight")
            ), ns_label
            where = f'modelship_canary_weight{{{ns_label}=~"({namespace}|{prod})"}}'
            assert NAME in label_values(prom, "name", where), ns_label
            values = {
                "ns_label": ns_label,
                "namespace": f"({namespace}|{prod})",
                "model": NAME,
                "__rate_interval": "1m",
                "__range": "1h",
            }
            for title, ref, expr in targets():
                promql = substitute(expr, values)
                answer = query(prom, promql)
                assert answer["status"] == "success", (title, ref, promql, answer)
                if title in NO_SERIES:
                    got = answer["data"]["result"]
                    assert not got, f"{title} has series now ({got}): drop it from NO_SERIES"
                    continue
                wait_for(
                    f"series for {title!r} {ref} ({ns_label}): {promql}",
                    lambda promql=promql: series(prom, promql),  # type: ignore[misc]
                    60,
                    interval=1,
                )
        # Both tracks side by side: the canary's errors and the stable's zero.
        values = {"ns_label": "exported_namespace", "namespace": namespace, "model": NAME}
        values |= {"__rate_interval": "1m", "__range": "1h"}
        errors = next(e for t, _, e in targets() if t == "Error rate per track")
        by_track = {
            s["metric"]["track"]: float(s["value"][1])
            for s in series(prom, substitute(errors, values))
        }
        assert set(by_track) == {"stable", "canary"} and by_track["stable"] == 0, by_track
        assert by_track["canary"] > 0, by_track
        weights = next(e for t, _, e in targets() if t == "Canary weight: set vs actual")
        got = {
            s["metric"]["weight"]: float(s["value"][1])
            for s in series(prom, substitute(weights, values))
        }
        assert got.get("set") == 50, got
        print(f"scenario ready in {ready:.0f}s, all panels in {time.monotonic() - started:.0f}s")
