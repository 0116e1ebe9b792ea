"""Strategies and oracles for fuzzing the API through the real API server (test_fuzz.py).

Generated manifests are mostly near-valid: a valid ModelDeployment or ModelPromotion (every
section drawn, each with plausible values) with zero to three mutations, each at a node of
the object drawn at random: a wrong JSON type, an out-of-range number, an empty, huge or
odd string, a bad duration, an unknown enum value, a missing field, an unknown field, a
null, a duplicated list entry or a list far past its bound. Each mutation remembers its
path, so a refusal can be checked to name the field it is about.

No clock, no cluster here: this module only draws and judges text.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from modelship.api.deployment import OPERATOR_ENV
from modelship.drift.methods import NAMES as DRIFT_METHODS

Obj = dict[str, Any]
Path = tuple[str | int, ...]

# ----- values -----------------------------------------------------------------------------

VALID_DURATIONS = ("0s", "1ms", "250ms", "1s", "30s", "5m", "1h30m", "2h", "1h0m0s", "72h")
# An analysis round's or a drift window's pace, a progress deadline: at least 1s
# (api/types.py: Interval, Deadline).
VALID_INTERVALS = ("1s", "3s", "30s", "5m", "1h30m")
# Bad for every duration, or (the first three) for an interval or a deadline.
BAD_DURATIONS = (
    "0s",
    "999ms",
    "1ns",
    "",
    "10",
    "0",
    "1d",
    "-5s",
    "+5s",
    "5 m",
    "1h 30m",
    "1h-30m",
    "1.s",
    ".5s",
    "1e3s",
    "5M",
    "PT5M",
    "s",
    "1hh",
    "9999999h",
    "2562048h",
    "99999999999999999999h",
    "9" * 31 + "h",
)
ODD_STRINGS = (
    "",
    " ",
    "-",
    "a\nb",
    "\t",
    "null",
    "true",
    "0",
    "../..",
    "$(id)",
    "\u00e9t\u00e9",
    "\u7248\u672c-1",
    "\U0001f600",
    "\u0661",
    "\u00b2",
    "x" * 64,
    "x" * 254,
    "x" * 1025,
    "x" * 4097,
    "x" * 40000,
)
OUT_OF_RANGE = (-1, -100, 1001, 100_001, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 10**30, 1.5, -0.5)
ODD_FLOATS = (-0.5, -1e-9, 0.0, 1.0, 1.0000001, 1.5, 1e300, -1e300, 100)
UNKNOWN_ENUMS = ("", "lots", "Surge", "SWAP", "auto ", "none", "jensen-shannon", "Once!", "x" * 300)
# Text without surrogates (not UTF-8) or NUL (no Kubernetes string holds one).
CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
TEXT = st.text(CHARACTERS, max_size=300)
SHORT_TEXT = st.text(CHARACTERS, max_size=30)

DNS_LABEL = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
DURATION_KEYS = frozenset(
    {
        "interval",
        "window",
        "cooldown",
        "progressDeadline",
        "scaleDownDelay",
        "duration",
        "soakTime",
        "checkWindow",
        "timeout",
        "syncTimeout",
    }
)
ENUM_KEYS = frozenset({"capacity", "preset", "method", "mode", "metric"})

H100 = "NVIDIA-H100-80GB-HBM3"


@st.composite
def some(
    draw: st.DrawFn,
    required: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]] | None = None,
) -> Obj:
    """Like st.fixed_dictionaries, with each optional key there half the time (hypothesis
    leaves most of them out, and the sections the fuzzer should reach with them)."""
    out = {key: draw(value) for key, value in required.items()}
    for key, value in (optional or {}).items():
        if draw(st.booleans()):
            out[key] = draw(value)
    return out


def durations() -> st.SearchStrategy[str]:
    return st.sampled_from(VALID_DURATIONS)


# ----- valid ModelDeployments -------------------------------------------------------------


def _env() -> st.SearchStrategy[list[Obj]]:
    name = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).filter(
        lambda n: n not in OPERATOR_ENV
    )
    source = st.one_of(
        some({"configMapKeyRef": st.just({"name": "cm", "key": "k"})}),
        some({"secretKeyRef": st.just({"name": "s", "key": "k", "optional": True})}),
        some({"fieldRef": st.just({"fieldPath": "metadata.name"})}),
        some({"resourceFieldRef": st.just({"resource": "limits.memory"})}),
    )
    item = st.one_of(
        some({"name": name, "value": SHORT_TEXT}),
        some({"name": name, "valueFrom": source}),
    )
    return st.lists(item, max_size=3, unique_by=lambda e: e["name"])


def _runtime() -> st.SearchStrategy[Obj]:
    gpu = some(
        {"count": st.integers(0, 1)},
        optional={
            "resourceName": st.sampled_from(["nvidia.com/gpu", "nvidia.com/mig-1g.10gb"]),
            "product": st.just(H100),
        },
    )
    resources = some(
        {},
        optional={
            "requests": some(
                {}, optional={"cpu": st.sampled_from(["100m", 1, "0.5"]), "memory": st.just("64Mi")}
            ),
            "limits": some({}, optional={"memory": st.just("1Gi")}),
        },
    )
    return some(
        {"image": st.sampled_from(["registry.example.com/modelship-runtime:0.1", "runtime"])},
        optional={
            "command": st.lists(st.sampled_from(["python", "-m", "serve"]), max_size=3),
            "args": st.lists(SHORT_TEXT, max_size=3),
            "env": _env(),
            "port": st.integers(1, 65535),
            "metrics": some(
                {},
                optional={
                    "port": st.integers(1, 65535),
                    "path": st.sampled_from(["/metrics", "/m"]),
                },
            ),
            "resources": resources,
            "gpu": st.one_of(st.just({"count": 0}), gpu),
        },
    )


def _steps() -> st.SearchStrategy[list[Obj]]:
    step: st.SearchStrategy[Obj] = st.one_of(
        some({"setWeight": st.integers(0, 100)}),
        st.just({"pause": {}}),
        some({"pause": some({"duration": durations()})}),
    )
    return st.lists(step, max_size=4)


def _rollout() -> st.SearchStrategy[Obj]:
    gateway = some(
        {"parentRefs": st.just([{"name": "gw", "namespace": "gateway-system"}])},
        optional={"hostnames": st.just(["m.example.com"])},
    )
    return some(
        {},
        optional={
            "steps": _steps(),
            "trafficRouting": some({}, optional={"gatewayAPI": gateway}),
            "progressDeadline": st.sampled_from(VALID_INTERVALS),
            "scaleDownDelay": durations(),
            "capacity": st.sampled_from(["surge", "swap", "auto"]),
        },
    )


def _checks(prometheus: bool, single_track: bool = False) -> st.SearchStrategy[list[Obj]]:
    latency = some(
        {"quantile": st.sampled_from([0.5, 0.9, 0.99]), "max": st.sampled_from(["250ms", "1s"])},
        optional={} if single_track else {"maxIncrease": st.integers(0, 100)},
    )
    kinds = [
        some({"latency": latency}),
        some({"errorRate": some({"max": st.just(0.01)})}),
    ]
    if not single_track:
        kinds += [
            st.just({"compare": {"metric": "latency", "confidence": 0.98}}),
            st.just({"drift": {"threshold": 0.1}}),
        ]
    if prometheus:
        kinds.append(st.just({"query": {"promql": "vector(1)", "max": 10}}))
    check = st.tuples(DNS_LABEL, st.one_of(*kinds)).map(lambda t: {"name": t[0], **t[1]})
    return st.lists(check, max_size=3, unique_by=lambda c: c["name"])


@st.composite
def _analysis(draw: st.DrawFn) -> Obj:
    prometheus = draw(st.booleans())
    provider = {"prometheus": {"address": "http://127.0.0.1:9"}} if prometheus else {"scrape": {}}
    out: Obj = {"provider": provider}
    out.update(
        draw(
            some(
                {},
                optional={
                    "interval": st.sampled_from(VALID_INTERVALS),
                    "preset": st.sampled_from(["modelship", "vllm"]),
                    "failureLimit": st.integers(0, 3),
                    "inconclusiveLimit": st.integers(0, 3),
                    "checks": _checks(prometheus),
                },
            )
        )
    )
    return out


def _drift() -> st.SearchStrategy[Obj]:
    return some(
        {"reference": st.just({"configMapRef": {"name": "reference", "key": "reference.json"}})},
        optional={
            "method": st.sampled_from(sorted(DRIFT_METHODS)),
            "threshold": st.sampled_from([0, 0.1, 0.25]),
            "window": durations(),
            "interval": st.sampled_from(VALID_INTERVALS),
        },
    )


JOB_TEMPLATE: Obj = {
    "spec": {
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "train", "image": "registry.example.com/train:1"}],
            }
        }
    }
}


def _retraining() -> st.SearchStrategy[Obj]:
    return some(
        {"jobTemplate": st.just(JOB_TEMPLATE)},
        optional={
            "trigger": some({"driftWindows": st.integers(1, 3)}),
            "cooldown": durations(),
            "autoDeploy": st.booleans(),
        },
    )


def _autoscaling() -> st.SearchStrategy[Obj]:
    metric = st.sampled_from(
        [
            {"cpu": {"averageUtilization": 50}},
            {"memory": {"averageUtilization": 80}},
            {"inFlightRequests": {"averageValue": 4}},
            {"pods": {"name": "gpu_util", "averageValue": "500m"}},
        ]
    )
    return some(
        {
            "maxReplicas": st.integers(1, 3),
            "metrics": st.lists(metric, min_size=1, max_size=2),
        },
        optional={"minReplicas": st.just(1), "scaleDownStabilization": st.integers(0, 600)},
    )


COMMAND_KEYS = (
    "modelship.io/promote",
    "modelship.io/promote-full",
    "modelship.io/abort",
    "modelship.io/retry",
    "modelship.io/undo",
    "modelship.io/paused",
)


ODD_COMMANDS = ("true", "false", "True", "TRUE", "yes", "", "0", "-1", "0@x", "1@", "@1", "1@@2")
# Digits str.isdigit() takes and int() does not (superscripts), or does (Arabic-Indic);
# more digits than int() converts (4,300); more than any revision number.
ODD_NUMBERS = ("\u00b2", "\u00b2@1", "\u0661", "\u0661@1", "1" * 5000, "9" * 30, "3" * 4301 + "@x")


def command_value(rnd: random.Random) -> str:
    """What people (and scripts) put in a command annotation: timestamps, revision numbers
    with and without a nonce, booleans, and whatever else."""
    kind = rnd.randrange(6)
    if kind == 0:
        return str(rnd.randint(0, 2**40))
    if kind == 1:
        return f"{rnd.randint(0, 5)}@{rnd.randint(0, 2**31)}"
    if kind == 2:
        return rnd.choice(ODD_COMMANDS)
    if kind == 3:
        return rnd.choice(ODD_NUMBERS)
    if kind == 4:
        return random_text(rnd, 300)
    return rnd.choice(ODD_STRINGS)


def command_values() -> st.SearchStrategy[str]:
    return st.randoms(use_true_random=True).map(command_value)


@st.composite
def model_deployment_spec(draw: st.DrawFn) -> Obj:
    spec: Obj = {
        "model": draw(
            some(
                {
                    "name": DNS_LABEL,
                    "version": st.one_of(
                        st.sampled_from(["1.0.0", "2.0.0-rc.1", "\u7248\u672c-1"]),
                        st.text(CHARACTERS, min_size=1, max_size=63),
                    ),
                    "uri": st.sampled_from(
                        ["s3://models/m/1/", "gs://b/m", "hf://acme/m", "file:///models/m.json"]
                    ),
                },
                optional={
                    "digest": st.just("sha256:" + "ab" * 32),
                    "format": st.sampled_from(["sklearn", "onnx"]),
                },
            )
        ),
        "runtime": draw(_runtime()),
        "replicas": draw(st.integers(0, 2)),
    }
    optional = draw(
        some(
            {},
            optional={
                "rollout": _rollout(),
                "analysis": _analysis(),
                "drift": _drift(),
                "retraining": _retraining(),
                "autoscaling": _autoscaling(),
                "revisionHistoryLimit": st.integers(0, 20),
            },
        )
    )
    spec.update(optional)
    # A drift check needs spec.drift to be useful, not to be valid: kept either way.
    return spec


@st.composite
def model_deployment(draw: st.DrawFn, name: str) -> Obj:
    meta: Obj = {"name": name, "labels": {"fuzz": "yes"}}
    notes = draw(st.dictionaries(st.sampled_from(COMMAND_KEYS), command_values(), max_size=2))
    if notes:
        meta["annotations"] = notes
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": meta,
        "spec": draw(model_deployment_spec()),
    }


# ----- valid ModelPromotions --------------------------------------------------------------


@st.composite
def model_promotion(draw: st.DrawFn, name: str, namespace: str) -> Obj:
    source: Obj = {"name": draw(st.sampled_from(["src", "src", "gone", "dst-missing"]))}
    where = draw(st.sampled_from([None, namespace, "no-such-namespace"]))
    if where is not None:
        source["namespace"] = where
    spec: Obj = {"from": source, "to": {"name": draw(st.sampled_from(["dst", "dst", "absent"]))}}
    mode = draw(st.sampled_from(["Once", "Continuous", None]))
    if mode is not None:
        spec["mode"] = mode
    if mode != "Continuous" and draw(st.booleans()):
        spec["version"] = draw(st.sampled_from(["2.0.0", "1.0.0", "9.9.9"]))
    gates: Obj = {}
    timeout = draw(st.sampled_from([None, "72h", "1m", "10s"]))
    if timeout is not None:
        gates["timeout"] = timeout
    if draw(st.booleans()):
        gates["soakTime"] = draw(st.sampled_from(["0s", "1s", "5s"]))
    if draw(st.booleans()):
        gates["checks"] = draw(_checks(prometheus=draw(st.booleans()), single_track=True))
    if draw(st.booleans()):
        gates["checkWindow"] = draw(durations())
    if draw(st.booleans()):
        gates["maxDrift"] = draw(st.sampled_from([0, 0.1, 5]))
    if draw(st.booleans()):
        gates["evaluationJob"] = copy.deepcopy(JOB_TEMPLATE)
        if draw(st.booleans()):
            gates["evaluationThresholds"] = [{"name": "accuracy", "min": 0.9}]
    if draw(st.booleans()):
        choices: dict[str, st.SearchStrategy[Any]] = {
            "required": st.booleans(),
            "minApprovers": st.integers(1, 2),
        }
        approval = some({}, optional=choices)
        gates["approval"] = draw(approval)
    empty_gates: bool = draw(st.booleans())
    if gates or empty_gates:
        spec["gates"] = gates
    strategy: Obj | None = draw(
        st.sampled_from(
            [
                None,
                {"direct": {}},
                {"direct": {"allowArgoCDManaged": True}},
                {"git": {"repoURL": "file:///nonexistent/repo.git", "path": "prod/md.yaml"}},
            ]
        )
    )
    if strategy is not None:
        spec["strategy"] = copy.deepcopy(strategy)
    if draw(st.booleans()):
        spec["historyLimit"] = draw(st.integers(1, 5))
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelPromotion",
        "metadata": {"name": name, "labels": {"fuzz": "yes"}},
        "spec": spec,
    }


# ----- mutations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    path: Path
    kind: str
    value: Any = None

    @property
    def where(self) -> str:
        return path_text(self.path)

    def __str__(self) -> str:
        shown = repr(self.value)
        shown = shown if len(shown) <= 60 else f"{shown[:40]}... ({len(shown)} chars)"
        return f"{self.kind} at {self.where}" + ("" if self.value is None else f" = {shown}")


@dataclass(frozen=True)
class Case:
    obj: Obj
    mutations: tuple[Mutation, ...]

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name"))

    def describe(self) -> str:
        return "; ".join(str(m) for m in self.mutations) or "no mutation (valid)"


def path_text(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def nodes(obj: Any, path: Path = ()) -> Iterator[Path]:
    """Every path under ``obj`` (dict keys, list indices), depth first."""
    if isinstance(obj, dict):
        for key in obj:
            yield (*path, key)
            yield from nodes(obj[key], (*path, key))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield (*path, i)
            yield from nodes(item, (*path, i))


def mutable_paths(obj: Obj) -> list[Path]:
    """Where mutations go: spec and everything under it, and metadata's name and labels."""
    paths: list[Path] = [("spec",)]
    paths += [("spec", *p) for p in nodes(obj.get("spec"))]
    meta = obj.get("metadata") or {}
    paths += [("metadata", key) for key in ("name", "labels") if key in meta]
    return paths


def get(obj: Any, path: Path) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def _parent_key(path: Path) -> str:
    keys = [p for p in path if isinstance(p, str)]
    return keys[-2] if len(keys) > 1 else ""


def _key(path: Path) -> str:
    keys = [p for p in path if isinstance(p, str)]
    return keys[-1] if keys and isinstance(path[-1], str) else ""


def _other_type(rnd: random.Random, value: Any) -> Any:
    samples: list[Any] = ["text", 7, True, 1.5, [], {}, ["x"], {"a": 1}]
    return copy.deepcopy(rnd.choice([s for s in samples if type(s) is not type(value)]))


def _renamed(item: Any, i: int) -> Any:
    item = copy.deepcopy(item)
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        item["name"] = f"{item['name'][:40]}x{i}"
    return item


# Code points a random string is made of: ASCII, Latin-1, CJK, emoji, combining marks,
# right-to-left, and the odd digits (superscripts, Arabic-Indic) str.isdigit accepts.
_RANGES = (
    (0x20, 0x7E),
    (0xA0, 0xFF),
    (0x4E00, 0x4E80),
    (0x1F600, 0x1F64F),
    (0x300, 0x36F),
    (0x5D0, 0x5EA),
    (0x660, 0x669),
    (0xB2, 0xB3),
    (0x1, 0x1F),
)


def random_text(rnd: random.Random, most: int = 80) -> str:
    return "".join(chr(rnd.randint(*rnd.choice(_RANGES))) for _ in range(rnd.randint(0, most)))


def _integer(rnd: random.Random) -> int:
    bits = rnd.choice([4, 16, 32, 64, 70])
    return rnd.randint(-(2**bits), 2**bits)


def _label(rnd: random.Random, path: Path) -> Mutation:
    """metadata is Kubernetes' own (kubectl decodes it before sending: a wrong type there
    never reaches the API server): odd label values and keys, as strings."""
    if rnd.random() < 0.5:
        return Mutation((*path, "fuzz"), "string", rnd.choice(ODD_STRINGS))
    key = rnd.choice(["-bad", "a/b/c", "x" * 64, "Example.COM/x", "modelship.io/track"])
    return Mutation((*path, key), "unknown", rnd.choice(["canary", "", "x" * 64, "a b"]))


def mutation(rnd: random.Random, obj: Obj) -> Mutation:
    """One mutation at a path of ``obj`` drawn uniformly, of a kind that fits its value."""
    path = rnd.choice(mutable_paths(obj))
    if path == ("metadata", "labels"):
        return _label(rnd, path)
    value = get(obj, path)
    key = _key(path)
    options: list[Callable[[], Mutation]] = [
        lambda: Mutation(path, "delete"),
        lambda: Mutation(path, "null"),
        lambda: Mutation(path, "type", _other_type(rnd, value)),
    ]
    if isinstance(value, dict):
        options.append(
            lambda: Mutation((*path, rnd.choice(["bogus", "Replicas", "x-extra"])), "unknown", 1)
        )
        options.append(lambda: Mutation(path, "empty", {}))
    if isinstance(value, list):
        options.append(lambda: Mutation(path, "empty", []))
        if value:
            options.append(lambda: Mutation(path, "duplicate", copy.deepcopy(value[0])))
            options.append(
                lambda: Mutation(
                    path,
                    "long list",
                    [_renamed(value[0], i) for i in range(rnd.choice([17, 33, 65, 257, 1001]))],
                )
            )
    if isinstance(value, bool):
        options.append(lambda: Mutation(path, "type", rnd.choice(["true", "yes", 1, 0])))
    elif isinstance(value, int | float):
        options.append(lambda: Mutation(path, "range", rnd.choice(OUT_OF_RANGE)))
        options.append(lambda: Mutation(path, "range", rnd.choice(ODD_FLOATS)))
        options.append(lambda: Mutation(path, "range", _integer(rnd)))
    elif isinstance(value, str):
        options.append(lambda: Mutation(path, "string", rnd.choice(ODD_STRINGS)))
        options.append(lambda: Mutation(path, "string", random_text(rnd)))
        if key in DURATION_KEYS or (key == "max" and _parent_key(path) == "latency"):
            options += [lambda: Mutation(path, "duration", rnd.choice(BAD_DURATIONS))] * 3
        if key in ENUM_KEYS:
            options += [lambda: Mutation(path, "enum", rnd.choice(UNKNOWN_ENUMS))] * 3
        if path == ("metadata", "name"):
            # Valid other names update an object applied earlier; invalid ones are refused.
            names = ["fz-shared-0", "fz-shared-1", "1model", "Model", "a_b", "a.b", "a" * 53]
            options = [lambda: Mutation(path, "name", rnd.choice(names))]
    return rnd.choice(options)()


def apply_mutation(obj: Obj, m: Mutation) -> None:
    *head, last = m.path
    parent = get(obj, tuple(head))
    if m.kind == "delete":
        del parent[last]
    elif m.kind == "duplicate":
        get(obj, m.path).append(m.value)
    else:
        parent[last] = copy.deepcopy(m.value)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Obj], most: int = 3) -> Case:
    """A valid object from ``base`` with up to ``most`` mutations."""
    # The mutations come from a seeded Random drawn first: after a big object, hypothesis
    # often fills the remaining choices with the simplest values (no mutation, or the
    # first path and kind: deleting spec, over and over). About one in seven stays valid.
    rnd = draw(st.randoms(use_true_random=True))
    count = rnd.choice([0, 1, 1, 1, 2, 2, most])
    obj = copy.deepcopy(draw(base))  # st.just values are shared between examples
    done: list[Mutation] = []
    for _ in range(count):
        if "spec" not in obj:
            break
        m = mutation(rnd, obj)
        apply_mutation(obj, m)
        done.append(m)
    return Case(obj, tuple(done))


# ----- oracles ----------------------------------------------------------------------------

# A path as the API server writes it: spec.runtime.env[0].name, spec.resources.requests[cpu].
_FIELD = re.compile(r"(?<!\w)((?:spec|metadata)(?:\.[A-Za-z0-9_-]+|\[[^\]\s]*\])*)")
# CRD rules that name another field than the one whose change broke them (x-kubernetes-
# validations with a fieldPath elsewhere): (changed, named).
CROSS_FIELD = (
    (("spec", "analysis"), ("spec", "autoscaling", "metrics")),
    (("spec", "autoscaling", "maxReplicas"), ("spec", "autoscaling", "minReplicas")),
    (("spec", "analysis", "provider"), ("spec", "analysis", "checks")),
    (("spec", "gates", "timeout"), ("spec", "gates", "soakTime")),
    (("spec", "gates", "evaluationJob"), ("spec", "gates", "evaluationThresholds")),
    (("spec", "from"), ("spec", "to")),
    (("spec", "to"), ("spec", "to")),
    (("spec", "mode"), ("spec", "version")),
    (("spec", "version"), ("spec", "version")),
)


def segments(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[^.\[\]]+", text))


def named_fields(message: str) -> list[str]:
    return _FIELD.findall(message)


def _prefix(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return b[: len(a)] == a


def related(mutation: Mutation, field: str) -> bool:
    """The refusal's ``field`` is the mutated one, inside it, around it, or the field a
    cross-field rule names."""
    changed = tuple(str(p) for p in mutation.path)
    named = segments(field)
    if len(named) < 2 and changed != ("spec",):
        return False  # "spec" alone names nothing
    if _prefix(changed, named) or _prefix(named, changed):
        return True
    return any(_prefix(c, changed) and _prefix(n, named) for c, n in CROSS_FIELD)


def refusal_problem(case: Case, stderr: str) -> str | None:
    """Why this refusal does not name a field the case changed (None: it does)."""
    if "Error from server" not in stderr and "is invalid" not in stderr:
        return "not refused by the API server"
    fields = named_fields(stderr)
    if not fields:
        return "the message names no field"
    if not case.mutations:
        return "a valid object was refused"
    if any(related(m, f) for m in case.mutations for f in fields):
        return None
    return f"the fields named ({', '.join(sorted(set(fields)))}) are not the ones changed"
