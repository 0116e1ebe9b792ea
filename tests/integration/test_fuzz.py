"""Fuzzing through the real API server (issue 12, part 2).

hypothesis draws ModelDeployments, ModelPromotions and manual-command annotations, mostly
near-valid (tests/integration/fuzzing.py says how), and each goes through real kubectl to
the real API server. Each one is either refused with a message naming the field it broke,
or accepted and then, within a bound, served (Ready) or shown Degraded / InvalidSpec with a
message by the operator. Meanwhile the operator (its own process, watching only the fuzz
namespace, so everything it does is for the fuzzed objects) never exits, never fails a
reconcile with anything but a transient error, never writes a status the schema refuses,
and over a quiet window after the batch settles reconciles and burns CPU only as its timers
allow.

Objects are applied one after the other (the API server's answer is immediate), then waited
for all together, then deleted. Counts: MODELSHIP_FUZZ_EXAMPLES (default 300) across the
module, split 1/2 ModelDeployments, 1/4 ModelPromotions, 1/4 command batches; a fixed seed
(derandomized) unless MODELSHIP_FUZZ_SEED is set; MODELSHIP_FUZZ_SHRINK=1 lets hypothesis
shrink a failure (slow: every step goes through the cluster).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import os
import random
import re
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, seed, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from modelship.api.types import parse_duration
from modelship_testenv.cluster import free_port
from modelship_testenv.harness import OperatorProcess
from tests.integration import fuzzing
from tests.integration.conftest import Kubectl, fresh_namespace
from tests.integration.fuzzing import Case, Mutation
from tests.integration.manifests import model_deployment

Obj = dict[str, Any]

TOTAL = int(os.environ.get("MODELSHIP_FUZZ_EXAMPLES", "300"))
# About a second per example at most, and never less than the suite's default.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(max(600, 2 * TOTAL))]
SEED = os.environ.get("MODELSHIP_FUZZ_SEED")
SHRINK = os.environ.get("MODELSHIP_FUZZ_SHRINK") == "1"
SETTLE_SECONDS = 120.0  # accepted -> Ready or Degraded, for the whole batch
QUIET_SECONDS = 10.0  # the window reconciles and CPU are counted over
# A settled object is reconciled again only by a timer: the 5 s pod wait, the 10 s check
# of a rollout that has not finished, its drift interval, the resync; one more for a late
# child event.
LEGIT_PERIOD = 5.0
CPU_SHARE = 0.25  # of one core, averaged over the quiet window ...
CPU_PER_RECONCILE = 0.05  # ... unless the reconciles it allows explain it
# Lines of the operator's log no fuzzed object may cause.
BAD_LOG = re.compile(
    r"Traceback|could not record the error in status|is invalid: [^\n]*\bstatus\.|"
    r"Unhandled exception|Handler .* failed"
)


def share(part: float) -> int:
    return max(1, round(TOTAL * part))


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else [])

    def wrap(test: Any) -> Any:
        test = settings(
            max_examples=examples,
            derandomize=SEED is None,
            deadline=None,
            database=None,
            phases=phases,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )(test)
        return seed(int(SEED))(test) if SEED is not None else test

    return wrap


# ----- the operator and the namespace -----------------------------------------------------


@dataclass
class Env:
    kubectl: Kubectl
    ns: str
    op: OperatorProcess
    metrics_url: str
    user: str
    pid: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def metrics(self) -> dict[tuple[str, str], float]:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as answer:
            text = answer.read().decode()
        return {
            (s.labels["kind"], s.labels["result"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "modelship_reconcile_total"
        }

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> None:
        assert self.op.alive(), "the operator exited:\n" + self.op.log_tail()
        assert self.op.pid == self.pid, "the operator was restarted"

    def items(self, kind: str) -> dict[str, Obj]:
        listed = self.kubectl.json("get", kind, "-n", self.ns)["items"]
        return {i["metadata"]["name"]: i for i in listed}

    def apply(self, obj: Obj) -> tuple[bool, str]:
        done = self.kubectl.run(
            "apply", "-n", self.ns, "-f", "-", input=json.dumps(obj), check=False
        )
        return done.returncode == 0, done.stderr


def condition(obj: Obj, type_: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


def _ready(kubectl: Kubectl, ns: str, *names: str) -> None:
    for name in names:
        done = kubectl.run(
            "wait", "--for=condition=Ready", f"md/{name}", "-n", ns, "--timeout=90s", check=False
        )
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def env(
    kubectl: Kubectl, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    """A namespace and an operator of our own watching only it. The shared operator is
    stopped meanwhile (two writers would fight) and started again afterwards."""
    shared_was_running = operator.alive()
    operator.stop()
    address = f"127.0.0.1:{free_port()}"
    user = kubectl.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    with fresh_namespace(kubectl, "fuzz") as ns:
        op = OperatorProcess(
            kubectl.kubeconfig,
            tmp_path_factory.mktemp("fuzz") / "operator.log",
            ["-n", ns, "--metrics-address", address],
        )
        op.start()
        e = Env(kubectl, ns, op, f"http://{address}/metrics", user.strip(), op.pid)
        try:
            # The promotions' source and target, and the command tests' canaries.
            fixtures = [
                model_deployment("src", model=_model("2.0.0")),
                model_deployment("dst", model=_model("1.0.0")),
                *(model_deployment(f"cmd-{i}", rollout={"steps": STEPS}) for i in range(4)),
            ]
            for obj in fixtures:
                accepted, err = e.apply(obj)
                assert accepted, err
            _ready(kubectl, ns, "src", "dst", *(f"cmd-{i}" for i in range(4)))
            yield e
        finally:
            op.stop()
            print("---- fuzz operator log tail ----\n" + op.log_tail(3000))
            print(f"fuzz counts: {e.counts}")
    if shared_was_running:
        operator.start()


STEPS = [{"setWeight": 50}, {"pause": {}}]


def _model(version: str) -> Obj:
    return {"name": "fuzz", "version": version, "uri": f"s3://models/fuzz/{version}/"}


# ----- one batch: apply, settle, watch it idle, delete ------------------------------------


@dataclass
class Batch:
    env: Env
    kind: str  # md | mpromo
    prefix: str
    accepted: dict[str, Case] = field(default_factory=dict)
    refused: int = 0
    names: Iterator[int] = field(default_factory=itertools.count)
    log_from: int = 0

    def __post_init__(self) -> None:
        self.log_from = _log_size(self.env.op)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        """Deleted whatever happened, so a failure leaves nothing to the next test (and a
        cleanup that fails after a failure does not hide it)."""
        if kind is None:
            delete(self)
            return
        with contextlib.suppress(Exception):
            delete(self)

    def name(self, case: Case) -> Case:
        """The case with a name of its own, unless a mutation chose the name."""
        if any(m.path == ("metadata", "name") for m in case.mutations):
            return case
        obj = copy.deepcopy(case.obj)
        obj["metadata"]["name"] = f"{self.prefix}-{next(self.names):04d}"
        return Case(obj, case.mutations)

    def run(self, case: Case) -> None:
        case = self.name(case)
        self.env.alive()
        accepted, stderr = self.env.apply(case.obj)
        if accepted:
            self.accepted[case.name] = case
            return
        self.refused += 1
        problem = fuzzing.refusal_problem(case, stderr)
        assert problem is None, _report(case, f"refused, but {problem}:\n{stderr[:3000]}")


def _log_size(op: OperatorProcess) -> int:
    try:
        return op.log_file.stat().st_size
    except OSError:
        return 0


def _report(case: Case, what: str) -> str:
    manifest = json.dumps(case.obj)
    if len(manifest) > 4000:
        manifest = manifest[:4000] + f"... ({len(manifest)} chars)"
    return f"{case.name}: {what}\nmutations: {case.describe()}\nmanifest: {manifest}"


Judge = Callable[[Obj, Case], str | None]


def settled_deployment(obj: Obj, case: Case) -> str | None:
    """None once the operator has shown this generation as served or as a problem."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return f"status is of generation {status.get('observedGeneration')}"
    failed = condition(obj, "Reconciled")
    if failed is not None and failed.get("status") == "False":
        return f"reconcile failed: {failed.get('message')}"
    ready, degraded = condition(obj, "Ready"), condition(obj, "Degraded")
    if ready is not None and ready.get("status") == "True":
        return None
    if degraded is not None and degraded.get("status") == "True" and degraded.get("message"):
        return None
    return f"neither Ready nor Degraded: Ready={ready} Degraded={degraded}"


def served_as_written(env: Env, batch: Batch, items: dict[str, Obj]) -> None:
    """A Ready ModelDeployment's stable pods get the model version and the env values as
    written: nothing lost or changed on the way (an apply body the API server reads as
    YAML folds some characters and refuses others)."""
    deployments = env.items("deployment")
    wrong = []
    for name in batch.accepted:
        obj = items.get(name) or {}
        ready = condition(obj, "Ready")
        live = deployments.get(f"{name}-stable")
        if ready is None or ready.get("status") != "True" or live is None:
            continue
        spec = obj["spec"]
        container = live["spec"]["template"]["spec"]["containers"][0]
        # An empty value is no value to the API server (omitempty).
        env_values = {e["name"]: e.get("value") or "" for e in container.get("env") or []}
        wanted = {
            e["name"]: e["value"] or ""
            for e in spec["runtime"].get("env") or []
            if isinstance(e, dict) and "value" in e
        }
        wanted["MODELSHIP_MODEL_VERSION"] = spec["model"]["version"]
        changed = {k: v for k, v in wanted.items() if env_values.get(k) != v}
        if changed:
            wrong.append(f"{name}: {changed!r} became {[env_values.get(k) for k in changed]!r}")
    assert not wrong, "served otherwise than written:\n" + "\n".join(wrong)


def _git(case: Case) -> bool:
    spec = case.obj.get("spec")
    strategy = spec.get("strategy") if isinstance(spec, dict) else None
    return isinstance(strategy, dict) and "git" in strategy


def settled_promotion(obj: Obj, case: Case) -> str | None:
    """None once the operator has said where this generation stands. A Git repository
    that cannot be reached is transient trouble (retried with backoff), nothing else is."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return f"status is of generation {status.get('observedGeneration')}"
    failed = condition(obj, "Reconciled")
    if failed is not None and failed.get("status") == "False":
        message = str(failed.get("message"))
        if not (_git(case) and message.startswith(("TransientError", "GitError"))):
            return f"reconcile failed: {message}"
    succeeded = condition(obj, "Succeeded")
    if not status.get("message") or succeeded is None or not succeeded.get("message"):
        return f"no message: {status.get('message')!r}, Succeeded={succeeded}"
    return None


def settle(batch: Batch, judge: Judge, extra: Callable[[], dict[str, str]] | None = None) -> Obj:
    """Wait until every accepted object is settled; fail naming those that are not."""
    env = batch.env
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        env.alive()
        items = env.items(batch.kind)
        problems = {}
        for name, case in batch.accepted.items():
            obj = items.get(name)
            problem = "gone" if obj is None else judge(obj, case)
            if problem is not None:
                problems[name] = problem
        problems.update(extra() if extra is not None else {})
        if not problems:
            return items
        if time.monotonic() > deadline:
            text = [
                _report(batch.accepted[n], p) if n in batch.accepted else f"{n}: {p}"
                for n, p in sorted(problems.items())[:10]
            ]
            raise AssertionError(
                f"{len(problems)} of {len(batch.accepted)} accepted objects not settled after "
                f"{SETTLE_SECONDS:.0f}s:\n" + "\n\n".join(text)
            )
        time.sleep(1.0)  # polling interval of a bounded wait


def _versions(env: Env, kinds: tuple[str, ...]) -> dict[str, str]:
    return {
        f"{kind}/{name}": str(obj["metadata"]["resourceVersion"])
        for kind in kinds
        for name, obj in env.items(kind).items()
    }


def _period(obj: Obj) -> float:
    """How often an object's own timers may reconcile it: LEGIT_PERIOD, or its drift
    interval when shorter (1s is allowed: every such window is a legitimate reconcile)."""
    spec = obj.get("spec") or {}
    drift = spec.get("drift") if isinstance(spec, dict) else None
    try:
        interval = parse_duration(drift["interval"]) if isinstance(drift, dict) else None
    except (KeyError, TypeError, ValueError):
        interval = None
    return min(LEGIT_PERIOD, interval) if interval else LEGIT_PERIOD


def quiet_window(batch: Batch, objects: list[Obj]) -> dict[str, float]:
    """Reconciles and CPU over a window in which nothing changes: each object is owed
    one reconcile per period of its timers, plus one; the CPU is a small share of a core,
    or what those reconciles cost at most. On a breach, the objects written meanwhile
    say which ones loop."""
    env = batch.env
    kinds = ("md", "mpromo")
    versions = _versions(env, kinds)
    before, cpu0, t0 = env.metrics(), env.cpu_seconds(), time.monotonic()
    time.sleep(QUIET_SECONDS)  # the measurement window itself, not a wait for a condition
    after, cpu1, elapsed = env.metrics(), env.cpu_seconds(), time.monotonic() - t0
    env.alive()
    reconciles = sum(after.values()) - sum(before.values())
    allowed = sum(elapsed / _period(obj) + 1 for obj in objects)
    cpu = (cpu1 - cpu0) / elapsed
    figures = {"reconciles": reconciles, "allowed": round(allowed), "cpu": round(cpu, 3)}
    spinning = cpu > CPU_SHARE and cpu1 - cpu0 > reconciles * CPU_PER_RECONCILE
    if reconciles > allowed or spinning:
        now = _versions(env, kinds)
        written = sorted(k for k, v in now.items() if versions.get(k) != v)
        cases = {
            n: c.describe() for n, c in batch.accepted.items() if f"{batch.kind}/{n}" in written
        }
        raise AssertionError(
            f"a hot loop: reconciles and CPU while idle {figures}; written meanwhile: "
            f"{written[:20]}; their mutations: {cases}"
        )
    return figures


def check_log(batch: Batch, allowed_failures: set[str]) -> None:
    """No traceback, no status refused by the schema, no failed reconcile of a fuzzed
    object (but for ``allowed_failures``, names with transient trouble)."""
    with open(batch.env.op.log_file, errors="replace") as log:
        log.seek(batch.log_from)
        text = log.read()
    bad = [line for line in text.splitlines() if BAD_LOG.search(line)]
    for line in text.splitlines():
        found = re.search(r"reconcile of \('[^']*', '([^']*)'\) failed", line)
        if found and found.group(1) not in allowed_failures:
            bad.append(line)
    assert not bad, "operator log:\n" + "\n".join(b[:500] for b in bad[:20])


def delete(batch: Batch) -> None:
    """Delete the batch and wait for its pods to go, so the next window counts only its own."""
    env = batch.env
    names = sorted(batch.accepted)
    for chunk in range(0, len(names), 100):
        env.kubectl.run(
            "delete",
            batch.kind,
            "-n",
            env.ns,
            "--wait=true",
            "--timeout=120s",
            "--ignore-not-found",
            *names[chunk : chunk + 100],
        )
    deadline = time.monotonic() + 120
    while True:
        live = set(env.items("md"))
        pods = env.kubectl.json("get", "pods", "-n", env.ns)["items"]
        owners = {
            (p["metadata"].get("labels") or {}).get("modelship.io/model-deployment") for p in pods
        }
        orphans = owners - live - {None}
        if not orphans:
            return
        assert time.monotonic() < deadline, f"pods of deleted objects still there: {orphans}"
        time.sleep(1.0)  # polling interval of a bounded wait


def summary(
    batch: Batch, items: dict[str, Obj], figures: dict[str, float], total: int | None = None
) -> str:
    reasons: dict[str, int] = {}
    for name in batch.accepted:
        obj = items.get(name) or {}
        degraded = condition(obj, "Degraded")
        key = (
            f"Degraded/{degraded.get('reason')}"
            if degraded is not None and degraded.get("status") == "True"
            else str((obj.get("status") or {}).get("phase"))
        )
        reasons[key] = reasons.get(key, 0) + 1
    for name in sorted(batch.accepted):
        obj = items.get(name) or {}
        for type_ in ("Degraded", "Succeeded"):
            cond = condition(obj, type_)
            if cond is not None and cond.get("reason") == "InvalidSpec":
                print(f"  {name} InvalidSpec: {str(cond.get('message'))[:300]}")
                print(f"    mutations: {batch.accepted[name].describe()[:300]}")
    total = batch.refused + len(batch.accepted) if total is None else total
    batch.env.counts[batch.prefix] = total
    return (
        f"{batch.prefix}: {total} applied, {batch.refused} refused naming the field, "
        f"{len(batch.accepted)} accepted {dict(sorted(reasons.items()))}; idle {figures}"
    )


# ----- the tests --------------------------------------------------------------------------


# Cases the fuzzer found, kept as regressions (docs/reliability.md lists them).
REFERENCE = {"configMapRef": {"name": "reference", "key": "reference.json"}}
ZERO_DRIFT_INTERVAL = Case(
    model_deployment("x", drift={"reference": REFERENCE, "interval": "0s"}),
    (Mutation(("spec", "drift", "interval"), "duration", "0s"),),
)  # was accepted, then reconciled at once, every time: a hot loop (now refused)
ZERO_ANALYSIS_INTERVAL = Case(
    model_deployment("x", analysis={"provider": {"scrape": {}}, "interval": "0s"}),
    (Mutation(("spec", "analysis", "interval"), "duration", "0s"),),
)  # the same loop on every canary round
ZERO_DEADLINE = Case(
    model_deployment("x", rollout={"progressDeadline": "0s"}),
    (Mutation(("spec", "rollout", "progressDeadline"), "duration", "0s"),),
)  # was accepted, then every apply of its Deployment refused (progressDeadlineSeconds 0)
HUGE_DEADLINE = Case(
    model_deployment("x", rollout={"progressDeadline": "9999999h"}),
    (Mutation(("spec", "rollout", "progressDeadline"), "duration", "9999999h"),),
)  # the same: more seconds than an int32 holds
TEXT_POD_SPEC = Case(
    model_deployment(
        "x",
        drift={"reference": REFERENCE},
        retraining={"jobTemplate": {"spec": {"template": {"spec": "text"}}}},
    ),
    (Mutation(("spec", "retraining", "jobTemplate", "spec", "template", "spec"), "type", "text"),),
)  # accepted; the Job renderer would have raised at the first retraining
NON_ASCII_ENV_NAME = Case(
    model_deployment(
        "x", runtime={"image": "runtime", "env": [{"name": "\u0661\U0001f64fm", "value": "1"}]}
    ),
    (Mutation(("spec", "runtime", "env", 0, "name"), "string", "\u0661\U0001f64fm"),),
)  # accepted, then its Deployment refused (not a variable name the API server takes)
CONTROL_CHARACTERS = Case(
    model_deployment(
        "x",
        model={"name": "m", "version": "1.0\x7f\x9b", "uri": "s3://models/m/1/"},
        runtime={"image": "runtime", "env": [{"name": "NOTE", "value": "a\x85b\u2028c"}]},
    ),
    (),
)  # valid, but every apply of its Deployment was refused (control characters), or
# its NEL folded to a space


def test_fuzzed_model_deployments(env: Env) -> None:
    with Batch(env, "md", "fz-md") as batch:

        @fuzz_settings(share(0.5))
        @given(case=fuzzing.mutated(fuzzing.model_deployment("x")))
        @example(case=ZERO_DRIFT_INTERVAL)
        @example(case=ZERO_ANALYSIS_INTERVAL)
        @example(case=CONTROL_CHARACTERS)
        @example(case=ZERO_DEADLINE)
        @example(case=HUGE_DEADLINE)
        @example(case=TEXT_POD_SPEC)
        @example(case=NON_ASCII_ENV_NAME)
        def apply_one(case: Case) -> None:
            batch.run(case)

        apply_one()
        items = settle(batch, settled_deployment)
        served_as_written(env, batch, items)
        figures = quiet_window(batch, list(items.values()))
        check_log(batch, set())
        print(summary(batch, items, figures))


def _text_evaluation_pod_spec(ns: str) -> Case:
    """Accepted, then the evaluation Job's renderer raised in every reconcile: no status
    at all (found by fuzzing; now refused naming the field)."""
    obj: Obj = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelPromotion",
        "metadata": {"name": "x"},
        "spec": {
            "from": {"name": "src", "namespace": ns},
            "to": {"name": "dst"},
            "gates": {"evaluationJob": {"spec": {"template": {"spec": "text"}}}},
        },
    }
    path = ("spec", "gates", "evaluationJob", "spec", "template", "spec")
    return Case(obj, (Mutation(path, "type", "text"),))


def test_fuzzed_model_promotions(env: Env) -> None:
    with Batch(env, "mpromo", "fz-mp") as batch:

        @fuzz_settings(share(0.25))
        @given(case=fuzzing.mutated(fuzzing.model_promotion("x", env.ns)))
        @example(case=_text_evaluation_pod_spec(env.ns))
        def apply_one(case: Case) -> None:
            batch.run(case)

        apply_one()
        items = settle(batch, settled_promotion)
        figures = quiet_window(batch, [*items.values(), *env.items("md").values()])
        check_log(batch, {n for n, c in batch.accepted.items() if _git(c)})
        print(summary(batch, items, figures))


# Keys people may write besides the commands: a typo, one of ours the operator does not
# know, and keys the API server refuses (upper case prefix, a name part over 63).
ODD_KEYS = (
    "modelship.io/Promote",
    "modelship.io/unknown-command",
    "promote",
    "Modelship.io/promote",
    "modelship.io/" + "p" * 64,
    "modelship.io/",
    "modelship.io/promoted-by",
    "modelship.io/promoted-version",
)
FIELDS = {
    "modelship.io/promote": "promote",
    "modelship.io/promote-full": "promoteFull",
    "modelship.io/abort": "abort",
    "modelship.io/retry": "retry",
    "modelship.io/undo": "undo",
}


@dataclass(frozen=True)
class Write:
    """One annotation write: ``value`` None removes the key."""

    target: str  # md/NAME or mpromo/NAME
    key: str
    value: str | None


def _approval_key(user: str, run: int, reject: bool) -> str:
    prefix = "reject.modelship.io/" if reject else "approve.modelship.io/"
    return f"{prefix}run-{run}.{hashlib.sha256(user.encode()).hexdigest()[:16]}"


def writes(user: str) -> st.SearchStrategy[list[Write]]:
    """One to three annotation writes: commands on the canaries (and odd keys), votes on
    the approval promotion (as this user, as another, with a message, garbled)."""

    def draw(rnd: random.Random) -> list[Write]:
        out = []
        for _ in range(rnd.randint(1, 3)):
            if rnd.random() < 0.7:
                key = rnd.choice(fuzzing.COMMAND_KEYS if rnd.random() < 0.8 else ODD_KEYS)
                value = None if rnd.random() < 0.1 else fuzzing.command_value(rnd)
                out.append(Write(f"md/cmd-{rnd.randrange(4)}", key, value))
                continue
            who = user if rnd.random() < 0.8 else "someone-else"
            key = _approval_key(who, rnd.randint(1, 2), reject=rnd.random() < 0.3)
            vote = rnd.choice(
                [user, f"{user}\n{fuzzing.random_text(rnd, 200)}", "someone-else", "", f" {user}"]
            )
            out.append(Write("mpromo/cmd-approval", key, vote))
        return out

    return st.randoms(use_true_random=True).map(draw)


def annotate(env: Env, w: Write) -> tuple[bool, str]:
    kind, name = w.target.split("/")
    if w.value is None:
        done = env.kubectl.run("annotate", kind, name, "-n", env.ns, f"{w.key}-", check=False)
    elif len(w.value) < 60_000:
        done = env.kubectl.run(
            "annotate", "--overwrite", kind, name, "-n", env.ns, f"{w.key}={w.value}", check=False
        )
    else:  # too long for one argument: the same merge patch kubectl annotate sends
        with tempfile.NamedTemporaryFile("w", suffix=".json") as patch:
            json.dump({"metadata": {"annotations": {w.key: w.value}}}, patch)
            patch.flush()
            done = env.kubectl.run(
                "patch",
                kind,
                name,
                "-n",
                env.ns,
                "--type=merge",
                "--patch-file",
                patch.name,
                check=False,
            )
    return done.returncode == 0, done.stderr


# An undo of more digits than int() converts, or of a superscript (a digit to
# str.isdigit(), not to int()): every reconcile raised, retried for ever (found by fuzzing).
HUGE_UNDO = [
    Write("md/cmd-1", "modelship.io/undo", "1" * 5000),
    Write("md/cmd-3", "modelship.io/undo", "3" * 4301 + "@x"),
    Write("md/cmd-2", "modelship.io/undo", "\u00b2"),
]


def _paused(env: Env, name: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        canary = (env.items("md")[name].get("status") or {}).get("canary") or {}
        if canary.get("phase") == "Paused":
            return
        assert time.monotonic() < deadline, f"{name}: canary not paused: {canary}"
        time.sleep(0.5)  # polling interval of a bounded wait


def _vote_refused(w: Write, stderr: str) -> bool:
    """The approval policy's refusals name the annotation by its prefix."""
    return w.key.startswith(("approve.", "reject.")) and (
        "approve.modelship.io/ or reject.modelship.io/ annotation" in stderr
        or "approval or rejection cannot be edited" in stderr
    )


def test_fuzzed_commands(env: Env) -> None:
    for name in ("cmd-0", "cmd-1", "cmd-2"):  # canaries paused at their pause step
        env.kubectl.run(
            "patch",
            "md",
            name,
            "-n",
            env.ns,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"model": {"version": "2.0.0"}}}),
        )
    approval = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelPromotion",
        "metadata": {"name": "cmd-approval"},
        "spec": {
            "from": {"name": "src"},
            "to": {"name": "dst"},
            "mode": "Continuous",
            "gates": {"approval": {"required": True}},
        },
    }
    accepted, err = env.apply(approval)
    assert accepted, err
    for name in ("cmd-0", "cmd-1", "cmd-2"):
        _paused(env, name)
    batch = Batch(env, "md", "fz-cmd")
    for i in range(4):
        batch.accepted[f"cmd-{i}"] = Case(model_deployment(f"cmd-{i}"), ())
    writes_done = 0

    @fuzz_settings(share(0.25))
    @given(batch_writes=writes(env.user))
    @example(batch_writes=HUGE_UNDO)
    def write_some(batch_writes: list[Write]) -> None:
        nonlocal writes_done
        for w in batch_writes:
            env.alive()
            accepted, stderr = annotate(env, w)
            writes_done += 1
            if accepted:
                continue
            batch.refused += 1
            case = Case(
                {"metadata": {"name": w.target}},
                (Mutation(("metadata", "annotations", w.key), "annotation", w.value),),
            )
            if _vote_refused(w, stderr):
                continue
            problem = fuzzing.refusal_problem(case, stderr)
            assert problem is None, f"{w.target} {w.key}: refused, but {problem}:\n{stderr[:2000]}"

    write_some()

    def acknowledged() -> dict[str, str]:
        """Each command annotation is acted on once: status.commands holds its value."""
        out = {}
        for name, obj in env.items("md").items():
            if not name.startswith("cmd-"):
                continue
            notes = obj["metadata"].get("annotations") or {}
            handled = (obj.get("status") or {}).get("commands") or {}
            for key, field_ in FIELDS.items():
                if key in notes and handled.get(field_) != notes[key]:
                    out[name] = f"{key} not acknowledged (status.commands.{field_} differs)"
        promotion = env.items("mpromo").get("cmd-approval")
        problem = settled_promotion(promotion, Case(approval, ())) if promotion else "gone"
        if problem is not None:
            out["cmd-approval"] = problem
        return out

    try:
        items = settle(batch, settled_deployment, acknowledged)
        figures = quiet_window(batch, [*items.values(), *env.items("mpromo").values()])
        check_log(batch, set())
        print(summary(batch, items, figures, writes_done))
    finally:
        env.kubectl.run("delete", "mpromo", "cmd-approval", "-n", env.ns, check=False)
