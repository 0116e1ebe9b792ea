"""The operator SIGKILLed at many points of a ModelDeployment's life ends the same way as
an operator that was never killed (issue 12, part 1).

Each scenario runs twice in namespaces of its own, with only operators scoped to that
namespace (``-n``) acting on it: once uninterrupted (the reference, computed once per
scenario and cached for the module), once with a real operator process that SIGKILLs
itself at the chosen point (modelship_testenv.crashing_operator: right after the Nth
write, or the Nth write of a kind) or is SIGKILLed from here at a chosen state; the
normal operator then takes over. Compared: the final stable revision, the weights, the
conditions (type, status, reason), the history, every object of ours by name (no
orphan, no duplicate ControllerRevision or Job) and the Deployments' replicas; a timed
pause keeps its elapsed time. The time from the restart to the first finished
reconcile is printed as a table at the end, and written as JSON to
$MODELSHIP_CHAOS_REPORT when that is set (docs/reliability.md quotes it).

`make test` runs the points not marked chaos_full (one of each kind); `make test-chaos`
runs them all.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from modelship.kube import connect
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess
from modelship_testenv.loadgen import LoadGenerator
from modelship_testenv.podrunner import PodRunner
from tests.integration.conftest import Kubectl, fresh_namespace, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import (
    GATEWAY,
    canary_of,
    ctl,
    reconciles,
    set_version,
    version,
    wait_paused_at,
)
from tests.integration.test_drift import RETRAINING, monitored
from tests.integration.test_real_runtime import runner, trained, wait_serving
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster
__all__ = ["runner", "trained"]  # fixtures used by name

NAME = "cx"  # every scenario's ModelDeployment: child names compare across namespaces
FULL = pytest.mark.chaos_full
TIMED_PAUSE = 8.0  # seconds, the timed pause of the steps scenario
DOWN = 5.0  # seconds the operator stays down after a kill inside the timed pause
# Our kinds, by name: anything beyond the reference's set is an orphan or a duplicate.
KINDS = (
    "deployments.apps",
    "services",
    "httproutes.gateway.networking.k8s.io",
    "configmaps",
    "jobs.batch",
    "controllerrevisions.apps",
    "horizontalpodautoscalers.autoscaling",
)


# ----- scenarios -----------------------------------------------------------------------


def rollout(steps: list[dict[str, Any]] | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"trafficRouting": GATEWAY, "scaleDownDelay": "2s", **extra}
    if steps is not None:
        out["steps"] = steps
    return out


def apply_md(kubectl: Kubectl, ns: str, v: str = "1.0.0", **spec: Any) -> None:
    manifest = model_deployment(NAME, model=version(v), **spec)
    assert kubectl.apply(dump(manifest), ns).returncode == 0


def annotate(kubectl: Kubectl, ns: str, key: str, value: str | None) -> None:
    arg = f"modelship.io/{key}={value}" if value is not None else f"modelship.io/{key}-"
    kubectl.run("annotate", "md", NAME, "-n", ns, arg, "--overwrite")


def command(*args: str) -> Callable[[Kubectl, str], None]:
    def run(kubectl: Kubectl, ns: str) -> None:
        done = ctl(kubectl, ns, *args, NAME)
        assert done.returncode == 0, done.stderr

    return run


def settled(kubectl: Kubectl, ns: str, stable: str) -> None:
    """No canary, ``stable`` Ready at this generation, the retired canary gone."""

    def done() -> bool:
        obj = md(kubectl, ns, NAME)
        st = obj.get("status", {})
        ready = next((c for c in st.get("conditions", []) if c["type"] == "Ready"), None)
        return bool(
            not st.get("canary")
            and st.get("retiring") is None
            and st.get("stableRevision", {}).get("modelVersion") == stable
            and ready
            and ready["status"] == "True"
            and ready["observedGeneration"] == obj["metadata"]["generation"]
        )

    wait_for(f"{stable} settled", done, timeout=90)


def aborted(kubectl: Kubectl, ns: str) -> None:
    """Aborted, and the canary scaled to zero after scaleDownDelay."""

    def done() -> bool:
        if canary_of(kubectl, ns, NAME).get("phase") != "Aborted":
            return False
        dep = kubectl.json("get", "deployment", f"{NAME}-canary", "-n", ns)
        return bool(dep["spec"]["replicas"] == 0)

    wait_for("aborted, canary at zero", done, timeout=90)


def paused_by(kubectl: Kubectl, ns: str, reason: str) -> None:
    wait_for(
        f"canary paused ({reason})",
        lambda: canary_of(kubectl, ns, NAME).get("pauseReason") == reason,
        timeout=90,
    )


STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": f"{TIMED_PAUSE:.0f}s"}},
    {"setWeight": 75},
    {"pause": {}},
]
HELD: list[dict[str, Any]] = [{"setWeight": 30}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]


def held_canary(kubectl: Kubectl, ns: str) -> None:
    """1.0.0 Ready, 2.0.0 as a canary paused until promote at 30 %."""
    apply_md(kubectl, ns, replicas=2, rollout=rollout(HELD))
    wait_ready(kubectl, ns, NAME)
    set_version(kubectl, ns, NAME, "2.0.0")
    wait_paused_at(kubectl, ns, NAME, 1)


def first_deploy(kubectl: Kubectl, ns: str) -> None:
    apply_md(kubectl, ns, replicas=2, rollout=rollout(HELD))


def steps_setup(kubectl: Kubectl, ns: str) -> None:
    apply_md(kubectl, ns, replicas=4, rollout=rollout(STEPS))
    wait_ready(kubectl, ns, NAME)


def steps_finish(kubectl: Kubectl, ns: str) -> dict[str, float]:
    """Through the timed pause to the pause until promote, then promote; the pause's
    length as the operator's own timestamps give it."""
    starts: dict[int, str] = {}

    def at_last_pause() -> bool:
        c = canary_of(kubectl, ns, NAME)
        if c.get("step") is not None and c.get("stepStartedAt"):
            starts.setdefault(int(c["step"]), c["stepStartedAt"])
        return c.get("phase") == "Paused" and c.get("step") == 3

    wait_for("the canary at the pause until promote", at_last_pause, timeout=90, interval=0.1)
    command("promote")(kubectl, ns)
    settled(kubectl, ns, "2.0.0")
    out = {"pause_ended": min(_time(t) for step, t in starts.items() if step > 1).timestamp()}
    if 1 in starts:  # not seen from here when the kill came after the pause
        out["pause_started"] = _time(starts[1]).timestamp()
    return out


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def analysis_setup(kubectl: Kubectl, ns: str) -> None:
    """Analysis against a Prometheus that is not there: every round is an Error, and
    after inconclusiveLimit rounds the canary pauses (never an abort)."""
    analysis = {
        "interval": "2s",
        "inconclusiveLimit": 2,
        "provider": {"prometheus": {"address": f"http://127.0.0.1:{free_port()}"}},
        "checks": [{"name": "errors", "errorRate": {"max": 0.01}}],
    }
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    apply_md(kubectl, ns, replicas=2, rollout=rollout(steps), analysis=analysis)
    wait_ready(kubectl, ns, NAME)


def analysis_finish(kubectl: Kubectl, ns: str) -> None:
    paused_by(kubectl, ns, "Analysis")
    command("abort")(kubectl, ns)
    aborted(kubectl, ns)


def promoted_once(kubectl: Kubectl, ns: str) -> None:
    """1.0.0, then 2.0.0 promoted (no steps, no analysis: straight to 100)."""
    apply_md(kubectl, ns, replicas=2, rollout=rollout(None))
    wait_ready(kubectl, ns, NAME)
    set_version(kubectl, ns, NAME, "2.0.0")
    settled(kubectl, ns, "2.0.0")


def manually_paused(kubectl: Kubectl, ns: str) -> None:
    held_canary(kubectl, ns)
    command("pause")(kubectl, ns)
    paused_by(kubectl, ns, "Manual")


def aborted_canary(kubectl: Kubectl, ns: str) -> None:
    held_canary(kubectl, ns)
    command("abort")(kubectl, ns)
    aborted(kubectl, ns)


def nothing(kubectl: Kubectl, ns: str) -> None:
    return None


@dataclass(frozen=True)
class Scenario:
    """``setup`` runs with the normal operator, which is then stopped; ``trigger`` is
    done with no operator running (so a crashing operator's count of writes starts
    with it); ``finish`` drives the run to its end once the normal operator is back,
    and may return measurements to compare."""

    setup: Callable[[Kubectl, str], None]
    trigger: Callable[[Kubectl, str], None]
    finish: Callable[[Kubectl, str], dict[str, float] | None]


def then(*steps: Callable[[Kubectl, str], None]) -> Callable[[Kubectl, str], None]:
    def run(kubectl: Kubectl, ns: str) -> None:
        for step in steps:
            step(kubectl, ns)

    return run


SCENARIOS: dict[str, Scenario] = {
    "deploy": Scenario(nothing, first_deploy, lambda k, ns: settled(k, ns, "1.0.0")),
    "steps": Scenario(steps_setup, lambda k, ns: set_version(k, ns, NAME, "2.0.0"), steps_finish),
    "analysis": Scenario(
        analysis_setup, lambda k, ns: set_version(k, ns, NAME, "2.0.0"), analysis_finish
    ),
    "promote": Scenario(
        held_canary,
        command("promote"),
        then(
            lambda k, ns: wait_paused_at(k, ns, NAME, 3),
            command("promote", "--full"),
            lambda k, ns: settled(k, ns, "2.0.0"),
        ),
    ),
    "promote-full": Scenario(
        held_canary, command("promote", "--full"), lambda k, ns: settled(k, ns, "2.0.0")
    ),
    "abort": Scenario(held_canary, command("abort"), aborted),
    "retry": Scenario(
        aborted_canary,
        command("retry"),
        then(
            lambda k, ns: wait_paused_at(k, ns, NAME, 1),
            command("promote", "--full"),
            lambda k, ns: settled(k, ns, "2.0.0"),
        ),
    ),
    "pause": Scenario(
        held_canary,
        command("pause"),
        then(
            lambda k, ns: paused_by(k, ns, "Manual"),
            command("resume"),
            command("promote", "--full"),
            lambda k, ns: settled(k, ns, "2.0.0"),
        ),
    ),
    "resume": Scenario(
        manually_paused,
        command("resume"),
        then(
            lambda k, ns: wait_paused_at(k, ns, NAME, 1),
            command("promote", "--full"),
            lambda k, ns: settled(k, ns, "2.0.0"),
        ),
    ),
    "undo": Scenario(promoted_once, command("undo"), lambda k, ns: settled(k, ns, "1.0.0")),
}


# ----- kill points ---------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """Where the operator dies: right after the ``nth`` write whose description starts
    with ``write`` ({ns} and {name} filled in; "" is any write), or, with ``when``, at
    the first state ``when`` accepts (SIGKILL from outside), staying down ``down`` s."""

    scenario: str
    write: str = ""
    nth: int = 1
    when: Callable[[Kubectl, str], bool] | None = None
    down: float = 0.0


def in_timed_pause(kubectl: Kubectl, ns: str) -> bool:
    return canary_of(kubectl, ns, NAME).get("step") == 1


DEPLOYMENT = "apply Deployment {ns}/{name}"
STATUS = "status of ModelDeployment {ns}/{name}"
ROUTE = "apply HTTPRoute {ns}/{name}"

POINTS: dict[str, Point] = {
    # first deploy: each child, then the first status
    "deploy-stable": Point("deploy", DEPLOYMENT + "-stable"),
    "deploy-service": Point("deploy", "apply Service {ns}/{name}"),
    "deploy-route": Point("deploy", ROUTE),
    "deploy-revision": Point("deploy", "create ControllerRevision {ns}/{name}-"),
    "deploy-status": Point("deploy", STATUS),
    # canary steps: setWeight, timed pause, the next setWeight, a decision before its write
    "canary-created": Point("steps", DEPLOYMENT + "-canary"),
    "canary-revision": Point("steps", "create ControllerRevision {ns}/{name}-"),
    "set-weight": Point("steps", ROUTE),
    "in-timed-pause": Point("steps", when=in_timed_pause, down=DOWN),
    "set-weight-after-pause": Point("steps", ROUTE, nth=2),
    "before-write": Point("steps", "", nth=3),
    # analysis: a round recorded, the hold it causes
    "analysis-round": Point("analysis", "event Analysis"),
    "analysis-hold": Point("analysis", "event AnalysisInconclusive"),
    # each manual command, right after the first write it causes
    "promote": Point("promote", ""),
    "promote-full": Point("promote-full", ""),
    "promoting-recorded": Point("promote-full", STATUS),
    "abort": Point("abort", ""),
    "mid-abort": Point("abort", "", nth=2),
    "abort-scale-down": Point("abort", DEPLOYMENT + "-canary"),
    "retry": Point("retry", ""),
    "pause": Point("pause", ""),
    "resume": Point("resume", ""),
    "undo": Point("undo", ""),
    "mid-undo": Point("undo", "", nth=3),
    # the retired canary scaled down after a promotion
    "retire-canary": Point("promote-full", "delete Deployment {ns}/{name}-canary"),
}
DEFAULT = {"deploy-route", "set-weight", "in-timed-pause", "analysis-round", "abort", "undo"}


# ----- running and comparing -----------------------------------------------------------


@dataclass
class Outcome:
    stable: dict[str, Any]
    weights: tuple[int, int] | None
    conditions: list[tuple[str, str, str]]
    history: list[tuple[str, str, str]]
    objects: dict[str, list[str]]
    replicas: dict[str, int]
    measured: dict[str, float] = field(default_factory=dict)


def outcome(kubectl: Kubectl, ns: str, measured: dict[str, float] | None) -> Outcome:
    st = md(kubectl, ns, NAME)["status"]
    objects = {
        kind: sorted(
            i["metadata"]["name"]
            for i in kubectl.json("get", kind, "-n", ns)["items"]
            if not i["metadata"].get("deletionTimestamp")
        )
        for kind in KINDS
    }
    weights = None
    if objects["httproutes.gateway.networking.k8s.io"]:
        route = kubectl.json("get", "httproute", NAME, "-n", ns)
        refs = {r["name"]: r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]}
        weights = (refs.get(f"{NAME}-stable", 0), refs.get(f"{NAME}-canary", 0))
    deployments = kubectl.json("get", "deployments", "-n", ns)["items"]
    return Outcome(
        stable={k: st["stableRevision"][k] for k in ("name", "modelVersion")},
        weights=weights,
        conditions=sorted((c["type"], c["status"], c["reason"]) for c in st["conditions"]),
        history=[(h["revision"], h["modelVersion"], h["outcome"]) for h in st.get("history", [])],
        objects=objects,
        replicas={d["metadata"]["name"]: d["spec"]["replicas"] for d in deployments},
        measured=measured or {},
    )


def ns_operator(kubectl: Kubectl, ns: str, log: Path, **kw: Any) -> OperatorProcess:
    return OperatorProcess(kubectl.kubeconfig, log, ["-n", ns, *kw.pop("args", [])], **kw)


@dataclass
class Run:
    outcome: Outcome
    killed_after: str | None
    reconciled_s: float  # restart -> the first finished reconcile
    before: dict[str, Any]  # status.canary as the killed operator left it


def run(kubectl: Kubectl, ns: str, tmp: Path, scenario: Scenario, point: Point | None) -> Run:
    setup = ns_operator(kubectl, ns, tmp / "setup-operator.log")
    setup.start()
    try:
        scenario.setup(kubectl, ns)
    finally:
        setup.stop()
    scenario.trigger(kubectl, ns)
    killed, before = None, {}
    if point is not None:
        killed = crash(kubectl, ns, tmp, point)
        before = canary_of(kubectl, ns, NAME)
    address = f"127.0.0.1:{free_port()}"
    taker = ns_operator(kubectl, ns, tmp / "operator.log", args=["--metrics-address", address])
    started = time.monotonic()
    taker.start()
    try:

        def reconciled() -> bool:
            assert taker.alive(), "the operator exited:\n" + taker.log_tail()
            try:
                return reconciles(f"http://{address}/metrics").get("ok", 0) >= 1
            except OSError:
                return False

        wait_for("the first reconcile after the start", reconciled, timeout=60, interval=0.05)
        took = time.monotonic() - started
        try:
            measured = scenario.finish(kubectl, ns)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n---- operator log ----\n{taker.log_tail()}") from None
        return Run(outcome(kubectl, ns, measured), killed, took, before)
    finally:
        taker.stop()


def crash(kubectl: Kubectl, ns: str, tmp: Path, point: Point) -> str:
    """Run an operator until it dies at ``point``; what it died after."""
    mark = tmp / "killed-after"
    env = {"MODELSHIP_TEST_WRITE_LOG": str(tmp / "writes.log")}
    if point.when is None:
        env["MODELSHIP_TEST_KILL_AT_WRITE"] = str(point.nth)
        env["MODELSHIP_TEST_KILL_AFTER"] = point.write.format(ns=ns, name=NAME)
        env["MODELSHIP_TEST_KILL_MARK"] = str(mark)
    crashing = ns_operator(
        kubectl,
        ns,
        tmp / "crashing-operator.log",
        module="modelship_testenv.crashing_operator",
        env=env,
    )
    crashing.start()
    try:
        if point.when is not None:
            when = point.when
            wait_for("the state to kill at", lambda: when(kubectl, ns), timeout=90, interval=0.1)
            crashing.kill()
            # Down for a while on purpose: the pause's clock must run on meanwhile.
            time.sleep(point.down)
            return "SIGKILL from outside"
        code = crashing.wait(120)
    finally:
        crashing.kill()
    writes = (tmp / "writes.log").read_text() if (tmp / "writes.log").exists() else ""
    assert code == -9, f"exit {code}\n{crashing.log_tail()}\nwrites:\n{writes}"
    return mark.read_text()


@pytest.fixture(scope="module")
def chaos_operators(operator: OperatorProcess) -> Iterator[None]:
    """Only namespace-scoped operators act here: the shared one is stopped for this
    module (running_operator starts it again for later modules)."""
    operator.stop()
    yield


@pytest.fixture(scope="module")
def references(
    kubectl: Kubectl, chaos_operators: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Run]]:
    """Each scenario uninterrupted, run once on first use."""
    done: dict[str, Run] = {}

    def reference(name: str) -> Run:
        if name not in done:
            with fresh_namespace(kubectl, "ref") as ns:
                done[name] = run(
                    kubectl, ns, tmp_path_factory.mktemp(f"ref-{name}"), SCENARIOS[name], None
                )
        return done[name]

    yield reference


RESULTS: list[dict[str, Any]] = []


@pytest.fixture(scope="module", autouse=True)
def report(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    if not RESULTS:
        return
    lines = [f"{'kill point':<24} {'scenario':<13} {'killed after':<52} restart->reconciled"]
    for r in RESULTS:
        lines.append(
            f"{r['point']:<24} {r['scenario']:<13} {r['killed_after'][:52]:<52} "
            f"{r['reconciled_s']:.2f}s (uninterrupted start {r['reference_s']:.2f}s)"
        )
    text = "\n---- chaos: restart -> reconciled ----\n" + "\n".join(lines)
    terminal = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if terminal is not None and capture is not None:  # shown without -s too
        with capture.global_and_fixture_disabled():
            terminal.write_line(text)
    else:
        print(text)
    path = os.environ.get("MODELSHIP_CHAOS_REPORT")
    if path:
        Path(path).write_text(json.dumps(RESULTS, indent=2) + "\n")


@pytest.mark.parametrize(
    "point",
    [pytest.param(p, id=p, marks=() if p in DEFAULT else (FULL,)) for p in POINTS],
)
def test_killed_at_the_point_ends_as_uninterrupted(
    kubectl: Kubectl,
    chaos_operators: None,
    references: Callable[[str], Run],
    tmp_path: Path,
    point: str,
) -> None:
    where = POINTS[point]
    scenario = SCENARIOS[where.scenario]
    reference = references(where.scenario)
    with fresh_namespace(kubectl, "chaos") as ns:
        got = run(kubectl, ns, tmp_path, scenario, where)
    assert got.killed_after is not None
    if where.when is None:
        expected = where.write.format(ns=ns, name=NAME)
        assert got.killed_after.startswith(expected), got.killed_after
    ref, out = reference.outcome, got.outcome
    assert out.stable == ref.stable
    assert out.weights == ref.weights
    assert out.conditions == ref.conditions
    assert out.history == ref.history
    revisions = out.objects["controllerrevisions.apps"]
    assert len(revisions) == len(set(revisions))
    assert out.objects == ref.objects, "orphans or duplicates"
    assert out.replicas == ref.replicas
    timed = where.scenario == "steps"  # the scenario with a timed pause (step 1)
    if timed and got.before.get("step") == 1:  # killed inside the pause: its start is kept
        began = _time(got.before["stepStartedAt"]).timestamp()
        assert out.measured.get("pause_started", began) == began, out.measured
        out.measured["pause_started"] = began
    elif where.when is not None:
        raise AssertionError(f"not killed inside the pause: {got.before}")
    if "pause_started" in out.measured:
        # The 8 s pause lasted 8 s of the operator's clock, whether or not it was killed
        # inside it and kept down for DOWN s: a pause that started over would last longer.
        pause = out.measured["pause_ended"] - out.measured.pop("pause_started")
        assert TIMED_PAUSE - 1 <= pause < TIMED_PAUSE + DOWN - 1, pause
        out.measured["pause"] = pause
    out.measured.pop("pause_ended", None)
    RESULTS.append(
        {
            "point": point,
            "scenario": where.scenario,
            "killed_after": got.killed_after.replace(ns, "NS"),
            "reconciled_s": round(got.reconciled_s, 3),
            "reference_s": round(reference.reconciled_s, 3),
            **{f"{k}_s": round(v, 3) for k, v in out.measured.items()},
        }
    )


# ----- retraining: between the Job's creation and the status that records it ----------


class Traffic:
    """Shifted inputs sent to one ModelDeployment in the background until stopped."""

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, ns: str) -> None:
        kube = connect(pool_size=2, kubeconfig=str(self.kubectl.kubeconfig))
        gen = LoadGenerator(kube, ns, NAME, "fraud-scorer", seed=3)
        wait_serving(gen, stable=1)
        thread = threading.Thread(
            target=gen.run, args=(40_000, 300), kwargs={"rate": 40, "stop": self.stop}, daemon=True
        )
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)


def retraining_scenario(trained: Path, traffic: Traffic) -> Scenario:
    """Drifted inputs on the stable track: after two drifted windows a retraining Job
    (kwok completes it; it reports no model, so nothing rolls out)."""
    env = [{"name": "MODELSHIP_FAULT_INPUT_SHIFT", "value": "1.5"}]

    def setup(kubectl: Kubectl, ns: str) -> None:
        monitored(kubectl, ns, NAME, trained, env, retraining=RETRAINING)
        traffic.start(ns)

    def finish(kubectl: Kubectl, ns: str) -> dict[str, float]:
        def recorded() -> dict[str, Any] | None:
            st = md(kubectl, ns, NAME)["status"].get("retraining") or {}
            return st if st.get("last") else None

        st = wait_for("the retraining Job recorded", recorded, timeout=90)
        return {"retraining_jobs": float(st["count"])}

    return Scenario(setup, nothing, finish)


@pytest.mark.parametrize("write", ["create Job {ns}/{name}-retrain-1"], ids=["retraining-job"])
def test_killed_between_a_retraining_job_and_its_record_starts_one_job(
    kubectl: Kubectl,
    chaos_operators: None,
    trained: Path,
    runner: PodRunner,
    tmp_path: Path,
    write: str,
) -> None:
    traffic = Traffic(kubectl)
    try:
        scenario = retraining_scenario(trained, traffic)
        with fresh_namespace(kubectl, "ref") as ns:
            reference = run(kubectl, ns, tmp_path / "reference", scenario, None)
        with fresh_namespace(kubectl, "chaos") as ns:
            got = run(kubectl, ns, tmp_path / "killed", scenario, Point("retrain", write))
    finally:
        traffic.close()
    assert got.killed_after is not None
    assert got.killed_after.startswith(write.format(ns=ns, name=NAME)), got.killed_after
    ref, out = reference.outcome, got.outcome
    assert out.objects["jobs.batch"] == [f"{NAME}-retrain-1"], out.objects
    assert out.measured == ref.measured == {"retraining_jobs": 1.0}
    assert out.stable == ref.stable and out.history == ref.history
    assert out.objects == ref.objects and out.replicas == ref.replicas
    RESULTS.append(
        {
            "point": "retraining-job",
            "scenario": "retraining",
            "killed_after": got.killed_after.replace(ns, "NS"),
            "reconciled_s": round(got.reconciled_s, 3),
            "reference_s": round(reference.reconciled_s, 3),
        }
    )
