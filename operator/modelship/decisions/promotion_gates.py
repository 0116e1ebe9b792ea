"""Each gate of a promotion run -> a GateResult (pure): value, threshold, verdict, when.

A gate's verdict is Pass, Fail, Waiting (not decidable yet: soaking, a Job running,
people not yet approved), Inconclusive (too little data) or Error (could not be
measured). ``final`` marks what can no longer change (a failed evaluation Job, a
rejection, a target Argo CD would revert): such a Fail ends the run. Any other Fail is
re-evaluated until the gate passes or gates.timeout runs out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime

from modelship.analysis.checks import Observed, measure
from modelship.api.approvals import Vote
from modelship.api.promotion import Gates, ModelPromotionSpec, ResultThreshold
from modelship.api.promotion_status import (
    EvaluationRecord,
    GateResult,
    PromotedModel,
    Soak,
)
from modelship.api.types import parse_duration
from modelship.conditions import DEGRADED, READY, find, parse_time, rfc3339
from modelship.decisions.promotion_types import DeploymentView, EvaluationJob

# How often checks are measured on the source while a run waits (each read is a few
# provider queries; the source's own analysis interval is about the canary).
CHECK_INTERVAL = 30.0
# Argo CD's default tracking label, and its annotation-based tracking.
ARGOCD_TRACKING = ("app.kubernetes.io/instance", "argocd.argoproj.io/tracking-id")


def human(seconds: float) -> str:
    """12m30s, 1h5m, 45s: a duration as people read it (whole seconds, rounded up)."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{secs}s" if secs or not (hours or minutes) else "")
    return "".join(parts)


def same_model(a: PromotedModel | None, b: PromotedModel | None) -> bool:
    """The same asset: name, version, URI and digest."""
    if a is None or b is None:
        return False
    return (a.name, a.version, a.uri, a.digest) == (b.name, b.version, b.uri, b.digest)


# ----- soak -------------------------------------------------------------------------------


def source_unhealthy(source: DeploymentView) -> str:
    """Why the source does not count as soaking now ("" when it does)."""
    status = source.status
    if status.canary is not None:
        return f"a canary of {status.canary.revision.model_version} is in flight on the source"
    # Degraded first: it holds the words; a Ready lost to a problem points there.
    degraded = find(status.conditions, DEGRADED)
    if degraded is not None and degraded.status == "True":
        return f"the source is Degraded: {degraded.message}"
    ready = find(status.conditions, READY)
    if ready is None or ready.status != "True":
        why = f": {ready.message}" if ready is not None and ready.message else ""
        return f"the source is not Ready{why}"
    return ""


def served_since(source: DeploymentView) -> datetime | None:
    """When the source's stable revision became stable (its history's deployedAt)."""
    stable = source.status.stable_revision
    if stable is None:
        return None
    entry = next((h for h in source.status.history if h.revision == stable.name), None)
    return parse_time(entry.deployed_at) if entry is not None and entry.deployed_at else None


def _healthy_since(source: DeploymentView) -> datetime | None:
    """The latest of the source's own facts: this revision stable, Ready since, not
    Degraded since."""
    facts = [served_since(source)]
    ready = find(source.status.conditions, READY)
    if ready is not None:
        facts.append(parse_time(ready.last_transition_time))
    degraded = find(source.status.conditions, DEGRADED)
    if degraded is not None:
        facts.append(parse_time(degraded.last_transition_time))
    known = [f for f in facts if f is not None]
    return max(known) if known else None


def soak(
    gates: Gates, source: DeploymentView, previous: Soak | None, now: datetime
) -> tuple[GateResult | None, Soak | None]:
    """The soak clock: it runs while the source is healthy on this revision and restarts
    (counted, with the reason) whenever the operator sees it not be."""
    if gates.soak_time is None:
        return None, None
    need = parse_duration(gates.soak_time)
    previous = previous or Soak()
    why = source_unhealthy(source)
    stamp = rfc3339(now)
    if why:
        flapped = previous.since is not None
        clock = previous.model_copy(
            update={
                "since": None,
                "remaining": gates.soak_time,
                "restarts": previous.restarts + int(flapped),
                "last_interruption": why,
                "interrupted_at": stamp if flapped else previous.interrupted_at or stamp,
            }
        )
        message = f"not soaking: {why}"
        if clock.restarts:
            message += f" (the clock restarted {clock.restarts}x; it starts again when healthy)"
        return GateResult(
            name="soakTime",
            verdict="Waiting",
            value=0.0,
            threshold=need,
            message=message,
            measured_at=stamp,
        ), clock
    facts = [_healthy_since(source)]
    if previous.interrupted_at:
        facts.append(parse_time(previous.interrupted_at))
    if previous.since:
        facts.append(parse_time(previous.since))
    since = max((f for f in facts if f is not None), default=now)
    since = min(since, now)
    soaked = (now - since).total_seconds()
    remaining = max(0.0, need - soaked)
    clock = previous.model_copy(
        update={"since": rfc3339(since), "remaining": human(remaining) if remaining else None}
    )
    restarted = (
        f"; the clock restarted {clock.restarts}x, last: {clock.last_interruption}"
        if clock.restarts
        else ""
    )
    if remaining > 0:
        message = f"soaked {human(soaked)} of {gates.soak_time}, {human(remaining)} to go"
        verdict = "Waiting"
    else:
        message = f"soaked {human(soaked)} >= {gates.soak_time}"
        verdict = "Pass"
    return GateResult(
        name="soakTime",
        verdict=verdict,
        value=soaked,
        threshold=need,
        message=message + restarted,
        measured_at=stamp,
    ), clock


# While a soak runs, look again at least this often: status.soakRemaining (the SOAK
# column) counts down by the minute instead of showing the time left when it started.
SOAK_REFRESH = 60.0


def soak_due_in(gates: Gates, clock: Soak | None, now: datetime) -> float | None:
    """Seconds until the soak clock completes, or until the remaining time shown is
    refreshed, when it is running."""
    if gates.soak_time is None or clock is None or clock.since is None:
        return None
    end = parse_time(clock.since).timestamp() + parse_duration(gates.soak_time)
    left = end - now.timestamp()
    return min(left, SOAK_REFRESH) if left > 0 else None


# ----- checks -----------------------------------------------------------------------------


def checks_due(spec: ModelPromotionSpec, previous: Sequence[GateResult], now: datetime) -> bool:
    """Whether this reconcile should measure the checks on the source."""
    names = {f"checks/{c.name}" for c in spec.gates.checks or []}
    if not names:
        return False
    last = {g.name: parse_time(g.measured_at) for g in previous if g.name in names}
    if set(last) != names:
        return True
    return (now - min(last.values())).total_seconds() >= CHECK_INTERVAL


def check_window(spec: ModelPromotionSpec, source: DeploymentView, now: datetime) -> float:
    """gates.checkWindow, but not before the revision became the source's stable one."""
    window = parse_duration(spec.gates.check_window)
    since = served_since(source)
    if since is not None:
        window = min(window, max(1.0, (now - since).total_seconds()))
    return window


def checks(
    spec: ModelPromotionSpec,
    observed: Observed | None,
    previous: Sequence[GateResult],
    now: datetime,
) -> list[GateResult]:
    """Each check, measured on the source's stable track (``observed`` holds it as the
    subject track); when nothing was read this time, the last results stand."""
    out = []
    for check in spec.gates.checks or []:
        name = f"checks/{check.name}"
        if observed is None:
            kept = next((g for g in previous if g.name == name), None)
            out.append(
                kept
                or GateResult(
                    name=name,
                    verdict="Waiting",
                    message="not measured yet",
                    measured_at=rfc3339(now),
                )
            )
            continue
        m = measure(check, observed, look=1)
        out.append(
            GateResult(
                name=name,
                verdict=m.verdict,
                value=m.value,
                threshold=m.threshold,
                message=m.message,
                measured_at=rfc3339(now),
            )
        )
    return out


# ----- drift ------------------------------------------------------------------------------


def drift(gates: Gates, source: DeploymentView, now: datetime) -> GateResult | None:
    if gates.max_drift is None:
        return None
    stamp = rfc3339(now)
    status = source.status.drift
    if status is None:
        return GateResult(
            name="maxDrift",
            verdict="Waiting",
            threshold=gates.max_drift,
            message="the source has evaluated no drift window yet (maxDrift needs spec.drift "
            "on the source)",
            measured_at=stamp,
        )
    since = served_since(source)
    evaluated = parse_time(status.evaluated_at)
    if since is not None and evaluated < since:
        return GateResult(
            name="maxDrift",
            verdict="Waiting",
            threshold=gates.max_drift,
            message=f"the source's last drift window ({status.evaluated_at}) ended before "
            f"this revision became stable ({rfc3339(since)})",
            measured_at=stamp,
        )
    top = max((f.score for f in status.features), default=None)
    where = f"window ending {status.evaluated_at}: {status.message}"
    if status.verdict == "Drifted":
        return GateResult(
            name="maxDrift",
            verdict="Fail",
            value=top,
            threshold=gates.max_drift,
            message=f"the source's inputs drifted ({where})",
            measured_at=stamp,
        )
    if status.verdict in ("Inconclusive", "Error"):
        return GateResult(
            name="maxDrift",
            verdict=status.verdict,
            value=top,
            threshold=gates.max_drift,
            message=where,
            measured_at=stamp,
        )
    if top is not None and top > gates.max_drift:
        return GateResult(
            name="maxDrift",
            verdict="Fail",
            value=top,
            threshold=gates.max_drift,
            message=f"highest feature score {top:.3g} > {gates.max_drift:g} ({where})",
            measured_at=stamp,
        )
    shown = "no features" if top is None else f"highest feature score {top:.3g}"
    return GateResult(
        name="maxDrift",
        verdict="Pass",
        value=top,
        threshold=gates.max_drift,
        message=f"not drifted, {shown} <= {gates.max_drift:g} ({where})",
        measured_at=stamp,
    )


# ----- evaluation Job ---------------------------------------------------------------------


def parse_results(message: str) -> dict[str, float] | str:
    """The termination message as named numbers, or why it is not that."""
    try:
        data = json.loads(message)
    except ValueError:
        return f"the termination message is not JSON: {message[:200]!r}"
    if not isinstance(data, dict):
        return "the termination message is not a JSON object of named results"
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # text results (a report's path) are kept out of the numbers
        if math.isfinite(value):
            out[str(key)] = float(value)
    return out


def evaluation(
    gates: Gates,
    job_name: str,
    namespace: str,
    job: EvaluationJob | None,
    now: datetime,
) -> tuple[list[GateResult], EvaluationRecord | None]:
    if gates.evaluation_job is None:
        return [], None
    stamp = rfc3339(now)
    if job is None or not job.state.finished:
        record = EvaluationRecord(job=job_name, namespace=namespace, outcome="Running")
        what = "created" if job is None else "running"
        return [
            GateResult(
                name="evaluationJob",
                verdict="Waiting",
                message=f"evaluation Job {namespace}/{job_name} {what}",
                measured_at=stamp,
            )
        ], record
    if not job.state.succeeded:
        said = f" ({job.message[:1000]})" if job.message else ""
        record = EvaluationRecord(
            job=job_name,
            namespace=namespace,
            outcome="Failed",
            message=job.state.message + said,
            finished_at=job.state.finished_at,
        )
        return [
            GateResult(
                name="evaluationJob",
                verdict="Fail",
                message=f"evaluation Job {job_name} failed: {job.state.message}{said}",
                measured_at=stamp,
                final=True,
            )
        ], record
    results = parse_results(job.message) if job.message else {}
    why = results if isinstance(results, str) else ""
    values = results if isinstance(results, dict) else {}
    record = EvaluationRecord(
        job=job_name,
        namespace=namespace,
        outcome="Succeeded",
        results=values,
        message=why,
        finished_at=job.state.finished_at,
    )
    shown = ", ".join(f"{k}={v:g}" for k, v in sorted(values.items())) or "no results"
    out = [
        GateResult(
            name="evaluationJob",
            verdict="Pass",
            message=f"evaluation Job {job_name} succeeded: {shown}" + (f"; {why}" if why else ""),
            measured_at=stamp,
            final=True,
        )
    ]
    out += [_threshold(t, values, stamp) for t in gates.evaluation_thresholds or []]
    return out, record


def _threshold(t: ResultThreshold, values: dict[str, float], stamp: str) -> GateResult:
    name = f"evaluation/{t.name}"
    value = values.get(t.name)
    bound = t.min if t.min is not None else t.max
    if value is None:
        return GateResult(
            name=name,
            verdict="Fail",
            threshold=bound,
            message=f"the evaluation Job reported no {t.name}",
            measured_at=stamp,
            final=True,
        )
    if t.min is not None and value < t.min:
        text, verdict, bound = f"{t.name} {value:g} < {t.min:g}", "Fail", t.min
    elif t.max is not None and value > t.max:
        text, verdict, bound = f"{t.name} {value:g} > {t.max:g}", "Fail", t.max
    else:
        limits = " and ".join(
            s
            for s in (
                f">= {t.min:g}" if t.min is not None else "",
                f"<= {t.max:g}" if t.max is not None else "",
            )
            if s
        )
        text, verdict = f"{t.name} {value:g} {limits}", "Pass"
    return GateResult(
        name=name,
        verdict=verdict,
        value=value,
        threshold=bound,
        message=text,
        measured_at=stamp,
        final=True,
    )


# ----- approval and the target ------------------------------------------------------------


def approval(
    gates: Gates, approvals: Sequence[Vote], rejections: Sequence[Vote], now: datetime
) -> GateResult | None:
    if gates.approval is None or not gates.approval.required:
        return None
    stamp = rfc3339(now)
    need = gates.approval.min_approvers
    if rejections:
        first = rejections[0]
        return GateResult(
            name="approval",
            verdict="Fail",
            value=float(len(approvals)),
            threshold=float(need),
            message=f"rejected by {first.user}: {first.message or '(no message)'}",
            measured_at=stamp,
            final=True,
        )
    users = ", ".join(v.user for v in approvals)
    have = len(approvals)
    return GateResult(
        name="approval",
        verdict="Pass" if have >= need else "Waiting",
        value=float(have),
        threshold=float(need),
        message=f"{have} of {need} approvals" + (f" ({users})" if users else ""),
        measured_at=stamp,
    )


def argocd_tracking(to: DeploymentView) -> str:
    """How Argo CD tracks the target ("" when it does not)."""
    for key in ARGOCD_TRACKING:
        value = to.labels.get(key) or to.annotations.get(key)
        if value:
            return f"{key}={value}"
    return ""


def target(
    spec: ModelPromotionSpec, to: DeploymentView | None, model: PromotedModel, now: datetime
) -> GateResult:
    stamp = rfc3339(now)
    ns, name = spec.to.namespace, spec.to.name
    if to is None:
        return GateResult(
            name="target",
            verdict="Waiting",
            message=f"target ModelDeployment {ns or ''}{'/' if ns else ''}{name} not found",
            measured_at=stamp,
        )
    tracked = argocd_tracking(to)
    direct = spec.strategy.direct
    if tracked and direct is not None and not direct.allow_argo_cd_managed:
        return GateResult(
            name="target",
            verdict="Fail",
            message=f"the target is managed by Argo CD ({tracked}): its selfHeal would "
            "revert a direct change; promote through Git, or set "
            "spec.strategy.direct.allowArgoCDManaged",
            measured_at=stamp,
            final=True,
        )
    # A server-side apply cannot remove a field another manager set (and refuses null):
    # the target would keep pinning the old artifact under the new version. A commit to
    # the manifest can remove it.
    stale = [
        f"spec.model.{field} {getattr(to.model, field)}"
        for field in ("digest", "format")
        if direct is not None
        and getattr(to.model, field) is not None
        and getattr(model, field) is None
    ]
    if stale:
        return GateResult(
            name="target",
            verdict="Fail",
            message=f"the target sets {', '.join(stale)} and the promoted model has none; "
            "a server-side apply cannot remove a field another writer set: remove it from "
            "the target, or set it on the source",
            measured_at=stamp,
            final=True,
        )
    allowed = "allowed" if direct is not None else "changed through Git"
    note = f" (Argo CD tracks it: {tracked}; {allowed})" if tracked else ""
    return GateResult(
        name="target",
        verdict="Pass",
        message=f"target {to.key} serves {_serving(to)}{note}",
        measured_at=stamp,
    )


def _serving(view: DeploymentView) -> str:
    stable = view.status.stable_revision
    return stable.model_version if stable is not None else "nothing yet"
