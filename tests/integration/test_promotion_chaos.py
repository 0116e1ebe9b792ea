"""A ModelPromotion survives the operator SIGKILLed in each phase: a real operator process
kills itself right after the write that matters most (modelship_testenv.crashing_operator)
and before it records it; the normal operator then takes over and ends the run the same
way, with one evaluation Job, one change of the target, one evidence record and one
commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump
from tests.integration.test_promotion import (
    deploy,
    evaluation_job,
    job_runner,
    mpromo,
    prod,
    promotion,
    wait_phase,
)
from tests.integration.test_promotion_git import (
    Environments,
    environments,
    envs,
    git_promotion,
)
from tests.integration.test_serving import md

pytestmark = pytest.mark.cluster
__all__ = ["envs", "job_runner", "prod"]  # fixtures used by name

GATES = {
    "evaluationJob": evaluation_job("0.95"),
    "evaluationThresholds": [{"name": "accuracy", "min": 0.9}],
}


def crash_after(
    kubectl: Kubectl,
    shared: OperatorProcess,
    tmp_path: Path,
    write: str,
    manifest: dict[str, Any],
    ns: str,
) -> str:
    """Stop the shared operator, apply ``manifest`` (the promotion), run an operator that
    SIGKILLs itself right after ``write``, wait for it to die there, and start the shared
    one again; the write it died after."""
    mark = tmp_path / "killed-after"
    crashing = OperatorProcess(
        kubectl.kubeconfig,
        tmp_path / "crashing-operator.log",
        module="modelship_testenv.crashing_operator",
        env={"MODELSHIP_TEST_KILL_AFTER": write, "MODELSHIP_TEST_KILL_MARK": str(mark)},
    )
    shared.stop()
    assert kubectl.apply(dump(manifest), ns).returncode == 0
    crashing.start()
    try:
        code = crashing.wait(120)
    finally:
        crashing.kill()
    assert code == -9, crashing.log_tail()
    shared.start()
    return mark.read_text()


def names(kubectl: Kubectl, kind: str, ns: str, selector: str) -> list[str]:
    items = kubectl.json("get", kind, "-n", ns, "-l", selector)["items"]
    return sorted(i["metadata"]["name"] for i in items)


def events(kubectl: Kubectl, ns: str, reason: str) -> int:
    found = kubectl.json(
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        f"reason={reason},involvedObject.name=to-prod",
    )
    return len(found["items"])


@pytest.mark.parametrize(
    "write",
    [
        "create Job {prod}/to-prod-eval-1",  # gating: the Job made, the run not recorded
        "apply ModelDeployment {prod}/fraud",  # promoting: the target changed, not recorded
        "create ControllerRevision {prod}/promotion-",  # ending: evidence kept, not the outcome
    ],
    ids=["gating", "promoting", "ending"],
)
def test_a_kill_in_each_phase_ends_the_same_with_one_of_everything(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    job_runner: None,
    tmp_path: Path,
    write: str,
) -> None:
    deploy(kubectl, namespace, "1.4.0")
    deploy(kubectl, prod, "1.3.0")
    obj = promotion("to-prod", namespace, gates=GATES)
    killed = crash_after(kubectl, running_operator, tmp_path, write.format(prod=prod), obj, prod)
    assert killed.startswith(write.format(prod=prod)), killed

    final = wait_phase(kubectl, prod, "to-prod", "Succeeded", timeout=120)
    status = final["status"]
    assert status["runs"] == 1 and status["evidence"]["run"] == 1
    assert status["evidence"]["reason"] == "TargetRolledOut"
    selector = "modelship.io/model-promotion=to-prod"
    assert names(kubectl, "jobs", prod, selector) == ["to-prod-eval-1"]
    evidence = names(kubectl, "controllerrevisions", prod, selector)
    assert len(evidence) == 1 and evidence[0].startswith("promotion-"), evidence
    for reason in ("RunStarted", "TargetChanged", "PromotionSucceeded"):
        assert events(kubectl, prod, reason) == 1, reason
    target = md(kubectl, prod, "fraud")
    assert target["status"]["stableRevision"]["modelVersion"] == "1.4.0"
    assert [h["promotion"] for h in target["status"]["history"] if h.get("promotion")] == [
        f"{prod}/to-prod#1"
    ]


def test_a_kill_after_the_push_makes_no_second_commit(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prod: str,
    envs: Environments,
    tmp_path: Path,
) -> None:
    environments(kubectl, envs, namespace, prod)
    obj = git_promotion("to-prod", namespace, envs, secretRef={"name": "envs-repo"})
    write = f"commit prod/fraud.yaml for ModelDeployment {prod}/fraud"
    assert crash_after(kubectl, running_operator, tmp_path, write, obj, prod)
    # Killed before recording anything: the push is the one trace of the run.
    assert "evidence" not in (mpromo(kubectl, prod, "to-prod").get("status") or {})
    assert len(envs.log()) == 2

    def recorded() -> str | None:
        run = (mpromo(kubectl, prod, "to-prod").get("status") or {}).get("evidence") or {}
        return run.get("target", {}).get("commit")  # type: ignore[no-any-return]

    sha = wait_for("the commit found and recorded", recorded, timeout=60)
    log = envs.log()
    assert len(log) == 2 and log[0].startswith(sha), log
    envs.sync("prod", prod)
    done = wait_phase(kubectl, prod, "to-prod", "Succeeded", timeout=90)
    assert done["status"]["evidence"]["target"]["commit"] == sha
    assert len(envs.log()) == 2
