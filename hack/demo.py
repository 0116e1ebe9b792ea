#!/usr/bin/env python3
"""`make demo`: the product end to end on the local control plane.

Starts (building on first use) the control plane, installs the CRDs, starts the
operator in the background, applies examples/ and waits for Ready; then a canary that
analysis rolls back (real runtime processes and Prometheus), and a promotion from
staging to prod through a soak and an approval (demo_promotion.py). Everything
keeps running afterwards so you can explore; `make demo-down` stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from modelship.kube import Kube, connect
from modelship_testenv import Cluster, ClusterError
from modelship_testenv.cluster import repo_root
from modelship_testenv.harness import OperatorProcess, install_crds
from modelship_testenv.loadgen import LoadGenerator

sys.path.insert(0, str(Path(__file__).parent))
from demo_promotion import promotion_demo  # beside this script (hack/ is no package)

EXAMPLES = ["fraud-scorer.yaml", "mig-model.yaml", "cpu-model.yaml"]
DEMO_NS = "analysis-demo"


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def stop_process(pid_file: Path, marker: bytes, what: str) -> None:
    """SIGTERM the process in pid_file if it is still ours (its command line has marker)."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if b"modelship" in cmdline and marker in cmdline:
        say(f"stopping {what} (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
    pid_file.unlink()


def kubectl_ok(kubectl: list[str], *args: str) -> bool:
    return subprocess.run([*kubectl, *args], capture_output=True).returncode == 0


def md_status(kube: Kube) -> dict[str, Any]:
    obj = kube.get("modelship.io/v1alpha1", "ModelDeployment", DEMO_NS, "fraud-detector") or {}
    return obj.get("status") or {}


def analysis_demo(cluster: Cluster, state: Path, loop_pid: Path) -> bool:
    """A real model behind real processes; a 100 ms slower canary that analysis rolls back."""
    kubectl = cluster.kubectl_argv()
    say(f"analysis: training the example model, real runtime processes for namespace {DEMO_NS}")
    model = state / "models" / "fraud-detector"
    if not (model / "model.json").exists():
        subprocess.run(
            [sys.executable, str(repo_root() / "examples" / "train.py"), "--out", str(model)],
            check=True,
            capture_output=True,
        )
    # A re-run starts over: the last run's canary would still stand aborted.
    kubectl_ok(kubectl, "delete", "namespace", DEMO_NS, "--ignore-not-found", "--timeout=120s")
    kubectl_ok(kubectl, "create", "namespace", DEMO_NS)
    stop_process(loop_pid, b"modelship_testenv.loop", "the runtime processes and Prometheus")
    address_file = state / "loop" / "prometheus.address"
    address_file.unlink(missing_ok=True)
    (state / "loop").mkdir(parents=True, exist_ok=True)
    with open(state / "loop.log", "ab") as log:
        loop = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelship_testenv.loop",
                "--kubeconfig",
                str(cluster.kubeconfig),
                "--state-dir",
                str(state / "loop"),
                "--namespace",
                DEMO_NS,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    loop_pid.write_text(str(loop.pid))
    deadline = time.monotonic() + 60
    while not address_file.exists():
        if loop.poll() is not None or time.monotonic() > deadline:
            log_tail = (state / "loop.log").read_text(errors="replace")[-1500:]
            print(
                f"demo: Prometheus did not start; {state / 'loop.log'} ends:\n{log_tail}",
                file=sys.stderr,
            )
            return False
        time.sleep(0.2)
    address = address_file.read_text()
    manifest = yaml.safe_load(
        (repo_root() / "examples" / "analysis" / "fraud-detector.yaml").read_text()
    )
    manifest["spec"]["model"]["uri"] = f"file://{model}"
    manifest["spec"]["analysis"]["provider"]["prometheus"]["address"] = address
    subprocess.run(
        [*kubectl, "apply", "-n", DEMO_NS, "-f", "-"],
        input=yaml.safe_dump(manifest).encode(),
        check=True,
    )
    if not kubectl_ok(
        kubectl,
        "wait",
        "-n",
        DEMO_NS,
        "--for=condition=Ready",
        "md/fraud-detector",
        "--timeout=120s",
    ):
        return False
    say("rolling out 2.0.0, which answers 100 ms slower, under load (bounded: 2 minutes)")
    env = [
        *manifest["spec"]["runtime"]["env"],
        {"name": "MODELSHIP_FAULT_LATENCY", "value": "100ms"},
    ]
    patch = {"spec": {"model": {"version": "2.0.0"}, "runtime": {"env": env}}}
    if not kubectl_ok(
        kubectl,
        "patch",
        "md",
        "fraud-detector",
        "-n",
        DEMO_NS,
        "--type",
        "merge",
        "-p",
        json.dumps(patch),
    ):
        return False
    kube = connect(pool_size=2, kubeconfig=str(cluster.kubeconfig))
    stop = threading.Event()
    load = LoadGenerator(kube, DEMO_NS, "fraud-detector", "fraud-detector", seed=1)
    sender = threading.Thread(target=load.run, args=(20_000, 120), kwargs={"stop": stop})
    sender.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            canary = md_status(kube).get("canary") or {}
            if canary.get("phase") == "Aborted":
                break
            time.sleep(1)
    finally:
        stop.set()
        sender.join(15)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "modelship",
            "status",
            "-n",
            DEMO_NS,
            "fraud-detector",
            "--kubeconfig",
            str(cluster.kubeconfig),
        ]
    )
    return (md_status(kube).get("canary") or {}).get("phase") == "Aborted"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--down", action="store_true", help="stop the operator and the cluster")
    args = parser.parse_args()
    state: Path = args.state_dir
    cluster = Cluster(state / "cluster")
    pid_file = state / "operator.pid"
    loop_pid = state / "loop.pid"
    if args.down:
        stop_process(loop_pid, b"modelship_testenv.loop", "the runtime processes and Prometheus")
        stop_process(pid_file, b"operator", "the operator")
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
    stop_process(pid_file, b"operator", "the operator")
    say("starting the operator")
    op = OperatorProcess(cluster.kubeconfig, state / "operator.log")
    op.start()
    pid_file.write_text(str(op.pid))
    say("applying examples/: " + ", ".join(EXAMPLES))
    for name in EXAMPLES:
        subprocess.run([*kubectl, "apply", "-f", str(repo_root() / "examples" / name)], check=True)
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
    skipped = ""
    if shutil.which("prometheus") is None:
        # The rest of the demo needs no Prometheus: shown without this part.
        skipped = (
            "The analysis part (a canary that analysis rolls back) was skipped: prometheus "
            "is not installed.\nInstall it as root (apt-get install prometheus, or "
            "make system-deps) and run make demo again to see it."
        )
        print(f"demo: {skipped}", file=sys.stderr)
    elif not analysis_demo(cluster, state, loop_pid):
        print(f"demo: the analysis part failed; operator log: {op.log_file}", file=sys.stderr)
        return 1
    if not promotion_demo(kubectl, cluster.kubeconfig, say):
        print(f"demo: the promotion part failed; operator log: {op.log_file}", file=sys.stderr)
        return 1
    analysis_hint = (
        ""
        if skipped
        else f"""
  {Path(sys.executable).parent}/modelship status -n {DEMO_NS} fraud-detector
                                               # the rolled-back canary's evidence"""
    )
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
{analysis_hint}
  {Path(sys.executable).parent}/modelship promotion evidence fraud-scorer-to-prod -n ml-prod -o yaml
                                               # who approved, every gate, the target's rollout
  kubectl get mpromo -A                        # promotions; docs/promotion.md

Stop everything with: make demo-down
""")
    if skipped:
        print(skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
