"""Two operator processes with --leader-elect: one leads, the other writes nothing; the
leader SIGKILLed, SIGTERMed or SIGSTOPped mid-rollout hands over, and the rollout ends
the same. Writes are counted in the API server's audit log by each replica's User-Agent
(``modelship/<version> (<POD_NAME>)``), so "writes nothing" is checked, not assumed.

Failover times are printed (docs/ha.md has the figures from bench/failover_bench.py).
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.test_canary import canary_of, deploy, set_version, wait_promoted

pytestmark = pytest.mark.cluster

LEASE = "modelship-operator"
LEASE_DURATION = 15.0


class Replica:
    def __init__(self, kubectl: Kubectl, name: str, ns: str, log_dir: Path) -> None:
        self.name = name
        self.health = f"127.0.0.1:{free_port()}"
        self.metrics = f"127.0.0.1:{free_port()}"
        self.proc = OperatorProcess(
            kubectl.kubeconfig,
            log_dir / f"{name}.log",
            [
                "-n",
                ns,
                "--leader-elect",
                "--leader-elect-namespace",
                ns,
                "--health-address",
                self.health,
                "--metrics-address",
                self.metrics,
            ],
            env={"POD_NAME": name},
        )

    def get(self, url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def leader_gauge(self) -> float | None:
        try:
            _, text = self.get(f"http://{self.metrics}/metrics")
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("modelship_leader "):
                return float(line.split()[1])
        return None

    def writes(self, kubectl: Kubectl, since: float = 0.0) -> list[dict[str, Any]]:
        assert kubectl.cluster is not None
        return kubectl.cluster.writes(f"({self.name})", since)


def holder(kubectl: Kubectl, ns: str) -> str:
    done = kubectl.run("get", "lease", LEASE, "-n", ns, "-o", "json", check=False)
    if done.returncode != 0:
        return ""
    return str(json.loads(done.stdout)["spec"].get("holderIdentity") or "")


def leader_of(kubectl: Kubectl, ns: str, replicas: list[Replica]) -> Replica | None:
    held = holder(kubectl, ns)
    return next((r for r in replicas if held.startswith(r.name + "_")), None)


@pytest.fixture
def replicas(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[list[Replica]]:
    """Two electing operators for ``namespace``; the shared operator is down meanwhile
    (it would reconcile the same objects), and restarted by running_operator later."""
    if kubectl.cluster is None:
        pytest.skip("counting writes needs the local control plane's audit log")
    running_operator.stop()
    pair = [Replica(kubectl, name, namespace, tmp_path) for name in ("op-a", "op-b")]
    for r in pair:
        r.proc.start()
    try:
        yield pair
    finally:
        for r in pair:
            r.proc.stop()
            print(f"---- {r.name} log tail ----\n{r.proc.log_tail(2500)}")


def wait_leader(kubectl: Kubectl, ns: str, replicas: list[Replica], timeout: float = 60) -> Replica:
    return wait_for("a leader", lambda: leader_of(kubectl, ns, replicas), timeout)


def rollout(kubectl: Kubectl, ns: str) -> None:
    """1.0.0 Ready, then 2.0.0 as a canary through timed pauses: a rollout that goes
    on by itself, so whoever leads has writes to make."""
    steps: list[dict[str, Any]] = [
        {"setWeight": 25},
        {"pause": {"duration": "8s"}},
        {"setWeight": 75},
        {"pause": {"duration": "8s"}},
    ]
    deploy(kubectl, ns, "ha", 2, steps)
    set_version(kubectl, ns, "ha", "2.0.0")
    wait_for("the canary in its first pause", lambda: canary_of(kubectl, ns, "ha").get("step") == 1)


def mid_rollout(kubectl: Kubectl, ns: str, replicas: list[Replica]) -> tuple[Replica, Replica]:
    """(the leader, the standby), with a rollout under way."""
    leader = wait_leader(kubectl, ns, replicas)
    other = next(r for r in replicas if r is not leader)
    rollout(kubectl, ns)
    assert leader.proc.proc is not None
    return leader, other


def wait_leads(kubectl: Kubectl, ns: str, replicas: list[Replica], other: Replica) -> None:
    wait_for("the standby to lead", lambda: leader_of(kubectl, ns, replicas) is other, 60)


def finished_the_same(kubectl: Kubectl, ns: str) -> None:
    wait_promoted(kubectl, ns, "ha", "2.0.0", timeout=120)
    history = kubectl.json("get", "md", "ha", "-n", ns)["status"].get("history") or []
    assert [h.get("modelVersion") for h in history][:2] == ["2.0.0", "1.0.0"], (
        history
    )  # newest first
    wait_for(
        "the retired canary pruned",
        lambda: (
            kubectl.run("get", "deployments", "-n", ns, "-o", "name").stdout.split()
            == ["deployment.apps/ha-stable"]
        ),
        timeout=60,
    )


def test_one_leads_and_the_standby_writes_nothing(
    kubectl: Kubectl, replicas: list[Replica], namespace: str
) -> None:
    leader = wait_leader(kubectl, namespace, replicas)
    standby = next(r for r in replicas if r is not leader)
    rollout(kubectl, namespace)
    finished_the_same(kubectl, namespace)
    assert leader.writes(kubectl), "the leader's writes are not in the audit log"
    assert standby.writes(kubectl) == []
    # Health: both live and ready; the gauge and /readyz say which one leads.
    for r, leading in ((leader, True), (standby, False)):
        status, body = r.get(f"http://{r.health}/readyz")
        assert status == 200 and json.loads(body)["leader"] is leading, body
        assert r.get(f"http://{r.health}/healthz")[0] == 200
        assert r.leader_gauge() == (1.0 if leading else 0.0)


def test_sigkill_of_the_leader_mid_rollout(
    kubectl: Kubectl, replicas: list[Replica], namespace: str
) -> None:
    leader, other = mid_rollout(kubectl, namespace, replicas)
    killed = time.monotonic()
    leader.proc.kill()
    wait_leads(kubectl, namespace, replicas, other)
    print(f"SIGKILL failover: {time.monotonic() - killed:.1f}s to a new leader")
    finished_the_same(kubectl, namespace)


def test_sigterm_hands_over_at_once(
    kubectl: Kubectl, replicas: list[Replica], namespace: str
) -> None:
    leader, other = mid_rollout(kubectl, namespace, replicas)
    assert leader.proc.proc is not None
    terminated = time.monotonic()
    leader.proc.proc.send_signal(signal.SIGTERM)
    wait_leads(kubectl, namespace, replicas, other)
    handover = time.monotonic() - terminated
    print(f"SIGTERM handover: {handover:.1f}s to a new leader")
    # Not a speed target: without the release the standby could not take the lease
    # before it expired, so a handover inside the lease duration shows it was released.
    assert handover < LEASE_DURATION, f"took {handover:.1f}s: the lease was not released"
    assert leader.proc.wait(30) == 0
    assert "released lease" in leader.proc.log_tail(20000)
    finished_the_same(kubectl, namespace)


def test_a_frozen_leader_loses_the_lease_and_writes_nothing_after(
    kubectl: Kubectl, replicas: list[Replica], namespace: str
) -> None:
    leader, other = mid_rollout(kubectl, namespace, replicas)
    assert leader.proc.proc is not None
    frozen = time.monotonic()
    leader.proc.proc.send_signal(signal.SIGSTOP)
    try:
        wait_leads(kubectl, namespace, replicas, other)
        print(f"SIGSTOP failover: {time.monotonic() - frozen:.1f}s to a new leader")
        # The new leader moves the rollout on while the old one is frozen with its
        # timers overdue and its reconciles half-way.
        wait_for(
            "the new leader's first write",
            lambda: other.writes(kubectl, since=time.time() - 60),
            timeout=30,
        )
        thawed = time.time()
    finally:
        leader.proc.proc.send_signal(signal.SIGCONT)
    # It finds out from the clock that it may not write, and exits to rejoin as a standby.
    assert leader.proc.wait(30) == 1
    assert "lost leadership" in leader.proc.log_tail(20000)
    assert leader.writes(kubectl, since=thawed) == []
    finished_the_same(kubectl, namespace)
    assert leader.writes(kubectl, since=thawed) == []
