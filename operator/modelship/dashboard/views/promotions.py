"""ModelPromotion pages: environments as a pipeline, gates with their evidence, soak,
approvals, and approve/reject.

An environment is a namespace holding one ModelDeployment of the chain (dev, staging,
prod): the pipeline follows promotions from source to target (spec.from -> spec.to) and
shows the version each environment's ModelDeployment serves now (its stable revision,
and a canary if one runs). Gates, soak and approvals are status.evidence, the run in
progress or the last one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelship.api.promotion_status import ModelPromotionStatus
from modelship.dashboard.views import svg
from modelship.dashboard.views.fleet import status_of
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
Key = str  # "namespace/name" of a ModelDeployment

ACTIONS = [
    ("approve", "approve the waiting run as yourself"),
    ("reject", "reject the waiting run as yourself: the run fails"),
]


def promotion_status(obj: Obj) -> ModelPromotionStatus:
    try:
        return ModelPromotionStatus.model_validate(obj.get("status") or {})
    except ValueError:
        return ModelPromotionStatus()


def ends(obj: Obj) -> tuple[Key, Key]:
    """(source, target) keys from spec; a ref without namespace is the promotion's own."""
    ns = obj["metadata"]["namespace"]
    spec = obj.get("spec") or {}
    src, dst = spec.get("from") or {}, spec.get("to") or {}
    return (
        f"{src.get('namespace') or ns}/{src.get('name', '?')}",
        f"{dst.get('namespace') or ns}/{dst.get('name', '?')}",
    )


def chains(promotions: Sequence[Obj]) -> list[list[Key]]:
    """Environments in promotion order, one list per connected pipeline: start at the
    sources nothing promotes into, then breadth first along promotions."""
    edges: dict[Key, list[Key]] = {}
    into: set[Key] = set()
    nodes: list[Key] = []
    for p in sorted(promotions, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"])):
        a, b = ends(p)
        edges.setdefault(a, []).append(b)
        into.add(b)
        nodes += [n for n in (a, b) if n not in nodes]
    done: set[Key] = set()
    out = []
    for start in [n for n in nodes if n not in into] + nodes:  # cycles: any node
        if start in done:
            continue
        chain, queue = [], [start]
        while queue:
            n = queue.pop(0)
            if n in done:
                continue
            done.add(n)
            chain.append(n)
            queue += edges.get(n, [])
        out.append(chain)
    return out


def _env(key: Key, deployments: Mapping[Key, Obj]) -> str:
    ns, _, name = key.partition("/")
    obj = deployments.get(key)
    if obj is None:
        version, extra = "?", "not visible (missing, or not yours to list)"
    else:
        st = status_of(obj)
        version = st.stable_revision.model_version if st.stable_revision else "-"
        c = st.canary
        extra = f"canary {c.revision.model_version} at {c.weight}%" if c else (st.phase or "")
    return (
        f'<div class="env" data-env="{e(ns)}" data-md="{e(key)}"><h3>{e(ns)}</h3>'
        f"<p>{link(f'/md/{ns}/{name}', name)}</p>"
        f'<p class="version" data-field="version">{e(version)}</p>'
        f'<p class="muted">{e(extra)}</p></div>'
    )


def _arrow(p: Obj) -> str:
    ns, name = p["metadata"]["namespace"], p["metadata"]["name"]
    phase = badge(promotion_status(p).phase or "Pending")
    return (
        f'<a href="/promotion/{e(ns)}/{e(name)}" data-promotion="{e(ns)}/{e(name)}">'
        f"{e(name)} {phase}</a>"
    )


def pipeline(
    promotions: Sequence[Obj], deployments: Mapping[Key, Obj], only: Obj | None = None
) -> str:
    """The pipelines, or only the one ``only`` belongs to; arrows name the promotions."""
    by_edge: dict[tuple[Key, Key], list[Obj]] = {}
    for p in promotions:
        by_edge.setdefault(ends(p), []).append(p)
    wanted = chains(promotions)
    if only is not None:
        mine = set(ends(only))
        wanted = [c for c in wanted if mine & set(c)]
    if not wanted:
        return '<p class="muted">No ModelPromotions.</p>'
    rows = []
    for chain in wanted:
        parts = []
        for i, key in enumerate(chain):
            if i:
                arrows = [
                    _arrow(p)
                    for (a, b), ps in by_edge.items()
                    if b == key and a in chain
                    for p in ps
                ]
                parts.append(f'<div class="arrow">&rarr; {" ".join(arrows)}</div>')
            parts.append(_env(key, deployments))
        rows.append(f'<div class="chain">{"".join(parts)}</div>')
    return "".join(rows)


def _gates(st: ModelPromotionStatus) -> str:
    run = st.evidence
    if run is None or not run.gates:
        return '<p class="muted">No gate evaluated yet.</p>'
    rows = [
        f'<tr data-gate="{e(g.name)}">'
        + cell("gate", g.name)
        + cell("verdict", None, badge(g.verdict))
        + cell("value", svg.fmt(g.value))
        + cell("threshold", svg.fmt(g.threshold))
        + cell("message", g.message)
        + cell("measured", g.measured_at)
        + cell("final", "final" if g.final else "")
        + "</tr>"
        for g in run.gates
    ]
    head = (
        f"<p>Run #{run.run} of {e(run.model.name)} {e(run.model.version)}"
        f"{(' ' + e(run.model.digest)) if run.model.digest else ''}: {badge(run.outcome)} "
        f"{e(run.message)}</p>"
    )
    headers = ["Gate", "Verdict", "Value", "Threshold", "Evidence", "Measured", ""]
    return head + table(headers, rows)


def _soak(st: ModelPromotionStatus) -> str:
    run = st.evidence
    if run is None or run.soak is None:
        return '<p class="muted">No soak gate.</p>'
    s = run.soak
    left = s.remaining or "0s (soaked)"
    text = f"remaining {left}; healthy since {s.since or '-'}; restarted {s.restarts}x"
    if s.last_interruption:
        text += f" (last: {s.last_interruption})"
    return f'<p data-field="soak">{e(text)}</p>'


def _approvals(obj: Obj, st: ModelPromotionStatus) -> str:
    run = st.evidence
    approval = ((obj.get("spec") or {}).get("gates") or {}).get("approval") or {}
    needed = ""
    if approval:
        if approval.get("required", True):
            needed = f"{approval.get('minApprovers', 1)} approval(s) required"
        else:
            needed = "no approval required"
    items = []
    if run is not None:
        items += [
            f'<li data-approver="{e(a.user)}">approved by {e(a.user)} at {e(a.seen_at)} '
            f"{e(a.message)}</li>"
            for a in run.approvals
        ]
        if run.rejection is not None:
            r = run.rejection
            items.append(
                f'<li class="rejected">rejected by {e(r.user)} at {e(r.seen_at)}: '
                f"{e(r.message)}</li>"
            )
    listing = "".join(items) or '<li class="muted">none yet</li>'
    return f"<p>{e(needed)}</p><ul>{listing}</ul>"


def _history(st: ModelPromotionStatus) -> str:
    rows = [
        f'<tr data-run="{h.run}">'
        + cell("run", h.run)
        + cell("version", h.version)
        + cell("outcome", None, badge(h.outcome))
        + cell("reason", h.reason)
        + cell("finished", h.finished_at or "-")
        + cell("approvers", ", ".join(h.approvers) or "-")
        + "</tr>"
        for h in st.history
    ]
    if not rows:
        return '<p class="muted">No finished runs.</p>'
    return table(["Run", "Version", "Outcome", "Reason", "Finished", "Approvers"], rows)


def fragments(
    obj: Obj, promotions: Sequence[Obj], deployments: Mapping[Key, Obj]
) -> dict[str, str]:
    st = promotion_status(obj)
    return {
        "promotion-phase": e(st.phase or "Pending"),
        "promotion-message": e(st.message),
        "pipeline": pipeline(promotions, deployments, only=obj),
        "gates": _gates(st),
        "soak": _soak(st),
        "approvals": _approvals(obj, st),
        "promotion-history": _history(st),
    }


def render(obj: Obj, promotions: Sequence[Obj], deployments: Mapping[Key, Obj], csrf: str) -> str:
    meta = obj["metadata"]
    ns, name = meta["namespace"], meta["name"]
    f = fragments(obj, promotions, deployments)
    heading = (
        f"{e(name)} <small>{e(ns)}</small> "
        f'<span class="badge" id="promotion-phase">{f["promotion-phase"]}</span>'
    )
    body = (
        f'<p id="promotion-message">{f["promotion-message"]}</p>'
        + action_buttons("ModelPromotion", ns, name, ACTIONS)
        + section("pipeline", "Pipeline", f["pipeline"])
        + section("gates", "Gates", f["gates"])
        + section("soak", "Soak", f["soak"])
        + section("approvals", "Approvals", f["approvals"])
        + section("promotion-history", "Earlier runs", f["promotion-history"])
    )
    return page(f"{ns}/{name}", heading, body, csrf, "promotion")


def _row(p: Obj) -> str:
    ns, name = p["metadata"]["namespace"], p["metadata"]["name"]
    st = promotion_status(p)
    src, dst = ends(p)
    return (
        f'<tr data-promotion="{e(ns)}/{e(name)}">'
        + cell("namespace", ns)
        + cell("name", None, link(f"/promotion/{ns}/{name}", name))
        + cell("from", src)
        + cell("to", dst)
        + cell("version", st.version or "-")
        + cell("phase", None, badge(st.phase or "Pending"))
        + cell("gates", st.gates_summary or "-")
        + cell("soak", st.soak_remaining or "-")
        + "</tr>"
    )


def list_fragments(promotions: Sequence[Obj], deployments: Mapping[Key, Obj]) -> dict[str, str]:
    ordered = sorted(promotions, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
    body = "".join(_row(p) for p in ordered) or (
        '<tr class="empty"><td colspan="8">No ModelPromotions.</td></tr>'
    )
    return {"pipeline": pipeline(ordered, deployments), "promotions-body": body}


def render_list(
    promotions: Sequence[Obj], deployments: Mapping[Key, Obj], csrf: str, note: str
) -> str:
    f = list_fragments(promotions, deployments)
    headers = ["Namespace", "Name", "From", "To", "Version", "Phase", "Gates", "Soak left"]
    listing = table(headers, [], {"id": "promotions"}).replace(
        "<tbody></tbody>", f'<tbody id="promotions-body">{f["promotions-body"]}</tbody>'
    )
    body = (
        (f'<p class="note">{e(note)}</p>' if note else "")
        + section("pipeline", "Pipeline", f["pipeline"])
        + f"<section><h2>ModelPromotions</h2>{listing}</section>"
    )
    return page("Promotions", "Promotions", body, csrf, "promotions")
