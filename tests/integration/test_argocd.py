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
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY, canary_of, set_version, version
from tests.integration.test_serving import md, wait_ready

HERE = repo_root() / "argocd" / "resource_customizations" / "modelship.io" / "ModelDeployment"
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


def health(binary: Path, obj: dict[str, Any]) -> tuple[str, str]:
    out = run_lua(binary, HERE / "health.lua", obj)
    return out["status"], out.get("message", "")


def enabled(binary: Path, obj: dict[str, Any]) -> set[str]:
    out = run_lua(binary, HERE / "actions" / "discovery.lua", obj)
    return {name for name, action in out.items() if not action.get("disabled")}


def test_health_cases(argocd_lua: Path) -> None:
    """health_test.yaml, as Argo CD's util/lua/health_test.go reads it: exact status
    and message for each captured object."""
    cases = yaml.safe_load((HERE / "health_test.yaml").read_text())["tests"]
    assert len(cases) >= 6
    for case in cases:
        obj = yaml.safe_load((HERE / case["inputPath"]).read_text())
        got = dict(zip(("status", "message"), health(argocd_lua, obj), strict=True))
        assert got == case["healthStatus"], case["inputPath"]


def test_action_discovery_and_actions(argocd_lua: Path) -> None:
    spec = yaml.safe_load((HERE / "actions" / "action_test.yaml").read_text())
    for case in spec["discoveryTests"]:
        obj = yaml.safe_load((HERE / case["inputPath"]).read_text())
        want = {a["name"] for a in case["result"] if not a.get("disabled")}
        assert enabled(argocd_lua, obj) == want, case["inputPath"]
    for case in spec["actionTests"]:
        obj = yaml.safe_load((HERE / case["inputPath"]).read_text())
        out = run_lua(argocd_lua, HERE / "actions" / case["action"] / "action.lua", obj)
        notes = out["metadata"]["annotations"]
        value = notes[case["annotation"]]
        if case.get("value") is not None:
            assert value == case["value"], case
        else:  # asks once: a value the operator has not handled
            assert value.startswith("argocd-") and value != obj["metadata"].get(
                "annotations", {}
            ).get(case["annotation"])
        assert out["spec"] == obj["spec"], "an action touches nothing else"


def capture(obj: dict[str, Any], name: str) -> None:
    if not CAPTURE:
        return
    keep = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    (HERE / "testdata" / name).write_text(yaml.safe_dump({**obj, "metadata": keep}))


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
