"""The fleet page: one row per ModelDeployment, from the watch's cache (no API call per
row, so a fleet of hundreds renders in milliseconds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelship.api.status import ModelDeploymentStatus
from modelship.dashboard.views.markup import badge, cell, e, link, page, table

Obj = dict[str, Any]


def status_of(obj: Obj) -> ModelDeploymentStatus:
    try:
        return ModelDeploymentStatus.model_validate(obj.get("status") or {})
    except ValueError:  # an operator of another version wrote it: show what we can
        return ModelDeploymentStatus()


def weight_text(st: ModelDeploymentStatus) -> str:
    """Set vs actual, as Argo Rollouts' dashboard shows them."""
    c = st.canary
    if c is None:
        return "-"
    actual = "?" if c.actual_weight is None else f"{c.actual_weight}%"
    approx = " (pods)" if c.weight_approximate else ""
    return f"set {c.weight}% / actual {actual}{approx}"


def retraining_text(st: ModelDeploymentStatus) -> str:
    r = st.retraining
    if r is None or r.count == 0:
        return "-"
    if r.active is not None:
        return f"running {r.active.name}"
    if r.last is not None:
        return f"{r.last.outcome} {r.last.name}"
    return f"{r.count} Job(s)"


def fields(obj: Obj) -> dict[str, str]:
    """The row's values by data-field name (also what the tests compare with)."""
    return _fields(status_of(obj))


def _fields(st: ModelDeploymentStatus) -> dict[str, str]:
    c = st.canary
    return {
        "phase": st.phase or "Unknown",
        "stable": st.stable_revision.model_version if st.stable_revision else "",
        "canary": c.revision.model_version if c is not None else "",
        "weight": weight_text(st),
        "verdict": (st.analysis.verdict or "-") if st.analysis else "-",
        "drift": st.drift.verdict if st.drift else "-",
        "retraining": retraining_text(st),
        "ready": st.ready_summary or "",
    }


def _row(obj: Obj, st: ModelDeploymentStatus) -> str:
    meta = obj["metadata"]
    ns, name = meta["namespace"], meta["name"]
    f = _fields(st)
    drift_html = "-"
    if f["drift"] != "-":
        drift_html = f'<a href="/md/{e(ns)}/{e(name)}/drift">{badge(f["drift"])}</a>'
    return (
        f'<tr data-md="{e(ns)}/{e(name)}">'
        + cell("namespace", ns)
        + cell("name", None, link(f"/md/{ns}/{name}", name))
        + cell("phase", None, badge(f["phase"]))
        + cell("stable", f["stable"])
        + cell("canary", f["canary"])
        + cell("weight", f["weight"])
        + cell("ready", f["ready"])
        + cell("verdict", None, badge(f["verdict"]) if f["verdict"] != "-" else "-")
        + cell("drift", None, drift_html)
        + cell("retraining", f["retraining"])
        + "</tr>"
    )


HEADERS = [
    "Namespace",
    "Name",
    "Phase",
    "Stable",
    "Canary",
    "Weight",
    "Ready",
    "Last verdict",
    "Drift",
    "Retraining",
]


def fragments(objs: Sequence[Obj], namespace: str | None) -> dict[str, str]:
    """What live updates replace: the table body and the count."""
    shown = sorted(
        (o for o in objs if namespace is None or o["metadata"]["namespace"] == namespace),
        key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]),
    )
    parsed = [(o, status_of(o)) for o in shown]  # one validation per object
    phases: dict[str, int] = {}
    for _, st in parsed:
        p = st.phase or "Unknown"
        phases[p] = phases.get(p, 0) + 1
    summary = ", ".join(f"{n} {p}" for p, n in sorted(phases.items())) or "none"
    body = "".join(_row(o, st) for o, st in parsed)
    if not shown:
        body = f'<tr class="empty"><td colspan="{len(HEADERS)}">No ModelDeployments.</td></tr>'
    return {"fleet-body": body, "fleet-summary": e(f"{len(shown)} ModelDeployment(s): {summary}")}


def render(
    objs: Sequence[Obj], namespace: str | None, namespaces: Sequence[str], csrf: str, note: str
) -> str:
    frag = fragments(objs, namespace)
    options = ['<option value="">all namespaces</option>'] + [
        f'<option value="{e(ns)}"{" selected" if ns == namespace else ""}>{e(ns)}</option>'
        for ns in namespaces
    ]
    body = (
        '<form class="filter" method="get" action="/"><label>Namespace '
        f'<select id="namespace" name="namespace">{"".join(options)}</select></label>'
        "<noscript><button>Filter</button></noscript></form>"
        f'<p id="fleet-summary">{frag["fleet-summary"]}</p>'
        + (f'<p class="note">{e(note)}</p>' if note else "")
        + table(HEADERS, [], {"id": "fleet"}).replace(
            "<tbody></tbody>", f'<tbody id="fleet-body">{frag["fleet-body"]}</tbody>'
        )
    )
    return page("Fleet", "Fleet", body, csrf, "fleet")
