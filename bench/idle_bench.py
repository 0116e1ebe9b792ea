#!/usr/bin/env python3
"""What canaries that wait for a person cost the operator: reconciles per minute and CPU.

For each N (default 300) the benchmark creates N ModelDeployments whose plan is
``setWeight: 50`` then an indefinite ``pause``, rolls every one to a new version, waits
until all are Paused at that step, and then, with nothing happening, samples for
``--seconds`` (default 60) the operator's own counter ``modelship_reconcile_total`` and
its CPU time (utime + stime from /proc). Before issue 16 each such canary was
reconciled every 10 s; now only watch events and the slow resync bring one back.

It runs against its own local control plane (built on first use) unless
MODELSHIP_BENCH_KUBECONFIG names another cluster. Numbers go to stdout as Markdown;
nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config
from prometheus_client.parser import text_string_to_metric_families

from apply_bench import fresh_namespace
from modelship_testenv import Cluster
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess, install_crds

STEPS = [{"setWeight": 50}, {"pause": {}}]


def manifest(name: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": "bench", "version": version, "uri": f"s3://bench/{version}/"},
            "runtime": {"image": "registry.example.com/modelship-runtime:0.1"},
            "replicas": 1,
            "rollout": {"steps": STEPS},
        },
    }


def metric_sum(metrics_url: str, name: str, **labels: str) -> float:
    """The sum of the operator's samples named ``name`` whose labels include ``labels``."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def reconciles(metrics_url: str) -> float:
    return metric_sum(metrics_url, "modelship_reconcile_total")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_all(custom: client.CustomObjectsApi, ns: str, n: int, ok: Any, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        listed: Any = custom.list_namespaced_custom_object(
            "modelship.io", "v1alpha1", ns, "modeldeployments"
        )
        items = listed["items"]
        done = sum(1 for i in items if ok(i.get("status") or {}))
        if done >= n:
            break
        time.sleep(1)
    return done


def ready(status: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
    )


def paused(status: dict[str, Any]) -> bool:
    canary = status.get("canary") or {}
    return canary.get("phase") == "Paused" and canary.get("pauseReason") == "Step"


def measure(
    api: client.ApiClient, n: int, op: OperatorProcess, seconds: float, timeout: float
) -> dict[str, Any]:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    ns = fresh_namespace(core, f"idle-{n}-{uuid.uuid4().hex[:6]}")
    names = [f"md-{i:04d}" for i in range(n)]
    for name in names:
        custom.create_namespaced_custom_object(
            "modelship.io", "v1alpha1", ns, "modeldeployments", manifest(name, "1.0.0")
        )
    got = wait_all(custom, ns, n, ready, timeout)
    print(f"[bench] {got}/{n} Ready", file=sys.stderr, flush=True)
    for name in names:
        custom.patch_namespaced_custom_object(
            "modelship.io",
            "v1alpha1",
            ns,
            "modeldeployments",
            name,
            {"spec": {"model": {"version": "2.0.0", "uri": "s3://bench/2.0.0/"}}},
        )
    got = wait_all(custom, ns, n, paused, timeout)
    print(f"[bench] {got}/{n} Paused at the pause step", file=sys.stderr, flush=True)
    time.sleep(5)  # the last step's writes settle
    assert op.metrics_url is not None
    r0, c0, t0 = reconciles(op.metrics_url), cpu_seconds(op.pid), time.monotonic()
    time.sleep(seconds)
    r1, c1, t1 = reconciles(op.metrics_url), cpu_seconds(op.pid), time.monotonic()
    return {
        "n": n,
        "paused": got,
        "per_min": (r1 - r0) * 60 / (t1 - t0),
        "cpu": 100 * (c1 - c0) / (t1 - t0),
        "seconds": t1 - t0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="300", help="comma-separated N values (default 300)")
    parser.add_argument("--seconds", type=float, default=60, help="idle sampling time")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to reach a state")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    external = os.environ.get("MODELSHIP_BENCH_KUBECONFIG")
    workdir = Path(tempfile.mkdtemp(prefix="modelship-idle-"))
    cluster = None
    if external:
        kubeconfig, kubectl = Path(external), ["kubectl", "--kubeconfig", external]
    else:
        cluster = Cluster(workdir / "cluster")
        cluster.up(gateway_api=False)
        kubeconfig, kubectl = cluster.kubeconfig, cluster.kubectl_argv()
    install_crds(kubectl)
    metrics = f"127.0.0.1:{free_port()}"
    op = OperatorProcess(kubeconfig, workdir / "operator.log", ["--metrics-address", metrics])
    op.metrics_url = f"http://{metrics}/metrics"
    op.start()
    rows = []
    try:
        cfg = client.Configuration()
        config.load_kube_config(str(kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = 8
        api = client.ApiClient(cfg)
        time.sleep(2)
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(api, n, op, args.seconds, args.timeout))
            print(f"[bench] {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        op.stop()
        if cluster is not None:
            cluster.down(quiet=True)
    print(f"\nmodelship idle benchmark ({os.cpu_count()} cores)\n")
    print("| paused canaries | reconciles/min while idle | operator CPU % | sampled s |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['paused']} of {r['n']} | {r['per_min']:.0f} | {r['cpu']:.1f} "
            f"| {r['seconds']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
