"""The drift page of one ModelDeployment: per feature the live distribution against the
reference, the score per window against the threshold, which windows counted toward
retraining, and the retraining Jobs with what they reported.

Sources: the reference is the ConfigMap spec.drift.reference names (read as the user);
live counts per bin, when the server could read them, come from the same metrics the
operator judges (the stable track's feature histograms over spec.drift.window); scores
and verdicts are status.drift (the last window) plus the windows the dashboard saw on
its watch (history.py); Jobs are the batch/v1 Jobs labelled with the ModelDeployment,
joined with status.retraining (which holds what the Job reported).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from modelship.api.deployment import ModelDeploymentSpec
from modelship.api.status import RetrainingRun
from modelship.conditions import parse_time
from modelship.dashboard.views import svg
from modelship.dashboard.views.fleet import status_of
from modelship.dashboard.views.history import DriftWindow, History
from modelship.dashboard.views.markup import badge, cell, e, link, page, section, table
from modelship.drift.reference import CategoricalFeature, NumericFeature, Reference

Obj = dict[str, Any]
# feature -> live counts per reference bin (numeric) or per reference category, in the
# order reference_bins gives.
LiveCounts = Mapping[str, Sequence[float]]


def reference_bins(feature: NumericFeature | CategoricalFeature) -> tuple[list[str], list[float]]:
    """Bin labels and reference counts: numeric bins (-inf, e0), [e0, e1), ..., [en, inf)
    as the reference stores them (len(edges) + 1 counts); categories by name."""
    if isinstance(feature, NumericFeature):
        edges = [svg.fmt(x) for x in feature.edges]
        labels = [f"<{edges[0]}"] if edges else []
        labels += [f"{a}-{b}" for a, b in itertools.pairwise(edges)]
        labels += [f">={edges[-1]}"] if edges else ["all"]
        return labels, [float(c) for c in feature.counts]
    names = sorted(feature.counts)
    return names, [float(feature.counts[n]) for n in names]


def _windows(history: History, obj: Obj) -> list[DriftWindow]:
    windows = list(history.windows)
    d = status_of(obj).drift
    if d is not None and (not windows or windows[-1].at != d.evaluated_at):
        windows.append(
            DriftWindow(
                d.evaluated_at,
                d.verdict,
                d.threshold,
                d.consecutive_drifted,
                tuple((f.name, f.score) for f in d.features),
            )
        )
    return windows


def _epoch(stamp: str) -> float:
    try:
        return parse_time(stamp).timestamp()
    except ValueError:
        return 0.0


def _features(
    obj: Obj, reference: Reference | str | None, live: LiveCounts | None, live_note: str
) -> str:
    d = status_of(obj).drift
    scores = {f.name: f for f in (d.features if d else [])}
    names = list(scores)
    if isinstance(reference, Reference):
        names += [n for n in reference.features if n not in scores]
    if not names:
        why = reference if isinstance(reference, str) else "no drift evaluated yet"
        return f'<p class="muted">{e(why)}</p>'
    out = []
    if isinstance(reference, str):
        out.append(f'<p class="note">Reference: {e(reference)}</p>')
    if live_note:
        out.append(f'<p class="note">Live counts: {e(live_note)}</p>')
    for name in names:
        score = scores.get(name)
        feature = reference.features.get(name) if isinstance(reference, Reference) else None
        labels, counts = reference_bins(feature) if feature is not None else ([], [])
        chart = svg.histogram(
            name, labels, counts, (live or {}).get(name), score.score if score else None
        )
        flag = badge("Drifted") if score is not None and score.drifted else ""
        detail = (
            f" score {svg.fmt(score.score)}, p {svg.fmt(score.p_value)}" if score else " not scored"
        )
        out.append(f"<figure><figcaption>{e(name)}{flag}{e(detail)}</figcaption>{chart}</figure>")
    return "".join(out)


def _job_state(job: Obj) -> tuple[str, str]:
    st = job.get("status") or {}
    for c in st.get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "Succeeded", str(st.get("completionTime") or c.get("lastTransitionTime") or "")
        if c.get("status") == "True" and c.get("type") in ("Failed", "FailureTarget"):
            return "Failed", str(c.get("lastTransitionTime") or "")
    return ("Running" if st.get("active") else "Pending"), ""


def _jobs(obj: Obj, jobs: Sequence[Obj]) -> str:
    r = status_of(obj).retraining
    runs: dict[str, RetrainingRun] = {}
    if r is not None:
        for run in (r.last, r.active):
            if run is not None:
                runs[run.name] = run
    rows = []
    seen = set()
    for job in sorted(jobs, key=lambda j: str(j["metadata"].get("creationTimestamp") or "")):
        name = job["metadata"]["name"]
        seen.add(name)
        state, finished = _job_state(job)
        run = runs.get(name)
        rows.append(
            _job_row(
                name, str((job.get("status") or {}).get("startTime") or ""), finished, state, run
            )
        )
    for name, run in runs.items():
        if name not in seen:  # the Job is gone (TTL, deleted); status remembers it
            rows.append(_job_row(name, run.started_at, run.finished_at or "", run.outcome, run))
    if not rows:
        return '<p class="muted">No retraining Jobs started.</p>'
    headers = ["Job", "Started", "Finished", "State", "Reason", "Reported version", "Reported URI"]
    return table(headers, rows)


def _job_row(name: str, started: str, finished: str, state: str, run: RetrainingRun | None) -> str:
    return (
        f'<tr data-job="{e(name)}">'
        + cell("job", name)
        + cell("started", started or "-")
        + cell("finished", finished or "-")
        + cell("state", None, badge(state))
        + cell("reason", run.reason if run else "")
        + cell("version", (run.model_version if run else None) or "-")
        + cell("uri", (run.model_uri if run else None) or "-")
        + "</tr>"
    )


def _summary(obj: Obj) -> str:
    st = status_of(obj)
    d = st.drift
    try:
        spec = ModelDeploymentSpec.model_validate(obj.get("spec") or {})
    except ValueError:
        spec = None
    trigger = (
        f"retraining after {spec.retraining.trigger.drift_windows} drifted windows in a row"
        if spec is not None and spec.retraining is not None
        else "no retraining configured"
    )
    if d is None:
        return f"<p>No drift window evaluated yet; {e(trigger)}.</p>"
    return (
        f"<p>{badge(d.verdict)} {e(d.method)}, threshold {e(svg.fmt(d.threshold))}, window "
        f"{e(d.window)}, at {e(d.evaluated_at)}: {e(d.message)}</p>"
        f"<p>{d.consecutive_drifted} drifted window(s) in a row; {e(trigger)}.</p>"
    )


def fragments(
    obj: Obj,
    reference: Reference | str | None,
    live: LiveCounts | None,
    live_note: str,
    jobs: Sequence[Obj],
    history: History,
) -> dict[str, str]:
    windows = _windows(history, obj)
    d = status_of(obj).drift
    scores = [
        svg.WindowScore(
            _epoch(w.at), w.top, w.verdict, w.verdict == "Drifted" and w.consecutive > 0
        )
        for w in windows
    ]
    return {
        "drift-summary": _summary(obj),
        "features": _features(obj, reference, live, live_note),
        "drift-scores": svg.score_chart(scores, d.threshold if d else None),
        "retraining-jobs": _jobs(obj, jobs),
    }


def render(obj: Obj, f: dict[str, str], csrf: str) -> str:
    """The page around ``fragments``' output."""
    meta = obj["metadata"]
    ns, name = meta["namespace"], meta["name"]
    heading = f"{e(name)} <small>{e(ns)}</small> drift"
    body = (
        f"<p>{link(f'/md/{ns}/{name}', 'Back to the rollout')}</p>"
        + section("drift-summary", "Drift", f["drift-summary"])
        + section(
            "drift-scores", "Score per window (highest feature) vs threshold", f["drift-scores"]
        )
        + section("features", "Features: live vs reference", f["features"])
        + section("retraining-jobs", "Retraining Jobs", f["retraining-jobs"])
    )
    return page(f"{ns}/{name} drift", heading, body, csrf, "drift")
