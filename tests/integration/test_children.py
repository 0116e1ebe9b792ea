"""The children a ModelDeployment owns, through the kernel's executor: what the
renderers no longer render is deleted, the route's weights are read back, and a write
the API server refuses mid-reconcile shows up in status instead of vanishing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, impose_quota, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import (
    canary_at,
    canary_of,
    route_weights,
    set_version,
    version,
    wait_promoted,
)
from tests.integration.test_serving import condition, md, wait_ready

pytestmark = pytest.mark.cluster


def exists(kubectl: Kubectl, ns: str, kind: str, name: str) -> bool:
    done = kubectl.run("get", kind, name, "-n", ns, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    return not json.loads(done.stdout)["metadata"].get("deletionTimestamp")


def test_removing_gateway_api_returns_to_replica_ratio_and_deletes_the_route(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    canary_at(kubectl, namespace, "gw", 2, steps, 50)
    for kind, name in (("httproute", "gw"), ("service", "gw-stable"), ("service", "gw-canary")):
        assert exists(kubectl, namespace, kind, name), f"{kind} {name} before the change"

    # GitOps drops gatewayAPI from the spec (the model stays at 2.0.0).
    rollout = {"steps": steps}
    manifest = model_deployment("gw", replicas=2, model=version("2.0.0"), rollout=rollout)
    assert kubectl.apply(dump(manifest), namespace).returncode == 0
    wait_for(
        "the HTTPRoute and the per-track Services deleted",
        lambda: (
            not any(
                exists(kubectl, namespace, kind, name)
                for kind, name in (
                    ("httproute", "gw"),
                    ("service", "gw-stable"),
                    ("service", "gw-canary"),
                )
            )
        ),
        timeout=60,
    )
    assert exists(kubectl, namespace, "service", "gw"), "the shared Service stays"
    c = wait_for(
        "the canary on replica ratio",
        lambda: (c := canary_of(kubectl, namespace, "gw")).get("weightApproximate") and c,
        timeout=30,
    )
    assert c["weight"] == 50 and c["phase"] == "Paused"
    svc = kubectl.json("get", "service", "gw", "-n", namespace)
    assert "modelship.io/track" not in svc["spec"]["selector"], "spans both tracks"


def test_a_refused_write_mid_reconcile_reaches_status(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    manifest = model_deployment("q", replicas=1, model=version("1.0.0"))
    assert kubectl.apply(dump(manifest), namespace).returncode == 0
    wait_ready(kubectl, namespace, "q")
    # A quota of one Deployment: the canary's Deployment is forbidden (403, retried).
    impose_quota(kubectl, namespace, "one-deployment", {"count/deployments.apps": "1"})
    set_version(kubectl, namespace, "q", "2.0.0")

    def failed() -> dict[str, Any] | None:
        cond = condition(md(kubectl, namespace, "q"), "Reconciled")
        return cond if cond and cond["status"] == "False" else None

    cond = wait_for("Reconciled=False naming the refusal", failed, timeout=60)
    assert cond["reason"] == "ReconcileFailed" and "exceeded quota" in cond["message"], cond
    status = md(kubectl, namespace, "q")["status"]
    assert status["stableRevision"]["modelVersion"] == "1.0.0"

    kubectl.run("delete", "resourcequota", "one-deployment", "-n", namespace)

    def recovered() -> dict[str, Any] | None:
        cond = condition(md(kubectl, namespace, "q"), "Reconciled")
        return cond if cond and cond["status"] == "True" else None

    cond = wait_for("Reconciled=True after the quota went (backoff <= 60 s)", recovered, 90)
    assert cond["reason"] == "ReconcileSucceeded"
    wait_promoted(kubectl, namespace, "q", "2.0.0")  # recovered: the rollout went on


def test_a_hand_edited_route_is_restored(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 25}, {"pause": {}}]
    canary_at(kubectl, namespace, "edit", 2, steps, 25)
    # Someone sets the route to all-canary by hand while the canary waits at its pause.
    patch = [
        {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 0},
        {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 100},
    ]
    kubectl.run(
        "patch", "httproute", "edit", "-n", namespace, "--type", "json", "-p", json.dumps(patch)
    )
    wait_for(
        "the route back at 75/25",
        lambda: route_weights(kubectl, namespace, "edit") == (75, 25),
        timeout=30,
    )
    c = canary_of(kubectl, namespace, "edit")
    assert c["phase"] == "Paused" and c["weight"] == 25, c
