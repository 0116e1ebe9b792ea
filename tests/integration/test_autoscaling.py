"""spec.autoscaling with the real HPA controller of kube-controller-manager.

The HPA reads modelship_requests_in_flight per pod through the custom metrics API,
which the dev cluster serves from the real Prometheus scraping real runtime processes
(modelship_testenv/metrics_adapter.py, registered as an APIService). Load comes from
the bounded loopback load generator; the runtimes hold each request 150 ms, so three
senders keep about three requests in flight.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.kube import connect
from modelship_testenv.cluster import free_port
from modelship_testenv.loadgen import LoadGenerator
from modelship_testenv.metrics_adapter import GROUP, VERSION, CustomMetricsAdapter
from modelship_testenv.pki import ensure_pki
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, gpu_runtime, model_deployment
from tests.integration.test_canary import GATEWAY, ctl
from tests.integration.test_real_runtime import prometheus, runner, trained
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
__all__ = ["prometheus", "runner", "trained"]  # fixtures this module uses

IN_FLIGHT = {
    "minReplicas": 1,
    "maxReplicas": 4,
    "metrics": [{"inFlightRequests": {"averageValue": 1}}],
}
SLOW = [{"name": "MODELSHIP_FAULT_LATENCY", "value": "150ms"}]


@pytest.fixture
def custom_metrics(
    kubectl: Kubectl, prometheus: str, tmp_path: Path
) -> Iterator[CustomMetricsAdapter]:
    if os.environ.get("MODELSHIP_TEST_KUBECONFIG"):
        pytest.skip("the custom metrics stand-in serves the dev cluster (ExternalName localhost)")
    adapter = CustomMetricsAdapter(
        connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)),
        prometheus,
        ensure_pki(tmp_path / "adapter-pki"),
    )
    port = free_port()
    adapter.start(port)
    kubectl.run("apply", "-f", "-", input=adapter.registration(port))
    wait_for(
        "the custom metrics APIService Available",
        lambda: (
            kubectl.run(
                "wait",
                "--for=condition=Available",
                f"apiservice/{VERSION}.{GROUP}",
                "--timeout=5s",
                check=False,
            ).returncode
            == 0
        ),
        timeout=60,
    )
    yield adapter
    kubectl.run("delete", "apiservice", f"{VERSION}.{GROUP}", "--wait=false", check=False)
    adapter.stop()


def hpa(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any] | None:
    found = kubectl.run("get", "hpa", name, "-n", ns, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def replicas(kubectl: Kubectl, ns: str, name: str) -> int:
    return int(kubectl.json("get", "deployment", name, "-n", ns)["spec"]["replicas"])


def load(
    kubectl: Kubectl, ns: str, name: str, senders: int, stop: threading.Event
) -> list[threading.Thread]:
    """``senders`` sequential senders, each bounded (2,000 requests, 240 s)."""
    threads = []
    for seed in range(senders):
        gen = LoadGenerator(
            connect(pool_size=1, kubeconfig=str(kubectl.kubeconfig)),
            ns,
            name,
            "fraud-scorer",
            seed=seed,
        )
        t = threading.Thread(target=gen.run, args=(2000, 240), kwargs={"stop": stop}, daemon=True)
        t.start()
        threads.append(t)
    return threads


def test_the_hpa_scales_the_stable_and_the_canary_follows_its_weight(
    kubectl: Kubectl,
    running_operator: Any,
    namespace: str,
    trained: Path,
    runner: PodRunner,
    custom_metrics: CustomMetricsAdapter,
) -> None:
    ns, name = namespace, "auto"
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    runtime = {"image": "registry.example.com/modelship-runtime:0.1", "env": SLOW}
    rollout = {"trafficRouting": GATEWAY, "steps": [{"setWeight": 50}, {"pause": {}}]}
    manifest = model_deployment(
        name, model=model, runtime=runtime, rollout=rollout, autoscaling=IN_FLIGHT
    )
    assert kubectl.apply(dump(manifest), ns).returncode == 0
    wait_ready(kubectl, ns, name)
    stable = hpa(kubectl, ns, f"{name}-stable")
    assert stable is not None
    assert (stable["spec"]["minReplicas"], stable["spec"]["maxReplicas"]) == (1, 4)
    stop = threading.Event()
    senders = load(kubectl, ns, name, 3, stop)
    try:
        # About three in flight against a target of one per pod: the HPA (not us) scales.
        scaled = wait_for(
            "the HPA to scale the stable track to 3 or more",
            lambda: (n := replicas(kubectl, ns, f"{name}-stable")) >= 3 and n,
            timeout=120,
        )
        assert custom_metrics.requests > 0  # the HPA read the runtime's in-flight gauge
        wait_for(
            "status.autoscaling to report the HPA's count",
            lambda: (
                (md(kubectl, ns, name)["status"].get("autoscaling") or {})
                .get("stable", {})
                .get("currentReplicas", 0)
                >= 3
            ),
            timeout=60,
        )

        patch = {"spec": {"model": {**model, "version": "2.0.0"}}}
        kubectl.run("patch", "md", name, "-n", ns, "--type", "merge", "-p", json.dumps(patch))
        wait_for(
            "the canary paused at 50%",
            lambda: (md(kubectl, ns, name)["status"].get("canary") or {}).get("actualWeight") == 50,
            timeout=120,
        )
        assert replicas(kubectl, ns, f"{name}-stable") >= scaled  # keeps its pods

        def sized() -> tuple[int, int] | None:
            """(stable floor, canary floor) once the canary is half the stable's count."""
            stable_hpa = hpa(kubectl, ns, f"{name}-stable")
            canary_hpa = hpa(kubectl, ns, f"{name}-canary")
            if stable_hpa is None or canary_hpa is None:
                return None
            floor = stable_hpa["spec"]["minReplicas"]
            share = canary_hpa["spec"]["minReplicas"]
            canary = replicas(kubectl, ns, f"{name}-canary")
            ok = floor >= scaled and share == math.ceil(floor * 50 / 100) and canary >= share
            return (floor, share) if ok else None

        # The stable's floor is its count (an abort needs those pods); the canary starts
        # at its weight's share of it.
        wait_for("both tracks' HPAs sized from the stable's count", sized, timeout=60)
    finally:
        stop.set()
        for t in senders:
            t.join(30)

    assert ctl(kubectl, ns, "abort", name).returncode == 0
    wait_for(
        "the canary's HPA removed after the abort",
        lambda: hpa(kubectl, ns, f"{name}-canary") is None,
        timeout=60,
    )
    back = hpa(kubectl, ns, f"{name}-stable")
    assert back is not None and back["spec"]["minReplicas"] == 1


def test_gpus_that_fit_cap_the_hpa_and_status_says_so(
    kubectl: Kubectl, running_operator: Any, namespace: str
) -> None:
    # The MIG node has 7 nvidia.com/mig-1g.10gb: with 3 per pod, 2 pods fit, not 5.
    runtime = gpu_runtime(3, resource_name="nvidia.com/mig-1g.10gb")
    auto = {
        "minReplicas": 1,
        "maxReplicas": 5,
        "metrics": [{"inFlightRequests": {"averageValue": 1}}],
    }
    kubectl.apply(dump(model_deployment("mig", runtime=runtime, autoscaling=auto)), namespace)
    wait_ready(kubectl, namespace, "mig")
    got = wait_for(
        "the stable HPA capped at the GPUs that fit",
        lambda: (
            (h := hpa(kubectl, namespace, "mig-stable")) and h["spec"]["maxReplicas"] == 2 and h
        ),
        timeout=60,
    )
    assert got["spec"]["minReplicas"] == 1
    limited = md(kubectl, namespace, "mig")["status"]["autoscaling"]["limited"]
    assert "2 replicas at most (maxReplicas 5)" in limited and "nvidia.com/mig-1g.10gb" in limited
    events = kubectl.json(
        "get", "events", "-n", namespace, "--field-selector", "reason=AutoscalingLimited"
    )
    assert events["items"], "an AutoscalingLimited Event"


@pytest.mark.parametrize(
    ("autoscaling", "extra", "message"),
    [
        (
            {"minReplicas": 5, "maxReplicas": 2, "metrics": [{"cpu": {"averageUtilization": 70}}]},
            {},
            "minReplicas must not be greater than maxReplicas",
        ),
        (
            {"maxReplicas": 2, "metrics": [{"queueLength": {"averageValue": 4}}]},
            {},
            "queueLength and kvCacheUsage are vLLM's signals",
        ),
        (
            {
                "maxReplicas": 2,
                "metrics": [
                    {"cpu": {"averageUtilization": 70}, "pods": {"name": "x", "averageValue": 1}}
                ],
            },
            {},
            "exactly one of cpu, memory, inFlightRequests, queueLength, kvCacheUsage, pods",
        ),
        (
            {"maxReplicas": 2, "metrics": [{"inFlightRequests": {"averageValue": "0"}}]},
            {},
            "must be a quantity greater than 0",
        ),
    ],
)
def test_the_api_server_rejects_bad_autoscaling(
    kubectl: Kubectl,
    namespace: str,
    autoscaling: dict[str, Any],
    extra: dict[str, Any],
    message: str,
) -> None:
    done = kubectl.apply(dump(model_deployment("bad", autoscaling=autoscaling, **extra)), namespace)
    assert done.returncode != 0
    assert message in done.stderr and "spec.autoscaling" in done.stderr
