"""One ModelDeployment's page: phase, rollout timeline, checks per round, the judge's
verdicts, revisions, Events and the manual commands.

Where each part comes from (docs/dashboard.md says the same):
- timeline: the operator's Events (CanaryStarted, CanaryWeight "canary at N%",
  CanaryPaused/Resumed, Promoted, Aborted/AnalysisFailed/ProgressDeadlineExceeded, Undo,
  CanaryRetried), the weight and phase changes the dashboard saw on its watch, and the
  canary's status (weight now, startedAt, abortedAt);
- checks: status.analysis holds the last round only; earlier rounds are those the
  dashboard saw on its watch (history.py), so a chart starts when the dashboard did;
- revisions: status.history (numbers, versions, digests, images, outcomes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from modelship.api.deployment import ModelDeploymentSpec
from modelship.api.status import ModelDeploymentStatus
from modelship.conditions import parse_time
from modelship.dashboard.views import svg
from modelship.dashboard.views.fleet import status_of, weight_text
from modelship.dashboard.views.history import History
from modelship.dashboard.views.markup import (
    action_buttons,
    badge,
    cell,
    e,
    link,
    page,
    section,
    table,
)

Obj = dict[str, Any]

ACTIONS = [
    ("promote", "pass the current step (a pause, or a weight still waiting)"),
    ("promote-full", "skip every remaining step and promote now"),
    ("abort", "send all traffic back to stable and scale the canary to zero"),
    ("retry", "run an aborted canary again from its first step"),
    ("pause", "hold the canary where it is until resume"),
    ("resume", "continue a paused canary"),
    ("undo", "roll back (through a canary) to the previous revision"),
]

# Event reason -> timeline marker kind.
MARKERS = {
    "CanaryStarted": "start",
    "CanaryRestarted": "start",
    "CanaryPaused": "pause",
    "AnalysisInconclusive": "pause",
    "CanaryResumed": "resume",
    "Promoted": "promote",
    "PromotedFull": "promote",
    "Promoting": "promote",
    "Aborted": "abort",
    "AnalysisFailed": "abort",
    "ProgressDeadlineExceeded": "abort",
    "Undo": "undo",
    "CanaryRetried": "retry",
}
_WEIGHT = re.compile(r"canary at (\d{1,3})%")


def _spec(obj: Obj) -> ModelDeploymentSpec | None:
    try:
        return ModelDeploymentSpec.model_validate(obj.get("spec") or {})
    except ValueError:
        return None


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return parse_time(stamp).timestamp()
    except ValueError:
        return None


def event_time(ev: Obj) -> str:
    return str(
        ev.get("lastTimestamp")
        or ev.get("eventTime")
        or ev.get("firstTimestamp")
        or (ev.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def timeline_data(
    st: ModelDeploymentStatus, events: Sequence[Obj], history: History
) -> tuple[list[svg.WeightPoint], list[svg.Marker]]:
    """Weight points and markers for svg.timeline, from Events, watch history, status."""
    points: list[svg.WeightPoint] = []
    markers: list[svg.Marker] = []
    for ev in events:
        at = _epoch(event_time(ev))
        if at is None:
            continue
        reason, message = str(ev.get("reason") or ""), str(ev.get("message") or "")
        if reason == "CanaryWeight" and (m := _WEIGHT.search(message)):
            points.append(svg.WeightPoint(at, min(int(m.group(1)), 100)))
        kind = MARKERS.get(reason)
        if kind is not None:
            markers.append(svg.Marker(at, kind, f"{reason}: {message}"))
            if kind == "abort":
                points.append(svg.WeightPoint(at, 0))
            if kind == "start":
                points.append(svg.WeightPoint(at, 0))
    for sample in history.weights:
        at = _epoch(sample.at)
        if at is not None:
            points.append(svg.WeightPoint(at, sample.weight))
    c = st.canary
    if c is not None:
        started = _epoch(c.started_at)
        if started is not None and not any(m.kind == "start" for m in markers):
            markers.append(svg.Marker(started, "start", f"canary {c.revision.model_version}"))
        at = _epoch(c.last_progress_at) or started
        if at is not None:
            points.append(svg.WeightPoint(at, c.weight))
        aborted = _epoch(c.aborted_at)
        if aborted is not None and not any(m.kind == "abort" for m in markers):
            markers.append(svg.Marker(aborted, "abort", c.abort_reason or "aborted"))
    # One point per instant: the latest word on it wins (status last).
    by_time: dict[float, svg.WeightPoint] = {}
    for p in points:
        by_time[p.at] = p
    return sorted(by_time.values(), key=lambda p: p.at), markers


def _steps(spec: ModelDeploymentSpec | None, st: ModelDeploymentStatus) -> str:
    from modelship.decisions.steps import step_text

    steps = (spec.rollout.steps or []) if spec is not None else []
    if not steps:
        return '<p class="muted">No steps: straight to 100% once analysis passes.</p>'
    c = st.canary
    items = []
    for i, s in enumerate(steps):
        state = "next"
        if c is not None and c.phase != "Aborted":
            state = "done" if i < c.step else "now" if i == c.step else "next"
        items.append(f'<li class="step {state}" data-step="{i}">{e(step_text(s))}</li>')
    return f'<ol class="steps">{"".join(items)}</ol>'


def _summary(obj: Obj, st: ModelDeploymentStatus, spec: ModelDeploymentSpec | None) -> str:
    c = st.canary
    rows = [
        ("Stable", st.stable_revision.model_version if st.stable_revision else "-"),
        ("Ready", st.ready_summary or "-"),
    ]
    if c is not None:
        rows += [
            ("Canary", f"{c.revision.model_version} ({c.phase})"),
            ("Weight", weight_text(st)),
            ("Waiting for", c.message or "-"),
        ]
        if c.abort_reason:
            rows.append(("Aborted", c.abort_reason))
    else:
        rows.append(("Canary", "none"))
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows)
    conds = "".join(
        f'<li data-condition="{e(x.type)}">{e(x.type)}={e(x.status)} '
        f"<b>{e(x.reason)}</b> {e(x.message)}</li>"
        for x in st.conditions
    )
    return f'<dl class="summary">{dl}</dl>{_steps(spec, st)}<ul class="conditions">{conds}</ul>'


def _checks(spec: ModelDeploymentSpec | None, st: ModelDeploymentStatus, history: History) -> str:
    names = [c.name for c in (spec.analysis.checks or [])] if spec and spec.analysis else []
    a = st.analysis
    for c in a.checks if a else []:
        if c.name not in names:
            names.append(c.name)
    if not names:
        return '<p class="muted">No analysis checks in spec.analysis.</p>'
    charts = []
    for name in names:
        values = [
            svg.RoundValue(r.round, r.value, r.threshold, r.verdict)
            for r in history.checks.get(name, ())
            if a is None or r.revision == a.revision
        ]
        last = next((c for c in a.checks if c.name == name), None) if a else None
        if not values and a is not None and last is not None and a.rounds:
            # Before the dashboard saw a round: the one status holds.
            values = [svg.RoundValue(a.rounds, last.value, last.threshold, last.verdict)]
        chart = svg.check_chart(name, values)
        charts.append(f"<figure><figcaption>{e(name)}</figcaption>{chart}</figure>")
    return "".join(charts)


def _verdicts(spec: ModelDeploymentSpec | None, st: ModelDeploymentStatus) -> str:
    a = st.analysis
    if a is None:
        return '<p class="muted">No analysis yet.</p>'
    checks = (spec.analysis.checks or []) if spec and spec.analysis else []
    judges = {c.name for c in checks if c.compare is not None}
    head = (
        f"<p>Revision {e(a.revision)}: {a.rounds} round(s), {a.failures} failed, "
        f"last {badge(a.verdict) or '-'} at {e(a.last_round_at or '-')}: {e(a.message)}</p>"
    )
    rows = [
        f'<tr data-check="{e(c.name)}">'
        + cell("check", c.name + (" (judge)" if c.name in judges else ""))
        + cell("verdict", None, badge(c.verdict))
        + cell("value", svg.fmt(c.value))
        + cell("threshold", svg.fmt(c.threshold))
        + cell("message", c.message)
        + "</tr>"
        for c in a.checks
    ]
    return head + table(["Check", "Verdict", "Value", "Threshold", "Message"], rows)


def _revisions(st: ModelDeploymentStatus) -> str:
    rows = [
        f'<tr data-revision="{h.number}">'
        + cell("number", h.number)
        + cell("version", h.model_version)
        + cell("revision", h.revision)
        + cell("digest", None, f"<code>{e(h.digest or '-')}</code>")
        + cell("image", h.image or "-")
        + cell("deployed", h.deployed_at or "-")
        + cell("outcome", h.outcome or "-")
        + cell("promotion", h.promotion or "")
        + "</tr>"
        for h in st.history
    ]
    if not rows:
        return '<p class="muted">No revisions yet.</p>'
    headers = ["#", "Version", "Revision", "Digest", "Image", "Deployed", "Outcome", "Promotion"]
    return table(headers, rows)


def events_list(events: Sequence[Obj], limit: int = 50) -> str:
    ordered = sorted(events, key=event_time, reverse=True)[:limit]
    if not ordered:
        return '<li class="muted">No Events (the API server keeps them for about an hour).</li>'
    return "".join(
        f'<li class="ev-{e(ev.get("type") or "Normal")}"><time>{e(event_time(ev))}</time> '
        f"<b>{e(ev.get('reason'))}</b> {e(ev.get('message'))}"
        + (f" <small>x{int(ev.get('count') or 1)}</small>" if (ev.get("count") or 1) > 1 else "")
        + "</li>"
        for ev in ordered
    )


def fragments(obj: Obj, events: Sequence[Obj], history: History, now: float) -> dict[str, str]:
    st = status_of(obj)
    spec = _spec(obj)
    points, markers = timeline_data(st, events, history)
    return {
        "phase": e(st.phase or "Unknown"),
        "summary": _summary(obj, st, spec),
        "timeline": svg.timeline(points, markers, now),
        "checks": _checks(spec, st, history),
        "verdicts": _verdicts(spec, st),
        "revisions": _revisions(st),
        "events": events_list(events),
    }


def render(
    obj: Obj, events: Sequence[Obj], history: History, now: float, csrf: str, note: str
) -> str:
    meta = obj["metadata"]
    ns, name = meta["namespace"], meta["name"]
    f = fragments(obj, events, history, now)
    heading = f'{e(name)} <small>{e(ns)}</small> <span class="badge" id="phase">{f["phase"]}</span>'
    body = (
        f"<p>{link(f'/md/{ns}/{name}/drift', 'Drift and retraining')}</p>"
        + action_buttons("ModelDeployment", ns, name, ACTIONS)
        + section("summary", "Rollout", f["summary"])
        + section("timeline", "Timeline", f["timeline"])
        + section("checks", "Checks per analysis round", f["checks"])
        + (f'<p class="note">{e(note)}</p>' if note else "")
        + section("verdicts", "Verdicts (last round)", f["verdicts"])
        + section("revisions", "Revisions", f["revisions"])
        + section("events", "Events", f["events"], tag="ul")
    )
    return page(f"{ns}/{name}", heading, body, csrf, "md")
