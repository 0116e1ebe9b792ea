"""Manual control from the command line: get, status, promote, abort, retry, undo, pause.

Every action is an annotation on the ModelDeployment (see decisions/commands.py),
so it never edits a field GitOps owns and works the same with `kubectl annotate`.
Before writing, each command checks that it makes sense now and says what is
wrong otherwise ("no canary to promote", "unknown revision 7").
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

from modelship.api import GROUP, KIND, VERSION, ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.status import CanaryStatus
from modelship.conditions import age
from modelship.decisions.commands import ANNOTATIONS, PAUSED, UNDO
from modelship.decisions.rollout import Command, step_text
from modelship.errors import CtlError
from modelship.kube import Kube
from modelship.render.labels import TRACK, selector

API_VERSION = f"{GROUP}/{VERSION}"
Obj = dict[str, Any]


def _status(obj: Obj) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate(obj.get("status") or {})


def table(objs: list[Obj], now: datetime) -> str:
    rows = [["NAMESPACE", "NAME", "MODEL", "STABLE", "CANARY", "READY", "PHASE", "AGE"]]
    for obj in objs:
        st = _status(obj)
        rows.append(
            [
                obj["metadata"]["namespace"],
                obj["metadata"]["name"],
                (obj.get("spec") or {}).get("model", {}).get("name", ""),
                st.stable_revision.model_version if st.stable_revision else "",
                st.canary_summary or "",
                st.ready_summary or "",
                st.phase or "",
                age(obj["metadata"].get("creationTimestamp"), now),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _steps_line(spec: ModelDeploymentSpec, step: int, active: bool) -> str:
    parts = []
    for i, s in enumerate(spec.rollout.steps or []):
        mark = "done" if i < step else "now" if i == step and active else "next"
        parts.append(f"[{mark}] {step_text(s)}")
    return "  ".join(parts) or "(none: promote when the canary is ready)"


def _drift_lines(st: ModelDeploymentStatus) -> list[str]:
    d = st.drift
    if d is None:
        return []
    return [
        f"Drift:       {d.verdict}  ({d.method}, window {d.window}, at {d.evaluated_at}; "
        f"{d.consecutive_drifted} drifted window(s) in a row)",
        f"  {d.message}",
    ]


def _retraining_lines(st: ModelDeploymentStatus) -> list[str]:
    r = st.retraining
    if r is None or r.count == 0:
        return []
    lines = [f"Retraining:  {r.count} Job(s) started"]
    if r.active is not None:
        lines.append(f"  running: {r.active.name} since {r.active.started_at}: {r.active.reason}")
    if r.last is not None:
        done = r.last
        model = f"; reported {done.model_version} at {done.model_uri}" if done.model_version else ""
        lines.append(
            f"  last: {done.name} {done.outcome} at {done.finished_at or '-'}: {done.reason}{model}"
        )
    if r.deployed is not None:
        lines.append(
            f"  serving {r.deployed.model_version} from {r.deployed.job} (autoDeploy) until "
            "the spec's own model changes"
        )
    return lines


def _actual(c: CanaryStatus) -> str:
    """The weight as observed (Argo Rollouts shows set vs actual the same way)."""
    if c.actual_weight is None:
        return "not observed yet"
    where = "share of available pods" if c.weight_approximate else "HTTPRoute"
    lag = "" if c.actual_weight == c.weight else "  (catching up with the set weight)"
    return f"stable {100 - c.actual_weight}%  canary {c.actual_weight}% ({where}){lag}"


def render_status(obj: Obj, pods: list[Obj], now: datetime) -> str:
    """The `modelship status` view, from the object and its runtime pods."""
    spec = ModelDeploymentSpec.model_validate(obj.get("spec") or {})
    st = _status(obj)
    ready = {"stable": [0, 0], "canary": [0, 0]}
    for pod in pods:
        track = (pod["metadata"].get("labels") or {}).get(TRACK, "stable")
        counts = ready.setdefault(track, [0, 0])
        counts[1] += 1
        conds = (pod.get("status") or {}).get("conditions") or []
        counts[0] += any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
    meta = obj["metadata"]
    lines = [
        f"Name:        {meta['name']} (namespace {meta['namespace']})",
        f"Phase:       {st.phase or 'Unknown'}",
    ]
    if st.stable_revision:
        r = st.stable_revision
        lines.append(
            f"Stable:      {r.model_version}  revision {r.name} #{r.number or '?'}  "
            f"pods {ready['stable'][0]}/{ready['stable'][1]} ready"
        )
    c = st.canary
    if c is not None:
        approx = " (approximate: replica ratio)" if c.weight_approximate else ""
        lines += [
            f"Canary:      {c.revision.model_version}  revision {c.revision.name} "
            f"#{c.revision.number or '?'}  pods {ready['canary'][0]}/{ready['canary'][1]} ready"
            f"  [{c.phase}]",
            f"Traffic:     set: stable {100 - c.weight}%  canary {c.weight}%{approx}",
            f"             actual: {_actual(c)}",
            f"Capacity:    {c.capacity}  (stable {c.stable_replicas} pods, canary "
            f"{c.canary_replicas} pods)",
            f"Step:        {_steps_line(spec, c.step, c.phase in ('Progressing', 'Paused'))}",
            f"Waiting for: {c.message}",
        ]
    else:
        lines.append("Canary:      none")
    lines.append("Conditions:")
    for cond in st.conditions:
        lines.append(f"  {cond.type}={cond.status}  {cond.reason}: {cond.message}")
    if st.analysis:
        a = st.analysis
        lines.append(
            f"Analysis:    revision {a.revision}, {a.rounds} round(s), {a.failures} failed, "
            f"last {a.verdict or '-'} at {a.last_round_at or '-'}"
        )
        for check in a.checks:
            lines.append(f"  {check.name}: {check.verdict}  {check.message}")
    lines += _drift_lines(st) + _retraining_lines(st)
    lines.append("History:")
    for h in st.history:
        lines.append(
            f"  #{h.number}  {h.model_version}  revision {h.revision}  {h.outcome}  "
            f"{h.deployed_at or ''}".rstrip()
        )
    return "\n".join(lines)


class Ctl:
    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    def _get(self, name: str) -> Obj:
        obj = self.kube.get(API_VERSION, KIND, self.namespace, name)
        if obj is None:
            raise CtlError(f"modeldeployment {name!r} not found in namespace {self.namespace!r}")
        return obj

    def get(self, all_namespaces: bool) -> str:
        objs = self.kube.list(API_VERSION, KIND, None if all_namespaces else self.namespace)
        if not objs:
            return "No ModelDeployments found."
        return table(
            sorted(objs, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"])),
            datetime.now(UTC),
        )

    def status(self, name: str) -> str:
        obj = self._get(name)
        pods = self.kube.list("v1", "Pod", self.namespace, selector(name))
        return render_status(obj, pods, datetime.now(UTC))

    def watch(self, name: str, interval: float, out: Any = sys.stdout) -> None:
        """Redraw the status every ``interval`` seconds until interrupted."""
        try:
            while True:
                text = self.status(name)
                out.write("\x1b[2J\x1b[H" + text + "\n")
                out.flush()
                time.sleep(interval)
        except KeyboardInterrupt:
            return

    def _annotate(self, name: str, key: str, value: str) -> None:
        self.kube.annotate(API_VERSION, KIND, self.namespace, name, {key: value})

    def command(self, name: str, command: Command) -> str:
        st = _status(self._get(name))
        c = st.canary
        if command in (Command.PROMOTE, Command.PROMOTE_FULL, Command.ABORT):
            if c is None:
                raise CtlError(
                    f"{name}: no canary to {command.value.split('-')[0]}: "
                    f"stable {st.stable_revision.model_version if st.stable_revision else '?'}"
                    " serves all traffic"
                )
            if c.phase == "Aborted":
                raise CtlError(
                    f"{name}: canary {c.revision.model_version} was aborted; "
                    "use `retry` to run it again"
                )
            if c.phase == "Promoting" and command != Command.ABORT:
                raise CtlError(f"{name}: canary {c.revision.model_version} is already promoting")
        if command == Command.RETRY and (c is None or c.phase != "Aborted"):
            raise CtlError(f"{name}: no aborted canary to retry")
        self._annotate(name, ANNOTATIONS[command], str(time.time_ns()))
        return f"{name}: {command.value} requested"

    def pause(self, name: str, paused: bool) -> str:
        obj = self._get(name)
        st = _status(obj)
        if paused and st.canary is None:
            raise CtlError(f"{name}: no canary to pause")
        annotations = obj["metadata"].get("annotations") or {}
        if not paused and st.canary is None and annotations.get(PAUSED, "").lower() != "true":
            raise CtlError(f"{name}: nothing to resume: no canary, and {PAUSED} is not set")
        if not paused and st.canary is not None and st.canary.pause_reason == "Step":
            raise CtlError(f"{name}: the canary waits at a pause step; use `promote` to go on")
        self._annotate(name, PAUSED, "true" if paused else "false")
        return f"{name}: {'pause' if paused else 'resume'} requested"

    def undo(self, name: str, to_revision: int | None) -> str:
        st = _status(self._get(name))
        stable = st.stable_revision.name if st.stable_revision else None
        known = [h for h in st.history if h.number]
        if to_revision is None:
            earlier = [h for h in known if h.revision != stable and h.outcome != "Aborted"]
            if not earlier:
                raise CtlError(f"{name}: no earlier revision to undo to")
            to_revision = earlier[0].number
        target = next((h for h in known if h.number == to_revision), None)
        if target is None:
            numbers = ", ".join(str(h.number) for h in known) or "none"
            raise CtlError(f"{name}: unknown revision {to_revision} (known: {numbers})")
        if target.revision == stable:
            raise CtlError(f"{name}: revision {to_revision} is already the stable one")
        self._annotate(name, UNDO, f"{to_revision}@{time.time_ns()}")
        return f"{name}: undo to revision {to_revision} ({target.model_version}) requested"
