#!/usr/bin/env python3
"""Apply N ModelDeployments and measure how fast the operator acts on them.

For each N (default 1, 100, 500) the benchmark creates N ModelDeployments in a fresh
namespace as fast as one client can (a burst), then, with all of them in place,
creates 20 more one at a time, 0.5 s apart (steady state). It reports, per phase:

- apply -> Deployment: from the create call returning to the operator's
  ``<name>-stable`` Deployment appearing in a watch;
- apply -> Ready: to the ModelDeployment's Ready condition turning True (kwok
  makes pods Ready as soon as they are scheduled, so this is the operator's and the
  control plane's own latency);
- the operator's peak RSS (VmHWM) after the phase, with the total number of
  ModelDeployments that exist.

It runs against its own local control plane (built on first use) unless
MODELSHIP_BENCH_KUBECONFIG names another cluster. Numbers go to stdout as a
Markdown table; nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from modelship_testenv import Cluster
from modelship_testenv.harness import OperatorProcess, install_crds

STEADY_COUNT = 20
STEADY_GAP = 0.5


@dataclass
class Timeline:
    applied: dict[str, float] = field(default_factory=dict)
    deployed: dict[str, float] = field(default_factory=dict)
    ready: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": "bench", "version": "1.0.0", "uri": "s3://bench/1.0.0/"},
            "runtime": {"image": "registry.example.com/modelship-runtime:0.1"},
            "replicas": 1,
        },
    }


def watch_deployments(api: client.ApiClient, ns: str, tl: Timeline, stop: threading.Event) -> None:
    apps = client.AppsV1Api(api)
    w = watch.Watch()
    for event in w.stream(apps.list_namespaced_deployment, ns, timeout_seconds=600):
        name = event["object"].metadata.name.removesuffix("-stable")
        with tl.lock:
            tl.deployed.setdefault(name, time.monotonic())
        if stop.is_set():
            w.stop()


def watch_ready(api: client.ApiClient, ns: str, tl: Timeline, stop: threading.Event) -> None:
    custom = client.CustomObjectsApi(api)
    w = watch.Watch()
    for event in w.stream(
        custom.list_namespaced_custom_object,
        "modelship.io",
        "v1alpha1",
        ns,
        "modeldeployments",
        timeout_seconds=600,
    ):
        obj = event["object"]
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] == "Ready" and cond["status"] == "True":
                with tl.lock:
                    tl.ready.setdefault(obj["metadata"]["name"], time.monotonic())
        if stop.is_set():
            w.stop()


def pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def latencies(tl: Timeline, names: list[str], done: dict[str, float]) -> list[float]:
    return [(done[n] - tl.applied[n]) * 1000 for n in names if n in done]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fresh_namespace(core: client.CoreV1Api, ns: str) -> str:
    """Create ``ns`` and wait for its default ServiceAccount (pods need it)."""
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    while True:
        try:
            core.read_namespaced_service_account("default", ns)
            return ns
        except client.ApiException:
            time.sleep(0.1)


def run_size(
    api: client.ApiClient, n: int, op_pid: int, total: int, timeout: float
) -> list[dict[str, Any]]:
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    ns = fresh_namespace(core, f"bench-{n}-{uuid.uuid4().hex[:6]}")
    tl, stop = Timeline(), threading.Event()
    threads = [
        threading.Thread(target=f, args=(api, ns, tl, stop), daemon=True)
        for f in (watch_deployments, watch_ready)
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let both watches establish

    def create(name: str) -> None:
        custom.create_namespaced_custom_object(
            "modelship.io", "v1alpha1", ns, "modeldeployments", manifest(name)
        )
        with tl.lock:
            tl.applied[name] = time.monotonic()

    rows = []
    burst = [f"md-{i:04d}" for i in range(n)]
    started = time.monotonic()
    for name in burst:
        create(name)
    apply_secs = time.monotonic() - started
    deadline = time.monotonic() + timeout
    while len(tl.ready) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    rows.append(
        row(f"burst of {n}", tl, burst, op_pid, total + n, f"{n / apply_secs:.0f} creates/s")
    )

    steady = [f"steady-{i:02d}" for i in range(STEADY_COUNT)]
    for name in steady:
        create(name)
        time.sleep(STEADY_GAP)
    deadline = time.monotonic() + 60
    while any(s not in tl.ready for s in steady) and time.monotonic() < deadline:
        time.sleep(0.2)
    rows.append(
        row(
            f"{STEADY_COUNT} more, one every {STEADY_GAP}s",
            tl,
            steady,
            op_pid,
            total + n + STEADY_COUNT,
            "",
        )
    )
    stop.set()
    return rows


def row(
    phase: str, tl: Timeline, names: list[str], op_pid: int, total: int, note: str
) -> dict[str, Any]:
    dep = latencies(tl, names, tl.deployed)
    rdy = latencies(tl, names, tl.ready)
    return {
        "phase": phase,
        "total": total,
        "dep_p50": pct(dep, 50) if dep else float("nan"),
        "dep_p99": pct(dep, 99) if dep else float("nan"),
        "ready_p50": pct(rdy, 50) if rdy else float("nan"),
        "ready_p99": pct(rdy, 99) if rdy else float("nan"),
        "missing": len(names) - len(rdy),
        "rss": peak_rss_mb(op_pid),
        "note": note,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1,100,500", help="comma-separated N values (default 1,100,500)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for a burst to become Ready"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    import os
    import signal

    # Make SIGTERM run the finally block below, so the cluster and operator stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    external = os.environ.get("MODELSHIP_BENCH_KUBECONFIG")
    workdir = Path(tempfile.mkdtemp(prefix="modelship-bench-"))
    cluster = None
    if external:
        kubeconfig = Path(external)
        kubectl = ["kubectl", "--kubeconfig", external]
    else:
        cluster = Cluster(workdir / "cluster")
        cluster.up(gateway_api=False)
        kubeconfig = cluster.kubeconfig
        kubectl = cluster.kubectl_argv()
    install_crds(kubectl)
    op = OperatorProcess(kubeconfig, workdir / "operator.log")
    op.start()
    try:
        cfg = client.Configuration()
        config.load_kube_config(str(kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = 8
        api = client.ApiClient(cfg)
        time.sleep(2)
        rows: list[dict[str, Any]] = []
        total = 0
        for n in sizes:
            print(f"[bench] N={n} ...", file=sys.stderr, flush=True)
            for r in run_size(api, n, op.pid, total, args.timeout):
                print(f"[bench] {r}", file=sys.stderr, flush=True)
                rows.append(r)
            total += n + STEADY_COUNT
    finally:
        op.stop()
        if cluster is not None:
            cluster.down(quiet=True)
    print(f"\nmodelship apply benchmark ({os.cpu_count()} cores); times in ms\n")
    print(
        "| phase | MDs in cluster | apply→Deployment p50 | p99 | apply→Ready p50 | p99 "
        "| not Ready | operator peak RSS MB | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['phase']} | {r['total']} | {r['dep_p50']:.0f} | {r['dep_p99']:.0f} | "
            f"{r['ready_p50']:.0f} | {r['ready_p99']:.0f} | {r['missing']} | {r['rss']:.0f} "
            f"| {r['note']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
