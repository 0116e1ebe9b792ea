"""Canary analysis end to end: real runtime processes, real Prometheus, real traffic.

Every runtime pod is a real modelship-runtime process at the pod's (loopback) IP;
Prometheus scrapes them; a bounded load generator sends requests split by the
HTTPRoute weights the operator writes. Faults are set in spec.runtime.env of the
new version, so the canary is really slower or really failing.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelship.analysis.histogram import Histogram
from modelship.kube import connect
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess
from modelship_testenv.loadgen import LoadGenerator
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY, canary_of, wait_promoted
from tests.integration.test_real_runtime import prometheus, runner, trained, wait_serving
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
__all__ = ["prometheus", "runner", "trained"]  # fixtures used by name

SERVICE_TIME = {"name": "MODELSHIP_SERVICE_TIME", "value": "20ms"}
# A pause of several analysis rounds: a regression is judged on enough requests even when
# the machine is busy, rather than promoted after two rounds on a thin sample.
STEPS = [{"setWeight": 50}, {"pause": {"duration": "20s"}}]


class Load:
    """Requests in a background thread until stopped (bounded in count and time)."""

    def __init__(self, kubectl: Kubectl, namespace: str, name: str) -> None:
        kube = connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig))
        self.gen = LoadGenerator(kube, namespace, name, "fraud-scorer", seed=11)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.gen.run, args=(20_000, 240), kwargs={"stop": self.stop}, daemon=True
        )

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(15)


def start_canary(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    trained: Path,
    analysis: dict[str, Any],
    canary_env: list[dict[str, str]],
    **extra: Any,
) -> None:
    """1.0.0 Ready behind the Gateway API, then 2.0.0 with ``canary_env`` as a canary."""
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    runtime = {"image": "registry.example.com/modelship-runtime:0.1", "env": [SERVICE_TIME]}
    rollout = {"steps": STEPS, "trafficRouting": GATEWAY}
    manifest = model_deployment(
        name, replicas=1, model=model, runtime=runtime, rollout=rollout, analysis=analysis, **extra
    )
    kubectl.apply(dump(manifest), namespace)
    wait_ready(kubectl, namespace, name)
    roll(kubectl, namespace, name, trained, "2.0.0", canary_env)


def roll(
    kubectl: Kubectl, namespace: str, name: str, trained: Path, version: str, env: list[Any]
) -> None:
    """The spec moves to ``version`` of the trained model with ``env`` (faults) added."""
    model = {"name": "fraud-scorer", "version": version, "uri": f"file://{trained}"}
    runtime = {"image": "registry.example.com/modelship-runtime:0.1", "env": [SERVICE_TIME, *env]}
    patch = {"spec": {"model": model, "runtime": runtime}}
    kubectl.run("patch", "md", name, "-n", namespace, "--type", "merge", "-p", json.dumps(patch))


def checks() -> list[dict[str, Any]]:
    return [
        {"name": "p90-latency", "latency": {"quantile": 0.9, "max": "80ms"}},
        {"name": "errors", "errorRate": {"max": 0.01}},
        {"name": "judge", "compare": {"metric": "latency"}},
        {"name": "judge-errors", "compare": {"metric": "errorRate"}},
    ]


def analysis_spec(provider: dict[str, Any]) -> dict[str, Any]:
    return {"interval": "5s", "provider": provider, "checks": checks()}


def wait_aborted(kubectl: Kubectl, ns: str, name: str, timeout: float = 120) -> dict[str, Any]:
    """Until the canary is Aborted; a canary promoted instead fails at once, and a timeout
    says where the canary and its analysis stood (a bare "last: None" told nothing)."""
    seen: dict[str, Any] = {}

    def aborted() -> dict[str, Any] | None:
        obj = md(kubectl, ns, name)
        status = obj.get("status", {})
        canary = status.get("canary") or {}
        analysis = status.get("analysis") or {}
        seen.update(
            canary={k: canary.get(k) for k in ("phase", "weight", "pauseReason", "message")},
            analysis={k: analysis.get(k) for k in ("verdict", "rounds", "failures", "message")},
            stable=(status.get("stableRevision") or {}).get("modelVersion"),
        )
        assert not (canary == {} and seen["stable"] == "2.0.0"), f"promoted instead: {seen}"
        return obj if canary.get("phase") == "Aborted" else None

    try:
        return wait_for("the canary aborted", aborted, timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {seen}") from None


def degraded(obj: dict[str, Any]) -> dict[str, Any]:
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    return conditions["Degraded"]  # type: ignore[no-any-return]


def route_on_stable(kubectl: Kubectl, ns: str, name: str) -> bool:
    route = kubectl.json("get", "httproute", name, "-n", ns)
    weights = {r["name"]: r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]}
    return weights == {f"{name}-stable": 100, f"{name}-canary": 0}


@pytest.mark.parametrize(
    ("fault", "failing_check", "words"),
    [
        ({"name": "MODELSHIP_FAULT_LATENCY", "value": "100ms"}, "p90-latency", "> 80ms"),
        ({"name": "MODELSHIP_FAULT_ERROR_RATE", "value": "0.05"}, "errors", "> 1.00%"),
    ],
    ids=["latency+100ms", "errors5pct"],
)
def test_a_regressed_canary_rolls_back(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
    prometheus: str,
    fault: dict[str, str],
    failing_check: str,
    words: str,
) -> None:
    start_canary(
        kubectl,
        namespace,
        "reg",
        trained,
        analysis_spec({"prometheus": {"address": prometheus}}),
        [fault],
    )
    with Load(kubectl, namespace, "reg"):
        obj = wait_aborted(kubectl, namespace, "reg")
    cond = degraded(obj)
    assert cond["status"] == "True" and cond["reason"] == "AnalysisFailed", cond
    assert failing_check in cond["message"] and words in cond["message"], cond["message"]
    assert "2.0.0" in cond["message"] and "(1 of 1 failures)" in cond["message"]
    results = {c["name"]: c for c in obj["status"]["analysis"]["checks"]}
    failed = results[failing_check]
    assert failed["verdict"] == "Fail" and failed["value"] > failed["threshold"]
    wait_for("traffic back on stable", lambda: route_on_stable(kubectl, namespace, "reg"), 15)
    assert obj["status"]["stableRevision"]["modelVersion"] == "1.0.0"
    reasons = {e["reason"] for e in kubectl.json("get", "events", "-n", namespace)["items"]}
    assert {"AnalysisRoundFailed", "AnalysisFailed"} <= reasons


def test_a_healthy_canary_promotes_with_every_check_passing(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
    prometheus: str,
) -> None:
    start_canary(
        kubectl,
        namespace,
        "ok",
        trained,
        analysis_spec({"prometheus": {"address": prometheus}}),
        [],
    )
    with Load(kubectl, namespace, "ok"):
        wait_promoted(kubectl, namespace, "ok", "2.0.0", timeout=120)
    st = md(kubectl, namespace, "ok")["status"]
    assert st["analysis"]["failures"] == 0 and st["analysis"]["verdict"] == "Pass", st["analysis"]
    assert {c["verdict"] for c in st["analysis"]["checks"]} == {"Pass"}
    assert running_operator.metrics_url is not None
    with urllib.request.urlopen(running_operator.metrics_url, timeout=5) as resp:
        metrics = resp.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    who = (("name", "ok"), ("namespace", namespace))
    verdict = (("check", "judge"), *who, ("verdict", "Pass"))
    assert samples[("modelship_analysis_check_verdict", verdict)] == 1.0
    assert samples[("modelship_rollouts_total", (*who, ("outcome", "promoted")))] == 1.0


def test_prometheus_unreachable_pauses_and_never_decides(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    analysis = {**analysis_spec({"prometheus": {"address": nowhere}}), "inconclusiveLimit": 2}
    start_canary(kubectl, namespace, "blind", trained, analysis, [])

    def paused() -> dict[str, Any] | None:
        c = canary_of(kubectl, namespace, "blind")
        return c if c.get("phase") == "Paused" and c.get("pauseReason") == "Analysis" else None

    with Load(kubectl, namespace, "blind"):
        wait_for("the canary paused by analysis", paused, 90)
        obj = md(kubectl, namespace, "blind")
        rounds = obj["status"]["analysis"]["rounds"]
        # Several more rounds: still paused, neither promoted nor rolled back.
        wait_for(
            "more analysis rounds",
            lambda: md(kubectl, namespace, "blind")["status"]["analysis"]["rounds"] >= rounds + 2,
            40,
        )
    st = md(kubectl, namespace, "blind")["status"]
    assert st["canary"]["phase"] == "Paused" and st["stableRevision"]["modelVersion"] == "1.0.0"
    assert st["analysis"]["failures"] == 0
    assert {c["verdict"] for c in st["analysis"]["checks"]} == {"Error"}
    assert "unreachable" in st["analysis"]["message"]
    conditions = {c["type"]: c for c in st["conditions"]}
    assert conditions["Progressing"]["reason"] == "AnalysisInconclusive", conditions
    assert "unreachable" in conditions["Progressing"]["message"]


def test_the_scrape_provider_rolls_back_a_slow_canary_without_prometheus(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
) -> None:
    fault = {"name": "MODELSHIP_FAULT_LATENCY", "value": "100ms"}
    start_canary(kubectl, namespace, "direct", trained, analysis_spec({"scrape": {}}), [fault])
    with Load(kubectl, namespace, "direct"):
        obj = wait_aborted(kubectl, namespace, "direct")
    cond = degraded(obj)
    assert cond["reason"] == "AnalysisFailed" and "latency" in cond["message"], cond


def test_the_scrape_provider_promotes_a_healthy_canary(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
) -> None:
    start_canary(kubectl, namespace, "direct-ok", trained, analysis_spec({"scrape": {}}), [])
    with Load(kubectl, namespace, "direct-ok"):
        wait_promoted(kubectl, namespace, "direct-ok", "2.0.0", timeout=120)
    assert md(kubectl, namespace, "direct-ok")["status"]["analysis"]["failures"] == 0


def query_at(base: str, promql: str, at: float) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql, "time": at})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]["result"]  # type: ignore[no-any-return]


@pytest.fixture
def served(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
) -> Iterator[str]:
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    runtime = {"image": "registry.example.com/modelship-runtime:0.1", "env": [SERVICE_TIME]}
    kubectl.apply(dump(model_deployment("q", replicas=2, model=model, runtime=runtime)), namespace)
    wait_ready(kubectl, namespace, "q")
    yield namespace


def test_our_quantiles_match_prometheus_histogram_quantile(
    kubectl: Kubectl, served: str, prometheus: str
) -> None:
    import time

    gen = LoadGenerator(
        connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)),
        served,
        "q",
        "fraud-scorer",
        seed=3,
    )

    wait_serving(gen, stable=2)
    stats = gen.run(requests=600, max_seconds=60)
    assert stats.by_code[("stable", 200)] > 300, stats.by_code
    selector = f'{{namespace="{served}",track="stable"}}'
    buckets_q = f"sum by (le) (increase(modelship_request_duration_seconds_bucket{selector}[5m]))"

    def scraped() -> bool:
        got = query_at(prometheus, f"sum({buckets_q})", time.time())
        return bool(got) and float(got[0]["value"][1]) > 0

    wait_for("Prometheus has the requests", scraped, 30)
    at = time.time()
    buckets = {
        float(s["metric"]["le"]): float(s["value"][1]) for s in query_at(prometheus, buckets_q, at)
    }
    ours = Histogram.from_buckets(buckets)
    for q in (0.5, 0.9, 0.99):
        theirs = query_at(prometheus, f"histogram_quantile({q}, {buckets_q})", at)
        expected = float(theirs[0]["value"][1])
        assert ours.quantile(q) == pytest.approx(expected, rel=1e-9), (q, buckets)
    # and the service time the runtime was given shows: a median near 20 ms
    median = ours.quantile(0.5)
    assert median is not None and 0.015 < median < 0.040, median


def test_a_good_version_after_two_aborted_ones_promotes(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
    prometheus: str,
) -> None:
    """Every new canary starts analysis from zero: bad 2.0.0 and bad 3.0.0 are aborted,
    then a good 4.0.0 promotes, judged on its own rounds (issue 15, defect 1: it was
    aborted at once, quoting 2.0.0's numbers)."""
    bad = {"name": "MODELSHIP_FAULT_ERROR_RATE", "value": "0.3"}
    start_canary(
        kubectl,
        namespace,
        "seq",
        trained,
        analysis_spec({"prometheus": {"address": prometheus}}),
        [bad],
    )

    def aborted(version: str) -> dict[str, Any] | None:
        c = canary_of(kubectl, namespace, "seq")
        ok = c.get("phase") == "Aborted" and c["revision"]["modelVersion"] == version
        return c if ok else None

    with Load(kubectl, namespace, "seq"):
        wait_for("2.0.0 aborted", lambda: aborted("2.0.0"), 120)
        roll(kubectl, namespace, "seq", trained, "3.0.0", [bad])
        third = wait_for("3.0.0 aborted", lambda: aborted("3.0.0"), 120)
        assert "3.0.0" in third["message"] and "2.0.0" not in third["message"], third
        roll(kubectl, namespace, "seq", trained, "4.0.0", [])
        wait_promoted(kubectl, namespace, "seq", "4.0.0", timeout=120)
    st = md(kubectl, namespace, "seq")["status"]
    assert st["analysis"]["failures"] == 0 and st["analysis"]["verdict"] == "Pass", st["analysis"]
    outcomes = [(h["modelVersion"], h["outcome"]) for h in st["history"]]
    assert ("2.0.0", "Aborted") in outcomes and ("3.0.0", "Aborted") in outcomes
    assert outcomes[0] == ("4.0.0", "Promoted"), outcomes  # newest first
