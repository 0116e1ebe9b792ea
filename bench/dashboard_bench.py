#!/usr/bin/env python3
"""`modelship dashboard` with a fleet: page load and live-update latency in a real browser.

``--models`` (default 100) ModelDeployments in one namespace on the local control plane
(kwok's pods, no process behind them), every one Ready under the real operator; a
quarter of them with a canary paused at 50% so the rows are not all alike. Then the
dashboard as a user starts it (``modelship dashboard --port 0``) and Debian's headless
chromium (Playwright, 1400x900):

- fleet page load, ``--loads`` times in a fresh browser context each: navigation start
  to the first contentful paint, to every row of the fleet in the table (content
  visible; timed inside the page) and to the load event (Navigation Timing);
- update latency, ``--updates`` times, one open page, no reload: from the start of a
  ``kubectl patch`` to the row's text changing in the browser (a MutationObserver
  stamps each change with the page's clock, the same wall clock as this process):
  * through the operator: ``spec.model.version`` of a model with no steps changes and
    its Stable cell shows the new version (the operator's reconcile and rollout, the
    watch, the dashboard, the browser);
  * the dashboard alone: with the operator stopped, a status patch of ``readySummary``
    and its Ready cell (the watch, the dashboard, the browser).

It runs against its own local control plane (built on first use) unless
MODELSHIP_BENCH_KUBECONFIG names another cluster. Prints a Markdown table; nothing
here asserts a threshold.
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
import time
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from modelship_testenv import Cluster
from modelship_testenv.dashboard import DashboardProcess
from modelship_testenv.harness import OperatorProcess, install_crds

CHROMIUM = "/usr/bin/chromium"
# Stamps every change of a fleet cell: [Date.now(), row key, field, text].
OBSERVER = """() => {
  window.__changes = [];
  const seen = () => {
    const now = Date.now();
    for (const td of document.querySelectorAll('#fleet tr[data-md] td[data-field]')) {
      const key = td.closest('tr').dataset.md + ' ' + td.dataset.field;
      const text = td.innerText.trim();
      if (window.__last[key] !== text) {
        window.__last[key] = text;
        window.__changes.push([now, key, text]);
      }
    }
  };
  window.__last = {};
  seen();
  window.__changes = [];
  new MutationObserver(seen).observe(document.body,
    {subtree: true, childList: true, characterData: true});
}"""


def manifest(name: str, version: str, paused: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"name": "fleet", "version": version, "uri": f"s3://fleet/{version}/"},
        "runtime": {"image": "registry.example.com/modelship-runtime:0.1"},
        "replicas": 1,
    }
    if paused:
        spec["rollout"] = {"steps": [{"setWeight": 50}, {"pause": {}}]}
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def kubectl_run(kubectl: list[str], *args: str, input: str | None = None) -> str:
    done = subprocess.run(
        [*kubectl, *args], input=input, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def wait(what: str, probe: Any, timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def statuses(kubectl: list[str], ns: str) -> dict[str, dict[str, Any]]:
    items = json.loads(kubectl_run(kubectl, "get", "md", "-n", ns, "-o", "json"))["items"]
    return {o["metadata"]["name"]: o.get("status") or {} for o in items}


def pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def page_loads(browser: Any, url: str, rows: int, loads: int) -> dict[str, list[float]]:
    """Per load, ms from navigation start: the first contentful paint, every row of the
    fleet in the document (timed inside the page: the rows are rendered on the server,
    so they are there by DOMContentLoaded, which is taken when they were), and the load
    event (the Navigation Timing entry)."""
    out: dict[str, list[float]] = {"paint": [], "rows": [], "load": []}
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(url, wait_until="load", timeout=60_000)
        visible = page.wait_for_function(
            f"() => document.querySelectorAll('#fleet tr[data-md]').length >= {rows}"
            " && performance.now()",
            timeout=60_000,
        ).json_value()
        nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
        paint = page.evaluate(
            "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime"
        )
        out["load"].append(float(nav["loadEventEnd"]))
        # Rows already there when first looked for: they came with the document.
        out["rows"].append(min(float(visible), float(nav["domContentLoadedEventEnd"])))
        if paint is not None:
            out["paint"].append(float(paint))
        context.close()
    return out


def seen_at(page: Page, key: str, want: str, timeout: float) -> float:
    """The page's wall-clock ms at which ``key`` (row + field) first showed ``want``."""
    script = (
        "([key, want]) => { const c = window.__changes.find(c => c[1] === key &&"
        " c[2].includes(want)); return c ? c[0] : false; }"
    )
    return float(page.wait_for_function(script, arg=[key, want], timeout=timeout).json_value())


def updates(
    page: Page,
    kubectl: list[str],
    ns: str,
    names: list[str],
    field: str,
    patch_for: Any,
    timeout_ms: float,
) -> list[float]:
    out: list[float] = []
    for i, name in enumerate(names):
        want, args = patch_for(i, name)
        t0 = time.time() * 1000
        kubectl_run(kubectl, "patch", "md", name, "-n", ns, "--type", "merge", *args)
        out.append(seen_at(page, f"{ns}/{name} {field}", want, timeout_ms) - t0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--loads", type=int, default=10, help="fleet page loads to time")
    parser.add_argument("--updates", type=int, default=20, help="changes to time, per kind")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the fleet Ready")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    external = os.environ.get("MODELSHIP_BENCH_KUBECONFIG")
    workdir = Path(tempfile.mkdtemp(prefix="modelship-dashboard-bench-"))
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
    dash = None
    ns = f"dash-bench-{uuid.uuid4().hex[:6]}"
    rows: list[tuple[str, list[float], str]] = []
    try:
        kubectl_run(kubectl, "create", "namespace", ns)
        wait(
            "the default ServiceAccount",
            lambda: "default" in kubectl_run(kubectl, "get", "sa", "-n", ns, "-o", "name"),
            60,
        )
        names = [f"m{i:04d}" for i in range(args.models)]
        paused = set(names[::4])
        docs = [json.dumps(manifest(n, "1.0.0", n in paused)) for n in names]
        kubectl_run(kubectl, "apply", "-n", ns, "-f", "-", input="\n".join(docs))

        def ready() -> bool:
            st = statuses(kubectl, ns)
            return len(st) == len(names) and all(s.get("phase") == "Healthy" for s in st.values())

        began = time.monotonic()
        wait(f"{len(names)} ModelDeployments Healthy", ready, args.timeout, 2)
        print(f"[bench] {len(names)} Healthy in {time.monotonic() - began:.0f}s", file=sys.stderr)
        docs = [json.dumps(manifest(n, "2.0.0", True)) for n in sorted(paused)]
        kubectl_run(kubectl, "apply", "-n", ns, "-f", "-", input="\n".join(docs))

        def canaries() -> bool:
            st = statuses(kubectl, ns)
            return all((st[n].get("canary") or {}).get("phase") == "Paused" for n in paused)

        wait(f"{len(paused)} canaries paused", canaries, args.timeout, 2)
        dash = DashboardProcess(kubeconfig, workdir / "dashboard.log")
        dash.start()
        url = f"{dash.url}?namespace={ns}"
        with sync_playwright() as p:
            argv = ["--no-sandbox"] if os.geteuid() == 0 else []
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=argv)
            page_loads(browser, url, len(names), 1)  # warm: the dashboard's first list
            loads = page_loads(browser, url, len(names), args.loads)
            rows.append(("fleet page: navigation -> first contentful paint", loads["paint"], "ms"))
            rows.append(("fleet page: navigation -> every row in the page", loads["rows"], "ms"))
            rows.append(("fleet page: navigation -> load event", loads["load"], "ms"))
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.goto(url, wait_until="load", timeout=60_000)
            page.evaluate(OBSERVER)
            steady = [n for n in names if n not in paused][: args.updates]
            through = updates(
                page,
                kubectl,
                ns,
                steady,
                "stable",
                lambda i, n: (
                    "3.0.0",
                    ["-p", json.dumps({"spec": {"model": {"version": "3.0.0"}}})],
                ),
                120_000,
            )
            rows.append(("kubectl patch spec -> row changed (through the operator)", through, "ms"))
            op.stop()
            direct = updates(
                page,
                kubectl,
                ns,
                steady,
                "ready",
                lambda i, n: (
                    f"{i + 7}/7",
                    [
                        "--subresource=status",
                        "-p",
                        json.dumps({"status": {"readySummary": f"{i + 7}/7"}}),
                    ],
                ),
                60_000,
            )
            rows.append(("kubectl patch status -> row changed (dashboard alone)", direct, "ms"))
            browser.close()
    finally:
        if dash is not None:
            dash.stop()
        op.stop()
        if cluster is not None:
            cluster.down(quiet=True)
    print(
        f"\nmodelship dashboard benchmark: {args.models} ModelDeployments, "
        f"{os.cpu_count()} cores, headless chromium 1400x900\n"
    )
    print("| measured | n | p50 | p99 | max |")
    print("|---|---|---|---|---|")
    for what, values, unit in rows:
        print(
            f"| {what} | {len(values)} | {pct(values, 50):.0f} {unit} | "
            f"{pct(values, 99):.0f} {unit} | {max(values):.0f} {unit} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
