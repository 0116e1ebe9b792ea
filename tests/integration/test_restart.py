"""The operator killed (SIGKILL) at any point converges when it comes back."""

from __future__ import annotations

import time

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
            # the promoted canary's pods serve out their requests for scaleDownDelay
            and obj["status"].get("retiring") is None
        )

    wait_for("a converged on 2.0.0 x3", converged, timeout=90)
    assert md(kubectl, namespace, "a")["status"]["readyReplicas"] == 3
    names = kubectl.run("get", "deployments,services", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(names) == [
        "deployment.apps/a-stable",
        "deployment.apps/b-stable",
        "service/a",
        "service/b",
    ]


def test_a_command_is_acted_on_soon_after_the_api_server_restarts(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    """While a restarting API server answers 429, kopf's default retries waited 13-21 s
    each, so `modelship abort` was acted on ~30 s after /readyz (issue 16, item 6); the
    retries are now at most 3 s apart (target: within 5 s, measured and printed)."""
    if kubectl.cluster is None:
        pytest.skip("restarting the API server needs the local control plane")
    from tests.integration.test_canary import canary_at, canary_of, ctl

    steps: list[dict[str, object]] = [{"setWeight": 50}, {"pause": {}}]
    canary_at(kubectl, namespace, "bounce", 1, steps, 50)
    down = kubectl.cluster.restart("kube-apiserver")
    asked = time.monotonic()
    assert ctl(kubectl, namespace, "abort", "bounce").returncode == 0
    wait_for(
        "the abort acted on after the API server came back",
        lambda: canary_of(kubectl, namespace, "bounce").get("phase") == "Aborted",
        timeout=15,  # well under the ~30 s of before; the number itself is printed
        interval=0.1,
    )
    print(
        f"API server down {down:.1f}s; abort acted on {time.monotonic() - asked:.1f}s after /readyz"
    )


def _stable_revision_label(kubectl: Kubectl, ns: str, name: str) -> str:
    dep = kubectl.json("get", "deployment", f"{name}-stable", "-n", ns)
    return str(dep["spec"]["template"]["metadata"]["labels"]["modelship.io/revision"])


@pytest.mark.parametrize(
    "corruption",
    [
        [{"op": "replace", "path": "/status", "value": {}}],
        [{"op": "replace", "path": "/status/stableRevision/name", "value": "0000000000"}],
    ],
    ids=["status-emptied", "unknown-stable-revision"],
)
def test_corrupted_status_never_promotes_the_canary_untested(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, corruption: object
) -> None:
    """With stable 1.0.0 and canary 2.0.0 at 25 %, emptying status (or pointing it at an
    unknown revision) made the stable run 2.0.0 at 100 % (issue 16, item 1). Now the
    stable revision comes from the stable Deployment and 2.0.0 starts its canary again."""
    import json

    from tests.integration.test_canary import canary_at, canary_of

    steps: list[dict[str, object]] = [{"setWeight": 25}, {"pause": {}}]
    canary_at(kubectl, namespace, "cache", 2, steps, 25)
    stable_before = _stable_revision_label(kubectl, namespace, "cache")
    kubectl.run(
        "patch",
        "md",
        "cache",
        "-n",
        namespace,
        "--subresource=status",
        "--type=json",
        "-p",
        json.dumps(corruption),
    )
    repaired = wait_for(
        "status repaired (Degraded/StatusRepaired)",
        lambda: (
            (c := condition(md(kubectl, namespace, "cache"), "Degraded"))
            and c["reason"] == "StatusRepaired"
            and c
        ),
        timeout=30,
    )
    assert "the stable Deployment runs revision" in repaired["message"], repaired
    wait_for(
        "the canary back at 25 %",
        lambda: canary_of(kubectl, namespace, "cache").get("actualWeight") == 25,
        timeout=60,
    )
    st = md(kubectl, namespace, "cache")["status"]
    assert _stable_revision_label(kubectl, namespace, "cache") == stable_before
    assert st["stableRevision"]["modelVersion"] == "1.0.0", st["stableRevision"]
    assert st["canary"]["revision"]["modelVersion"] == "2.0.0" and st["canary"]["step"] <= 1


def test_a_stable_revision_whose_stored_spec_is_gone_keeps_running(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    """The stable ControllerRevision deleted and the operator restarted, then a new
    version: the new version used to replace the stable track directly
    (StableRevisionMissing). Now the stable Deployment keeps running 1.0.0 as it is
    and 2.0.0 goes through a canary (issue 16, item 1)."""
    from tests.integration.test_canary import GATEWAY, canary_of, set_version, version

    rollout = {"trafficRouting": GATEWAY, "steps": [{"setWeight": 50}, {"pause": {}}]}
    kubectl.apply(
        dump(model_deployment("gone", model=version("1.0.0"), rollout=rollout)), namespace
    )
    wait_ready(kubectl, namespace, "gone")
    stable_before = _stable_revision_label(kubectl, namespace, "gone")
    running_operator.kill()  # its cache of stored revisions goes with it
    kubectl.run("delete", "controllerrevision", f"gone-{stable_before}", "-n", namespace)
    set_version(kubectl, namespace, "gone", "2.0.0")
    running_operator.start()
    wait_for(
        "2.0.0 as a canary at 50 %",
        lambda: canary_of(kubectl, namespace, "gone").get("actualWeight") == 50,
        timeout=90,
    )
    assert _stable_revision_label(kubectl, namespace, "gone") == stable_before
    degraded = condition(md(kubectl, namespace, "gone"), "Degraded")
    assert degraded is not None and degraded["reason"] == "StatusRepaired", degraded
    assert "kept as it runs" in degraded["message"]
