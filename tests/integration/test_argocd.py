"""Argo CD's health check and actions for ModelDeployment, run in the Lua VM Argo CD uses.

hack/argocd-lua is a small Go program on gopher-lua (Lua 5.1, the VM of Argo CD's
util/lua) that runs a script the way Argo CD runs one from argocd-cm: base, table and a
safe os library only, the object as `obj`, one second to finish. The cases in
health_test.yaml and action_test.yaml (Argo CD's layout) use objects captured from the
local cluster in each phase; the live test drives a ModelDeployment through the phases
and checks each object as it is, then performs Argo CD's actions by applying what the
action returns, and the operator acts on them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship_testenv.cluster import repo_root
from modelship_testenv.harness import go_tool
from tests.integration.conftest import Kubectl, fresh_namespace, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY, canary_of, set_version, version
from tests.integration.test_serving import md, wait_ready

CUSTOMIZATIONS = repo_root() / "argocd" / "resource_customizations" / "modelship.io"
HERE = CUSTOMIZATIONS / "ModelDeployment"
PROMOTION = CUSTOMIZATIONS / "ModelPromotion"
KINDS = pytest.mark.parametrize("kind", [HERE, PROMOTION], ids=lambda p: p.name)
HARNESS = repo_root() / "hack" / "argocd-lua"
CAPTURE = os.environ.get("MODELSHIP_CAPTURE_ARGOCD")  # write live objects as testdata


@pytest.fixture(scope="session")
def argocd_lua() -> Path:
    """The harness, built once per version of its sources (cached outside the repo)."""
    try:
        return go_tool(HARNESS, "argocd-lua")
    except RuntimeError as exc:
        pytest.fail(str(exc))


def run_lua(binary: Path, script: Path, obj: dict[str, Any]) -> Any:
    done = subprocess.run(
        [str(binary), str(script)], input=json.dumps(obj), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def health(binary: Path, obj: dict[str, Any], kind: Path = HERE) -> tuple[str, str]:
    out = run_lua(binary, kind / "health.lua", obj)
    return out["status"], out.get("message", "")


def enabled(binary: Path, obj: dict[str, Any], kind: Path = HERE) -> set[str]:
    out = run_lua(binary, kind / "actions" / "discovery.lua", obj)
    return {name for name, action in out.items() if not action.get("disabled")}


@KINDS
def test_health_cases(argocd_lua: Path, kind: Path) -> None:
    """health_test.yaml, as Argo CD's util/lua/health_test.go reads it: exact status
    and message for each captured object."""
    cases = yaml.safe_load((kind / "health_test.yaml").read_text())["tests"]
    assert len(cases) >= 6
    for case in cases:
        obj = yaml.safe_load((kind / case["inputPath"]).read_text())
        got = dict(zip(("status", "message"), health(argocd_lua, obj, kind), strict=True))
        assert got == case["healthStatus"], case["inputPath"]


@KINDS
def test_action_discovery_and_actions(argocd_lua: Path, kind: Path) -> None:
    spec = yaml.safe_load((kind / "actions" / "action_test.yaml").read_text())
    for case in spec["discoveryTests"]:
        obj = yaml.safe_load((kind / case["inputPath"]).read_text())
        want = {a["name"] for a in case["result"] if not a.get("disabled")}
        assert enabled(argocd_lua, obj, kind) == want, case["inputPath"]
    for case in spec["actionTests"]:
        obj = yaml.safe_load((kind / case["inputPath"]).read_text())
        out = run_lua(argocd_lua, kind / "actions" / case["action"] / "action.lua", obj)
        notes = out["metadata"]["annotations"]
        value = notes[case["annotation"]]
        if case.get("value") is not None:
            assert value == case["value"], case
        else:  # asks once: a value the operator has not handled
            assert value.startswith("argocd-") and value != obj["metadata"].get(
                "annotations", {}
            ).get(case["annotation"])
        assert out["spec"] == obj["spec"], "an action touches nothing else"


def capture(obj: dict[str, Any], name: str, kind: Path = HERE) -> None:
    if not CAPTURE:
        return
    keep = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    (kind / "testdata" / name).write_text(yaml.safe_dump({**obj, "metadata": keep}))


def perform(kubectl: Kubectl, ns: str, binary: Path, obj: dict[str, Any], action: str) -> None:
    """What Argo CD does for an action: run action.lua, patch the object with the result
    (here: its annotations, the only part our actions change)."""
    out = run_lua(binary, HERE / "actions" / action / "action.lua", obj)
    patch = {"metadata": {"annotations": out["metadata"]["annotations"]}}
    name = obj["metadata"]["name"]
    kubectl.run("patch", "md", name, "-n", ns, "--type", "merge", "-p", json.dumps(patch))


@pytest.mark.cluster
def test_live_objects_in_every_phase(
    kubectl: Kubectl, running_operator: Any, namespace: str, argocd_lua: Path
) -> None:
    ns, name = namespace, "argo"
    steps = [{"setWeight": 30}, {"pause": {}}]
    rollout = {"trafficRouting": GATEWAY, "steps": steps, "scaleDownDelay": "0s"}
    manifest = model_deployment(name, replicas=2, model=version("1.0.0"), rollout=rollout)
    assert kubectl.apply(dump(manifest), ns).returncode == 0
    wait_ready(kubectl, ns, name)
    obj = md(kubectl, ns, name)
    capture(obj, "healthy.yaml")
    status, message = health(argocd_lua, obj)
    assert status == "Healthy" and message.startswith("Available: 2/2 runtime pods"), message
    assert enabled(argocd_lua, obj) == set()

    stale = {
        **obj,
        "metadata": {**obj["metadata"], "generation": obj["metadata"]["generation"] + 1},
    }
    assert health(argocd_lua, stale) == ("Progressing", "Waiting for the spec to be observed")

    set_version(kubectl, ns, name, "2.0.0")
    wait_for(
        "the canary paused at its pause step",
        lambda: canary_of(kubectl, ns, name).get("pauseReason") == "Step",
        timeout=60,
    )
    obj = md(kubectl, ns, name)
    capture(obj, "paused.yaml")
    status, message = health(argocd_lua, obj)
    assert status == "Suspended" and message.startswith("Canary 2.0.0 paused at 30%"), message
    assert enabled(argocd_lua, obj) == {"promote", "promote-full", "abort", "pause"}

    perform(kubectl, ns, argocd_lua, obj, "abort")
    wait_for(
        "aborted by the Argo CD action",
        lambda: canary_of(kubectl, ns, name).get("phase") == "Aborted",
        timeout=60,
    )
    obj = md(kubectl, ns, name)
    capture(obj, "aborted.yaml")
    status, message = health(argocd_lua, obj)
    assert status == "Degraded" and message.startswith("Aborted: canary 2.0.0"), message
    assert enabled(argocd_lua, obj) == {"retry"}

    perform(kubectl, ns, argocd_lua, obj, "retry")
    wait_for(
        "retried and paused again",
        lambda: canary_of(kubectl, ns, name).get("pauseReason") == "Step",
        timeout=60,
    )
    perform(kubectl, ns, argocd_lua, md(kubectl, ns, name), "promote")
    wait_for(
        "promoted by the Argo CD action",
        lambda: (
            md(kubectl, ns, name)["status"]["stableRevision"]["modelVersion"] == "2.0.0"
            and health(argocd_lua, md(kubectl, ns, name))[0] == "Healthy"
        ),
        timeout=90,
    )
    capture(md(kubectl, ns, name), "promoted.yaml")


ARGOCD_IDENTITY = "system:serviceaccount:argocd:argocd-server"


def argocd_identity(kubectl: Kubectl, target_ns: str, path: Path) -> Path:
    """Argo CD's server identity (the ServiceAccount argocd/argocd-server) with what an
    approving Argo CD needs on promotions in ``target_ns``: a kubeconfig holding its token."""
    from tests.integration.test_promotion import user_kubeconfig

    kubectl.run("create", "namespace", "argocd", check=False)
    kubectl.run("create", "serviceaccount", "argocd-server", "-n", "argocd", check=False)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "argocd-approves"},
        "rules": [
            {
                "apiGroups": ["modelship.io"],
                "resources": ["modelpromotions"],
                "verbs": ["get", "patch", "approve"],
            }
        ],
    }
    kubectl.run("apply", "-n", target_ns, "-f", "-", input=json.dumps(role))
    kubectl.run(
        "create",
        "rolebinding",
        "argocd-approves",
        "-n",
        target_ns,
        "--role=argocd-approves",
        "--serviceaccount=argocd:argocd-server",
    )
    return user_kubeconfig(kubectl, "argocd", "argocd-server", path)


def perform_as(
    kubectl: Kubectl, identity: Path, binary: Path, obj: dict[str, Any], action: str
) -> None:
    """A promotion action as Argo CD performs it: the script's result, patched with
    Argo CD's own identity (the approval policy checks that identity)."""
    out = run_lua(binary, PROMOTION / "actions" / action / "action.lua", obj)
    patch = {"metadata": {"annotations": out["metadata"]["annotations"]}}
    meta = obj["metadata"]
    kubectl.run(
        "--kubeconfig",
        str(identity),
        "patch",
        "mpromo",
        meta["name"],
        "-n",
        meta["namespace"],
        "--type",
        "merge",
        "-p",
        json.dumps(patch),
    )


@pytest.mark.cluster
def test_live_promotions_in_every_phase(
    kubectl: Kubectl, running_operator: Any, namespace: str, argocd_lua: Path, tmp_path: Path
) -> None:
    from tests.integration.test_promotion import deploy as deploy_fraud
    from tests.integration.test_promotion import mpromo, promotion, wait_phase

    with fresh_namespace(kubectl, "p") as prod:
        staging = namespace
        deploy_fraud(kubectl, staging, "1.4.0")
        deploy_fraud(kubectl, prod, "1.3.0")
        identity = argocd_identity(kubectl, prod, tmp_path / "argocd.kubeconfig")
        gates = {"soakTime": "8s", "approval": {"required": True}}
        assert kubectl.apply(dump(promotion("to-prod", staging, gates=gates)), prod).returncode == 0

        obj = wait_phase(kubectl, prod, "to-prod", "WaitingForGates")
        capture(obj, "waiting-for-gates.yaml", PROMOTION)
        status, message = health(argocd_lua, obj, PROMOTION)
        assert status == "Progressing" and message.startswith("WaitingForGates"), message
        stale = {
            **obj,
            "metadata": {**obj["metadata"], "generation": obj["metadata"]["generation"] + 1},
        }
        assert health(argocd_lua, stale, PROMOTION) == (
            "Progressing",
            "Waiting for the spec to be observed",
        )

        obj = wait_phase(kubectl, prod, "to-prod", "WaitingForApproval", timeout=60)
        capture(obj, "waiting-for-approval.yaml", PROMOTION)
        status, message = health(argocd_lua, obj, PROMOTION)
        assert status == "Suspended" and message.startswith("WaitingForApproval"), message
        assert enabled(argocd_lua, obj, PROMOTION) == {"approve", "reject"}
        perform_as(kubectl, identity, argocd_lua, obj, "approve")

        obj = wait_phase(kubectl, prod, "to-prod", "Succeeded", timeout=90)
        capture(obj, "succeeded.yaml", PROMOTION)
        status, message = health(argocd_lua, obj, PROMOTION)
        assert status == "Healthy" and message.startswith("Succeeded"), message
        assert enabled(argocd_lua, obj, PROMOTION) == set()
        approvals = obj["status"]["evidence"]["approvals"]
        assert [a["user"] for a in approvals] == [ARGOCD_IDENTITY], approvals
        assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.4.0"

        # The next version, rejected from Argo CD.
        kubectl.run(
            "patch",
            "md",
            "fraud",
            "-n",
            staging,
            "--type",
            "merge",
            "-p",
            json.dumps(
                {"spec": {"model": {"version": "1.5.0", "uri": "s3://models/fraud/1.5.0/"}}}
            ),
        )
        wait_for(
            "1.5.0 stable in staging",
            lambda: (
                md(kubectl, staging, "fraud")["status"]
                .get("stableRevision", {})
                .get("modelVersion")
                == "1.5.0"
            ),
            90,
        )
        gates = {"approval": {"required": True}}
        assert kubectl.apply(dump(promotion("next", staging, gates=gates)), prod).returncode == 0
        obj = wait_phase(kubectl, prod, "next", "WaitingForApproval", timeout=60)
        perform_as(kubectl, identity, argocd_lua, obj, "reject")
        obj = wait_phase(kubectl, prod, "next", "Failed", timeout=60)
        capture(obj, "rejected.yaml", PROMOTION)
        status, message = health(argocd_lua, obj, PROMOTION)
        assert status == "Degraded" and message.startswith("Rejected"), message
        assert "rejected from Argo CD" in message
        assert enabled(argocd_lua, obj, PROMOTION) == set()
        assert mpromo(kubectl, prod, "next")["status"]["evidence"]["reason"] == "Rejected"
        assert md(kubectl, prod, "fraud")["spec"]["model"]["version"] == "1.4.0"
