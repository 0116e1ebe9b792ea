"""The operator under deploy/rbac.yaml's least privilege, with a ServiceAccount token.

The shared operator (cluster-admin) is stopped; one running as the ServiceAccount
`modelship-system/modelship` takes a canary behind the Gateway API to promotion and
back through an abort, autoscaled; nothing it asks for is refused (its log has no
"forbidden"), and `kubectl auth can-i --as` shows what it may not do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship_testenv.cluster import repo_root
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.test_canary import canary_at, canary_of, ctl, wait_promoted
from tests.integration.test_serving import md

pytestmark = pytest.mark.cluster
SA = "system:serviceaccount:modelship-system:modelship"


def token_kubeconfig(kubectl: Kubectl, path: Path) -> Path:
    """The admin kubeconfig's cluster, with the ServiceAccount's token as the user."""
    token = kubectl.run(
        "create", "token", "modelship", "-n", "modelship-system", "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(kubectl.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "modelship", "user": {"token": token}}],
        "contexts": [
            {"name": "modelship", "context": {"cluster": cluster["name"], "user": "modelship"}}
        ],
        "current-context": "modelship",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def can(kubectl: Kubectl, verb: str, resource: str, *extra: str) -> bool:
    done = kubectl.run("auth", "can-i", verb, resource, "--as", SA, *extra, check=False)
    return done.stdout.strip() == "yes"


def test_the_operator_needs_no_more_than_its_role(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    kubectl.run("apply", "-f", str(repo_root() / "deploy" / "rbac.yaml"))
    running_operator.stop()
    op = OperatorProcess(token_kubeconfig(kubectl, tmp_path / "sa.kubeconfig"), tmp_path / "op.log")
    op.start()
    try:
        steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
        auto = {
            "minReplicas": 2,
            "maxReplicas": 4,
            "metrics": [{"cpu": {"averageUtilization": 70}}],
        }
        canary_at(kubectl, namespace, "least", 2, steps, 50, autoscaling=auto)
        assert ctl(kubectl, namespace, "promote", "least").returncode == 0
        wait_promoted(kubectl, namespace, "least", "2.0.0", timeout=90)
        kubectl.run(
            "patch",
            "md",
            "least",
            "-n",
            namespace,
            "--type",
            "merge",
            "-p",
            json.dumps(
                {"spec": {"model": {"version": "3.0.0", "uri": "s3://models/fraud/3.0.0/"}}}
            ),
        )
        wait_for(
            "the 3.0.0 canary at 50%",
            lambda: canary_of(kubectl, namespace, "least").get("actualWeight") == 50,
            90,
        )
        assert ctl(kubectl, namespace, "abort", "least").returncode == 0
        wait_for(
            "aborted", lambda: canary_of(kubectl, namespace, "least").get("phase") == "Aborted", 60
        )
        events = kubectl.json(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=least"
        )
        assert any(e["reason"] == "Promoted" for e in events["items"]), "Events were recorded"
        assert (
            md(kubectl, namespace, "least")["status"]["stableRevision"]["modelVersion"] == "2.0.0"
        )
    finally:
        op.stop()
        log = op.log_tail(200_000)
        running_operator.start()
    assert "forbidden" not in log.lower(), log[-3000:]
    # What it may not do.
    assert not can(kubectl, "get", "secrets")
    assert not can(kubectl, "list", "secrets", "-A")
    assert not can(kubectl, "update", "modeldeployments.modelship.io")
    assert not can(kubectl, "delete", "nodes")
    assert not can(kubectl, "create", "pods")
    assert not can(kubectl, "*", "*")
    assert can(kubectl, "patch", "deployments.apps")
