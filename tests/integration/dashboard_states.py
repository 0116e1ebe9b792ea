"""Real objects in every state the dashboard shows, made the way the other integration
tests make them: the real operator on the local control plane, real runtime processes
for the models that take traffic (a canary under analysis, a drifted stable track), and
each state waited for on the cluster, never slept for.

Also the two things the browser tests and bench/dashboard_bench.py share: the
`modelship dashboard` process as a user starts it, and Debian's chromium driven by
Playwright (never Playwright's own browser downloads).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelship.kube import connect
from modelship_testenv.dashboard import DashboardProcess
from modelship_testenv.loadgen import LoadGenerator
from modelship_testenv.podrunner import PodRunner
from modelship_testenv.prometheus import PrometheusProcess
from tests.integration.conftest import Kubectl, fresh_namespace, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY, canary_of, ctl, wait_paused_at
from tests.integration.test_drift import RETRAINING, drift_of, reference_configmap
from tests.integration.test_promotion import user_kubeconfig, wait_phase
from tests.integration.test_serving import condition, md, wait_ready

CHROMIUM = "/usr/bin/chromium"
RUNTIME = "registry.example.com/modelship-runtime:0.1"
SERVICE_TIME = {"name": "MODELSHIP_SERVICE_TIME", "value": "20ms"}
# The canary under analysis: two threshold checks, judged every 5 s. A pause of an hour
# holds it at its step (Progressing) for as long as the tests look at it. Thresholds
# well above what a healthy runtime gives on a busy machine, and no pause while the
# first rounds have too few requests: the state must hold, the judge is tested elsewhere.
CHECKS = [
    {"name": "p90-latency", "latency": {"quantile": 0.9, "max": "250ms"}},
    {"name": "errors", "errorRate": {"max": 0.05}},
]
Dashboard = DashboardProcess  # the tests start it as a user does


def plain_version(v: str) -> dict[str, Any]:
    return {"name": "fraud-scorer", "version": v, "uri": f"s3://models/fraud/{v}/"}


def set_version(kubectl: Kubectl, ns: str, name: str, v: str, uri: str | None = None) -> None:
    model = {"version": v, "uri": uri or f"s3://models/fraud/{v}/"}
    patch = json.dumps({"spec": {"model": model}})
    kubectl.run("patch", "md", name, "-n", ns, "--type", "merge", "-p", patch)


class Traffic:
    """Requests to one ModelDeployment in a background thread, bounded in count and time
    (at most ``rate``/s for 15 minutes), stopped by whoever started it."""

    def __init__(self, kubectl: Kubectl, ns: str, name: str, rate: float, seed: int) -> None:
        kube = connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig))
        self.gen = LoadGenerator(kube, ns, name, "fraud-scorer", seed=seed)
        self.rate = rate
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # The generator sleeps while no pod is ready; a runtime not listening yet (its
        # first request reads the model's inputs) is tried again a second later.
        deadline = time.monotonic() + 900
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                left = deadline - time.monotonic()
                self.gen.run(int(self.rate * left), left, rate=self.rate, stop=self.stop)
            except OSError as exc:
                self.error = exc
                self.stop.wait(1)

    def start(self) -> Traffic:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)


@dataclass
class States:
    """Where each state lives: ``plain`` holds models without traffic, ``live`` the ones
    backed by real runtime processes, ``prod`` the promotion's target."""

    plain: str
    live: str
    prod: str
    promotion: str = "to-prod"
    # name -> namespace of every ModelDeployment made here
    models: dict[str, str] = field(default_factory=dict)

    def key(self, name: str) -> str:
        return f"{self.models[name]}/{name}"


def _apply(kubectl: Kubectl, ns: str, obj: dict[str, Any]) -> None:
    done = kubectl.apply(dump(obj), ns)
    assert done.returncode == 0, done.stderr


def healthy(kubectl: Kubectl, ns: str, name: str, v: str = "1.0.0") -> None:
    _apply(kubectl, ns, model_deployment(name, model=plain_version(v)))
    wait_ready(kubectl, ns, name)


def paused(kubectl: Kubectl, ns: str, name: str) -> None:
    """A canary of 2.0.0 at 30%, waiting for a person (a pause step without duration)."""
    steps: list[dict[str, Any]] = [
        {"setWeight": 30},
        {"pause": {}},
        {"setWeight": 60},
        {"pause": {}},
    ]
    rollout = {"steps": steps, "trafficRouting": GATEWAY}
    _apply(kubectl, ns, model_deployment(name, model=plain_version("1.0.0"), rollout=rollout))
    wait_ready(kubectl, ns, name)
    set_version(kubectl, ns, name, "2.0.0")
    wait_paused_at(kubectl, ns, name, 1)


def degraded(kubectl: Kubectl, ns: str, name: str) -> None:
    """A paused canary aborted with `modelship abort`: Degraded, traffic back on stable."""
    paused(kubectl, ns, name)
    done = ctl(kubectl, ns, "abort", name)
    assert done.returncode == 0, done.stderr

    def aborted() -> bool:
        obj = md(kubectl, ns, name)
        cond = condition(obj, "Degraded") or {}
        return obj.get("status", {}).get("phase") == "Degraded" and cond.get("reason") == "Aborted"

    wait_for(f"{name} Degraded after the abort", aborted)


def stepping(kubectl: Kubectl, ns: str, name: str, trained: Path) -> None:
    """Real runtimes: 1.0.0 stable, 2.0.0 a canary at 50% in an hour-long timed pause,
    measured every 5 s by two checks. Waits for a few analysis rounds with values."""
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    runtime = {"image": RUNTIME, "env": [SERVICE_TIME]}
    rollout = {
        "steps": [{"setWeight": 50}, {"pause": {"duration": "1h"}}],
        "trafficRouting": GATEWAY,
    }
    analysis = {
        "interval": "5s",
        "provider": {"scrape": {}},
        "checks": CHECKS,
        "failureLimit": 3,
        "inconclusiveLimit": 0,
    }
    manifest = model_deployment(
        name, model=model, runtime=runtime, rollout=rollout, analysis=analysis
    )
    _apply(kubectl, ns, manifest)
    wait_ready(kubectl, ns, name)
    set_version(kubectl, ns, name, "2.0.0", f"file://{trained}")


def stepping_measured(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    def measured() -> dict[str, Any] | None:
        status = md(kubectl, ns, name).get("status", {})
        canary = status.get("canary") or {}
        analysis = status.get("analysis") or {}
        values = [c.get("value") for c in analysis.get("checks", [])]
        ok = (
            status.get("phase") == "Progressing"
            and canary.get("step") == 1
            and analysis.get("rounds", 0) >= 3
            and len(values) == len(CHECKS)
            and all(v is not None for v in values)
        )
        return status if ok else None

    return wait_for(f"{name} at step 1 with 3 analysis rounds", measured, 120)


def drifted(kubectl: Kubectl, ns: str, name: str, trained: Path, prometheus: str) -> None:
    """Stable 1.0.0 whose inputs are shifted by 1.5 sigma, a reference from the training
    data, drift judged every 3 s on 30 s windows read through a real Prometheus (which the
    dashboard reads the live histograms from too); 2 drifted windows start a retraining
    Job (kwok completes it)."""
    reference_configmap(kubectl, ns, f"{name}-reference", trained)
    model = {"name": "fraud-scorer", "version": "1.0.0", "uri": f"file://{trained}"}
    env = [{"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": "1.5"}]
    drift = {
        "reference": {"configMapRef": {"name": f"{name}-reference", "key": "reference.json"}},
        "method": "ks",
        "window": "30s",
        "interval": "3s",
    }
    manifest = model_deployment(
        name,
        model=model,
        runtime={"image": RUNTIME, "env": env},
        drift=drift,
        retraining=RETRAINING,
        analysis={"provider": {"prometheus": {"address": prometheus}}},
    )
    _apply(kubectl, ns, manifest)
    wait_ready(kubectl, ns, name)


def drifted_retrained(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    def retrained() -> dict[str, Any] | None:
        status = md(kubectl, ns, name).get("status", {})
        last = (status.get("retraining") or {}).get("last") or {}
        d = drift_of(kubectl, ns, name)
        ok = d.get("verdict") == "Drifted" and last.get("outcome") == "Succeeded"
        return status if ok else None

    return wait_for(f"{name} Drifted with its retraining Job recorded", retrained, 150)


def waiting_promotion(kubectl: Kubectl, source_ns: str, source: str, prod: str, name: str) -> None:
    """prod's ``fraud`` at 1.3.0; a ModelPromotion of ``source`` (1.4.0) that waits for a
    person's approval."""
    healthy(kubectl, prod, "fraud", "1.3.0")
    obj = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelPromotion",
        "metadata": {"name": name},
        "spec": {
            "from": {"name": source, "namespace": source_ns},
            "to": {"name": "fraud"},
            "gates": {"approval": {"required": True}},
        },
    }
    _apply(kubectl, prod, obj)
    wait_phase(kubectl, prod, name, "WaitingForApproval")


@contextmanager
def every_state(kubectl: Kubectl, trained: Path, workdir: Path) -> Iterator[States]:
    """Every state, in three fresh namespaces, kept until the block ends: real runtime
    processes for the live namespace's pods and a real Prometheus scraping them."""
    with ExitStack() as stack:
        plain = stack.enter_context(fresh_namespace(kubectl, "dash"))
        live = stack.enter_context(fresh_namespace(kubectl, "dlive"))
        prod = stack.enter_context(fresh_namespace(kubectl, "dprod"))
        pods = PodRunner(
            connect(pool_size=2, kubeconfig=str(kubectl.kubeconfig)),
            workdir / "pods",
            namespace=live,
            targets_file=workdir / "targets.json",
        )
        pods.start()
        stack.callback(pods.stop)
        prom = PrometheusProcess(workdir / "prometheus", workdir / "targets.json")
        prometheus = prom.start()
        stack.callback(prom.stop)
        states = States(plain, live, prod)
        # The live ones first: their traffic and windows run while the rest are made.
        stepping(kubectl, live, "stepping", trained)
        stack.callback(Traffic(kubectl, live, "stepping", 15.0, 11).start().close)
        drifted(kubectl, live, "drifted", trained, prometheus)
        stack.callback(Traffic(kubectl, live, "drifted", 15.0, 2).start().close)
        healthy(kubectl, plain, "fraud", "1.4.0")
        healthy(kubectl, plain, "quiet")
        paused(kubectl, plain, "paused")
        paused(kubectl, plain, "hold")
        degraded(kubectl, plain, "aborted")
        waiting_promotion(kubectl, plain, "fraud", prod, states.promotion)
        stepping_measured(kubectl, live, "stepping")
        drifted_retrained(kubectl, live, "drifted")
        for name in ("fraud", "quiet", "paused", "hold", "aborted"):
            states.models[name] = plain
        for name in ("stepping", "drifted"):
            states.models[name] = live
        yield states


def readonly_kubeconfig(kubectl: Kubectl, ns: str, path: Path) -> Path:
    """ServiceAccount ``viewer`` in ``ns`` (a TokenRequest token: an identity the API
    server authenticates, as a person's would be) that may get, list and watch
    modelship's resources, Events and Jobs everywhere, and change nothing."""
    kubectl.run("create", "serviceaccount", "viewer", "-n", ns)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"modelship-viewer-{ns}"},
        "rules": [
            {"apiGroups": ["modelship.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": ["", "events.k8s.io", "batch"],
                "resources": ["events", "jobs", "namespaces", "configmaps"],
                "verbs": ["get", "list", "watch"],
            },
        ],
    }
    kubectl.run("apply", "-f", "-", input=json.dumps(role))
    kubectl.run(
        "create",
        "clusterrolebinding",
        f"modelship-viewer-{ns}",
        f"--clusterrole=modelship-viewer-{ns}",
        f"--serviceaccount={ns}:viewer",
    )
    return user_kubeconfig(kubectl, ns, "viewer", path)


def delete_readonly(kubectl: Kubectl, ns: str) -> None:
    for kind in ("clusterrolebinding", "clusterrole"):
        kubectl.run("delete", kind, f"modelship-viewer-{ns}", check=False)


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless; no sandbox when running as root (it refuses to start
    sandboxed as root)."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


__all__ = ["canary_of"]
