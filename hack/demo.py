#!/usr/bin/env python3
"""`make demo`: the product end to end on the local control plane.

Starts (building on first use) the control plane, installs the CRDs, starts the
operator in the background, applies examples/ and waits for Ready. Everything
keeps running afterwards so you can explore; `make demo-down` stops it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from modelship.devcluster import Cluster, ClusterError
from modelship.devcluster.cluster import REPO_ROOT
from modelship.devcluster.harness import OperatorProcess, install_crds

EXAMPLES = ["fraud-scorer.yaml", "mig-model.yaml", "cpu-model.yaml"]


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def stop_operator(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if b"modelship" in cmdline and b"operator" in cmdline:
        say(f"stopping the operator (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
    pid_file.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--down", action="store_true", help="stop the operator and the cluster")
    args = parser.parse_args()
    state: Path = args.state_dir
    cluster = Cluster(state / "cluster")
    pid_file = state / "operator.pid"
    if args.down:
        stop_operator(pid_file)
        cluster.down()
        return 0

    say("local control plane (the first run builds it from Go modules: several minutes)")
    try:
        cluster.up()
    except ClusterError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    kubectl = cluster.kubectl_argv()
    say("installing the CRDs")
    install_crds(kubectl)
    stop_operator(pid_file)
    say("starting the operator")
    op = OperatorProcess(cluster.kubeconfig, state / "operator.log")
    op.start()
    pid_file.write_text(str(op.pid))
    say("applying examples/: " + ", ".join(EXAMPLES))
    for name in EXAMPLES:
        subprocess.run([*kubectl, "apply", "-f", str(REPO_ROOT / "examples" / name)], check=True)
    say("waiting for every ModelDeployment to be Ready")
    done = subprocess.run(
        [*kubectl, "wait", "--for=condition=Ready", "md", "--all", "--timeout=120s"]
    )
    subprocess.run([*kubectl, "get", "md"])
    subprocess.run([*kubectl, "get", "pods", "-o", "wide", "-L", "modelship.io/track"])
    if done.returncode != 0:
        print(
            f"demo: not Ready in time; operator log: {op.log_file}\n{op.log_tail()}",
            file=sys.stderr,
        )
        return 1
    print(f"""
The operator keeps running (pid {op.pid}, log {op.log_file}). Try:

  export KUBECONFIG={cluster.kubeconfig}
  export PATH={cluster.bin_dir()}:$PATH          # the kubectl built with the cluster
  kubectl describe md fraud-scorer            # conditions and Events
  kubectl explain md.spec.runtime.gpu         # field documentation
  kubectl patch md fraud-scorer --type merge -p '{{"spec":{{"model":{{"version":"1.5.0"}}}}}}'
                                               # -> a canary, then promotion
  {Path(sys.executable).parent}/modelship status fraud-scorer   # revisions, weights, history
  kubectl apply -f examples/rollout/fraud-scorer-canary.yaml   # steps, see docs/rollout.md
  kubectl patch md fraud-scorer --type merge -p '{{"spec":{{"runtime":{{"gpu":{{"count":8}}}}}}}}'
                                               # -> Degraded / InsufficientGPU within seconds
  kubectl get md -w

Stop everything with: make demo-down
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
