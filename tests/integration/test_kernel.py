"""The controller kernel against the real API server: the one executor applies, prunes
what a plan no longer holds, creates once across a crash, and writes status in a
deferred step when something fails mid-way.

The controller here is not ModelDeployment's: a ``Probe`` kind made for this test
renders ``spec.count`` ConfigMaps and one Secret created once. That it fits the kernel
without changes is the point (ModelPromotion is next).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from modelship.errors import TransientError
from modelship.kernel.executor import RECONCILED, Executor
from modelship.kernel.loop import Reconcile
from modelship.kernel.plan import Apply, CreateOnce, Event, Obj, ObjectRef, Plan, Target
from modelship.kube import Kube, connect
from modelship.kube.client import register_kind
from modelship.render import with_applied_hash
from tests.integration.conftest import Kubectl, impose_quota, wait_for

pytestmark = pytest.mark.cluster

GROUP = "kernel.test.modelship.io"
API = f"{GROUP}/v1"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"probes.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {"kind": "Probe", "plural": "probes", "singular": "probe"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}
LABEL = "kernel.test.modelship.io/probe"
PRUNED = frozenset({("v1", "ConfigMap")})


@dataclass(frozen=True)
class ProbeSnapshot:
    target: Target
    children: dict[ObjectRef, Obj] = field(default_factory=dict)
    count: int = 0


class ProbeController:
    """count ConfigMaps NAME-0..count-1, one Secret NAME-once created once."""

    kind = "Probe"

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def target(self, namespace: str, name: str) -> Target | None:
        obj = self.kube.get(API, "Probe", namespace, name)
        if obj is None:
            return None
        return Target(
            ObjectRef(API, "Probe", namespace, name),
            obj["metadata"]["uid"],
            int(obj["metadata"].get("generation", 0)),
            obj.get("status") or {},
            obj,
        )

    def observe(self, target: Target, now: datetime) -> ProbeSnapshot:
        found = self.kube.list("v1", "ConfigMap", target.ref.namespace, {LABEL: target.ref.name})
        children = {ObjectRef.of({"apiVersion": "v1", "kind": "ConfigMap", **o}): o for o in found}
        return ProbeSnapshot(target, children, int(target.obj["spec"]["count"]))

    def decide(self, s: ProbeSnapshot, now: datetime) -> Plan:
        owner = s.target
        return Plan(
            actions=(
                *(Apply(config_map(owner, i)) for i in range(s.count)),
                CreateOnce(secret(owner)),
            ),
            status={"observedGeneration": owner.generation, "children": s.count},
            events=(Event("Normal", "Probed", f"{s.count} ConfigMaps"),),
            prune=PRUNED,
        )

    def rejected(self, s: ProbeSnapshot, message: str, now: datetime) -> Plan:
        return Plan(status={"rejected": message})

    def done(self, s: ProbeSnapshot, plan: Plan) -> None:
        return None


def owner_ref(target: Target) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Probe",
        "name": target.ref.name,
        "uid": target.uid,
        "controller": True,
    }


def config_map(target: Target, i: int) -> Obj:
    return with_applied_hash(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{target.ref.name}-{i}",
                "namespace": target.ref.namespace,
                "labels": {LABEL: target.ref.name},
                "ownerReferences": [owner_ref(target)],
            },
            "data": {"i": str(i)},
        }
    )


def secret(target: Target) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"{target.ref.name}-once",
            "namespace": target.ref.namespace,
            "ownerReferences": [owner_ref(target)],
        },
        "stringData": {"made": "once"},
    }


@pytest.fixture(scope="module")
def kube(kubectl: Kubectl) -> Kube:
    kubectl.run("apply", "-f", "-", input=json.dumps(CRD))
    kubectl.run("wait", "--for=condition=Established", f"crd/probes.{GROUP}", "--timeout=60s")
    register_kind(API, "Probe", "probes")
    register_kind("v1", "Secret", "secrets")
    register_kind("v1", "ResourceQuota", "resourcequotas")
    return connect(kubeconfig=str(kubectl.kubeconfig))


@pytest.fixture
def probe(kube: Kube, kubectl: Kubectl, namespace: str) -> Iterator[str]:
    body = {"apiVersion": API, "kind": "Probe", "metadata": {"name": "p"}, "spec": {"count": 3}}
    kubectl.run("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    yield "p"


def config_maps(kubectl: Kubectl, ns: str) -> list[str]:
    items = kubectl.json("get", "configmaps", "-n", ns, "-l", LABEL)["items"]
    return sorted(
        o["metadata"]["name"] for o in items if not o["metadata"].get("deletionTimestamp")
    )


def probe_status(kubectl: Kubectl, ns: str) -> dict[str, Any]:
    return kubectl.json("get", f"probes.{GROUP}", "p", "-n", ns).get("status") or {}


def set_count(kubectl: Kubectl, ns: str, count: int) -> None:
    patch = json.dumps({"spec": {"count": count}})
    kubectl.run("patch", f"probes.{GROUP}", "p", "-n", ns, "--type", "merge", "-p", patch)


def test_applies_then_prunes_what_the_plan_no_longer_holds(
    kube: Kube, kubectl: Kubectl, namespace: str, probe: str
) -> None:
    reconcile = Reconcile(ProbeController(kube), Executor(kube))
    reconcile(namespace, probe)
    assert config_maps(kubectl, namespace) == ["p-0", "p-1", "p-2"]
    assert probe_status(kubectl, namespace)["children"] == 3
    reasons = kubectl.json("get", "events", "-n", namespace, "--field-selector", "reason=Probed")
    assert reasons["items"], "the plan's Event was recorded"

    # An object with our label that this Probe does not own is never pruned.
    stranger = config_map(Target(ObjectRef(API, "Probe", namespace, "p"), "other-uid", 1, {}), 9)
    stranger["metadata"]["ownerReferences"] = []
    kubectl.run("apply", "-n", namespace, "-f", "-", input=json.dumps(stranger))

    set_count(kubectl, namespace, 1)
    reconcile(namespace, probe)
    wait_for(
        "p-1 and p-2 pruned",
        lambda: config_maps(kubectl, namespace) == ["p-0", "p-9"],
        timeout=30,
    )
    assert probe_status(kubectl, namespace)["children"] == 1


class Crash(BaseException):
    """Stands in for SIGKILL at a chosen write (not an Exception: nothing catches it)."""


def test_create_once_survives_a_crash_between_the_create_and_the_status_write(
    kube: Kube, kubectl: Kubectl, namespace: str, probe: str
) -> None:
    def crash_at_status(what: str) -> None:
        if what.startswith("status of"):
            raise Crash(what)

    first = Reconcile(ProbeController(kube), Executor(kube, before_write=crash_at_status))
    with pytest.raises(Crash):
        first(namespace, probe)
    assert kubectl.json("get", "secret", "p-once", "-n", namespace)["metadata"]["name"]
    assert "children" not in probe_status(kubectl, namespace), "status was not written"

    # A new process (fresh executor) finds the Secret it made and finishes.
    Reconcile(ProbeController(kube), Executor(kube))(namespace, probe)
    assert probe_status(kubectl, namespace)["children"] == 3
    secrets = kubectl.json("get", "secrets", "-n", namespace)["items"]
    assert [s["metadata"]["name"] for s in secrets if s["metadata"]["name"].startswith("p-")] == [
        "p-once"
    ]

    # The same name owned by another object is not taken for ours.
    kubectl.run("delete", "secret", "p-once", "-n", namespace)
    foreign = secret(Target(ObjectRef(API, "Probe", namespace, "p"), "someone-else", 1, {}))
    foreign["metadata"]["ownerReferences"] = []
    kubectl.run("apply", "-n", namespace, "-f", "-", input=json.dumps(foreign))
    with pytest.raises(TransientError, match="belongs to another object"):
        Reconcile(ProbeController(kube), Executor(kube))(namespace, probe)


def test_an_error_mid_way_reaches_status_then_clears(
    kube: Kube, kubectl: Kubectl, namespace: str, probe: str
) -> None:
    # A real refusal by the API server mid-plan: a quota of 2 ConfigMaps (the namespace's
    # kube-root-ca.crt is one), so the second of three applies is forbidden.
    impose_quota(kubectl, namespace, "few", {"count/configmaps": "2"})
    reconcile = Reconcile(ProbeController(kube), Executor(kube))
    with pytest.raises(TransientError, match="exceeded quota"):
        reconcile(namespace, probe)
    status = probe_status(kubectl, namespace)
    cond = {c["type"]: c for c in status["conditions"]}[RECONCILED]
    assert cond["status"] == "False" and cond["reason"] == "ReconcileFailed", cond
    assert "exceeded quota" in cond["message"] and "TransientError at 20" in cond["message"]
    assert "children" not in status, "decided state is not recorded before its actions"

    kubectl.run("delete", "resourcequota", "few", "-n", namespace)
    wait_for(
        "the quota gone",
        lambda: (
            kubectl.run("get", "resourcequota", "few", "-n", namespace, check=False).returncode != 0
        ),
    )
    reconcile(namespace, probe)
    status = probe_status(kubectl, namespace)
    assert status["children"] == 3
    # The plan's status has no conditions of its own: the observed error condition is
    # turned True by the first reconcile that succeeds.
    cond = {c["type"]: c for c in status["conditions"]}[RECONCILED]
    assert cond["status"] == "True" and cond["reason"] == "ReconcileSucceeded", cond
    assert "exceeded quota" in cond["message"], "says what it recovered from"


@pytest.mark.parametrize("stop_at", ["event ", "status of"])
def test_an_event_is_neither_lost_nor_doubled_by_a_stop(
    kube: Kube, kubectl: Kubectl, namespace: str, probe: str, stop_at: str
) -> None:
    """Events were written after status, so a stop between the two lost the Event for
    good (issue 16, item 8). Now they come first, named after what was observed: a stop
    at the Event leaves nothing written, a stop at the status write leaves an Event the
    rerun's same-named one does not double."""

    def crash(what: str) -> None:
        if what.startswith(stop_at):
            raise Crash(what)

    with pytest.raises(Crash):
        Reconcile(ProbeController(kube), Executor(kube, before_write=crash))(namespace, probe)
    assert "children" not in probe_status(kubectl, namespace), "status was not written"
    Reconcile(ProbeController(kube), Executor(kube))(namespace, probe)
    assert probe_status(kubectl, namespace)["children"] == 3
    probed = kubectl.json("get", "events", "-n", namespace, "--field-selector", "reason=Probed")
    assert len(probed["items"]) == 1, [e["metadata"]["name"] for e in probed["items"]]
