"""The command line for ModelPromotions: list, status, evidence, approve, reject.

Approving is an annotation whose value is the user's own name (api/approvals.py): the
command asks the API server who the user is (SelfSubjectReview) and writes that, and the
approval policy shipped beside the CRDs refuses the write unless it is so and the user
holds the approve verb. `kubectl annotate` does the same by hand (docs/promotion.md).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import yaml

from modelship.api.approvals import approve_key, reject_key, reject_value
from modelship.api.promotion import PROMOTION_KIND
from modelship.api.promotion_status import Evidence, ModelPromotionStatus
from modelship.conditions import age
from modelship.errors import CtlError, TransientError
from modelship.kube import Kube
from modelship.render.promotion import PROMOTED_BY, PROMOTION

API_VERSION = "modelship.io/v1alpha1"
Obj = dict[str, Any]


class ForbiddenError(CtlError):
    """The API server refused the write with 403 (the approval policy, or RBAC): the
    command line prints it as any CtlError; the dashboard shows it as Forbidden."""


def _status(obj: Obj) -> ModelPromotionStatus:
    return ModelPromotionStatus.model_validate(obj.get("status") or {})


def table(objs: list[Obj], now: datetime) -> str:
    rows = [["NAMESPACE", "NAME", "FROM", "TO", "VERSION", "PHASE", "GATES", "SOAK", "AGE"]]
    for obj in objs:
        st = _status(obj)
        rows.append(
            [
                obj["metadata"]["namespace"],
                obj["metadata"]["name"],
                st.from_summary or "",
                st.to_summary or "",
                st.version or "",
                st.phase or "",
                st.gates_summary or "",
                st.soak_remaining or "",
                age(obj["metadata"].get("creationTimestamp"), now),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _number(value: float | None, threshold: float | None) -> str:
    if value is None and threshold is None:
        return ""
    shown = "-" if value is None else f"{value:.4g}"
    bound = "-" if threshold is None else f"{threshold:.4g}"
    return f"{shown} / {bound}"


def render_status(obj: Obj) -> str:
    """The `modelship promotion status` view."""
    st = _status(obj)
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    lines = [
        f"Name:        {meta['name']} (namespace {meta['namespace']}, {spec.get('mode', 'Once')})",
        f"From -> To:  {st.from_summary or '?'} -> {st.to_summary or '?'}",
        f"Phase:       {st.phase or 'Unknown'}  {st.message}",
    ]
    run = st.evidence
    if run is not None:
        digest = f" {run.model.digest}" if run.model.digest else ""
        lines += [
            f"Run:         #{run.run} {run.outcome}, started {run.started_at}"
            + (f", target changed {run.promoted_at}" if run.promoted_at else ""),
            f"Model:       {run.model.name} {run.model.version} {run.model.uri}{digest}",
            "Gates:       (verdict, value / threshold, message)",
        ]
        width = max((len(g.name) for g in run.gates), default=0)
        for g in run.gates:
            number = _number(g.value, g.threshold)
            lines.append(
                f"  {g.name.ljust(width)}  {g.verdict:<12} {number:<20} {g.message}".rstrip()
            )
        if run.soak is not None:
            left = run.soak.remaining or "0s (soaked)"
            lines.append(
                f"Soak:        since {run.soak.since or '-'}, remaining {left}, "
                f"restarted {run.soak.restarts}x"
            )
        if run.approvals or run.rejection:
            lines.append("Approvals:")
            for a in run.approvals:
                lines.append(f"  approved by {a.user} (seen {a.seen_at}) {a.message}".rstrip())
            if run.rejection:
                r = run.rejection
                lines.append(f"  rejected by {r.user} (seen {r.seen_at}): {r.message}")
        if run.evaluation is not None:
            e = run.evaluation
            results = ", ".join(f"{k}={v:g}" for k, v in sorted(e.results.items()))
            lines.append(f"Evaluation:  Job {e.namespace}/{e.job} {e.outcome} {results}".rstrip())
        t = run.target
        lines.append(
            f"Target:      {t.namespace}/{t.name} (served {t.previous or '-'}): "
            f"{t.outcome or '-'} {t.message}".rstrip()
        )
    lines.append("Conditions:")
    for c in st.conditions:
        lines.append(f"  {c.type}={c.status}  {c.reason}: {c.message}")
    if st.history:
        lines.append("History:")
        for h in st.history:
            lines.append(
                f"  #{h.run}  {h.version}  {h.outcome}  {h.reason}  {h.finished_at or ''}  "
                f"approvers: {', '.join(h.approvers) or '-'}"
            )
    return "\n".join(lines)


def dump(evidence: list[Obj], output: str) -> str:
    """One record as an object; several (every run) as a list."""
    data: Any = evidence[0] if len(evidence) == 1 else evidence
    if output == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip()


class PromotionCtl:
    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    def _find(self, name: str) -> Obj | None:
        return self.kube.get(API_VERSION, PROMOTION_KIND, self.namespace, name)

    def _get(self, name: str) -> Obj:
        obj = self._find(name)
        if obj is None:
            raise CtlError(f"modelpromotion {name!r} not found in namespace {self.namespace!r}")
        return obj

    def listing(self, all_namespaces: bool) -> str:
        objs = self.kube.list(
            API_VERSION, PROMOTION_KIND, None if all_namespaces else self.namespace
        )
        if not objs:
            return "No ModelPromotions found."
        objs.sort(key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
        return table(objs, datetime.now(UTC))

    def status(self, name: str) -> str:
        return render_status(self._get(name))

    def watch(self, name: str, interval: float, out: Any = sys.stdout) -> None:
        try:
            while True:
                out.write("\x1b[2J\x1b[H" + self.status(name) + "\n")
                out.flush()
                time.sleep(interval)
        except KeyboardInterrupt:
            return

    # ----- evidence -----------------------------------------------------------------------

    def evidence(self, name: str, run: int | None, target_namespace: str | None) -> list[Obj]:
        """The run's record (default: the current or last run; 0: every run), from the
        promotion while it exists, else from the evidence kept on the target."""
        obj = self._find(name)
        current = _status(obj).evidence if obj is not None else None
        if obj is not None and current is not None and run in (None, current.run):
            return [current.model_dump(mode="json", by_alias=True, exclude_none=True)]
        stored = self._stored(name, obj, target_namespace)
        if not stored:
            where = "on its target" if obj is not None else "for a deleted promotion"
            raise CtlError(f"no evidence of {self.namespace}/{name} found {where}")
        if run == 0:
            return stored
        if run is None:
            return [stored[-1]]
        chosen = [e for e in stored if e.get("run") == run]
        if not chosen:
            runs = ", ".join(str(e.get("run")) for e in stored)
            raise CtlError(f"{name}: no evidence of run {run} (kept: {runs})")
        return chosen

    def _stored(self, name: str, obj: Obj | None, namespace: str | None) -> list[Obj]:
        if namespace is None and obj is not None:
            summary = _status(obj).to_summary or ""
            namespace = summary.partition("/")[0] or None
        revisions = self.kube.list(
            "apps/v1", "ControllerRevision", namespace, {PROMOTION: name[:63]}
        )
        mine = f"{self.namespace}/{name}#"
        records = []
        for cr in revisions:
            notes = cr["metadata"].get("annotations") or {}
            if str(notes.get(PROMOTED_BY, "")).startswith(mine):
                records.append(Evidence.model_validate(cr.get("data") or {}))
        records.sort(key=lambda e: e.run)
        return [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in records]

    # ----- approve and reject -------------------------------------------------------------

    def _open_run(self, name: str, what: str) -> tuple[Evidence, str]:
        st = _status(self._get(name))
        run = st.evidence
        if run is None or run.outcome != "Running" or run.promoted_at is not None:
            phase = st.phase or "Pending"
            raise CtlError(f"{name}: no run waiting for approval to {what} (phase {phase})")
        user = self.kube.whoami()
        if not user:
            raise CtlError("the API server did not say who you are (SelfSubjectReview)")
        return run, user

    def approve(self, name: str, message: str) -> str:
        run, user = self._open_run(name, "approve")
        if any(a.user == user for a in run.approvals):
            raise CtlError(f"{name}: run {run.run} is already approved by {user}")
        value = reject_value(user, message) if message else user
        self._annotate(name, approve_key(run.run, user), value)
        return f"{name}: run {run.run} ({run.model.version}) approved by {user}"

    def reject(self, name: str, message: str) -> str:
        run, user = self._open_run(name, "reject")
        self._annotate(name, reject_key(run.run, user), reject_value(user, message))
        return f"{name}: run {run.run} ({run.model.version}) rejected by {user}"

    def _annotate(self, name: str, key: str, value: str) -> None:
        try:
            self.kube.annotate(API_VERSION, PROMOTION_KIND, self.namespace, name, {key: value})
        except TransientError as exc:  # the approval policy's refusal is a 403
            if " 403 " not in str(exc):
                raise
            raise ForbiddenError(str(exc).split(" 403 ", 1)[1]) from None
