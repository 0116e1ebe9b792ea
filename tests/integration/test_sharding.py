"""Two operator shards side by side on the real control plane: each reconciles only its
own ModelDeployments, an object no shard selects is left alone, a dead shard leaves the
other's objects reconciling and its own untouched until it is back, and an object moves
between shards with its labels. By label selector (``-l``) and by namespace (``-n``);
test_chart_shards.py runs two shards as two chart releases.

"Only its own" is checked in the API server's audit log, where each process's writes
carry its name in their User-Agent (``modelship/<version> (<POD_NAME>)``), not assumed.
The figures (a shard reconciling while the other is dead, a restarted shard's recovery)
are printed; docs/reliability.md ("Sharding") has them.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from modelship.decisions.shard import Shard
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, fresh_namespace, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster

SHARD_LABEL = "modelship.io/shard"


@dataclass
class Operator:
    """One shard's operator process, named in its User-Agent and its Lease holder."""

    name: str
    lease: str
    lease_ns: str
    proc: OperatorProcess
    metrics: str

    def writes(self, kubectl: Kubectl, since: float = 0.0) -> list[dict[str, Any]]:
        assert kubectl.cluster is not None
        return kubectl.cluster.writes(f"({self.name})", since)

    def log(self) -> str:
        return self.proc.log_tail(2_000_000)

    def gauge(self, line_prefix: str) -> float | None:
        try:
            with urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(line_prefix):
                return float(line.split()[-1])
        return None


def shard_operator(
    kubectl: Kubectl, name: str, lease_ns: str, log_dir: Path, args: list[str], lease: str
) -> Operator:
    metrics = f"127.0.0.1:{free_port()}"
    proc = OperatorProcess(
        kubectl.kubeconfig,
        log_dir / f"{name}.log",
        [*args, "--leader-elect", "--leader-elect-namespace", lease_ns],
        env={"POD_NAME": name},
    )
    proc.extra_args += ["--metrics-address", metrics]
    return Operator(name, lease, lease_ns, proc, metrics)


def holder(kubectl: Kubectl, op: Operator) -> str:
    done = kubectl.run("get", "lease", op.lease, "-n", op.lease_ns, "-o", "json", check=False)
    if done.returncode != 0:
        return ""
    return str(json.loads(done.stdout)["spec"].get("holderIdentity") or "")


def wait_leading(kubectl: Kubectl, op: Operator, timeout: float = 60, before: str = "") -> float:
    """Seconds until ``op`` holds its own Lease (as another identity than ``before``, its
    killed predecessor's: a restarted process has a new one)."""
    started = time.monotonic()

    def leads() -> bool:
        held = holder(kubectl, op)
        return held.startswith(op.name + "_") and held != before

    wait_for(f"{op.name} to hold lease {op.lease}", leads, timeout)
    return time.monotonic() - started


def apply_md(kubectl: Kubectl, ns: str, name: str, labels: dict[str, str]) -> None:
    manifest = model_deployment(name, replicas=1)
    manifest["metadata"]["labels"] = labels
    done = kubectl.apply(dump(manifest), ns)
    assert done.returncode == 0, done.stderr


def set_replicas(kubectl: Kubectl, ns: str, name: str, replicas: int) -> None:
    patch = json.dumps({"spec": {"replicas": replicas}})
    kubectl.run("patch", "md", name, "-n", ns, "--type", "merge", "-p", patch)


def reconciled(kubectl: Kubectl, ns: str, name: str, generation: int, ready: int) -> bool:
    status = md(kubectl, ns, name).get("status") or {}
    return status.get("observedGeneration") == generation and status.get("readyReplicas") == ready


def stable_replicas(kubectl: Kubectl, ns: str, name: str) -> int | None:
    done = kubectl.run("get", "deployment", f"{name}-stable", "-n", ns, "-o", "json", check=False)
    return json.loads(done.stdout)["spec"]["replicas"] if done.returncode == 0 else None


def written(op: Operator, kubectl: Kubectl, since: float = 0.0) -> set[tuple[str, str, str]]:
    """(resource, namespace, name) of every write ``op`` made; creates of Events named by
    the API server (generateName) have no name in the audit log."""
    found = set()
    for event in op.writes(kubectl, since):
        ref = event.get("objectRef") or {}
        found.add((ref.get("resource", ""), ref.get("namespace", ""), ref.get("name", "")))
    return found


def owners(refs: set[tuple[str, str, str]], ns: str) -> set[str]:
    """The ModelDeployments the writes in ``ns`` were about, by name prefix (children are
    named after their owner: NAME-stable, NAME, NAME-<hash>, Events NAME.<hash>); the
    shards' own Leases aside."""
    names = {name for kind, where, name in refs if where == ns and name and kind != "leases"}
    return {n.split("-")[0].split(".")[0] for n in names}


def stop_all(ops: list[Operator]) -> None:
    """SIGTERM each at once (each takes a few seconds to wind down), then their logs."""
    threads = [threading.Thread(target=op.proc.stop) for op in ops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for op in ops:
        print(f"---- {op.name} log tail ----\n{op.proc.log_tail(2500)}")


@pytest.fixture
def others_stopped(running_operator: OperatorProcess, kubectl: Kubectl) -> Iterator[None]:
    """The shared operator serves everything: it is down while the shards run (the
    running_operator fixture of a later test restarts it)."""
    if kubectl.cluster is None:
        pytest.skip("checking who wrote what needs the local control plane's audit log")
    running_operator.stop()
    yield


@dataclass
class Fleet:
    mode: str
    a: Operator
    b: Operator
    ns_a: str  # where shard a's ModelDeployments live
    ns_b: str
    labels_a: dict[str, str]
    labels_b: dict[str, str]


def shards(
    kubectl: Kubectl, mode: str, namespace: str, other: str, tmp_path: Path
) -> Iterator[Fleet]:
    """Two shards, split by label selector (all in ``namespace``: children of both
    shards side by side) or by namespace (each its own, with explicit Leases: without a
    selector the default Lease name is the same for both)."""
    if mode == "selector":
        sels = [f"{SHARD_LABEL}=a", f"{SHARD_LABEL}=b"]
        args, leases = [["-l", sel] for sel in sels], [lease_of(sel) for sel in sels]
        labels: tuple[dict[str, str], dict[str, str]] = ({SHARD_LABEL: "a"}, {SHARD_LABEL: "b"})
        where = (namespace, namespace)
    else:
        leases = ["shard-a", "shard-b"]
        where = (namespace, other)
        args = [
            ["-n", ns, "--leader-elect-lease-name", lease]
            for ns, lease in zip(where, leases, strict=True)
        ]
        labels = ({}, {})
    a, b = (
        shard_operator(kubectl, name, namespace, tmp_path, arg, lease)
        for name, arg, lease in zip(("shard-a", "shard-b"), args, leases, strict=True)
    )
    for op in (a, b):
        op.proc.start()
    try:
        yield Fleet(mode, a, b, *where, *labels)
    finally:
        stop_all([a, b])


@pytest.fixture(params=["selector", "namespace"])
def fleet(
    request: pytest.FixtureRequest,
    kubectl: Kubectl,
    others_stopped: None,
    namespace: str,
    tmp_path: Path,
) -> Iterator[Fleet]:
    with fresh_namespace(kubectl, "shb") as other:
        yield from shards(kubectl, request.param, namespace, other, tmp_path)


def lease_of(selector: str) -> str:
    return Shard.of([], selector).lease_name()


def test_each_shard_reconciles_only_its_own_and_survives_the_others_death(
    kubectl: Kubectl, fleet: Fleet
) -> None:
    a, b = fleet.a, fleet.b
    start = time.time()
    for op in (a, b):
        wait_leading(kubectl, op)
    apply_md(kubectl, fleet.ns_a, "alpha", fleet.labels_a)
    apply_md(kubectl, fleet.ns_b, "bravo", fleet.labels_b)
    # In the selector fleet an object no selector matches; in the namespace fleet one in
    # a namespace neither watches (the test's own namespace is shard a's, so: none).
    stray_ns = fleet.ns_a if fleet.labels_a else None
    if stray_ns:
        apply_md(kubectl, stray_ns, "nobody", {"modelship.io/team": "x"})
    wait_ready(kubectl, fleet.ns_a, "alpha")
    wait_ready(kubectl, fleet.ns_b, "bravo")
    for op in (a, b):
        assert "serving ModelDeployments and ModelPromotions in " in op.log()
    if stray_ns:
        # Both shards have reconciled theirs, watching the same namespace: nobody took it.
        assert "status" not in md(kubectl, stray_ns, "nobody")
        assert stable_replicas(kubectl, stray_ns, "nobody") is None

    # Shard a dies; a spec change on each side.
    before = md(kubectl, fleet.ns_a, "alpha")["status"]
    a.proc.kill()
    killed = time.time()
    set_replicas(kubectl, fleet.ns_a, "alpha", 2)
    set_replicas(kubectl, fleet.ns_b, "bravo", 2)
    changed = time.monotonic()
    wait_for(
        "shard b to reconcile bravo's change",
        lambda: reconciled(kubectl, fleet.ns_b, "bravo", 2, 2),
        60,
    )
    b_took = time.monotonic() - changed
    # Shard b is alive and has acted on the same change: alpha's is untouched.
    assert md(kubectl, fleet.ns_a, "alpha")["status"] == before
    assert stable_replicas(kubectl, fleet.ns_a, "alpha") == 1

    predecessor = holder(kubectl, a)
    restarted = time.time()
    a.proc.start()
    again = time.monotonic()
    leading = wait_leading(kubectl, a, 60, before=predecessor)
    wait_for(
        "restarted shard a to reconcile alpha's change",
        lambda: reconciled(kubectl, fleet.ns_a, "alpha", 2, 2),
        60,
    )
    a_took = time.monotonic() - again
    print(
        f"[{fleet.mode} shards] shard b reconciled its "
        f"change in {b_took:.1f}s with shard a dead; restarted shard a led after "
        f"{leading:.1f}s and reconciled alpha {a_took:.1f}s after its start"
    )

    # Who wrote what, over the whole test.
    b_owned = {"bravo"}
    a_owned = {"alpha"}
    assert owners(written(a, kubectl, start), fleet.ns_a) <= a_owned, written(a, kubectl, start)
    assert owners(written(b, kubectl, start), fleet.ns_b) <= b_owned, written(b, kubectl, start)
    if fleet.ns_a == fleet.ns_b:
        assert owners(written(b, kubectl, start), fleet.ns_a) <= b_owned
    # Nothing of alpha's was written while shard a was dead, by anyone.
    assert kubectl.cluster is not None
    while_dead = [
        e
        for e in kubectl.cluster.writes("modelship/", killed)
        if (e.get("objectRef") or {}).get("name", "").startswith("alpha")
        and _received(e) < restarted
    ]
    assert while_dead == [], while_dead
    if stray_ns:
        assert "status" not in md(kubectl, stray_ns, "nobody")
        assert not [
            e
            for e in kubectl.cluster.writes("modelship/", start)
            if (e.get("objectRef") or {}).get("name", "").startswith("nobody")
        ]


def _received(event: dict[str, Any]) -> float:
    stamp = str(event["requestReceivedTimestamp"]).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


@pytest.fixture
def selector_fleet(
    kubectl: Kubectl, others_stopped: None, namespace: str, tmp_path: Path
) -> Iterator[Fleet]:
    yield from shards(kubectl, "selector", namespace, namespace, tmp_path)


def test_an_object_moves_between_shards_with_its_labels(
    kubectl: Kubectl, selector_fleet: Fleet
) -> None:
    """alpha, running under shard a, is relabelled for shard b: b (which had dropped
    alpha's children from its cache as another shard's) reads them, takes it over and
    reports it correctly; a writes nothing more for it. An object no shard selected
    joins one by being labelled."""
    fleet = selector_fleet
    a, b, ns = fleet.a, fleet.b, fleet.ns_a
    for op in (a, b):
        wait_leading(kubectl, op)
    apply_md(kubectl, ns, "alpha", fleet.labels_a)
    apply_md(kubectl, ns, "nobody", {})
    wait_ready(kubectl, ns, "alpha")
    wait_for(
        "shard b to count alpha as another shard's",
        lambda: (b.gauge('modelship_shard_model_deployments{state="foreign"}') or 0) >= 1,
        60,
    )
    assert (a.gauge('modelship_shard_model_deployments{state="served"}') or 0) >= 1

    moved = time.time()
    kubectl.run("label", "md", "alpha", "-n", ns, f"{SHARD_LABEL}=b", "--overwrite")
    relabelled = time.monotonic()
    wait_for("shard b to take alpha over", lambda: f"{ns}/alpha: joined" in b.log(), 30)
    took_over = time.monotonic() - relabelled
    wait_for("shard a to let alpha go", lambda: f"{ns}/alpha: not in this" in a.log(), 30)
    set_replicas(kubectl, ns, "alpha", 2)
    changed = time.monotonic()
    wait_for("shard b to reconcile alpha", lambda: reconciled(kubectl, ns, "alpha", 2, 2), 60)
    print(
        f"relabelled: shard b took alpha over in {took_over:.1f}s and reconciled a change "
        f"to it in {time.monotonic() - changed:.1f}s"
    )
    assert owners(written(a, kubectl, moved), ns) == set(), written(a, kubectl, moved)
    assert "alpha" in owners(written(b, kubectl, moved), ns)

    kubectl.run("label", "md", "nobody", "-n", ns, f"{SHARD_LABEL}=a")
    wait_ready(kubectl, ns, "nobody")
    assert "nobody" in owners(written(a, kubectl, moved), ns)
