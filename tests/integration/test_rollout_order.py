"""Write order on abort, read from watches (resourceVersions are etcd's global order):
the route's canary weight goes to 0 before the canary's Deployment is scaled down, and
the canary keeps its pods for spec.rollout.scaleDownDelay (issue 15, defect 2). Times
are compared as the API server recorded them, never as wall-clock durations."""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta
from typing import Any

import pytest

from modelship.conditions import parse_time
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY, canary_of, ctl, set_version, version
from tests.integration.test_serving import wait_ready

pytestmark = pytest.mark.cluster


class Watch:
    """``kubectl get -w`` of one object: (resourceVersion, value) per event."""

    def __init__(self, kubectl: Kubectl, ns: str, what: str, value: str) -> None:
        template = "{.metadata.resourceVersion} " + value + "{'\\n'}"
        self.proc = subprocess.Popen(
            [*kubectl.argv, "get", what, "-n", ns, "-w", "-o", f"jsonpath={template}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: list[tuple[int, str]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            rv, _, value = line.strip().partition(" ")
            if rv.isdigit():
                self.events.append((int(rv), value))

    def first(self, value: str) -> tuple[int, str] | None:
        return next((e for e in self.events if e[1] == value), None)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def test_abort_takes_the_weight_away_before_the_pods(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    rollout = {"trafficRouting": GATEWAY, "steps": steps, "scaleDownDelay": "3s"}
    manifest = model_deployment("order", replicas=2, model=version("1.0.0"), rollout=rollout)
    assert kubectl.apply(dump(manifest), namespace).returncode == 0
    wait_ready(kubectl, namespace, "order")
    set_version(kubectl, namespace, "order", "2.0.0")
    wait_for(
        "the canary paused at 50%",
        lambda: canary_of(kubectl, namespace, "order").get("actualWeight") == 50,
        timeout=60,
    )
    weight = Watch(kubectl, namespace, "httproute/order", "{.spec.rules[0].backendRefs[1].weight}")
    pods = Watch(kubectl, namespace, "deployment/order-canary", "{.spec.replicas}")
    try:
        wait_for("both watches running", lambda: weight.events and pods.events, timeout=30)
        assert ctl(kubectl, namespace, "abort", "order").returncode == 0
        zero_weight = wait_for("the canary's weight at 0", lambda: weight.first("0"), 30)
        zero_pods = wait_for("the canary scaled to 0", lambda: pods.first("0"), 30)
    finally:
        weight.stop()
        pods.stop()
    assert zero_weight[0] < zero_pods[0], (weight.events, pods.events)
    c = canary_of(kubectl, namespace, "order")
    assert c["phase"] == "Aborted" and c["canaryReplicas"] == 0, c
    # The scale-down was written no earlier than abortedAt + scaleDownDelay: the API
    # server's own record of our last write to the Deployment (both to the second).
    dep = kubectl.json(
        "get", "deployment", "order-canary", "-n", namespace, "--show-managed-fields"
    )
    written = max(
        parse_time(f["time"])
        for f in dep["metadata"]["managedFields"]
        if f["manager"] == "modelship" and f.get("operation") == "Apply"
    )
    assert written >= parse_time(c["abortedAt"]) + timedelta(seconds=3), (written, c)


def test_a_swap_abort_keeps_the_canarys_weight_until_stable_has_the_pods(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    """Under swap at 75 % stable runs 1 pod of 4: an abort must not put all traffic on it
    (issue 15, defect 3). The route's canary weight reaches 0 only after stable's
    Deployment reports 4 available, in etcd's order."""
    steps: list[dict[str, Any]] = [{"setWeight": 75}, {"pause": {}}]
    rollout = {"trafficRouting": GATEWAY, "steps": steps, "capacity": "swap"}
    manifest = model_deployment("swapab", replicas=4, model=version("1.0.0"), rollout=rollout)
    assert kubectl.apply(dump(manifest), namespace).returncode == 0
    wait_ready(kubectl, namespace, "swapab")
    set_version(kubectl, namespace, "swapab", "2.0.0")
    wait_for(
        "the swap canary paused at 75% (stable 1 pod, canary 3)",
        lambda: (
            (c := canary_of(kubectl, namespace, "swapab")).get("actualWeight") == 75
            and (c["stableReplicas"], c["canaryReplicas"]) == (1, 3)
        ),
        timeout=90,
    )
    weight = Watch(kubectl, namespace, "httproute/swapab", "{.spec.rules[0].backendRefs[1].weight}")
    stable = Watch(kubectl, namespace, "deployment/swapab-stable", "{.status.availableReplicas}")
    try:
        wait_for("both watches running", lambda: weight.events and stable.events, timeout=30)
        assert ctl(kubectl, namespace, "abort", "swapab").returncode == 0
        zero_weight = wait_for("the canary's weight at 0", lambda: weight.first("0"), 60)
        whole = wait_for("stable with 4 available", lambda: stable.first("4"), 60)
    finally:
        weight.stop()
        stable.stop()
    assert whole[0] < zero_weight[0], (stable.events, weight.events)
    c = canary_of(kubectl, namespace, "swapab")
    assert c["phase"] == "Aborted" and c["weight"] == 0 and c["abortedAt"], c
