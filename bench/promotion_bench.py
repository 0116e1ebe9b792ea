#!/usr/bin/env python3
"""ModelPromotion: time from the last gate passing to the target's canary, and evidence size.

On a local control plane (or MODELSHIP_BENCH_KUBECONFIG) with the operator, for each
number of promotions C (default 1, 10, 30) it makes C source ModelDeployments (1.4.0)
and C targets (1.3.0, steps setWeight 20 then a 2 s pause) in a fresh pair of namespaces,
one promotion per pair with gates soakTime 1s and an approval (minApprovers 1), waits
until all of them wait for approval, then approves all of them as fast as one client
can (`modelship approve`'s code path; the approval is the last gate). It reports:

- approval -> canary: from the approval annotation's write returning to the target's
  status first showing a canary of 1.4.0 (a watch on the targets): what the operator
  adds between a person's approval and traffic moving;
- approval -> Succeeded: to the promotion's Succeeded condition (the target's whole
  rollout included, which the steps make at least 2 s);
- evidence: the size of status.evidence and of the evidence ControllerRevision stored
  on the target, per run;

and, computed without a cluster, status size with status.history full at historyLimit
50 and 500 (etcd's object limit is 1.5 MiB). Nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from apply_bench import fresh_namespace
from modelship.api.promotion_status import ModelPromotionStatus, RunSummary
from modelship.kube import connect
from modelship.promotion_ctl import PromotionCtl
from modelship_testenv import Cluster
from modelship_testenv.harness import OperatorProcess, install_crds

GROUP, VERSION = "modelship.io", "v1alpha1"


def md(name: str, version: str, steps: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"name": "bench", "version": version, "uri": f"s3://bench/{version}/"},
        "runtime": {"image": "registry.example.com/modelship-runtime:0.1"},
        "replicas": 1,
    }
    if steps:
        spec["rollout"] = {"steps": [{"setWeight": 20}, {"pause": {"duration": "2s"}}]}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def promotion(name: str, source_ns: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelPromotion",
        "metadata": {"name": name},
        "spec": {
            "from": {"name": name, "namespace": source_ns},
            "to": {"name": name},
            "gates": {"soakTime": "1s", "approval": {"required": True}},
        },
    }


def wait_all(
    custom: client.CustomObjectsApi, ns: str, plural: str, n: int, ok: Any, timeout: float
) -> int:
    deadline, done = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        listed: Any = custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural)
        items = listed["items"]
        done = sum(1 for i in items if ok(i.get("status") or {}))
        if done >= n:
            break
        time.sleep(0.5)
    return done


def condition(status: dict[str, Any], type_: str) -> bool:
    return any(c["type"] == type_ and c["status"] == "True" for c in status.get("conditions") or [])


def watch_canaries(
    api: client.ApiClient, ns: str, seen: dict[str, float], stop: threading.Event
) -> None:
    custom = client.CustomObjectsApi(api)
    while not stop.is_set():
        for event in watch.Watch().stream(
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            ns,
            "modeldeployments",
            timeout_seconds=2,
        ):
            obj = event["object"]
            canary = (obj.get("status") or {}).get("canary") or {}
            if (canary.get("revision") or {}).get("modelVersion") == "1.4.0":
                seen.setdefault(obj["metadata"]["name"], time.monotonic())


def measure(api: client.ApiClient, kubeconfig: Path, c: int, timeout: float) -> dict[str, Any]:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    tag = uuid.uuid4().hex[:6]
    src = fresh_namespace(core, f"bench-src-{c}-{tag}")
    dst = fresh_namespace(core, f"bench-dst-{c}-{tag}")
    names = [f"p-{i:03d}" for i in range(c)]
    for name in names:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, src, "modeldeployments", md(name, "1.4.0", False)
        )
        custom.create_namespaced_custom_object(
            GROUP, VERSION, dst, "modeldeployments", md(name, "1.3.0", True)
        )
    for ns in (src, dst):
        wait_all(custom, ns, "modeldeployments", c, lambda s: condition(s, "Ready"), timeout)
    for name in names:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, dst, "modelpromotions", promotion(name, src)
        )
    waiting = wait_all(
        custom, dst, "modelpromotions", c, lambda s: s.get("phase") == "WaitingForApproval", timeout
    )
    print(f"[bench] C={c}: {waiting}/{c} WaitingForApproval", file=sys.stderr, flush=True)
    seen: dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_canaries, args=(api, dst, seen, stop), daemon=True)
    watcher.start()
    time.sleep(1)  # the watch is established
    ctl = PromotionCtl(connect(pool_size=4, kubeconfig=str(kubeconfig)), dst)
    approved: dict[str, float] = {}
    for name in names:
        ctl.approve(name, "")
        approved[name] = time.monotonic()
    done = wait_all(custom, dst, "modelpromotions", c, lambda s: condition(s, "Succeeded"), timeout)
    finished = time.monotonic()
    stop.set()
    watcher.join(5)
    to_canary = [seen[n] - approved[n] for n in names if n in seen]
    listed: Any = custom.list_namespaced_custom_object(GROUP, VERSION, dst, "modelpromotions")
    items = listed["items"]
    # Conditions carry whole seconds; the poll above (0.5 s apart) is the finer clock.
    all_done = finished - min(approved.values()) if done == c else None
    evidence = [len(json.dumps(i["status"].get("evidence") or {})) for i in items]
    apps = client.AppsV1Api(api)
    revisions: Any = apps.list_namespaced_controller_revision(dst).items
    stored = [
        len(json.dumps(r.to_dict()["data"], default=str))
        for r in revisions
        if r.metadata.name.startswith("promotion-")
    ]
    return {
        "c": c,
        "succeeded": done,
        "to_canary": to_canary,
        "all_done": all_done,
        "evidence": evidence,
        "stored": stored,
    }


def history_sizes() -> dict[int, int]:
    """status with its history full: bytes, at historyLimit 50 and 500."""
    out = {}
    for limit in (50, 500):
        summary = RunSummary(
            run=1,
            version="10.20.300",
            digest="sha256:" + "0" * 64,
            outcome="Failed",
            reason="EvaluationFailed",
            message="evaluation/accuracy: accuracy 0.8812 < 0.9 (min); " + "x" * 80,
            started_at="2026-12-01T12:00:00Z",
            finished_at="2026-12-01T13:00:00Z",
            approvers=["system:serviceaccount:ml-prod:release-manager"],
            evidence="ml-prod/promotion-fraud-scorer-to-prod-0123abcd-1",
        )
        status = ModelPromotionStatus(
            history=[summary.model_copy(update={"run": i}) for i in range(limit)]
        )
        out[limit] = len(
            json.dumps(status.model_dump(mode="json", by_alias=True, exclude_none=True))
        )
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,10,30", help="promotions approved at once")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to reach a state")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    external = os.environ.get("MODELSHIP_BENCH_KUBECONFIG")
    workdir = Path(tempfile.mkdtemp(prefix="modelship-promotion-"))
    cluster = None
    if external:
        kubeconfig, kubectl = Path(external), ["kubectl", "--kubeconfig", external]
    else:
        cluster = Cluster(workdir / "cluster")
        cluster.up(gateway_api=False)
        kubeconfig, kubectl = cluster.kubeconfig, cluster.kubectl_argv()
    install_crds(kubectl)
    op = OperatorProcess(kubeconfig, workdir / "operator.log")
    op.start()
    rows = []
    try:
        cfg = client.Configuration()
        config.load_kube_config(str(kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = 8
        api = client.ApiClient(cfg)
        for c in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(api, kubeconfig, c, args.timeout))
            print(f"[bench] {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        op.stop()
        if cluster is not None:
            cluster.down(quiet=True)
    print(f"\nmodelship promotion benchmark ({os.cpu_count()} cores)\n")
    print(
        "| promotions approved at once | approval -> target canary p50 / p95 / max (s) "
        "| all Succeeded after (s) | status.evidence bytes | stored evidence bytes |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        t = r["to_canary"]
        canary = f"{pct(t, 0.5):.2f} / {pct(t, 0.95):.2f} / {max(t):.2f}" if t else "n/a"
        done = f"{r['all_done']:.1f}" if r["all_done"] is not None else f"{r['succeeded']}/{r['c']}"
        ev = f"{statistics.mean(r['evidence']):.0f}" if r["evidence"] else "n/a"
        st = f"{statistics.mean(r['stored']):.0f}" if r["stored"] else "n/a"
        print(f"| {r['c']} ({len(t)} canaries seen) | {canary} | {done} | {ev} | {st} |")
    sizes = history_sizes()
    print(
        f"\nstatus with a full history: {sizes[50]} bytes at historyLimit 50, "
        f"{sizes[500]} bytes at 500 (etcd limit 1572864)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
