#!/usr/bin/env python3
"""A fleet of analysed, drift-monitored ModelDeployments on a real Prometheus: what it costs.

``--models`` (default 1000) ModelDeployments in one namespace, each with analysis
(``errorRate``) and drift (5 numeric features, one shared reference ConfigMap) on the
Prometheus provider; a real Prometheus scrapes the series.

Metrics source: one loopback exporter thread in this process serves, for every model,
the series its runtime pods would expose (``modelship_requests_total`` by code,
``modelship_request_duration_seconds`` buckets, ``modelship_feature_value_bucket`` per
feature and bin), labelled namespace, pod (``NAME-TRACK-<hash>-<id>``, the name the
operator's queries match) and track, counters growing with time. Why: 1,000 runtime
processes do not fit on 2 cores; the operator's real queries against the real
Prometheus are what is measured, not the runtime. The pods are kwok's (scheduled and
Ready, no process behind them).

Phases: create all and wait Ready; bump the version of all at once (apply->canary
Deployment latency; analysis rounds run); steady state for ``--drift-intervals`` drift
intervals (operator CPU per interval, API requests/s from the apiserver's
apiserver_request_total); ``--steady-applies`` new models created one every 0.5 s into
the busy fleet (apply->stable Deployment, the product's target); restart the operator
and time until it has reconciled every object again. ``--without analysis|drift``
leaves one out of every model, so two runs split the steady cost between them.
Operator RSS and CPU come from /proc of its pid. Bounded in time by ``--timeout`` per
phase; prints a Markdown table. Nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

import histograms
from apply_bench import fresh_namespace, pct, peak_rss_mb
from idle_bench import cpu_seconds, metric_sum, reconciles, wait_all
from modelship_testenv import Cluster
from modelship_testenv import prometheus as prometheus_env
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess, install_crds

FEATURES = 5
EDGES = [-1.28, -0.84, -0.52, -0.25, 0.0, 0.25, 0.52, 0.84, 1.28]
SHARES = [0.1] * 10
LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]


def reference() -> dict[str, Any]:
    feats = {
        f"f{i}": {"type": "numeric", "edges": EDGES, "counts": [2000] * 10, "missing": 0}
        for i in range(FEATURES)
    }
    return {"format": "modelship.io/reference/v1", "rows": 20000, "features": feats}


def manifest(
    name: str, version: str, prom: str, drift_interval: str, without: str = ""
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": "fleet", "version": version, "uri": f"s3://fleet/{version}/"},
            "runtime": {"image": "registry.example.com/modelship-runtime:0.1"},
            "replicas": 1,
            "rollout": {"steps": [{"setWeight": 50}, {"pause": {}}]},
            "analysis": {
                "interval": "10s",
                "provider": {"prometheus": {"address": prom}},
                "checks": [{"name": "errors", "errorRate": {"max": 0.05}}],
            },
            "drift": {
                "reference": {"configMapRef": {"name": "fleet-reference", "key": "ref.json"}},
                "window": "2m",
                "interval": drift_interval,
            },
        },
    }
    if without:  # to split the steady cost between analysis and drift
        del obj["spec"][without]
    return obj


class Exporter:
    """Serves every model's runtime series on one loopback page; counters grow at
    ``rps`` requests/s per pod (1 % errors)."""

    def __init__(self, ns: str, names: list[str], rps: float = 5.0) -> None:
        self.ns, self.names, self.rps, self.t0 = ns, names, rps, time.monotonic()
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self.url = f"127.0.0.1:{self.server.server_address[1]}"

    def page(self) -> bytes:
        n = (time.monotonic() - self.t0) * self.rps
        out: list[str] = []
        for name in self.names:
            for track in ("stable", "canary"):
                base = (
                    f'namespace="{self.ns}",pod="{name}-{track}-5d8f7-x{track[0]}1",track="{track}"'
                )
                out.append(f'modelship_requests_total{{{base},code="200"}} {n * 0.99:.1f}')
                out.append(f'modelship_requests_total{{{base},code="500"}} {n * 0.01:.1f}')
                for i, le in enumerate(LATENCY):
                    share = min(1.0, (i + 1) / (len(LATENCY) - 2))
                    bucket = f'modelship_request_duration_seconds_bucket{{{base},le="{le}"}}'
                    out.append(f"{bucket} {n * share:.1f}")
                out.append(f'modelship_request_duration_seconds_bucket{{{base},le="+Inf"}} {n:.1f}')
                out.append(f"modelship_request_duration_seconds_count{{{base}}} {n:.1f}")
                out.append(f"modelship_request_duration_seconds_sum{{{base}}} {n * 0.05:.1f}")
                if track != "stable":
                    continue
                for f in range(FEATURES):
                    acc = 0.0
                    for edge, part in zip([*map(str, EDGES), "+Inf"], SHARES, strict=True):
                        acc += part
                        out.append(
                            f'modelship_feature_value_bucket{{{base},feature="f{f}",le="{edge}"}} '
                            f"{n * acc:.1f}"
                        )
        return ("\n".join(out) + "\n").encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.page()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def apiserver_metrics(kubectl: list[str]) -> str:
    """The API server's /metrics text."""
    return subprocess.run(
        [*kubectl, "get", "--raw", "/metrics"], capture_output=True, text=True, check=True
    ).stdout


def api_requests(kubectl: list[str]) -> float:
    """All requests the apiserver has served (apiserver_request_total summed)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in apiserver_metrics(kubectl).splitlines()
        if line.startswith("apiserver_request_total{")
    )


def apiserver_histograms(kubectl: list[str]) -> histograms.Snapshot:
    """The API server's own request latency for the objects a new model's path writes
    (its ModelDeployment and Deployments): the server's share of apply->stable."""
    keep = {"resource": {"deployments", "modeldeployments"}, "subresource": {""}}
    return histograms.parse(apiserver_metrics(kubectl), "apiserver_request_duration_seconds", keep)


def child_times(
    api: client.ApiClient, ns: str, got: dict[str, dict[str, float]], stop: threading.Event
) -> None:
    """When each model's track Deployment (``got[track][model]``) first appeared."""
    apps = client.AppsV1Api(api)
    w = watch.Watch()
    for event in w.stream(apps.list_namespaced_deployment, ns, timeout_seconds=3600):
        name = event["object"].metadata.name
        model, _, track = name.rpartition("-")
        got.setdefault(track, {}).setdefault(model, time.monotonic())
        if stop.is_set():
            w.stop()


def queue_depth(metrics_url: str) -> float:
    """ModelDeployment keys waiting for a reconcile worker (modelship_workqueue_depth)."""
    return metric_sum(metrics_url, "modelship_workqueue_depth", queue="ModelDeployment")


def paused(status: dict[str, Any]) -> bool:
    return (status.get("canary") or {}).get("phase") == "Paused"


def has_drift(status: dict[str, Any]) -> bool:
    return bool((status.get("drift") or {}).get("verdict"))


def ready(status: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--drift-interval", type=int, default=60, help="seconds")
    parser.add_argument("--drift-intervals", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per phase")
    parser.add_argument(
        "--without",
        choices=["analysis", "drift"],
        default="",
        help="leave analysis or drift out of every model, to split the steady cost",
    )
    parser.add_argument(
        "--steady-applies",
        type=int,
        default=20,
        help="new models created one every 0.5 s in the steady fleet (apply->Deployment)",
    )
    parser.add_argument(
        "--workers", type=int, default=8, help="the operator's --workers (reconciles at once)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n = args.models
    workdir = Path(tempfile.mkdtemp(prefix="modelship-fleet-"))
    prometheus_env.SCRAPE_INTERVAL = "5s"  # 1s suits tests; a fleet page is large
    cluster = Cluster(workdir / "cluster")
    cluster.up(gateway_api=False)
    kubeconfig, kubectl = cluster.kubeconfig, cluster.kubectl_argv()
    install_crds(kubectl)
    cfg = client.Configuration()
    config.load_kube_config(str(kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = 8
    api = client.ApiClient(cfg)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    ns = fresh_namespace(core, f"fleet-{uuid.uuid4().hex[:6]}")
    names = [f"md-{i:04d}" for i in range(n)]
    exporter = Exporter(ns, names)
    exporter.start()
    targets = workdir / "targets.json"
    targets.write_text(json.dumps([{"targets": [exporter.url], "labels": {}}]))
    prom = prometheus_env.PrometheusProcess(workdir / "prometheus", targets)
    metrics = f"127.0.0.1:{free_port()}"

    def operator() -> OperatorProcess:
        op = OperatorProcess(
            kubeconfig,
            workdir / "operator.log",
            ["--metrics-address", metrics, "--workers", str(args.workers)],
        )
        op.metrics_url = f"http://{metrics}/metrics"
        op.start()
        return op

    res: dict[str, Any] = {"models": n}
    phases: dict[str, tuple[histograms.Snapshot, float]] = {}
    op: OperatorProcess | None = None
    stop = threading.Event()
    try:
        prom_url = prom.start()
        core.create_namespaced_config_map(
            ns,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="fleet-reference"),
                data={"ref.json": json.dumps(reference())},
            ),
        )
        op = operator()
        time.sleep(2)
        di = f"{args.drift_interval}s"
        for name in names:
            custom.create_namespaced_custom_object(
                "modelship.io",
                "v1alpha1",
                ns,
                "modeldeployments",
                manifest(name, "1.0.0", prom_url, di, args.without),
            )
        t = time.monotonic()
        res["ready"] = wait_all(custom, ns, n, ready, args.timeout)
        res["ready_s"] = time.monotonic() - t
        print(f"[fleet] {res['ready']}/{n} Ready in {res['ready_s']:.0f}s", file=sys.stderr)

        seen: dict[str, dict[str, float]] = {}
        threading.Thread(target=child_times, args=(api, ns, seen, stop), daemon=True).start()
        time.sleep(1)
        applied: dict[str, float] = {}
        c0, t0 = cpu_seconds(op.pid), time.monotonic()
        for name in names:
            custom.patch_namespaced_custom_object(
                "modelship.io",
                "v1alpha1",
                ns,
                "modeldeployments",
                name,
                {"spec": {"model": {"version": "2.0.0", "uri": "s3://fleet/2.0.0/"}}},
            )
            applied[name] = time.monotonic()
        res["paused"] = wait_all(custom, ns, n, paused, args.timeout)
        got = seen.get("canary", {})
        lat = [(got[k] - applied[k]) * 1000 for k in names if k in got]
        res["canary_p50"] = pct(lat, 50) if lat else float("nan")
        res["canary_p99"] = pct(lat, 99) if lat else float("nan")
        res["bump_cpu"] = cpu_seconds(op.pid) - c0
        res["bump_s"] = time.monotonic() - t0
        print(f"[fleet] bump: {res}", file=sys.stderr)

        if args.without != "drift":
            res["drift_seen"] = wait_all(custom, ns, n, has_drift, args.timeout)
        url = op.metrics_url or ""
        h0 = histograms.snapshot(url)
        a0, c0, t0 = api_requests(kubectl), cpu_seconds(op.pid), time.monotonic()
        time.sleep(args.drift_interval * args.drift_intervals)
        a1, c1, t1 = api_requests(kubectl), cpu_seconds(op.pid), time.monotonic()
        phases["steady"] = (histograms.between(h0, histograms.snapshot(url)), t1 - t0)
        res["steady_cpu_per_interval"] = (c1 - c0) / args.drift_intervals
        res["steady_cpu_pct"] = 100 * (c1 - c0) / (t1 - t0)
        res["api_rps"] = (a1 - a0) / (t1 - t0)
        print(f"[fleet] steady: {res}", file=sys.stderr)

        # The product's apply->Deployment target is about one object applied into a busy
        # fleet, not a burst: new models one every 0.5 s while every round and window runs.
        created: dict[str, float] = {}
        depths: list[float] = []  # ModelDeployment keys waiting for a worker, sampled
        sampling = threading.Event()

        def sample_depth() -> None:
            # Every 0.5 s: each read renders all the operator's series, in its process.
            while not sampling.is_set():
                with contextlib.suppress(OSError):
                    depths.append(queue_depth(url))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample_depth, daemon=True)
        h0, t0 = histograms.snapshot(url), time.monotonic()
        server0 = apiserver_histograms(kubectl)
        sampler.start()
        for i in range(args.steady_applies):
            name = f"new-{i:03d}"
            custom.create_namespaced_custom_object(
                "modelship.io",
                "v1alpha1",
                ns,
                "modeldeployments",
                manifest(name, "1.0.0", prom_url, di, args.without),
            )
            created[name] = time.monotonic()
            time.sleep(0.5)
        stable = seen.setdefault("stable", {})
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and not all(k in stable for k in created):
            time.sleep(0.2)
        sampling.set()
        sampler.join()
        phases["steady applies"] = (
            histograms.between(h0, histograms.snapshot(url)),
            time.monotonic() - t0,
        )
        phases["steady applies, the API server's side"] = (
            histograms.between(server0, apiserver_histograms(kubectl)),
            time.monotonic() - t0,
        )
        lat = [(stable[k] - created[k]) * 1000 for k in created if k in stable]
        res["apply_p90"] = pct(lat, 90) if lat else float("nan")
        res["apply_slowest"] = sorted(lat)[-5:]
        res["queue_depth_mean"] = sum(depths) / len(depths) if depths else float("nan")
        res["queue_depth_max"] = max(depths, default=float("nan"))
        res["apply_n"] = len(lat)
        res["apply_p50"] = pct(lat, 50) if lat else float("nan")
        res["apply_p99"] = pct(lat, 99) if lat else float("nan")
        res["rss"] = peak_rss_mb(op.pid)
        print(f"[fleet] steady applies: {res}", file=sys.stderr)

        op.stop()
        t0 = time.monotonic()
        op = operator()
        deadline = t0 + args.timeout
        count = 0.0
        while time.monotonic() < deadline:
            try:
                count = reconciles(op.metrics_url or "")
            except OSError:
                count = 0.0
            if count >= n + args.steady_applies:
                break
            time.sleep(0.5)
        res["restart_s"] = time.monotonic() - t0
        res["restart_reconciles"] = count
    finally:
        stop.set()
        if op is not None:
            op.stop()
        prom.stop()
        exporter.stop()
        cluster.down(quiet=True)
    left_out = f", without {args.without}" if args.without else ""
    print(
        f"\nmodelship fleet benchmark, {n} models{left_out}, {args.workers} workers "
        f"({os.cpu_count()} cores)\n"
    )
    print("| figure | value |")
    print("|---|---|")

    def g(key: str) -> Any:
        return res.get(key, float("nan"))

    rows = [
        ("Ready after create (s)", f"{g('ready_s'):.0f} ({g('ready')} of {n})"),
        (
            "version bump: apply->canary Deployment p50 / p99 (ms)",
            f"{g('canary_p50'):.0f} / {g('canary_p99'):.0f}",
        ),
        (
            "version bump: all Paused at the pause step",
            f"{g('paused')} of {n} in {g('bump_s'):.0f} s",
        ),
        ("version bump: operator CPU s", f"{g('bump_cpu'):.1f}"),
        ("with a drift verdict", f"{g('drift_seen')} of {n}"),
        (
            f"steady: operator CPU s per drift interval ({args.drift_interval}s)",
            f"{g('steady_cpu_per_interval'):.2f} ({g('steady_cpu_pct'):.1f} %)",
        ),
        ("steady: apiserver requests/s (all clients)", f"{g('api_rps'):.1f}"),
        (
            "steady: apply->stable Deployment of a new model, p50 / p99 (ms)",
            f"{g('apply_p50'):.0f} / {g('apply_p99'):.0f} ({g('apply_n')} of "
            f"{args.steady_applies})",
        ),
        (
            "steady: ... p90, and the five slowest (ms)",
            f"{g('apply_p90'):.0f}; " + ", ".join(f"{v:.0f}" for v in res.get("apply_slowest", [])),
        ),
        (
            "steady: ModelDeployment keys waiting for a worker meanwhile, mean / max",
            f"{g('queue_depth_mean'):.1f} / {g('queue_depth_max'):.0f}",
        ),
        ("operator peak RSS (MB)", f"{g('rss'):.0f}"),
        ("restart: to every object reconciled (s)", f"{g('restart_s'):.1f}"),
    ]
    for k, v in rows:
        print(f"| {k} | {v} |")
    for phase, (diff, seconds) in phases.items():
        print(f"\nwhere the operator's time went, {phase} ({seconds:.0f} s):\n")
        print("\n".join(histograms.table(diff, seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
