"""The seed's whole pipeline in one test: dev -> staging -> prod on the local control plane
with real runtime processes, the real Job runner and real metrics.

dev serves 1.0.0 to users whose inputs have shifted: sustained drift starts a retraining
Job that really trains (examples/train.py), and its model rolls out in dev through a
canary judged by analysis. A standing (Continuous) promotion moves every new stable model
of dev to staging after a soak, a check of dev's live error rate, and the example offline
evaluation (examples/evaluate.py: accuracy on the hold-out set, a bounded load, a pickle
scan) run as a Job. A one-shot promotion prepared for the retrained version waits for
staging to serve it and for a person with the approve verb, then moves it to prod. At the
end prod serves the very artifact the retraining Job wrote, and each step's evidence says
why.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.kube import connect
from modelship_testenv.harness import OperatorProcess
from modelship_testenv.jobrunner import JobRunner
from modelship_testenv.kwok import LOCAL_RUN
from modelship_testenv.loadgen import LoadGenerator
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, fresh_namespace, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY
from tests.integration.test_drift import monitored
from tests.integration.test_promotion import cli, gate, mpromo, people, promotion, wait_phase
from tests.integration.test_real_runtime import runner, trained, wait_serving
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
__all__ = ["runner", "trained"]  # fixtures used by name

RUNTIME = "registry.example.com/modelship-runtime:0.1"


@pytest.fixture
def environments(kubectl: Kubectl) -> Iterator[tuple[str, str, str]]:
    with (
        fresh_namespace(kubectl, "dev") as dev,
        fresh_namespace(kubectl, "stg") as staging,
        fresh_namespace(kubectl, "prd") as prod,
    ):
        yield dev, staging, prod


def job(name: str, command: list[str]) -> dict[str, Any]:
    """A JobTemplateSpec the dev cluster's Job runner runs as a real process."""
    return {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {LOCAL_RUN: "true"}},
                "spec": {"containers": [{"name": name, "image": f"{name}:1", "command": command}]},
            },
        }
    }


def downstream(kubectl: Kubectl, ns: str, trained: Path) -> None:
    """staging or prod: the first model, rolled forward through a canary of its own."""
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    rollout = {"steps": [{"setWeight": 50}, {"pause": {"duration": "3s"}}]}
    obj = model_deployment("fraud", model=model, runtime={"image": RUNTIME}, rollout=rollout)
    assert kubectl.apply(dump(obj), ns).returncode == 0
    wait_ready(kubectl, ns, "fraud")


class Users:
    """Dev's users, whose inputs have drifted (every feature +1.5): bounded (at most 24000
    requests, 6 minutes), stopped by the test. The drift is in the traffic, not in the
    runtime, so the evaluation's hold-out set reaches the model as labelled. What they
    got (or the error that stopped them) is kept for the test to check."""

    def __init__(self, kubectl: Kubectl, ns: str) -> None:
        kube = connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig))
        self.gen = LoadGenerator(kube, ns, "fraud", "fraud-scorer", seed=5, shift=1.5)
        self.stop = threading.Event()
        self.stats: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            wait_serving(self.gen, stable=1)
            self.stats = self.gen.run(requests=24_000, max_seconds=360, rate=40, stop=self.stop)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc

    def __str__(self) -> str:
        return f"users: error {self.error!r}, sent {self.stats}"


def stable(kubectl: Kubectl, ns: str) -> dict[str, Any]:
    return md(kubectl, ns, "fraud").get("status", {}).get("stableRevision") or {}


def serving(kubectl: Kubectl, ns: str, version: str, what: str, timeout: float) -> None:
    """Until ``ns`` serves ``version`` on its stable track; a timeout says where its
    canary, analysis, drift and retraining stood."""
    last: dict[str, Any] = {}

    def reached() -> bool:
        status = md(kubectl, ns, "fraud").get("status", {})
        last.clear()
        last.update({k: status.get(k) for k in ("canary", "analysis", "drift", "retraining")})
        return (status.get("stableRevision") or {}).get("modelVersion") == version

    try:
        wait_for(what, reached, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {ns} status: {last}") from None


def test_dev_to_staging_to_prod(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    environments: tuple[str, str, str],
    trained: Path,
    runner: PodRunner,
    tmp_path: Path,
) -> None:
    dev, staging, prod = environments
    retrained = tmp_path / "fraud-2.0.0"
    train = [
        sys.executable,
        "examples/train.py",
        "--out",
        str(retrained),
        "--rows",
        "4000",
        "--shift",
        "0.5",
        "--report-version",
        "2.0.0",
    ]
    jobs = JobRunner(connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)), tmp_path / "jobs")
    jobs.start()
    users = Users(kubectl, dev)
    try:
        # ----- dev: drift -> retraining -> canary -> stable 2.0.0 -------------------------
        monitored(
            kubectl,
            dev,
            "fraud",
            trained,
            [],
            retraining={
                "trigger": {"driftWindows": 2},
                "cooldown": "1h",
                "autoDeploy": True,
                "jobTemplate": job("train", train),
            },
            analysis={
                "interval": "5s",
                "provider": {"scrape": {}},
                "checks": [{"name": "errors", "errorRate": {"max": 0.05}}],
            },
            rollout={
                "steps": [{"setWeight": 50}, {"pause": {"duration": "5s"}}],
                "trafficRouting": GATEWAY,
            },
        )
        downstream(kubectl, staging, trained)
        downstream(kubectl, prod, trained)
        users.thread.start()

        # ----- the standing promotion dev -> staging, and the prepared one to prod --------
        evaluate = [sys.executable, "examples/evaluate.py", "--requests", "100", "--seconds", "8"]
        gates = {
            "soakTime": "5s",
            "checks": [{"name": "errors", "errorRate": {"max": 0.05}}],
            "checkWindow": "30s",
            "evaluationJob": job("evaluate", evaluate),
            "evaluationThresholds": [
                {"name": "accuracy", "min": 0.5},
                {"name": "error_rate", "max": 0.01},
                {"name": "unsafe_pickle_ops", "max": 0},
            ],
        }
        to_staging = promotion("from-dev", dev, mode="Continuous", gates=gates)
        assert kubectl.apply(dump(to_staging), staging).returncode == 0
        alice, _ = people(kubectl, prod, tmp_path)
        approval = {"soakTime": "3s", "approval": {"required": True}}
        to_prod = promotion("from-staging", staging, version="2.0.0", gates=approval)
        assert kubectl.apply(dump(to_prod), prod).returncode == 0

        serving(kubectl, dev, "2.0.0", "dev to serve the retrained 2.0.0", 240)
        serving(kubectl, staging, "2.0.0", "staging to get 2.0.0 (standing promotion)", 180)
        waiting = wait_phase(kubectl, prod, "from-staging", "WaitingForApproval", timeout=60)
        assert gate(waiting, "soakTime")["verdict"] == "Pass"
        assert stable(kubectl, prod).get("modelVersion") == "1.0.0"  # nobody approved yet
        approved = cli(alice, prod, "approve", "from-staging", "-m", "staging evidence reviewed")
        assert approved.returncode == 0, approved.stderr
        final = wait_phase(kubectl, prod, "from-staging", "Succeeded", timeout=120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {users}") from None
    finally:
        users.stop.set()
        users.thread.join(15)
        jobs.stop()
    assert users.error is None, users

    # dev: the retraining Job's model, rolled out through analysis.
    dev_status = md(kubectl, dev, "fraud")["status"]
    assert dev_status["retraining"]["last"]["outcome"] == "Succeeded"
    assert dev_status["retraining"]["last"]["modelUri"] == f"file://{retrained}"

    # staging: the standing promotion's run for 2.0.0, every gate measured and passed.
    standing = mpromo(kubectl, staging, "from-dev")["status"]
    run = standing["evidence"]
    assert run["model"]["version"] == "2.0.0" and run["outcome"] == "Succeeded", run
    assert run["model"]["uri"] == f"file://{retrained}"
    passed = {g["name"] for g in run["gates"] if g["verdict"] == "Pass"}
    assert {"soakTime", "checks/errors", "evaluationJob", "evaluation/accuracy"} <= passed, run
    assert run["evaluation"]["results"]["accuracy"] >= 0.5
    assert run["evaluation"]["results"]["unsafe_pickle_ops"] == 0
    assert run["source"]["namespace"] == dev
    assert standing["runs"] >= 2  # 1.0.0 when it was created, then the retrained one
    assert standing["history"][0]["version"] == "2.0.0"

    # prod: the one-shot promotion, approved by alice, rolled out through prod's canary.
    evidence = final["status"]["evidence"]
    assert evidence["reason"] == "TargetRolledOut"
    assert evidence["model"]["uri"] == f"file://{retrained}"
    assert [a["user"] for a in evidence["approvals"]] == [f"system:serviceaccount:{prod}:alice"]
    prod_status = md(kubectl, prod, "fraud")["status"]
    assert prod_status["stableRevision"]["modelVersion"] == "2.0.0"
    assert prod_status["history"][0]["promotion"] == f"{prod}/from-staging#1"
    assert md(kubectl, staging, "fraud")["status"]["history"][0]["promotion"].startswith(
        f"{staging}/from-dev#"
    )
