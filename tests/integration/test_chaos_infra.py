"""Faults below the operator: the control plane, the metrics backend, and deletion (issue 12).

The operator must wait through trouble instead of deciding on it:

- kube-apiserver or etcd SIGKILLed mid-canary, or the API server answering 429 to the
  operator's user (API Priority and Fairness): the rollout finishes as an undisturbed
  one does (``UNDISTURBED``), keeps the status it had, and makes no decision the
  outage caused (no abort, no restarted canary, no failed round). The time from the
  fault cleared to the operator's next successful status write is measured from the
  API server's audit log and printed (and written to $MODELSHIP_CHAOS_REPORT_INFRA).
- a metrics backend that is absent or answers nonsense (Prometheus provider), or pods
  that refuse connections or serve garbage (scrape provider): only Error/Inconclusive
  verdicts, a pause once ``inconclusiveLimit`` rounds in a row are not conclusive,
  never an abort or a promotion. test_metrics_faults.py covers the malformed-but-JSON
  answers and the user query paths; these are the transport-level faults.
- a ModelDeployment deleted mid-canary, while the operator is down, or while its
  retraining Job runs: nothing of ours is left once the real kube-controller-manager's
  garbage collector has run.

Heavy cases are marked ``chaos_full`` (``make test-chaos``); the default run keeps the
API server kill, one metrics fault per provider and both deletions.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelship_testenv import Cluster
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess
from modelship_testenv.kwok import LOCAL_RUN
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY, set_version, version
from tests.integration.test_drift import RETRAINING, monitored, send
from tests.integration.test_metrics_faults import HANG_SECONDS, FakePrometheus, vector
from tests.integration.test_real_runtime import runner, trained
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
chaos_full = pytest.mark.chaos_full
__all__ = ["runner", "trained"]  # fixtures used by name

REPORT_ENV = "MODELSHIP_CHAOS_REPORT_INFRA"
LATENCY = {"name": "p90-latency", "latency": {"quantile": 0.9, "max": "80ms"}}
ERRORS = {"name": "errors", "errorRate": {"max": 0.01}}
PAUSE_S = 20  # the canary's timed pause: the fault lands inside it
# What an undisturbed canary of 2.0.0 ends as (test_undisturbed_rollout_is_the_reference
# checks it on a run without a fault; each fault test must end the same).
UNDISTURBED: dict[str, Any] = {
    "stable": "2.0.0",
    "canary": None,
    "history": [("2.0.0", "Promoted"), ("1.0.0", "Superseded")],
    "conditions": {
        "Ready": ("True", "Available"),
        "Progressing": ("False", "RolloutComplete"),
        "Degraded": ("False", "AsExpected"),
    },
    "recovered": True,
    "observed": True,
    "analysisFailures": 0,
    "route": (100, 0),
}
# Events no fault may cause: a decision made on what an outage did to the operator's view.
STALE_DECISIONS = {
    "Aborted",
    "AnalysisFailed",
    "AnalysisRoundFailed",
    "CanaryRestarted",
    "CanaryDropped",
    "StatusRepaired",
    "StableRevisionMissing",
}


# ----- the report ---------------------------------------------------------------------


def report(scenario: str, **figures: Any) -> None:
    """Print one scenario's figures and merge them into $MODELSHIP_CHAOS_REPORT_INFRA."""
    print(f"[chaos-infra] {scenario}: {json.dumps(figures, sort_keys=True)}")
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    target = Path(path)
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError):
        data = {}
    data.setdefault(scenario, {}).update(figures)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


@pytest.fixture(autouse=True)
def timed(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    report(request.node.name, test_seconds=round(time.monotonic() - started, 1))


# ----- reading the cluster, tolerant of an API server that is coming back ----------------


def get(kubectl: Kubectl, *args: str) -> Any:
    """``kubectl get -o json``, or None while the API server cannot answer."""
    done = kubectl.run("get", *args, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def status_of(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    obj = get(kubectl, "md", name, "-n", ns)
    return (obj or {}).get("status") or {}


def outcome(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    """What a finished rollout is judged on (UNDISTURBED's shape)."""
    obj = get(kubectl, "md", name, "-n", ns)
    st = obj["status"]
    route = get(kubectl, "httproute", name, "-n", ns)
    weights = {r["name"]: r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]}
    conditions = {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}
    # A reconcile that failed (the API server refused a write) leaves its trace, turned
    # True once a reconcile succeeds again (kernel/executor.py): the one difference a
    # fault may leave, and only in that recovered form.
    reconciled = conditions.pop("Reconciled", None)
    return {
        "stable": st["stableRevision"]["modelVersion"],
        "canary": st.get("canary"),
        "history": [(h["modelVersion"], h["outcome"]) for h in st.get("history") or []],
        "conditions": conditions,
        "recovered": reconciled in (None, ("True", "ReconcileSucceeded")),
        "observed": all(
            c["observedGeneration"] == obj["metadata"]["generation"] for c in st["conditions"]
        ),
        "analysisFailures": (st.get("analysis") or {}).get("failures"),
        "route": (weights[f"{name}-stable"], weights[f"{name}-canary"]),
    }


def event_reasons(kubectl: Kubectl, ns: str) -> set[str]:
    return {e["reason"] for e in get(kubectl, "events", "-n", ns)["items"]}


class Audit:
    """The API server's audit log (writes only, cluster.py's policy) from a byte offset:
    who wrote what when, and with which answer, even across API server restarts (each
    new process appends to the same file)."""

    def __init__(self, cluster: Cluster) -> None:
        self.path = cluster.audit_log
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def events(self) -> list[dict[str, Any]]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            lines = log.read().decode(errors="replace").splitlines()
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def status_writes(
        self, ns: str, name: str, who: Callable[[dict[str, Any]], bool]
    ) -> list[tuple[float, int]]:
        """(received, HTTP code) of each status write on ModelDeployment ns/name by ``who``."""
        found = []
        for event in self.events():
            ref = event.get("objectRef") or {}
            if (ref.get("resource"), ref.get("namespace"), ref.get("name")) != (
                "modeldeployments",
                ns,
                name,
            ) or ref.get("subresource") != "status":
                continue
            if not who(event):
                continue
            received = datetime.fromisoformat(
                event["requestReceivedTimestamp"].replace("Z", "+00:00")
            ).timestamp()
            found.append((received, int((event.get("responseStatus") or {}).get("code", 0))))
        return found


def by_operator(event: dict[str, Any]) -> bool:
    return "modelship/" in str(event.get("userAgent", ""))


# ----- a canary mid-analysis, on a loopback Prometheus that answers healthy numbers ------


def healthy(promql: str) -> tuple[int, bytes, float]:
    if "_bucket" in promql:
        buckets = (({"le": "0.05"}, "90"), ({"le": "0.1"}, "100"), ({"le": "+Inf"}, "100"))
        return 200, vector(*buckets), 0.0
    return 200, vector(({}, "0" if "5.." in promql else "100")), 0.0


@pytest.fixture
def prometheus_ok() -> Iterator[FakePrometheus]:
    fake = FakePrometheus(healthy)
    yield fake
    fake.close()


def canary_mid_analysis(kubectl: Kubectl, ns: str, name: str, address: str) -> dict[str, Any]:
    """1.0.0 Ready, then 2.0.0 as a canary at 50 % in its timed pause with at least one
    passed analysis round; returns the status at that point."""
    analysis = {
        "interval": "3s",
        "provider": {"prometheus": {"address": address}},
        "checks": [LATENCY, ERRORS],
    }
    steps = [{"setWeight": 50}, {"pause": {"duration": f"{PAUSE_S}s"}}]
    rollout = {"steps": steps, "trafficRouting": GATEWAY}
    manifest = model_deployment(name, model=version("1.0.0"), rollout=rollout, analysis=analysis)
    assert kubectl.apply(dump(manifest), ns).returncode == 0
    wait_ready(kubectl, ns, name)
    set_version(kubectl, ns, name, "2.0.0")

    def mid_analysis() -> dict[str, Any] | None:
        st = status_of(kubectl, ns, name)
        canary, analysis = st.get("canary") or {}, st.get("analysis") or {}
        ok = canary.get("step") == 1 and analysis.get("rounds", 0) >= 1
        return st if ok else None

    return wait_for("the canary paused at 50 % with a round passed", mid_analysis, 90)


def finish_and_compare(kubectl: Kubectl, ns: str, name: str, before: dict[str, Any]) -> float:
    """Wait for the promotion; assert the undisturbed outcome, the status kept and no
    decision caused by the fault; returns the seconds from the pause step's start (as
    status said before the fault) to the promotion seen."""

    def promoted() -> bool:
        st = status_of(kubectl, ns, name)
        return not st.get("canary") and st.get("stableRevision", {}).get("modelVersion") == "2.0.0"

    wait_for("2.0.0 promoted", promoted, 150, 0.5)
    step_started = before["canary"]["stepStartedAt"].replace("Z", "+00:00")
    took = time.time() - datetime.fromisoformat(step_started).timestamp()
    wait_for(
        "Ready again",
        lambda: outcome(kubectl, ns, name)["conditions"].get("Ready") == ("True", "Available"),
        30,
    )
    got = outcome(kubectl, ns, name)
    assert got == UNDISTURBED, got
    after = status_of(kubectl, ns, name)
    # The stable is the very revision that was the canary, not a re-derived one.
    assert after["stableRevision"]["name"] == before["canary"]["revision"]["name"], after
    assert after["analysis"]["rounds"] >= before["analysis"]["rounds"], after["analysis"]
    assert after["analysis"]["since"] == before["analysis"]["since"], "the analysis restarted"
    assert not event_reasons(kubectl, ns) & STALE_DECISIONS, event_reasons(kubectl, ns)
    # The timed pause was not cut short by the outage (timestamps are to the second).
    assert took >= PAUSE_S - 1, took
    return took


def recovery(audit: Audit, ns: str, name: str, cleared: float, who: Callable[..., bool]) -> float:
    """Seconds from ``cleared`` (epoch) to the first successful status write after the
    last refused one (0 when a write got through after the last refusal and before the
    fault was cleared: a throttled operator that still made progress)."""
    writes = audit.status_writes(ns, name, who)
    last_refused = max((t for t, code in writes if code >= 300), default=None)
    start = cleared if last_refused is None else min(cleared, last_refused)
    ok = [
        t
        for t, code in writes
        if code < 300 and t > start and (last_refused is None or t > last_refused)
    ]
    assert ok, f"no successful status write after the fault: {writes[-5:]}"
    return max(0.0, min(ok) - cleared)


def local(kubectl: Kubectl) -> Cluster:
    if kubectl.cluster is None:
        pytest.skip("killing control-plane processes needs the local control plane")
    return kubectl.cluster


# ----- 1. the control plane ---------------------------------------------------------------


@chaos_full
def test_undisturbed_rollout_is_the_reference(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, prometheus_ok: Any
) -> None:
    before = canary_mid_analysis(kubectl, namespace, "calm", prometheus_ok.url)
    took = finish_and_compare(kubectl, namespace, "calm", before)
    report("undisturbed", pause_to_promoted_s=round(took, 1))


@pytest.mark.parametrize(
    ("component", "down_for"),
    [("kube-apiserver", 3.0), pytest.param("etcd", 5.0, marks=chaos_full)],
)
def test_a_control_plane_process_killed_mid_canary(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prometheus_ok: FakePrometheus,
    component: str,
    down_for: float,
) -> None:
    cluster = local(kubectl)
    before = canary_mid_analysis(kubectl, namespace, "hit", prometheus_ok.url)
    audit = Audit(cluster)
    outage = cluster.restart(component, sig=signal.SIGKILL, down_for=down_for, timeout=90)
    cleared = time.time()
    took = finish_and_compare(kubectl, namespace, "hit", before)
    write_s = recovery(audit, namespace, "hit", cleared, by_operator)
    assert running_operator.alive(), running_operator.log_tail()
    report(
        f"{component}-sigkill",
        outage_s=round(outage, 1),
        recovery_to_status_write_s=round(write_s, 2),
        pause_to_promoted_s=round(took, 1),
    )


# API Priority and Fairness: a priority level with no seats and no borrowing rejects every
# request it gets with 429 ("a jail", as the flowcontrol v1 API calls a zero share).
THROTTLED_USER = "modelship-chaos-operator"
JAIL: list[dict[str, Any]] = [
    {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": "modelship-chaos-jail"},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 0,
                "lendablePercent": 0,
                "borrowingLimitPercent": 0,
                "limitResponse": {"type": "Reject"},
            },
        },
    },
    {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": "modelship-chaos-operator"},
        "spec": {
            "priorityLevelConfiguration": {"name": "modelship-chaos-jail"},
            "matchingPrecedence": 100,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [{"kind": "User", "user": {"name": THROTTLED_USER}}],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "namespaces": ["*"],
                            "clusterScope": True,
                        }
                    ],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }
            ],
        },
    },
]


def with_apf(argv: list[str]) -> list[str]:
    """The API server's command line with API Priority and Fairness on (cluster.py turns
    it off, and its in-flight limits with it; APF needs them to add up to something)."""
    swap = {
        "--enable-priority-and-fairness=false": "--enable-priority-and-fairness=true",
        "--max-requests-inflight=0": "--max-requests-inflight=800",
        "--max-mutating-requests-inflight=0": "--max-mutating-requests-inflight=400",
    }
    assert all(flag in argv for flag in swap), argv
    return [swap.get(a, a) for a in argv]


def without_apf(argv: list[str]) -> list[str]:
    back = {
        "--enable-priority-and-fairness=true": "--enable-priority-and-fairness=false",
        "--max-requests-inflight=800": "--max-requests-inflight=0",
        "--max-mutating-requests-inflight=400": "--max-mutating-requests-inflight=0",
    }
    return [back.get(a, a) for a in argv]


@pytest.fixture
def throttled_operator(
    kubectl: Kubectl, operator: OperatorProcess, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The API server with APF on, and the operator under a user of its own (the admin is
    system:masters, which APF exempts). The shared operator is stopped meanwhile and
    started again by the next test's ``running_operator``."""
    cluster = local(kubectl)
    user_kubeconfig = cluster.user_kubeconfig(THROTTLED_USER, ["modelship-chaos"])
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": THROTTLED_USER},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": THROTTLED_USER}
        ],
    }
    kubectl.run("apply", "-f", "-", input=json.dumps(binding))
    operator.stop()
    cluster.restart("kube-apiserver", edit_args=with_apf, timeout=90)
    own = OperatorProcess(user_kubeconfig, tmp_path / "operator.log")
    own.start()
    try:
        yield own
    finally:
        own.stop()
        print("---- throttled operator log tail ----\n" + own.log_tail(3000))
        for obj in reversed(JAIL):
            kind, name = obj["kind"], obj["metadata"]["name"]
            kubectl.run("delete", kind, name, "--ignore-not-found", check=False)
        cluster.restart("kube-apiserver", edit_args=without_apf, timeout=90)
        kubectl.run("delete", "clusterrolebinding", THROTTLED_USER, "--ignore-not-found")


class SameFlow:
    """Requests from the operator's user in a few threads while the jail stands. A
    priority level with no seats still runs one request when none is executing (the
    queueset's rule for a request wider than the limit), so an operator alone would
    mostly get through; a busy neighbour in the same flow, as a second controller on
    one ServiceAccount is, makes the API server answer 429 to most of what the
    operator sends. Bounded: stopped by the test, each request times out in 5 s."""

    def __init__(self, cluster: Cluster, user: str, threads: int = 3) -> None:
        pki = cluster.dir / "pki"
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / f"user-{user}.crt"), str(pki / f"user-{user}.key"))
        self.url = cluster.status()["server"] + "/api/v1/pods"
        self.stop = threading.Event()
        self.answers: dict[int, int] = {}
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, context=self.ctx, timeout=5) as resp:
                    resp.read()
                    code = int(resp.status)
            except urllib.error.HTTPError as exc:
                code = exc.code
            except OSError:
                code = 0
            self.answers[code] = self.answers.get(code, 0) + 1

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def by_user(user: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: (event.get("user") or {}).get("username") == user


@chaos_full
def test_the_api_server_answering_429_to_the_operator(
    kubectl: Kubectl, throttled_operator: OperatorProcess, namespace: str, prometheus_ok: Any
) -> None:
    cluster = local(kubectl)
    before = canary_mid_analysis(kubectl, namespace, "jailed", prometheus_ok.url)
    audit = Audit(cluster)
    kubectl.run("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in JAIL))
    jailed_at = time.monotonic()
    ours = by_user(THROTTLED_USER)
    neighbour = SameFlow(cluster, THROTTLED_USER)

    def refused() -> int:
        return sum(code == 429 for _, code in audit.status_writes(namespace, "jailed", ours))

    try:
        # The fault lasts until the operator's status writes were refused three times.
        wait_for("the operator's status writes answered 429", lambda: refused() >= 3, 60, 0.5)
    finally:
        neighbour.close()
        for obj in reversed(JAIL):
            kubectl.run("delete", obj["kind"], obj["metadata"]["name"], check=False)
    held = time.monotonic() - jailed_at
    cleared = time.time()
    took = finish_and_compare(kubectl, namespace, "jailed", before)
    write_s = recovery(audit, namespace, "jailed", cleared, ours)
    assert throttled_operator.alive(), throttled_operator.log_tail()
    report(
        "apiserver-429",
        throttled_s=round(held, 1),
        refused_status_writes=refused(),
        neighbour_answers=neighbour.answers,
        recovery_to_status_write_s=round(write_s, 2),
        pause_to_promoted_s=round(took, 1),
    )


# ----- 2. the metrics backend ---------------------------------------------------------------


class Garbage:
    """A loopback HTTP server answering every GET with ``body`` (bounded: a daemon
    thread, shut down by the test)."""

    def __init__(self, host: str, port: int, body: bytes, delay: float = 0.0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                time.sleep(delay)
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


NOT_JSON = b"<html><body>502 Bad Gateway</body></html>"
PROMETHEUS_FAULTS = {
    # name: (answer or None for nothing listening, verdicts allowed, words in a message)
    "nothing-listening": (None, {"Error"}, "unreachable"),
    "invalid-json": (lambda q: (200, NOT_JSON, 0.0), {"Error"}, "without JSON"),
    "empty-result": (lambda q: (200, vector(), 0.0), {"Inconclusive"}, "no data"),
    "http-500": (lambda q: (500, b'{"status":"error","error":"boom"}', 0.0), {"Error"}, "boom"),
    "hangs": (lambda q: (200, vector(), HANG_SECONDS), {"Error"}, "unreachable"),
}
SCRAPE_FAULTS = {
    "refused": (None, {"Error"}, "no pod answered"),
    "garbage": (b"<html>oops</html>\n\x00\xff{{{ 1 2\n", {"Error"}, "not Prometheus text"),
}
LIMIT = 2  # inconclusiveLimit: the pause comes after 2 rounds in a row, not 1


def faulty_canary(kubectl: Kubectl, ns: str, name: str, provider: dict[str, Any]) -> None:
    analysis = {
        "interval": "3s",
        "inconclusiveLimit": LIMIT,
        "provider": provider,
        "checks": [LATENCY, ERRORS],
    }
    # A short pause: a canary that ignored its analysis would promote within seconds.
    steps = [{"setWeight": 50}, {"pause": {"duration": "3s"}}]
    runtime = {"image": "registry.example.com/modelship-runtime:0.1"}
    if "scrape" in provider:
        runtime["metrics"] = {"port": provider.pop("port")}  # type: ignore[assignment]
    rollout = {"steps": steps, "trafficRouting": GATEWAY}
    manifest = model_deployment(
        name, model=version("1.0.0"), rollout=rollout, analysis=analysis, runtime=runtime
    )
    assert kubectl.apply(dump(manifest), ns).returncode == 0
    wait_ready(kubectl, ns, name)
    set_version(kubectl, ns, name, "2.0.0")


def pauses_and_never_decides(
    kubectl: Kubectl, ns: str, name: str, allowed: set[str], words: str
) -> dict[str, Any]:
    """Every observation until the pause and for two rounds after it: the canary pauses
    only once LIMIT rounds in a row were not conclusive, and neither promotes nor aborts."""
    seen: list[tuple[Any, ...]] = []

    def paused() -> dict[str, Any] | None:
        st = status_of(kubectl, ns, name)
        canary, analysis = st.get("canary") or {}, st.get("analysis") or {}
        seen.append((canary.get("phase"), canary.get("pauseReason"), analysis.get("inconclusive")))
        assert st.get("stableRevision", {}).get("modelVersion") == "1.0.0", f"promoted: {st}"
        assert canary.get("phase") != "Aborted", f"aborted: {st}"
        return st if canary.get("pauseReason") == "Analysis" else None

    st = wait_for("the canary paused by analysis", paused, 120, 0.3)
    assert st["analysis"]["inconclusive"] >= LIMIT, st["analysis"]
    early = [s for s in seen if s[1] == "Analysis" and (s[2] or 0) < LIMIT]
    assert not early, f"paused before inconclusiveLimit: {seen}"
    rounds = st["analysis"]["rounds"]
    wait_for(
        "two more rounds while paused",
        lambda: paused() and status_of(kubectl, ns, name)["analysis"]["rounds"] >= rounds + 2,
        60,
        0.5,
    )
    st = status_of(kubectl, ns, name)
    analysis = st["analysis"]
    assert analysis["failures"] == 0, analysis
    assert {c["verdict"] for c in analysis["checks"]} <= allowed, analysis["checks"]
    assert any(words in c["message"] for c in analysis["checks"]), analysis["checks"]
    assert st["canary"]["phase"] == "Paused", st["canary"]
    assert not event_reasons(kubectl, ns) & STALE_DECISIONS
    return st


@pytest.mark.parametrize(
    "fault",
    [
        "nothing-listening",
        pytest.param("invalid-json", marks=chaos_full),
        pytest.param("empty-result", marks=chaos_full),
        pytest.param("http-500", marks=chaos_full),
        pytest.param("hangs", marks=chaos_full),
    ],
)
def test_prometheus_faults_pause_and_never_decide(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, fault: str
) -> None:
    answer, allowed, words = PROMETHEUS_FAULTS[fault]
    fake = FakePrometheus(answer) if answer is not None else None
    address = fake.url if fake else f"http://127.0.0.1:{free_port()}"  # closed port
    try:
        faulty_canary(kubectl, namespace, "blind", {"prometheus": {"address": address}})
        st = pauses_and_never_decides(kubectl, namespace, "blind", allowed, words)
    finally:
        if fake:
            fake.close()
    report(f"prometheus-{fault}", rounds=st["analysis"]["rounds"])


def pod_ips(kubectl: Kubectl, ns: str, name: str, track: str) -> list[str]:
    selector = f"modelship.io/model-deployment={name},modelship.io/track={track}"
    pods = get(kubectl, "pods", "-n", ns, "-l", selector) or {"items": []}
    return [p["status"]["podIP"] for p in pods["items"] if p.get("status", {}).get("podIP")]


@pytest.mark.parametrize("fault", ["refused", pytest.param("garbage", marks=chaos_full)])
def test_scrape_faults_pause_and_never_decide(
    kubectl: Kubectl, running_operator: OperatorProcess, namespace: str, fault: str
) -> None:
    """Pods get loopback IPs from the testenv's kwok (no runtime process runs here), so a
    pod's metrics port refuses connections unless the test serves something there."""
    body, allowed, words = SCRAPE_FAULTS[fault]
    port = free_port()
    servers: list[Garbage] = []
    try:
        faulty_canary(kubectl, namespace, "deaf", {"scrape": {}, "port": port})
        if body is not None:
            ips = wait_for(
                "the canary pod's IP", lambda: pod_ips(kubectl, namespace, "deaf", "canary"), 60
            )
            for ip in [*ips, *pod_ips(kubectl, namespace, "deaf", "stable")]:
                with contextlib.suppress(OSError):  # a stable pod sharing the IP already served
                    servers.append(Garbage(ip, port, body))
            assert servers
            with socket.create_connection((ips[0], port), timeout=2):
                pass  # the canary pod's metrics port answers now
        st = pauses_and_never_decides(kubectl, namespace, "deaf", allowed, words)
    finally:
        for server in servers:
            server.close()
    report(f"scrape-{fault}", rounds=st["analysis"]["rounds"])


# ----- 3. deletion --------------------------------------------------------------------------

OUR_KINDS = (
    "deployments.apps,replicasets.apps,pods,services,httproutes.gateway.networking.k8s.io,"
    "controllerrevisions.apps,jobs.batch,configmaps,horizontalpodautoscalers.autoscaling"
)


def ours(kubectl: Kubectl, ns: str, name: str, uids: set[str]) -> list[str]:
    """Objects in ``ns`` labelled for ModelDeployment ``name`` or owned by one of ``uids``
    (the ModelDeployment's and its children's, so a Deployment's ReplicaSets and pods too)."""
    listed = get(kubectl, OUR_KINDS, "-n", ns)
    assert listed is not None
    found = []
    for obj in listed["items"]:
        meta = obj["metadata"]
        labelled = (meta.get("labels") or {}).get("modelship.io/model-deployment") == name
        owned = any(ref["uid"] in uids for ref in meta.get("ownerReferences") or [])
        if labelled or owned or meta["uid"] in uids:
            found.append(f"{obj['kind']}/{meta['name']}")
    return found


def family(kubectl: Kubectl, ns: str, name: str) -> set[str]:
    """The uids of the ModelDeployment and of everything it owns, transitively."""
    root = get(kubectl, "md", name, "-n", ns)["metadata"]["uid"]
    uids = {root}
    listed = get(kubectl, OUR_KINDS, "-n", ns)["items"]
    grew = True
    while grew:
        grew = False
        for obj in listed:
            meta = obj["metadata"]
            if meta["uid"] not in uids and any(
                r["uid"] in uids for r in meta.get("ownerReferences") or []
            ):
                uids.add(meta["uid"])
                grew = True
    return uids


def gone(kubectl: Kubectl, ns: str, name: str, uids: set[str]) -> bool:
    still = kubectl.run("get", "md", name, "-n", ns, "--ignore-not-found", "-o", "name")
    return not still.stdout.strip() and not ours(kubectl, ns, name, uids)


def live_canary(kubectl: Kubectl, ns: str, name: str, address: str) -> set[str]:
    """A canary at 50 % in an indefinite pause, analysis rounds running; its family."""
    analysis = {
        "interval": "2s",
        "provider": {"prometheus": {"address": address}},
        "checks": [LATENCY, ERRORS],
    }
    rollout = {"steps": [{"setWeight": 50}, {"pause": {}}], "trafficRouting": GATEWAY}
    manifest = model_deployment(name, model=version("1.0.0"), rollout=rollout, analysis=analysis)
    assert kubectl.apply(dump(manifest), ns).returncode == 0
    wait_ready(kubectl, ns, name)
    set_version(kubectl, ns, name, "2.0.0")
    wait_for(
        "the canary live with analysis rounds",
        lambda: (
            (st := status_of(kubectl, ns, name)).get("canary", {}).get("actualWeight") == 50
            and st.get("analysis", {}).get("rounds", 0) >= 2
        ),
        90,
    )
    uids = family(kubectl, ns, name)
    kinds = {o.split("/")[0] for o in ours(kubectl, ns, name, uids)}
    assert {"Deployment", "Service", "HTTPRoute", "ControllerRevision", "Pod"} <= kinds, kinds
    return uids


def test_deleted_mid_canary_leaves_nothing(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prometheus_ok: FakePrometheus,
) -> None:
    uids = live_canary(kubectl, namespace, "doomed", prometheus_ok.url)
    asked = time.monotonic()
    kubectl.run("delete", "md", "doomed", "-n", namespace, "--wait=false")
    wait_for(
        "the ModelDeployment and all it owned gone",
        lambda: gone(kubectl, namespace, "doomed", uids),
        90,
        0.5,
    )
    took = time.monotonic() - asked
    # The operator is still serving: a second object in the namespace reconciles.
    kubectl.apply(dump(model_deployment("after")), namespace)
    wait_ready(kubectl, namespace, "after")
    assert not ours(kubectl, namespace, "doomed", uids), "recreated after the deletion"
    report("deleted-mid-canary", delete_to_collected_s=round(took, 1), objects=len(uids))


def test_deleted_while_the_operator_is_down_leaves_nothing(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    prometheus_ok: FakePrometheus,
) -> None:
    uids = live_canary(kubectl, namespace, "orphan", prometheus_ok.url)
    running_operator.stop()
    try:
        asked = time.monotonic()
        kubectl.run("delete", "md", "orphan", "-n", namespace, "--wait=false")
        wait_for(
            "collected without the operator",
            lambda: gone(kubectl, namespace, "orphan", uids),
            90,
            0.5,
        )
        took = time.monotonic() - asked
    finally:
        running_operator.start()
    # Back up, the operator has reconciled what exists (a new object gets Ready) and
    # recreated nothing for the deleted one.
    kubectl.apply(dump(model_deployment("after")), namespace)
    wait_ready(kubectl, namespace, "after")
    assert not ours(kubectl, namespace, "orphan", uids), "recreated after the restart"
    report("deleted-operator-down", delete_to_collected_s=round(took, 1), objects=len(uids))


# A retraining Job whose pod kwok leaves Running: the local-run label exempts it from
# kwok's pod-complete stage, and no Job runner is started to run it.
RUNNING_RETRAINING: dict[str, Any] = {
    **RETRAINING,
    "jobTemplate": {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {LOCAL_RUN: "true"}},
                "spec": {"containers": [{"name": "train", "image": "trainer:1"}]},
            },
        }
    },
}


def test_deleted_while_a_retraining_job_runs_leaves_nothing(
    kubectl: Kubectl,
    running_operator: OperatorProcess,
    namespace: str,
    trained: Path,
    runner: PodRunner,
) -> None:
    name = "retraining"
    env = [{"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": "1.5"}]
    monitored(kubectl, namespace, name, trained, env, retraining=RUNNING_RETRAINING)
    stop = threading.Event()
    sender = threading.Thread(target=send, args=(kubectl, namespace, name, stop), daemon=True)
    sender.start()
    try:

        def running_job() -> dict[str, Any] | None:
            retraining = (md(kubectl, namespace, name).get("status") or {}).get("retraining")
            jobs = get(kubectl, "jobs", "-n", namespace)["items"]
            active = [j for j in jobs if (j.get("status") or {}).get("active")]
            return active[0] if active and (retraining or {}).get("active") else None

        job = wait_for("a retraining Job running, recorded in status", running_job, 120)
    finally:
        stop.set()
        sender.join(15)
    uids = family(kubectl, namespace, name)
    kinds = {o.split("/")[0] for o in ours(kubectl, namespace, name, uids)}
    assert {"Deployment", "Service", "ControllerRevision", "Job", "Pod"} <= kinds, kinds
    assert job["metadata"]["uid"] in uids
    asked = time.monotonic()
    kubectl.run("delete", "md", name, "-n", namespace, "--wait=false")
    wait_for(
        "the ModelDeployment, its running Job and its pods gone",
        lambda: gone(kubectl, namespace, name, uids),
        90,
        0.5,
    )
    took = time.monotonic() - asked
    # Still serving, and nothing of the deleted one is started again.
    kubectl.apply(dump(model_deployment("after")), namespace)
    wait_ready(kubectl, namespace, "after")
    assert not ours(kubectl, namespace, name, uids), "recreated after the deletion"
    report("deleted-retraining", delete_to_collected_s=round(took, 1), objects=len(uids))
