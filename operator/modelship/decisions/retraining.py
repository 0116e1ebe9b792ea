"""Retraining Jobs after sustained drift (pure).

After ``trigger.driftWindows`` drifted windows in a row, a Job is started from
``jobTemplate`` — unless one is still running or the last one started less than
``cooldown`` ago. Jobs are numbered (``NAME-retrain-<n>``) and the number comes from
the Jobs that exist as much as from status, so an operator restarted between creating
a Job and recording it finds the Job and never makes a second one; a create that
finds the name taken is the same Job. A finished Job is recorded once (Succeeded with
the version and URI its termination message reports, or Failed with the Job's reason)
and a failed one is not retried until drift triggers again after the cooldown. Only
the newest ``HISTORY`` finished Jobs are kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from modelship.api import ModelDeploymentSpec
from modelship.api.drift import Retraining
from modelship.api.status import DriftStatus, RetrainedModel, RetrainingRun, RetrainingStatus
from modelship.api.types import parse_duration
from modelship.conditions import Reason, parse_time, rfc3339
from modelship.kernel.plan import Event
from modelship.observed import JobState
from modelship.render.retraining import job_name

HISTORY = 3


@dataclass(frozen=True)
class RetrainingPlan:
    status: RetrainingStatus | None
    create: int | None = None  # the number of the Job to create now
    delete: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def watching_jobs(
    spec: ModelDeploymentSpec, drift: DriftStatus | None, previous: RetrainingStatus | None
) -> bool:
    """Whether this reconcile needs the Jobs at all: one is recorded as running, or drift
    has lasted long enough to start one. Otherwise nothing about them can change, and
    the reconcile (which runs on every pod event) does not list them."""
    if spec.retraining is None:
        return False
    if previous is not None and previous.active is not None:
        return True
    return drift is not None and drift.consecutive_drifted >= spec.retraining.trigger.drift_windows


def current_deploy(status: RetrainingStatus, spec_revision: str) -> RetrainedModel | None:
    """The autoDeploy override, while the spec's own revision is the one it was made for."""
    deployed = status.deployed
    return deployed if deployed is not None and deployed.spec_revision == spec_revision else None


def keep_retraining(
    previous: RetrainingStatus | None, spec_revision: str
) -> RetrainingStatus | None:
    """Status when no Job can have changed: as it was, with an autoDeploy override
    dropped once the spec's own revision moved on."""
    if previous is None:
        return None
    return previous.model_copy(update={"deployed": current_deploy(previous, spec_revision)})


def parse_result(message: str) -> tuple[str | None, str | None, str]:
    """(version, uri, problem) from a Job's termination message:
    ``{"version": "1.5.0", "uri": "s3://..."}``."""
    try:
        body = json.loads(message) if message.strip() else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("version") or not body.get("uri"):
        shown = message.strip()[:200] or "empty"
        expected = '{"version": ..., "uri": ...}'
        return None, None, f"no new model reported (termination message {shown!r}, not {expected})"
    return str(body["version"]), str(body["uri"]), ""


def decide_retraining(
    owner: str,
    spec_revision: str,
    spec: ModelDeploymentSpec,
    drift: DriftStatus | None,
    previous: RetrainingStatus | None,
    jobs: list[JobState],
    results: Mapping[str, str],
    now: datetime,
) -> RetrainingPlan:
    """``results``: termination messages of finished Jobs, by Job name;
    ``spec_revision``: the spec's own revision (an autoDeploy lasts until it changes)."""
    retraining = spec.retraining
    if retraining is None:
        return RetrainingPlan(previous)
    prev = previous or RetrainingStatus()
    count = max([prev.count, *(j.number for j in jobs)])
    running = sorted((j for j in jobs if not j.finished), key=lambda j: j.number)
    finished = sorted((j for j in jobs if j.finished), key=lambda j: j.number)
    last, deployed, events = _record_finished(
        finished[-1] if finished else None, results, prev, retraining, spec_revision
    )
    delete = [j.name for j in finished[:-HISTORY]] if len(finished) > HISTORY else []
    status = RetrainingStatus(
        count=count, active=_active_run(running, prev), last=last, deployed=deployed
    )
    # A new autoDeploy takes effect in the next reconcile (it changes the desired revision).
    soon = 1.0 if deployed is not None and deployed != prev.deployed else None
    waiting = RetrainingPlan(status, delete=delete, events=events, requeue_after=soon)
    return _start_if_due(owner, retraining, drift, waiting, now)


def _record_finished(
    newest: JobState | None,
    results: Mapping[str, str],
    prev: RetrainingStatus,
    retraining: Retraining,
    spec_revision: str,
) -> tuple[RetrainingRun | None, RetrainedModel | None, list[Event]]:
    """(last finished run, autoDeploy override, Events) with the newest finished Job in.

    A Job already recorded as ``last`` is not told again. A success that reports no
    usable model is still Succeeded (its reason says what is missing) but deploys
    nothing.
    """
    last = prev.last
    deployed = current_deploy(prev, spec_revision)
    if newest is None or (last is not None and last.name == newest.name):
        return last, deployed, []
    last = _finished_run(newest, results.get(newest.name, ""), prev)
    if last.outcome != "Succeeded":
        failed = f"{newest.name} failed: {last.reason}"
        return last, deployed, [Event("Warning", Reason.RETRAINING_FAILED, failed)]
    text = f"{newest.name} succeeded: model {last.model_version} at {last.model_uri}"
    if last.model_version is None:
        text = f"{newest.name} succeeded but {last.reason}"
    events = [Event("Normal", Reason.RETRAINING_SUCCEEDED, text)]
    if retraining.auto_deploy and last.model_version and last.model_uri:
        deployed = RetrainedModel(
            job=newest.name,
            model_version=last.model_version,
            model_uri=last.model_uri,
            spec_revision=spec_revision,
        )
        events.append(
            Event(
                "Normal",
                Reason.RETRAINED_MODEL_DEPLOYING,
                f"autoDeploy: rolling out {last.model_version} from {newest.name} through a canary",
            )
        )
    return last, deployed, events


def _active_run(running: list[JobState], prev: RetrainingStatus) -> RetrainingRun | None:
    """The newest running Job; why it started is known only if we recorded starting it
    (one found after a restart, before its start was recorded, has no reason)."""
    if not running:
        return None
    job = running[-1]
    reason = prev.active.reason if prev.active and prev.active.name == job.name else ""
    return RetrainingRun(name=job.name, started_at=job.created_at, outcome="Running", reason=reason)


def _start_if_due(
    owner: str,
    retraining: Retraining,
    drift: DriftStatus | None,
    waiting: RetrainingPlan,
    now: datetime,
) -> RetrainingPlan:
    """``waiting`` (the plan if no Job starts) with the next Job, if drift lasted long enough.

    Not while one runs, nor within ``cooldown`` of the last one's start: then look again
    when the cooldown ends, or sooner if ``waiting`` asks (a new autoDeploy takes effect
    in a second whatever the cooldown). Starting one keeps ``waiting``'s requeue.
    """
    status = waiting.status
    assert status is not None
    windows = retraining.trigger.drift_windows
    if status.active is not None or drift is None or drift.consecutive_drifted < windows:
        return waiting
    cooldown = timedelta(seconds=parse_duration(retraining.cooldown))
    last = status.last
    started = [parse_time(r.started_at) for r in (last,) if r is not None and r.started_at]
    if started and now < started[0] + cooldown:
        wait = (started[0] + cooldown - now).total_seconds()
        soon = waiting.requeue_after
        return replace(waiting, requeue_after=wait if soon is None else min(soon, wait))
    number = status.count + 1
    reason = f"{drift.consecutive_drifted} drifted windows in a row: {drift.message}"
    run = RetrainingRun(
        name=job_name(owner, number), started_at=rfc3339(now), outcome="Running", reason=reason
    )
    started_event = Event("Normal", Reason.RETRAINING_STARTED, f"{run.name}: {reason}")
    return replace(
        waiting,
        status=status.model_copy(update={"count": number, "active": run}),
        create=number,
        events=[*waiting.events, started_event],
    )


def _finished_run(job: JobState, message: str, prev: RetrainingStatus) -> RetrainingRun:
    started = (
        prev.active.started_at if prev.active and prev.active.name == job.name else job.created_at
    )
    if not job.succeeded:
        return RetrainingRun(
            name=job.name,
            started_at=started,
            finished_at=job.finished_at,
            outcome="Failed",
            reason=job.message or "the Job failed",
        )
    version, uri, problem = parse_result(message)
    return RetrainingRun(
        name=job.name,
        started_at=started,
        finished_at=job.finished_at,
        outcome="Succeeded",
        reason=problem,
        model_version=version,
        model_uri=uri,
    )
