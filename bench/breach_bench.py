#!/usr/bin/env python3
"""Time from a canary's breach to its traffic being back on stable.

On a local control plane (or MODELSHIP_BENCH_KUBECONFIG), with real runtime
processes behind every pod, a real Prometheus (or ``--provider scrape``) and the
operator, each repetition rolls out a canary whose runtime answers 20 % of requests
with 500 (spec.runtime.env, so the fault is really in the serving process), at 50 %
behind the Gateway API, analysis ``errorRate max 0.01`` with ``failureLimit 1``.
A load generator sends requests all along. Breach = the first 500 the load generator
receives; back on stable = the first moment the HTTPRoute gives the canary 0 again.
The target (product.md) is one analysis interval + 3 s. Nothing here asserts it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from modelship.api.types import parse_duration
from modelship.kube import Kube, connect
from modelship_testenv import Cluster
from modelship_testenv.cluster import repo_root
from modelship_testenv.harness import OperatorProcess, install_crds
from modelship_testenv.loadgen import LoadGenerator
from modelship_testenv.podrunner import PodRunner
from modelship_testenv.prometheus import PrometheusProcess

ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
MD = ("modelship.io/v1alpha1", "ModelDeployment")


class FirstError(LoadGenerator):
    """Remembers when the first 5xx came back."""

    first_error: float | None = None

    def _send(self, ip: str) -> int:
        code = super()._send(ip)
        if code >= 500 and self.first_error is None:
            self.first_error = time.monotonic()
        return code


def canary_weight(kube: Kube, ns: str, name: str) -> int | None:
    route = kube.get(*ROUTE, ns, name)
    if route is None:
        return None
    for ref in route["spec"]["rules"][0]["backendRefs"]:
        if ref["name"] == f"{name}-canary":
            return int(ref.get("weight", 0))
    return None


def wait(what: str, probe: Any, timeout: float, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(every)
    raise TimeoutError(what)


def manifest(name: str, model_uri: str, interval: str, provider: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": "fraud-scorer", "version": "1.0.0", "uri": model_uri},
            "runtime": {"image": "modelship-runtime:dev"},
            "replicas": 1,
            "rollout": {
                "steps": [{"setWeight": 50}, {"pause": {}}],
                "trafficRouting": {
                    "gatewayAPI": {"parentRefs": [{"name": "gw", "namespace": "gateway-system"}]}
                },
            },
            "analysis": {
                "interval": interval,
                "failureLimit": 1,
                "provider": provider,
                "checks": [{"name": "errors", "errorRate": {"max": 0.01}}],
            },
        },
    }


def one(
    kube: Kube, kubectl: list[str], ns: str, uri: str, interval: str, provider: dict[str, Any]
) -> float:
    name = "breach"
    subprocess.run([*kubectl, "create", "namespace", ns], check=True, capture_output=True)
    sa = [*kubectl, "get", "serviceaccount", "default", "-n", ns]
    wait(
        "default ServiceAccount",
        lambda: subprocess.run(sa, capture_output=True).returncode == 0,
        30,
        0.2,
    )
    kube.create(
        {**manifest(name, uri, interval, provider), "metadata": {"name": name, "namespace": ns}}
    )

    def ready() -> bool:
        obj = kube.get(*MD, ns, name) or {}
        conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
        return conds.get("Ready") == "True"

    wait("1.0.0 Ready", ready, 120, 0.2)
    patch = {
        "spec": {
            "model": {"version": "2.0.0"},
            "runtime": {"env": [{"name": "MODELSHIP_FAULT_ERROR_RATE", "value": "0.2"}]},
        }
    }
    subprocess.run(
        [*kubectl, "patch", "md", name, "-n", ns, "--type", "merge", "-p", json.dumps(patch)],
        check=True,
        capture_output=True,
    )
    load = FirstError(kube, ns, name, "fraud-scorer", seed=5)
    stop = threading.Event()
    thread = threading.Thread(target=load.run, args=(100_000, 300), kwargs={"stop": stop})
    thread.start()
    try:
        wait("canary at 50%", lambda: canary_weight(kube, ns, name) == 50, 120)
        wait("first error", lambda: load.first_error is not None, 60, 0.01)
        wait("canary back to 0%", lambda: canary_weight(kube, ns, name) == 0, 120, 0.02)
        back = time.monotonic()
    finally:
        stop.set()
        thread.join(30)
    assert load.first_error is not None
    subprocess.run([*kubectl, "delete", "namespace", ns, "--wait=false"], capture_output=True)
    return back - load.first_error


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="canaries per interval (default 5)")
    parser.add_argument("--intervals", default="5s,10s", help="analysis intervals to try")
    parser.add_argument("--provider", choices=["prometheus", "scrape"], default="prometheus")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="modelship-breach-"))
    external = os.environ.get("MODELSHIP_BENCH_KUBECONFIG")
    cluster = None
    if external:
        kubeconfig, kubectl = Path(external), ["kubectl", "--kubeconfig", external]
    else:
        cluster = Cluster(workdir / "cluster")
        cluster.up()
        kubeconfig, kubectl = cluster.kubeconfig, cluster.kubectl_argv()
    install_crds(kubectl)
    model = workdir / "model"
    subprocess.run(
        [sys.executable, str(repo_root() / "examples" / "train.py"), "--out", str(model)],
        check=True,
        capture_output=True,
    )
    kube = connect(pool_size=4, kubeconfig=str(kubeconfig))
    op = OperatorProcess(kubeconfig, workdir / "operator.log")
    runner = PodRunner(kube, workdir / "pods", targets_file=workdir / "targets.json")
    prom = PrometheusProcess(workdir / "prometheus", workdir / "targets.json")
    rows = []
    try:
        runner.start()
        address = prom.start()
        provider = (
            {"prometheus": {"address": address}}
            if args.provider == "prometheus"
            else {"scrape": {}}
        )
        op.start()
        for interval in args.intervals.split(","):
            for i in range(args.repeat):
                ns = f"breach-{interval}-{i}-{os.getpid()}"
                seconds = one(kube, kubectl, ns, f"file://{model}", interval, provider)
                print(
                    f"[bench] interval {interval}: breach -> stable {seconds:.2f} s",
                    file=sys.stderr,
                )
                rows.append((interval, seconds))
    finally:
        op.stop()
        prom.stop()
        runner.stop()
        if cluster is not None:
            cluster.down(quiet=True)
    print(f"\nbreach -> traffic on stable, provider {args.provider}, {os.cpu_count()} cores\n")
    print("| interval | canaries | median s | max s | target s |")
    print("|---|---|---|---|---|")
    for interval in args.intervals.split(","):
        got = [s for i, s in rows if i == interval]
        print(
            f"| {interval} | {len(got)} | {statistics.median(got):.2f} | {max(got):.2f} | "
            f"{parse_duration(interval) + 3:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
