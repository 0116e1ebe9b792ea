"""The operator killed (SIGKILL) at any point converges when it comes back."""

from __future__ import annotations

import pytest

from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_serving import condition, md, wait_ready

pytestmark = pytest.mark.cluster


def test_killed_mid_way_converges_without_duplicates(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    kubectl.apply(dump(model_deployment("a", replicas=2)), namespace)
    # Kill as soon as the operator has acted, before the rollout is Ready.
    wait_for(
        "the stable Deployment",
        lambda: (
            kubectl.run("get", "deployment", "a-stable", "-n", namespace, check=False).returncode
            == 0
        ),
    )
    running_operator.kill()

    # While it is down: change one object and create another.
    kubectl.run(
        "patch",
        "md",
        "a",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec":{"replicas":3,"model":{"version":"2.0.0"}}}',
    )
    kubectl.apply(dump(model_deployment("b", replicas=1)), namespace)

    running_operator.start()
    wait_ready(kubectl, namespace, "b")

    def converged() -> bool:
        obj = md(kubectl, namespace, "a")
        ready = condition(obj, "Ready")
        return bool(
            ready
            and ready["status"] == "True"
            and ready["observedGeneration"] == obj["metadata"]["generation"]
            and obj["status"].get("stableRevision", {}).get("modelVersion") == "2.0.0"
        )

    wait_for("a converged on 2.0.0 x3", converged)
    assert md(kubectl, namespace, "a")["status"]["readyReplicas"] == 3
    names = kubectl.run("get", "deployments,services", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(names) == [
        "deployment.apps/a-stable",
        "deployment.apps/b-stable",
        "service/a",
        "service/b",
    ]
