#!/usr/bin/env python3
"""Leader election: how long a fault of the leading operator replica stops the operator.

On a local control plane (or MODELSHIP_BENCH_KUBECONFIG), two `modelship operator
--leader-elect` replicas watch one namespace with --models ModelDeployments. Each trial
waits for a leader and a quiet second, then at t0 hits the leader with one fault and at
once changes one ModelDeployment (its replicas), and measures:
- to a new leader: until the Lease names the other replica (polled every 50 ms);
- to act on a change: until that ModelDeployment's status.observedGeneration shows the
  change (what a user waits for after a failover).
Faults: SIGKILL (a crash: the lease must expire, 15 s), SIGTERM (a rolling update: the
lease is released), SIGSTOP (a frozen process: expiry; it is continued afterwards, finds
it lost the lease and exits, and is restarted as a standby). The replica hit is restarted
before the next trial. Lease 15 s, renew deadline 10 s, retry 2 s (the defaults); each
fault falls at a random point of the standby's retry period.
Nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelship_testenv import Cluster
from modelship_testenv.harness import OperatorProcess, install_crds

NS = "failover"
LEASE = "modelship-operator"


def md(name: str) -> dict[str, object]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": {"name": "bench", "version": "1.0.0", "uri": "s3://bench/1.0.0/"},
            "runtime": {"image": "registry.example.com/modelship-runtime:0.1"},
            "replicas": 1,
        },
    }


class Bench:
    def __init__(self, kubectl: list[str], kubeconfig: Path, workdir: Path) -> None:
        self.kubectl = kubectl
        self.replicas = {
            name: OperatorProcess(
                kubeconfig,
                workdir / f"{name}.log",
                ["-n", NS, "--leader-elect", "--leader-elect-namespace", NS],
                env={"POD_NAME": name},
            )
            for name in ("op-a", "op-b")
        }

    def json(self, *args: str) -> Any:
        done = subprocess.run([*self.kubectl, *args, "-o", "json"], capture_output=True, text=True)
        return json.loads(done.stdout) if done.returncode == 0 else {}

    def leader(self) -> str:
        spec = self.json("get", "lease", LEASE, "-n", NS).get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        return next((n for n in self.replicas if holder.startswith(n + "_")), "")

    def wait(self, what: str, probe: Callable[[], bool], timeout: float = 120) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if probe():
                return time.monotonic()
            time.sleep(0.05)
        raise SystemExit(f"timed out waiting for {what}")

    def observed(self, name: str, generation: int) -> bool:
        obj = self.json("get", "md", name, "-n", NS)
        status = obj.get("status") or {}
        return int(status.get("observedGeneration") or 0) >= generation

    def trial(self, fault: str, flip: int) -> tuple[float, float]:
        for proc in self.replicas.values():
            if not proc.alive():
                proc.start()
        leader = self.replicas[self.wait_leader()]
        # A quiet second, then a moment spread over one retry period, so the fault does
        # not fall at the same point of the standby's 2 s cycle in every trial.
        time.sleep(1.0 + random.uniform(0, 2.0))
        name = "m0"
        generation = int(self.json("get", "md", name, "-n", NS)["metadata"]["generation"])
        assert leader.proc is not None
        old = next(n for n, p in self.replicas.items() if p is leader)
        t0 = time.monotonic()
        leader.proc.send_signal(
            {"kill": signal.SIGKILL, "term": signal.SIGTERM, "stop": signal.SIGSTOP}[fault]
        )
        subprocess.run(
            [
                *self.kubectl,
                "patch",
                "md",
                name,
                "-n",
                NS,
                "--type",
                "merge",
                "-p",
                json.dumps({"spec": {"replicas": 1 + flip % 2}}),
            ],
            capture_output=True,
            check=True,
        )
        led = self.wait("a new leader", lambda: self.leader() not in ("", old)) - t0
        acted = self.wait("the change observed", lambda: self.observed(name, generation + 1)) - t0
        if fault == "stop":
            leader.proc.send_signal(signal.SIGCONT)
            code = leader.proc.wait(30)
            print(f"[bench] the continued leader exited with {code}", file=sys.stderr)
        else:
            leader.proc.wait(30)
        return led, acted

    def wait_leader(self) -> str:
        self.wait("a leader", lambda: self.leader() != "")
        return self.leader()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=3, help="trials per fault")
    parser.add_argument("--models", type=int, default=20, help="ModelDeployments watched")
    parser.add_argument(
        "--faults", default="kill,term,stop", help="comma-separated: kill, term, stop"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    external = os.environ.get("MODELSHIP_BENCH_KUBECONFIG")
    workdir = Path(tempfile.mkdtemp(prefix="modelship-failover-"))
    cluster = None
    if external:
        kubeconfig, kubectl = Path(external), ["kubectl", "--kubeconfig", external]
    else:
        cluster = Cluster(workdir / "cluster")
        cluster.up(gateway_api=False)
        kubeconfig, kubectl = cluster.kubeconfig, cluster.kubectl_argv()
    install_crds(kubectl)
    subprocess.run([*kubectl, "create", "namespace", NS], capture_output=True)
    manifests = "\n---\n".join(json.dumps(md(f"m{i}")) for i in range(args.models))
    subprocess.run(
        [*kubectl, "apply", "-f", "-"], input=manifests, text=True, capture_output=True, check=True
    )
    bench = Bench(kubectl, kubeconfig, workdir)
    rows: dict[str, list[tuple[float, float]]] = {}
    try:
        flip = 0
        for fault in args.faults.split(","):
            for _ in range(args.trials):
                flip += 1
                rows.setdefault(fault, []).append(bench.trial(fault, flip))
                print(f"[bench] {fault}: {rows[fault][-1]}", file=sys.stderr, flush=True)
    finally:
        for proc in bench.replicas.values():
            if proc.alive() and proc.proc is not None:
                proc.proc.send_signal(signal.SIGCONT)
            proc.stop()
        if cluster is not None:
            cluster.down(quiet=True)
    names = {"kill": "SIGKILL (crash)", "term": "SIGTERM (clean stop)", "stop": "SIGSTOP (frozen)"}
    print(
        f"\nmodelship failover benchmark ({os.cpu_count()} cores, "
        f"{args.models} ModelDeployments, lease 15/10/2 s)\n"
    )
    print("| fault | trials | to a new leader p50 / max (s) | to act on a change p50 / max (s) |")
    print("|---|---|---|---|")
    for fault, results in rows.items():
        led = [r[0] for r in results]
        acted = [r[1] for r in results]
        print(
            f"| {names[fault]} | {len(results)} | {statistics.median(led):.1f} / {max(led):.1f} "
            f"| {statistics.median(acted):.1f} / {max(acted):.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
