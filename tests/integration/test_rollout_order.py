"""Write order on abort and promotion, read from watches (resourceVersions are etcd's global order):
the route's canary weight goes to 0 before the canary's Deployment is scaled down, and
the canary keeps its pods for spec.rollout.scaleDownDelay (issue 15, defect 2). Times
are compared as the API server recorded them, never as wall-clock durations."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from modelship.conditions import parse_time
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.test_canary import canary_at, canary_of, ctl
from tests.integration.test_serving import md

pytestmark = pytest.mark.cluster


class Watch:
    """``kubectl get -w`` of one object: (resourceVersion, value) per event, and when
    each arrived here (``arrived``, monotonic). With ``events`` the value is the watch
    event's type (ADDED, MODIFIED, DELETED)."""

    def __init__(
        self, kubectl: Kubectl, ns: str, what: str, value: str, events: bool = False
    ) -> None:
        obj = ".object" if events else ""
        template = "{" + obj + ".metadata.resourceVersion} " + value + "{'\\n'}"
        extra = ["--output-watch-events"] if events else []
        self.proc = subprocess.Popen(
            [*kubectl.argv, "get", what, "-n", ns, "-w", *extra, "-o", f"jsonpath={template}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: list[tuple[int, str]] = []
        self.arrived: list[float] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            rv, _, value = line.strip().partition(" ")
            if rv.isdigit():
                self.events.append((int(rv), value))
                self.arrived.append(time.monotonic())

    def first(self, value: str) -> tuple[int, str] | None:
        return next((e for e in self.events if e[1] == value), None)

    def arrival(self, value: str) -> float:
        return next(t for e, t in zip(self.events, self.arrived, strict=True) if e[1] == value)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def abort_watching(
    kubectl: Kubectl, ns: str, name: str, watched: dict[str, tuple[str, str, str]]
) -> dict[str, tuple[int, str]]:
    """Abort ``name`` while watching objects; for each watch (object, jsonpath, awaited
    value) the first event with that value. Every event is in the failure message."""
    watches = {k: Watch(kubectl, ns, what, path) for k, (what, path, _) in watched.items()}
    seen: dict[str, tuple[int, str]] = {}
    try:
        wait_for("the watches running", lambda: all(w.events for w in watches.values()), 30)
        assert ctl(kubectl, ns, "abort", name).returncode == 0
        for key, (what, _, value) in watched.items():
            seen[key] = wait_for(f"{what} at {value}", partial(watches[key].first, value), 60)
    finally:
        for w in watches.values():
            w.stop()
    return seen


def test_abort_takes_the_weight_away_before_the_pods(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    canary_at(kubectl, namespace, "order", 2, steps, 50, rollout={"scaleDownDelay": "3s"})
    seen = abort_watching(
        kubectl,
        namespace,
        "order",
        {
            "weight": ("httproute/order", "{.spec.rules[0].backendRefs[1].weight}", "0"),
            "pods": ("deployment/order-canary", "{.spec.replicas}", "0"),
        },
    )
    assert seen["weight"][0] < seen["pods"][0], seen
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
    canary_at(kubectl, namespace, "swapab", 4, steps, 75, rollout={"capacity": "swap"})
    c = canary_of(kubectl, namespace, "swapab")
    assert (c["stableReplicas"], c["canaryReplicas"]) == (1, 3), c
    seen = abort_watching(
        kubectl,
        namespace,
        "swapab",
        {
            "weight": ("httproute/swapab", "{.spec.rules[0].backendRefs[1].weight}", "0"),
            "stable": ("deployment/swapab-stable", "{.status.availableReplicas}", "4"),
        },
    )
    assert seen["stable"][0] < seen["weight"][0], seen
    c = canary_of(kubectl, namespace, "swapab")
    assert c["phase"] == "Aborted" and c["weight"] == 0 and c["abortedAt"], c


def test_a_promoted_canary_keeps_its_pods_for_the_scale_down_delay(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str
) -> None:
    """After promotion the route goes to 100/0 first; the canary's Deployment is deleted
    only after spec.rollout.scaleDownDelay, so requests already routed to it finish."""
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    canary_at(kubectl, namespace, "promo", 2, steps, 50, rollout={"scaleDownDelay": "3s"})
    route = Watch(kubectl, namespace, "httproute/promo", "{.spec.rules[0].backendRefs[1].weight}")
    canary = Watch(kubectl, namespace, "deployment/promo-canary", "{.type}", events=True)
    try:
        wait_for("the watches running", lambda: route.events and canary.events, 30)
        assert ctl(kubectl, namespace, "promote", "promo").returncode == 0
        weight_zero = wait_for("the route at 100/0", partial(route.first, "0"), 90)
        retiring = wait_for(
            "status.retiring while the canary serves out its requests",
            lambda: md(kubectl, namespace, "promo")["status"].get("retiring"),
            30,
        )
        deleted = wait_for("the canary Deployment deleted", partial(canary.first, "DELETED"), 60)
    finally:
        route.stop()
        canary.stop()
    assert weight_zero[0] < deleted[0], (route.events, canary.events)
    # retiring.since is kept to the second: the delete comes >= 2 s after the route's
    # write as this test saw both arrive (3 s delay less at most 1 s of truncation).
    assert canary.arrival("DELETED") - route.arrival("0") >= 2.0, (retiring, canary.events)
    st = md(kubectl, namespace, "promo")["status"]
    assert st["stableRevision"]["modelVersion"] == "2.0.0" and st.get("retiring") is None, st
