"""Canary rollouts on the real control plane (issue 3)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelship_testenv import Cluster
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess, install_crds
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, gpu_runtime, model_deployment
from tests.integration.test_serving import condition, md, wait_ready

pytestmark = pytest.mark.cluster

GATEWAY = {
    "gatewayAPI": {"parentRefs": [{"name": "inference-gateway", "namespace": "gateway-system"}]}
}


def version(v: str) -> dict[str, Any]:
    return {"name": "fraud-scorer", "version": v, "uri": f"s3://models/fraud/{v}/"}


def set_version(kubectl: Kubectl, ns: str, name: str, v: str) -> None:
    kubectl.run(
        "patch",
        "md",
        name,
        "-n",
        ns,
        "--type",
        "merge",
        "-p",
        f'{{"spec":{{"model":{{"version":"{v}","uri":"s3://models/fraud/{v}/"}}}}}}',
    )


def ctl(kubectl: Kubectl, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The `modelship` command line as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "modelship",
            *args,
            "-n",
            ns,
            "--kubeconfig",
            str(kubectl.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def canary_of(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return md(kubectl, ns, name).get("status", {}).get("canary") or {}


def route_weights(kubectl: Kubectl, ns: str, name: str) -> tuple[int, int]:
    route = kubectl.json("get", "httproute", name, "-n", ns)
    refs = {r["name"]: r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]}
    return refs[f"{name}-stable"], refs[f"{name}-canary"]


def wait_paused_at(kubectl: Kubectl, ns: str, name: str, step: int, timeout: float = 60) -> None:
    def paused() -> bool:
        c = canary_of(kubectl, ns, name)
        return c.get("phase") == "Paused" and c.get("step") == step

    wait_for(f"canary paused at step {step}", paused, timeout)


def wait_promoted(kubectl: Kubectl, ns: str, name: str, v: str, timeout: float = 60) -> None:
    def done() -> bool:
        st = md(kubectl, ns, name).get("status", {})
        return not st.get("canary") and st.get("stableRevision", {}).get("modelVersion") == v

    wait_for(f"{v} promoted", done, timeout)


def deploy(
    kubectl: Kubectl,
    ns: str,
    name: str,
    replicas: int,
    steps: list[dict[str, Any]] | None,
    **extra: Any,
) -> None:
    """Apply version 1.0.0 behind the Gateway API with ``steps`` and wait until Ready."""
    rollout: dict[str, Any] = {"trafficRouting": GATEWAY, **extra.pop("rollout", {})}
    if steps is not None:
        rollout["steps"] = steps
    manifest = model_deployment(
        name, replicas=replicas, model=version("1.0.0"), rollout=rollout, **extra
    )
    assert kubectl.apply(dump(manifest), ns).returncode == 0
    wait_ready(kubectl, ns, name)


def canary_at(
    kubectl: Kubectl,
    ns: str,
    name: str,
    replicas: int,
    steps: list[dict[str, Any]],
    weight: int,
    **extra: Any,
) -> None:
    """1.0.0 behind the Gateway API, then 2.0.0 as a canary, until the route's weight read
    back into status is ``weight``."""
    deploy(kubectl, ns, name, replicas, steps, **extra)
    set_version(kubectl, ns, name, "2.0.0")
    wait_for(
        f"the canary at {weight}% (read back from the route)",
        lambda: canary_of(kubectl, ns, name).get("actualWeight") == weight,
        timeout=90,
    )


def track_pods(kubectl: Kubectl, ns: str, name: str, track: str) -> list[dict[str, Any]]:
    pods = kubectl.json(
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        f"modelship.io/model-deployment={name},modelship.io/track={track}",
    )
    return [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]


def test_full_rollout_with_gateway_weights_and_cli(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    steps: list[dict[str, Any]] = [
        {"setWeight": 10},
        {"pause": {}},
        {"setWeight": 50},
        {"pause": {}},
        {"setWeight": 100},
        {"pause": {}},
    ]
    deploy(kubectl, namespace, "gw", 2, steps)
    assert route_weights(kubectl, namespace, "gw") == (100, 0)
    no_canary = ctl(kubectl, namespace, "promote", "gw")
    assert no_canary.returncode == 1 and "no canary to promote" in no_canary.stderr

    set_version(kubectl, namespace, "gw", "2.0.0")
    for step, weight in ((1, 10), (3, 50), (5, 100)):
        wait_paused_at(kubectl, namespace, "gw", step)
        assert route_weights(kubectl, namespace, "gw") == (100 - weight, weight)
        assert canary_of(kubectl, namespace, "gw")["weight"] == weight
        status = ctl(kubectl, namespace, "status", "gw")
        assert status.returncode == 0 and f"canary {weight}%" in status.stdout, status.stdout
        done = ctl(kubectl, namespace, "promote", "gw")
        assert done.returncode == 0, done.stderr
    wait_promoted(kubectl, namespace, "gw", "2.0.0")
    assert route_weights(kubectl, namespace, "gw") == (100, 0)
    wait_for("canary pods gone", lambda: track_pods(kubectl, namespace, "gw", "canary") == [])
    stable = track_pods(kubectl, namespace, "gw", "stable")
    assert {p["metadata"]["labels"]["modelship.io/model-version"] for p in stable} == {"2.0.0"}
    history = md(kubectl, namespace, "gw")["status"]["history"]
    assert [(h["modelVersion"], h["outcome"]) for h in history][:2] == [
        ("2.0.0", "Promoted"),
        ("1.0.0", "Superseded"),
    ]
    table = kubectl.run("get", "md", "gw", "-n", namespace).stdout
    assert "2.0.0" in table and "Healthy" in table


def test_timed_pause_holds_the_weight(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    steps: list[dict[str, Any]] = [
        {"setWeight": 20},
        {"pause": {"duration": "8s"}},
        {"setWeight": 60},
        {"pause": {}},
    ]
    deploy(kubectl, namespace, "timed", 2, steps)
    set_version(kubectl, namespace, "timed", "2.0.0")

    def in_pause() -> dict[str, Any] | None:
        c = canary_of(kubectl, namespace, "timed")
        return c if c.get("step") == 1 and c.get("weight") == 20 else None

    pausing = wait_for("the timed pause at 20%", in_pause)
    assert route_weights(kubectl, namespace, "timed") == (80, 20)
    wait_paused_at(kubectl, namespace, "timed", 3)
    # Compare the operator's own step timestamps, not when this test happened to look.
    began = datetime.fromisoformat(pausing["stepStartedAt"].replace("Z", "+00:00"))
    ended = canary_of(kubectl, namespace, "timed")["stepStartedAt"]
    waited = datetime.fromisoformat(ended.replace("Z", "+00:00")) - began
    assert waited.total_seconds() >= 7, f"the 8s pause lasted {waited}"  # 1 s resolution
    assert route_weights(kubectl, namespace, "timed") == (40, 60)


def test_abort_and_retry(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 30}, {"pause": {}}]
    deploy(kubectl, namespace, "ab", 2, steps)
    set_version(kubectl, namespace, "ab", "2.0.0")
    wait_paused_at(kubectl, namespace, "ab", 1)
    assert route_weights(kubectl, namespace, "ab") == (70, 30)

    assert ctl(kubectl, namespace, "abort", "ab").returncode == 0
    wait_for("aborted", lambda: canary_of(kubectl, namespace, "ab").get("phase") == "Aborted")
    assert route_weights(kubectl, namespace, "ab") == (100, 0)
    wait_for(
        "canary scaled to zero",
        lambda: (
            kubectl.json("get", "deployment", "ab-canary", "-n", namespace)["spec"]["replicas"] == 0
        ),
    )
    obj = md(kubectl, namespace, "ab")
    degraded = condition(obj, "Degraded")
    assert degraded is not None and (degraded["status"], degraded["reason"]) == ("True", "Aborted")
    assert obj["status"]["stableRevision"]["modelVersion"] == "1.0.0"
    assert {
        p["metadata"]["labels"]["modelship.io/model-version"]
        for p in track_pods(kubectl, namespace, "ab", "stable")
    } == {"1.0.0"}
    events = kubectl.json(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=ab"
    )["items"]
    assert any(e["reason"] == "Aborted" and e["type"] == "Warning" for e in events)
    again = ctl(kubectl, namespace, "abort", "ab")
    assert again.returncode == 1 and "retry" in again.stderr

    assert ctl(kubectl, namespace, "retry", "ab").returncode == 0
    wait_paused_at(kubectl, namespace, "ab", 1)
    assert route_weights(kubectl, namespace, "ab") == (70, 30)
    assert condition(md(kubectl, namespace, "ab"), "Degraded")["status"] == "False"  # type: ignore[index]


def test_undo_rolls_back_through_a_canary(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(dump(model_deployment("un", replicas=1, model=version("1.0.0"))), namespace)
    wait_ready(kubectl, namespace, "un")
    set_version(kubectl, namespace, "un", "2.0.0")
    wait_promoted(kubectl, namespace, "un", "2.0.0")
    bad = ctl(kubectl, namespace, "undo", "un", "--to-revision", "7")
    assert bad.returncode == 1 and "unknown revision 7" in bad.stderr
    assert ctl(kubectl, namespace, "undo", "un").returncode == 0
    wait_promoted(kubectl, namespace, "un", "1.0.0")
    obj = md(kubectl, namespace, "un")
    assert obj["spec"]["model"]["version"] == "2.0.0", "undo must not edit the spec"
    assert obj["status"]["history"][0]["modelVersion"] == "1.0.0"
    # The next spec change wins over the undo, as GitOps expects.
    set_version(kubectl, namespace, "un", "3.0.0")
    wait_promoted(kubectl, namespace, "un", "3.0.0")


def reconciles(metrics_url: str) -> dict[str, float]:
    """The operator's modelship_reconcile_total of ModelDeployments, by result ("ok", "error")."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    return {
        s.labels["result"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "modelship_reconcile_total" and s.labels["kind"] == "ModelDeployment"
    }


def test_killed_mid_canary_resumes_at_the_same_step(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    steps: list[dict[str, Any]] = [
        {"setWeight": 25},
        {"pause": {}},
        {"setWeight": 75},
        {"pause": {}},
    ]
    deploy(kubectl, namespace, "kill", 4, steps)
    set_version(kubectl, namespace, "kill", "2.0.0")
    wait_paused_at(kubectl, namespace, "kill", 1)
    before = canary_of(kubectl, namespace, "kill")
    running_operator.kill()
    # Restart watching only this namespace, where "kill" is the only ModelDeployment:
    # a finished reconcile in its metrics is then a reconcile of "kill", and whatever
    # that reconcile would (wrongly) move has moved by the time the counter goes up.
    # The shared operator stays down; the running_operator fixture restarts it later.
    address = f"127.0.0.1:{free_port()}"
    restarted = OperatorProcess(
        kubectl.kubeconfig,
        tmp_path / "restarted-operator.log",
        ["-n", namespace, "--metrics-address", address],
    )
    restarted.start()
    seen: dict[str, float] = {}

    def reconciled() -> bool:
        assert restarted.alive(), "restarted operator exited:\n" + restarted.log_tail()
        nonlocal seen
        try:
            seen = reconciles(f"http://{address}/metrics")
        except OSError:  # not serving yet
            return False
        return seen.get("ok", 0) >= 1

    try:
        try:
            wait_for("a reconcile by the restarted operator", reconciled)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; counts {seen}\n{restarted.log_tail()}") from None
        after = canary_of(kubectl, namespace, "kill")
        keys = ("step", "weight", "phase", "startedAt", "revision")
        assert {k: after.get(k) for k in keys} == {k: before[k] for k in keys}
        assert route_weights(kubectl, namespace, "kill") == (75, 25)
        assert len(track_pods(kubectl, namespace, "kill", "canary")) == 1
        assert ctl(kubectl, namespace, "promote", "kill").returncode == 0
        wait_paused_at(kubectl, namespace, "kill", 3)
        assert route_weights(kubectl, namespace, "kill") == (25, 75)
        names = kubectl.run("get", "deployments", "-n", namespace, "-o", "name").stdout.split()
        assert sorted(names) == ["deployment.apps/kill-canary", "deployment.apps/kill-stable"]
    finally:
        restarted.stop()


def model_deployment_gets(metrics_url: str) -> float:
    """GETs of ModelDeployments the operator made (modelship_kube_request_duration_seconds)."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "modelship_kube_request_duration_seconds_count"
        and s.labels == {"verb": "GET", "resource": "modeldeployments"}
    )


def test_analysis_rounds_take_their_object_from_the_watch_not_a_get(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """Every round writes status; the next one takes the object from that write's watch
    event instead of reading it again (observe/watched.py). Own operator, this namespace
    only, so its counters are this object's."""
    running_operator.kill()  # the running_operator fixture restarts it later
    address = f"127.0.0.1:{free_port()}"
    url = f"http://{address}/metrics"
    own = OperatorProcess(
        kubectl.kubeconfig,
        tmp_path / "operator.log",
        ["-n", namespace, "--metrics-address", address],
    )
    own.start()
    nowhere = f"http://127.0.0.1:{free_port()}"  # every round an Error, and written
    analysis = {
        "interval": "2s",
        "provider": {"prometheus": {"address": nowhere}},
        "checks": [{"name": "errors", "errorRate": {"max": 0.05}}],
        "inconclusiveLimit": 100,
    }

    def rounds() -> int:
        assert own.alive(), "operator exited:\n" + own.log_tail()
        return int(
            (md(kubectl, namespace, "watched").get("status", {}).get("analysis") or {}).get(
                "rounds", 0
            )
        )

    try:
        deploy(
            kubectl, namespace, "watched", 1, [{"setWeight": 50}, {"pause": {}}], analysis=analysis
        )
        set_version(kubectl, namespace, "watched", "2.0.0")
        wait_for("two analysis rounds", lambda: rounds() >= 2, 60)
        done, gets, start = reconciles(url).get("ok", 0), model_deployment_gets(url), rounds()
        wait_for("five more rounds", lambda: rounds() >= start + 5, 60)
        done, gets = reconciles(url).get("ok", 0) - done, model_deployment_gets(url) - gets
        assert done >= 5, f"{done} reconciles over five rounds"
        # One GET allowed: a round may come before its previous write's event on a busy
        # machine (then it reads, as it must). Before the watch was used: one per round.
        assert gets <= 1, f"{gets:.0f} GETs of the object in {done:.0f} reconciles"
        assert reconciles(url).get("error", 0) == 0, own.log_tail()
    finally:
        own.stop()


def mig_pods_running(kubectl: Kubectl) -> int:
    pods = kubectl.json("get", "pods", "-A", "--field-selector", "spec.nodeName=gpu-mig-0")
    return sum(1 for p in pods["items"] if p["status"].get("phase") not in ("Succeeded", "Failed"))


def test_swap_when_only_the_stable_fits(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    """Seven MIG slices exist; the stable takes all seven, so the canary must swap."""
    wait_for("the MIG node to be empty", lambda: mig_pods_running(kubectl) == 0, timeout=90)
    mig = gpu_runtime(1, resource_name="nvidia.com/mig-1g.10gb")
    steps: list[dict[str, Any]] = [{"setWeight": 30}, {"pause": {}}]
    deploy(kubectl, namespace, "swap", 7, steps, runtime=mig)
    set_version(kubectl, namespace, "swap", "2.0.0")
    peak = 0

    def at_30() -> bool:
        nonlocal peak
        peak = max(peak, mig_pods_running(kubectl))
        c = canary_of(kubectl, namespace, "swap")
        return c.get("phase") == "Paused" and c.get("weight") == 30

    wait_for("swap canary at 30%", at_30, timeout=90)
    c = canary_of(kubectl, namespace, "swap")
    assert c["capacity"] == "swap"
    assert (c["stableReplicas"], c["canaryReplicas"]) == (4, 3)
    assert len(track_pods(kubectl, namespace, "swap", "canary")) == 3
    assert peak <= 7, f"{peak} MIG pods at once: swap must never need more than the stable's 7"
    assert ctl(kubectl, namespace, "promote", "swap").returncode == 0
    wait_promoted(kubectl, namespace, "swap", "2.0.0", timeout=90)
    wait_ready(kubectl, namespace, "swap")
    assert mig_pods_running(kubectl) == 7


def test_surge_canary_that_cannot_be_placed_says_insufficient_gpu(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    """8-GPU pods with surge forced: no node can take the canary; status gives the numbers."""
    runtime = gpu_runtime(8, product="NVIDIA-H100-80GB-HBM3")
    rollout = {
        "capacity": "surge",
        "steps": [{"setWeight": 50}, {"pause": {}}],
        "trafficRouting": GATEWAY,
    }
    kubectl.apply(
        dump(
            model_deployment(
                "full", replicas=2, model=version("1.0.0"), runtime=runtime, rollout=rollout
            )
        ),
        namespace,
    )
    wait_ready(kubectl, namespace, "full")
    set_version(kubectl, namespace, "full", "2.0.0")

    def short() -> dict[str, Any] | None:
        cond = condition(md(kubectl, namespace, "full"), "Degraded")
        return cond if cond and cond["reason"] == "InsufficientGPU" else None

    cond = wait_for("InsufficientGPU for the canary", short, timeout=30)
    message = cond["message"]
    assert "surge needs 1 pod of 8 nvidia.com/gpu, room for 0" in message, message
    assert "0 nvidia.com/gpu free" in message, message
    assert route_weights(kubectl, namespace, "full") == (100, 0)
    kubectl.run("delete", "md", "full", "-n", namespace, "--wait=true", "--timeout=60s")


@pytest.fixture(scope="module")
def plain_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kubectl, Path]]:
    """A second control plane without the Gateway API CRDs, with its own operator."""
    cluster = Cluster(tmp_path_factory.mktemp("plain-cluster"))
    cluster.up(gateway_api=False)
    op = OperatorProcess(cluster.kubeconfig, cluster.dir / "operator.log")
    try:
        kubectl = Kubectl(cluster.kubectl_argv(), cluster.kubeconfig)
        install_crds(kubectl.argv)
        op.start()
        yield kubectl, cluster.dir
    finally:
        op.stop()
        cluster.down(quiet=True)


def test_replica_ratio_without_gateway_api(plain_cluster: tuple[Kubectl, Path]) -> None:
    kubectl, _ = plain_cluster
    ns = "ratio"
    kubectl.run("create", "namespace", ns)
    wait_for(
        "default ServiceAccount",
        lambda: kubectl.run("get", "sa", "default", "-n", ns, check=False).returncode == 0,
    )
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    kubectl.apply(
        dump(model_deployment("rr", replicas=2, model=version("1.0.0"), rollout={"steps": steps})),
        ns,
    )
    wait_ready(kubectl, ns, "rr")
    set_version(kubectl, ns, "rr", "2.0.0")
    wait_paused_at(kubectl, ns, "rr", 1)
    c = canary_of(kubectl, ns, "rr")
    assert c["weightApproximate"] is True and c["weight"] == 50
    assert len(track_pods(kubectl, ns, "rr", "canary")) == 2
    assert len(track_pods(kubectl, ns, "rr", "stable")) == 2
    svc = kubectl.json("get", "service", "rr", "-n", ns)
    assert "modelship.io/track" not in svc["spec"]["selector"], "one Service over both tracks"
    assert "~50%" in kubectl.run("get", "md", "rr", "-n", ns).stdout

    # Asking for Gateway API on this cluster is a clear Degraded, not a crash loop.
    kubectl.apply(
        dump(
            model_deployment(
                "gwless", replicas=1, model=version("1.0.0"), rollout={"trafficRouting": GATEWAY}
            )
        ),
        ns,
    )

    def unavailable() -> dict[str, Any] | None:
        cond = condition(md(kubectl, ns, "gwless"), "Degraded")
        return cond if cond and cond["reason"] == "GatewayAPIUnavailable" else None

    cond = wait_for("GatewayAPIUnavailable", unavailable, timeout=30)
    assert "HTTPRoute" in cond["message"]


def test_kubectl_plugin(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    """`kubectl modelship ...` finds the installed kubectl-modelship on PATH."""
    import os

    kubectl.apply(dump(model_deployment("plug", replicas=1, model=version("1.0.0"))), namespace)
    wait_ready(kubectl, namespace, "plug")
    env = {
        **os.environ,
        "KUBECONFIG": str(kubectl.kubeconfig),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        [kubectl.argv[0], "modelship", "status", "plug", "-n", namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Stable:      1.0.0" in done.stdout
