"""Runtime pods backed by real modelship-runtime processes at the pods' own IPs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.kube import connect
from modelship_testenv.cluster import repo_root
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_serving import wait_ready

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fraud-1.0.0")
    subprocess.run(
        [
            sys.executable,
            str(repo_root() / "examples" / "train.py"),
            "--out",
            str(out),
            "--rows",
            "4000",
        ],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def runner(kubectl: Kubectl, tmp_path: Path) -> Iterator[PodRunner]:
    pods = PodRunner(
        connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)),
        tmp_path / "pods",
        targets_file=tmp_path / "targets.json",
    )
    pods.start()
    yield pods
    pods.stop()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except OSError as exc:
        return 0, str(exc)


def wait_serving(load: Any, stable: int, canary: int = 0, timeout: float = 30) -> None:
    """Until the load generator sees that many pods per track, each runtime answering ready."""

    def up() -> bool:
        pods = load.targets().pods
        return (
            len(pods["stable"]) == stable
            and len(pods["canary"]) == canary
            and all(
                get(f"http://{ip}:8080/v2/health/ready")[0] == 200
                for ips in pods.values()
                for ip in ips
            )
        )

    wait_for(f"{stable} stable and {canary} canary runtimes serving", up, timeout)


def predict(ip: str) -> dict[str, Any]:
    body = json.dumps({"instances": [[100, 500, 0.5, 12]]}).encode()
    req = urllib.request.Request(
        f"http://{ip}:8080/v1/models/fraud-scorer:predict",
        body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_each_pod_runs_a_real_runtime(
    kubectl: Kubectl, running_operator: Any, namespace: str, trained: Path, runner: PodRunner
) -> None:
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    kubectl.apply(dump(model_deployment("real", replicas=2, model=model)), namespace)
    wait_ready(kubectl, namespace, "real")
    pods = kubectl.json("get", "pods", "-n", namespace, "-l", "modelship.io/model-deployment=real")[
        "items"
    ]
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 2 and all(ip.startswith("127.") for ip in ips)
    for ip in ips:

        def ready(ip: str = ip) -> bool:
            return get(f"http://{ip}:8080/v2/health/ready")[0] == 200

        wait_for(f"runtime at {ip}", ready, timeout=30)
        assert 0 < predict(ip)["predictions"][0] < 1
        _, metrics = get(f"http://{ip}:8080/metrics")
        assert (
            'modelship_requests_total{code="200",model="fraud-scorer",track="stable",'
            'version="1.0.0"} 1.0'
        ) in metrics

    kubectl.run("delete", "md", "real", "-n", namespace, "--wait=true", "--timeout=60s")
    # Garbage collection of the pods can take ~30 s on a fresh cluster: the collector
    # discovers a newly installed CRD's resource on its periodic resync.
    wait_for(
        "runtime processes to stop",
        lambda: all(get(f"http://{ip}:8080/v2/health/live")[0] == 0 for ip in ips),
        timeout=90,
    )


@pytest.fixture
def prometheus(runner: PodRunner, tmp_path: Path) -> Iterator[str]:
    from modelship_testenv.prometheus import PrometheusProcess

    assert runner.targets_file is not None
    prom = PrometheusProcess(tmp_path / "prometheus", runner.targets_file)
    try:
        yield prom.start()
    finally:
        prom.stop()


def promql(base: str, query: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]["result"]  # type: ignore[no-any-return]


def test_prometheus_scrapes_the_runtime_pods(
    kubectl: Kubectl,
    running_operator: Any,
    namespace: str,
    trained: Path,
    runner: PodRunner,
    prometheus: str,
) -> None:
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    kubectl.apply(dump(model_deployment("scraped", replicas=2, model=model)), namespace)
    wait_ready(kubectl, namespace, "scraped")
    pods = kubectl.json(
        "get", "pods", "-n", namespace, "-l", "modelship.io/model-deployment=scraped"
    )["items"]
    for pod in pods:
        ip = pod["status"]["podIP"]

        def ready(ip: str = ip) -> bool:
            return get(f"http://{ip}:8080/v2/health/ready")[0] == 200

        wait_for(f"runtime at {ip}", ready, timeout=30)
        for _ in range(5):
            predict(ip)
    query = (
        f"sum by (pod, track, version) (modelship_requests_total"
        f'{{namespace="{namespace}",code="200"}})'
    )

    def scraped() -> list[dict[str, Any]] | None:
        result = promql(prometheus, query)
        return result if len(result) == 2 and all(r["value"][1] == "5" for r in result) else None

    result = wait_for("Prometheus to see 5 requests per pod", scraped, timeout=60)
    assert {r["metric"]["pod"] for r in result} == {p["metadata"]["name"] for p in pods}
    assert {(r["metric"]["track"], r["metric"]["version"]) for r in result} == {("stable", "1.0.0")}

    # The analysis provider reads the same numbers from the same server.
    from modelship.metrics.prometheus import PrometheusProvider

    provider = PrometheusProvider(prometheus)
    ok = provider.scalar(f'sum(modelship_requests_total{{namespace="{namespace}",code="200"}})')
    assert ok == 10.0
    # Requests after Prometheus has seen the series show up as an increase in the window.
    for pod in pods:
        for _ in range(5):
            predict(pod["status"]["podIP"])

    def grown() -> dict[float, float] | None:
        labels = {"namespace": namespace}
        found = provider.buckets("modelship_request_duration_seconds", labels, 60)
        return found if found and found[float("inf")] >= 9 else None

    buckets = wait_for("bucket increases", grown, timeout=30)
    assert buckets[0.1] <= buckets[float("inf")]


def test_load_follows_the_route_weights(
    kubectl: Kubectl, running_operator: Any, namespace: str, trained: Path, runner: PodRunner
) -> None:
    from modelship_testenv.loadgen import LoadGenerator
    from tests.integration.test_canary import GATEWAY, wait_paused_at

    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    rollout = {"steps": [{"setWeight": 30}, {"pause": {}}], "trafficRouting": GATEWAY}
    kubectl.apply(
        dump(model_deployment("split", replicas=2, model=model, rollout=rollout)), namespace
    )
    wait_ready(kubectl, namespace, "split")
    new = json.dumps({"spec": {"model": {"version": "2.0.0", "uri": f"file://{trained}"}}})
    kubectl.run("patch", "md", "split", "-n", namespace, "--type", "merge", "-p", new)
    wait_paused_at(kubectl, namespace, "split", 1)
    load = LoadGenerator(
        connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)),
        namespace,
        "split",
        "fraud-scorer",
        seed=7,
    )

    wait_serving(load, stable=2, canary=1)
    stats = load.run(requests=400, max_seconds=60)
    assert sum(stats.by_track.values()) == 400
    assert 0.22 < stats.share("canary") < 0.38, stats.by_track  # 30% ± ~3.5 sigma
    assert {code for (_, code) in stats.by_code} == {200}
