#!/usr/bin/env python3
"""What reading a drift window's metrics costs the operator, per provider (no cluster).

scrape: pages are what modelship-runtime really exposes (its own metrics module, 50 drift
features of 10 bins each, ~650 series), handed to the provider through an in-process
httpx transport so only parsing, storage and increases are timed. A drift monitor reads
two pods once per ``--interval`` and asks the increase over ``--window``, like the
operator's stable-track monitoring: CPU per window and memory held.

prometheus: the client side of the same window, the two queries drift makes (feature
buckets by feature and le, categories by feature and category) answered with a
Prometheus JSON vector of the same 500 bucket series: CPU per window.

Nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc

import httpx
import numpy as np
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from modelship.metrics.prometheus import PrometheusProvider
from modelship.metrics.scrape import ScrapeProvider
from modelship.runtime.metrics import RuntimeMetrics

FEATURES = 50
PODS = ["http://127.100.0.1:8080/metrics", "http://127.100.0.2:8080/metrics"]


def pages(count: int, rng: np.random.Generator) -> list[str]:
    labels = {"model": "fraud-scorer", "version": "1.0.0", "track": "stable"}
    edges = {f"f{i}": np.sort(rng.standard_normal(9)).tolist() for i in range(FEATURES)}
    metrics = RuntimeMetrics(labels, edges, classification=True)
    out = []
    for _ in range(count):
        for name in edges:
            for value in rng.standard_normal(40):
                metrics.features.observe(name, float(value))
        out.append(generate_latest(metrics.registry).decode())
    return out


def monitor(texts: list[str], windows: int, interval: float, window: float) -> float:
    """CPU seconds per window of one provider over PODS; returns after ``windows``."""
    served = iter(range(10**9))
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, text=texts[next(served) % len(texts)])
    )
    clock = [0.0]
    provider = ScrapeProvider(
        lambda: PODS, httpx.Client(transport=transport), clock=lambda: clock[0]
    )
    provider.prime()
    started = time.process_time()
    for _ in range(windows):
        clock[0] += interval
        got = provider.increase_by(
            "modelship_feature_value_bucket", {"track": "stable"}, window, ("feature", "le")
        )
        assert got is not None and len(got) == FEATURES * 10
    cpu = (time.process_time() - started) / windows
    monitors.append(provider)
    return cpu


monitors: list[ScrapeProvider] = []


def prometheus_window_cpu(texts: list[str], windows: int) -> float:
    """CPU seconds per drift window of the Prometheus provider's client side."""
    series = [
        {"metric": {"feature": s.labels["feature"], "le": s.labels["le"]}, "value": [0, s.value]}
        for family in text_string_to_metric_families(texts[-1])
        for s in family.samples
        if s.name == "modelship_feature_value_bucket"
    ]
    vector = {"status": "success", "data": {"resultType": "vector", "result": series}}
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    answers = {True: json.dumps(vector), False: json.dumps(empty)}
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, text=answers["bucket" in str(request.url)])
    )
    provider = PrometheusProvider("http://prometheus:9090", httpx.Client(transport=transport))
    labels = {"namespace": "ml", "pod": "~fraud-stable-.*", "track": "stable"}
    started = time.process_time()
    for _ in range(windows):
        got = provider.increase_by(
            "modelship_feature_value_bucket", labels, 3600, ("feature", "le")
        )
        provider.increase_by(
            "modelship_feature_category_total", labels, 3600, ("feature", "category")
        )
        assert got is not None and len(got) == FEATURES * 10
    return (time.process_time() - started) / windows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=300.0, help="seconds between reads")
    parser.add_argument("--window", type=float, default=3600.0, help="drift window, seconds")
    parser.add_argument("--windows", type=int, default=20, help="windows per monitor")
    parser.add_argument("--monitors", type=int, default=3, help="monitors measured for memory")
    args = parser.parse_args(argv)
    texts = pages(20, np.random.default_rng(1))
    print(
        f"page: {texts[0].count(chr(10))} lines, {len(texts[0]) / 1024:.0f} KiB; "
        f"{len(PODS)} pods, interval {args.interval:g} s, window {args.window:g} s"
    )
    cpu = monitor(texts, args.windows, args.interval, args.window)
    print(f"scrape: CPU per drift window: {cpu * 1000:.0f} ms")
    monitors.clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(args.monitors):
        monitor(texts, args.windows, args.interval, args.window)
    gc.collect()
    held = sum(d.size_diff for d in tracemalloc.take_snapshot().compare_to(before, "filename"))
    reads = sum(len(h) for h in monitors[0]._history.values())
    print(
        f"scrape: memory held per monitor after {args.windows} windows: "
        f"{held / args.monitors / 1024:.0f} KiB ({reads} reads kept over {len(PODS)} pods)"
    )
    tracemalloc.stop()
    cpu = prometheus_window_cpu(texts, 1000)
    print(f"prometheus: client-side CPU per drift window (2 queries): {cpu * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
