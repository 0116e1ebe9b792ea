"""Drift monitoring end to end: a reference built from the training data, real runtime
processes counting inputs in the reference's bins, real traffic, the operator's verdict."""

from __future__ import annotations

import json
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from modelship.conditions import parse_time, rfc3339
from modelship.drift.builder import build_from_csv
from modelship.kube import connect
from modelship_testenv.harness import OperatorProcess
from modelship_testenv.loadgen import LoadGenerator
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY, ctl
from tests.integration.test_real_runtime import prometheus, runner, trained, wait_serving
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
__all__ = ["prometheus", "runner", "trained"]  # fixtures used by name


# Retraining after 2 drifted windows, once an hour at most, with a Job kwok completes.
RETRAINING: dict[str, Any] = {
    "trigger": {"driftWindows": 2},
    "cooldown": "1h",
    "jobTemplate": {
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"containers": [{"name": "train", "image": "trainer:1"}]}},
        }
    },
}


def reference_configmap(kubectl: Kubectl, ns: str, name: str, trained: Path) -> None:
    """The training data's reference (examples/train.py writes train.csv) as ConfigMap NAME."""
    reference = build_from_csv(
        (trained / "train.csv").read_text().splitlines(), bins=10, exclude=["label"]
    )
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"reference.json": json.dumps(reference.to_json())},
    }
    kubectl.apply(dump(configmap), ns)


def monitored(
    kubectl: Kubectl,
    ns: str,
    name: str,
    trained: Path,
    env: list[dict[str, str]],
    **extra: Any,
) -> None:
    reference_configmap(kubectl, ns, f"{name}-reference", trained)
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    runtime = {"image": "registry.example.com/modelship-runtime:0.1", "env": env}
    drift = {
        "reference": {"configMapRef": {"name": f"{name}-reference", "key": "reference.json"}},
        "method": "ks",
        "window": "30s",
        "interval": "3s",
    }
    manifest = model_deployment(
        name, replicas=1, model=model, runtime=runtime, drift=drift, **extra
    )
    kubectl.apply(dump(manifest), ns)
    wait_ready(kubectl, ns, name)


def send(kubectl: Kubectl, ns: str, name: str, stop: threading.Event) -> None:
    gen = LoadGenerator(
        connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)), ns, name, "fraud-scorer", seed=2
    )

    wait_serving(gen, stable=1)
    gen.run(requests=8000, max_seconds=180, rate=40, stop=stop)


def drift_of(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return md(kubectl, ns, name).get("status", {}).get("drift") or {}


def settled_drift(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    """Past the first windows (no rows yet: Inconclusive), a verdict on live data."""

    def settled() -> dict[str, Any] | None:
        d = drift_of(kubectl, ns, name)
        return (
            d
            if d.get("verdict") in ("Drifted", "NotDrifted") and d["features"][0]["score"] >= 0
            else None
        )

    return wait_for("a drift verdict on live data", settled, 90)


@pytest.mark.parametrize(
    ("shift", "verdict", "condition"), [("0", "NotDrifted", "False"), ("1.5", "Drifted", "True")]
)
def test_stable_inputs_are_judged_against_the_reference(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
    shift: str,
    verdict: str,
    condition: str,
) -> None:
    env = [{"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": shift}]
    monitored(kubectl, namespace, "watched", trained, env)
    stop = threading.Event()
    sender = threading.Thread(target=send, args=(kubectl, namespace, "watched", stop), daemon=True)
    sender.start()
    try:
        d = settled_drift(kubectl, namespace, "watched")
        # Read while inputs still flow, so the verdict shown is the settled one.
        wide = kubectl.run("get", "md", "watched", "-n", namespace, "-o", "wide").stdout
        header, row = wide.splitlines()[:2]
    finally:
        stop.set()
        sender.join(15)
    assert d["verdict"] == verdict, d
    assert d["method"] == "ks" and {f["name"] for f in d["features"]} >= {"amount", "merchant_risk"}
    conditions = {c["type"]: c for c in md(kubectl, namespace, "watched")["status"]["conditions"]}
    assert conditions["Drifted"]["status"] == condition, conditions["Drifted"]
    assert header.split()[-2:] == ["DRIFT", "RETRAINING"]
    # Columns are aligned under their headers; no retraining Job: an empty cell.
    assert row[header.index("DRIFT") :].split()[0] == verdict
    assert row[header.index("RETRAINING") :].strip() == ""
    if verdict == "Drifted":
        assert d["driftedFeatures"] >= 1 and "features drifted (ks >=" in d["message"]
        events = kubectl.json("get", "events", "-n", namespace)["items"]
        assert any(e["reason"] == "DriftDetected" for e in events)


@pytest.mark.parametrize(("shift", "verdict"), [("0", "NotDrifted"), ("1.5", "Drifted")])
def test_drift_read_through_prometheus(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
    prometheus: str,
    shift: str,
    verdict: str,
) -> None:
    """The same verdicts when the feature histograms come from a real Prometheus
    (`sum by (feature, le) (increase(...[window]))`) instead of the pods' own pages.

    Judged on five windows that lie wholly inside steady traffic, by majority, not on the
    first window: one that covers the start of the traffic raised Drifted on undrifted
    inputs in 1 of 7 runs here (Prometheus extrapolates increase() to the window's edges,
    and new series start mid-window). The benchmarks measure false-alarm rates; this
    checks the verdict the windows settle on."""
    env = [{"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": shift}]
    provider = {"provider": {"prometheus": {"address": prometheus}}}
    monitored(kubectl, namespace, "promwatched", trained, env, analysis=provider)
    stop = threading.Event()
    args = (kubectl, namespace, "promwatched", stop)
    sender = threading.Thread(target=send, args=args, daemon=True)
    sender.start()
    seen: dict[str, dict[str, Any]] = {}
    steady_from = ""

    def five_windows() -> bool:
        d = drift_of(kubectl, namespace, "promwatched")
        if d.get("evaluatedAt", "") >= steady_from and d.get("verdict") in (
            "Drifted",
            "NotDrifted",
        ):
            seen[d["evaluatedAt"]] = d
        return len(seen) >= 5

    try:
        first = settled_drift(kubectl, namespace, "promwatched")
        # Windows are 30 s: from 30 s after the first one on live data, none covers the
        # start of the traffic.
        start = parse_time(first["evaluatedAt"]) + timedelta(seconds=31)
        steady_from = rfc3339(start)
        wait_for("five drift windows inside steady traffic", five_windows, 120)
    finally:
        stop.set()
        sender.join(15)
    verdicts = [d["verdict"] for d in seen.values()]
    assert verdicts.count(verdict) >= 3, [(d["verdict"], d["message"]) for d in seen.values()]
    d = next(d for d in seen.values() if d["verdict"] == verdict)
    assert {f["name"] for f in d["features"]} >= {"amount", "merchant_risk"}


def test_a_missing_reference_is_reported_not_a_crash(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, trained: Path
) -> None:
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    drift = {
        "reference": {"configMapRef": {"name": "nowhere", "key": "reference.json"}},
        "interval": "3s",
    }
    kubectl.apply(dump(model_deployment("lost", replicas=1, model=model, drift=drift)), namespace)

    def unknown() -> dict[str, Any] | None:
        conds = {
            c["type"]: c
            for c in md(kubectl, namespace, "lost").get("status", {}).get("conditions", [])
        }
        return conds.get("Drifted") if conds.get("Drifted", {}).get("status") == "Unknown" else None

    cond = wait_for("Drifted Unknown", unknown, 60)
    assert (
        cond["reason"] == "DriftUnknown"
        and "ConfigMap" in cond["message"]
        and "nowhere" in cond["message"]
    )


def test_a_canary_whose_inputs_drift_is_rolled_back_by_the_drift_check(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
) -> None:
    from tests.integration.test_analysis import Load, degraded, start_canary, wait_aborted

    reference_configmap(kubectl, namespace, "ref", trained)
    drift = {
        "reference": {"configMapRef": {"name": "ref", "key": "reference.json"}},
        "method": "ks",
    }
    analysis = {
        "interval": "5s",
        "provider": {"scrape": {}},
        "checks": [{"name": "inputs", "drift": {}}],
    }
    shift = {"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": "1.5"}
    start_canary(kubectl, namespace, "pipe", trained, analysis, [shift], drift=drift)
    with Load(kubectl, namespace, "pipe"):
        obj = wait_aborted(kubectl, namespace, "pipe")
    cond = degraded(obj)
    assert cond["reason"] == "AnalysisFailed" and "inputs: " in cond["message"], cond
    assert "features drifted (ks >=" in cond["message"]


def test_sustained_drift_starts_exactly_one_retraining_job_across_restarts(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
) -> None:
    env = [{"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": "1.5"}]
    monitored(kubectl, namespace, "retrained", trained, env, retraining=RETRAINING)
    stop = threading.Event()
    sender = threading.Thread(
        target=send, args=(kubectl, namespace, "retrained", stop), daemon=True
    )
    sender.start()

    def jobs() -> list[dict[str, Any]]:
        return list(kubectl.json("get", "jobs", "-n", namespace)["items"])

    try:
        # Kill the operator (SIGKILL, no clean-up) as soon as drift is seen and again right
        # after the Job appears: neither the window count nor the Job may be doubled.
        wait_for(
            "a drifted window",
            lambda: drift_of(kubectl, namespace, "retrained").get("consecutiveDrifted", 0) >= 1,
            90,
        )
        running_operator.kill()
        running_operator.start()
        first = wait_for("the retraining Job", lambda: jobs() or None, 90)
        running_operator.kill()
        running_operator.start()
        wait_for(
            "more drifted windows after the Job",
            lambda: drift_of(kubectl, namespace, "retrained").get("consecutiveDrifted", 0) >= 5,
            90,
        )
    finally:
        stop.set()
        sender.join(15)
    assert [j["metadata"]["name"] for j in jobs()] == ["retrained-retrain-1"], jobs()
    job = first[0]
    container = job["spec"]["template"]["spec"]["containers"][0]
    job_env = {e["name"]: e.get("value") for e in container["env"]}
    assert job_env["MODELSHIP_MODEL_VERSION"] == "1.0.0"
    assert "amount" in job_env["MODELSHIP_DRIFT_SCORES"]
    st = md(kubectl, namespace, "retrained")["status"]["retraining"]
    assert st["count"] == 1
    # kwok completes Job pods without a termination message: recorded, no new model.
    last = wait_for(
        "the Job recorded",
        lambda: md(kubectl, namespace, "retrained")["status"]["retraining"].get("last"),
        60,
    )
    assert last["outcome"] == "Succeeded" and "no new model reported" in last["reason"], last
    view = ctl(kubectl, namespace, "status", "retrained").stdout
    assert "Drift:       Drifted  (ks, window 30s" in view, view
    assert "Retraining:  1 Job(s) started" in view and "last: retrained-retrain-1 Succeeded" in view


def test_the_closed_loop_from_drift_to_a_promoted_retrained_model(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
    tmp_path: Path,
) -> None:
    """Drift on stable -> a retraining Job that really trains (examples/train.py, run by
    the dev cluster's Job runner) -> its model rolled out as a canary through analysis ->
    promoted, with spec.model untouched."""
    from modelship_testenv.jobrunner import JobRunner
    from modelship_testenv.kwok import LOCAL_RUN

    jobs = JobRunner(connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)), tmp_path / "jobs")
    jobs.start()
    out = tmp_path / "fraud-2.0.0"
    train = [
        sys.executable,
        "examples/train.py",
        "--out",
        str(out),
        "--rows",
        "4000",
        "--shift",
        "0.5",
        "--report-version",
        "2.0.0",
    ]
    retraining = {
        "trigger": {"driftWindows": 2},
        "cooldown": "1h",
        "autoDeploy": True,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": {LOCAL_RUN: "true"}},
                    "spec": {
                        "containers": [{"name": "train", "image": "trainer:1", "command": train}]
                    },
                },
            }
        },
    }
    analysis = {
        "interval": "5s",
        "provider": {"scrape": {}},
        "checks": [{"name": "errors", "errorRate": {"max": 0.05}}],
    }
    rollout = {
        "steps": [{"setWeight": 50}, {"pause": {"duration": "5s"}}],
        "trafficRouting": GATEWAY,
    }
    env = [{"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": "1.5"}]
    monitored(
        kubectl,
        namespace,
        "loop",
        trained,
        env,
        retraining=retraining,
        analysis=analysis,
        rollout=rollout,
    )
    stop = threading.Event()
    sender = threading.Thread(target=send, args=(kubectl, namespace, "loop", stop), daemon=True)
    sender.start()
    try:

        def promoted() -> dict[str, Any] | None:
            st = md(kubectl, namespace, "loop").get("status", {})
            stable = st.get("stableRevision") or {}
            return st if stable.get("modelVersion") == "2.0.0" and not st.get("canary") else None

        st = wait_for("the retrained model promoted", promoted, 180)
    finally:
        stop.set()
        sender.join(15)
        jobs.stop()
    assert (out / "model.json").exists()
    retrained = st["retraining"]
    assert retrained["last"]["outcome"] == "Succeeded", retrained
    assert retrained["last"]["modelUri"] == f"file://{out}"
    assert retrained["deployed"]["job"] == "loop-retrain-1"
    assert st["analysis"]["failures"] == 0 and st["analysis"]["verdict"] == "Pass"
    # GitOps owns spec.model: untouched; the override lasts until the spec changes.
    assert md(kubectl, namespace, "loop")["spec"]["model"]["version"] == "1.0.0"
    reasons = {e["reason"] for e in kubectl.json("get", "events", "-n", namespace)["items"]}
    assert {
        "DriftDetected",
        "RetrainingStarted",
        "RetrainingSucceeded",
        "RetrainedModelDeploying",
    } <= reasons
