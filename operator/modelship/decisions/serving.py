"""Status of a ModelDeployment: conditions, phase, history, events, when to look again.

A pure function of the spec, the observed tracks and pods, the rollout plan, the
previous status and ``now``. The reconcile layer executes the returned plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from modelship.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.status import CanaryStatus, Condition, HistoryEntry, Phase, RevisionRef
from modelship.conditions import (
    DEGRADED,
    PROGRESSING,
    READY,
    Reason,
    flipped,
    set_condition,
)
from modelship.decisions.history import record
from modelship.decisions.rollout import RolloutPlan
from modelship.kernel.plan import Event
from modelship.observed import DeploymentState, PodState

# While pods are not ready, look again this often even without a watch event:
# a pod that stays Pending produces no new event once the scheduler has spoken.
NOT_READY_REQUEUE_SECONDS = 10.0


@dataclass(frozen=True)
class StatusPlan:
    status: ModelDeploymentStatus
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


_CANARY_REASONS = (Reason.CANARY_PROGRESSING, Reason.CANARY_PAUSED, Reason.PROMOTING)


def _events(before: Sequence[Condition], after: Sequence[Condition]) -> list[Event]:
    """Events for the transitions an SRE wants in `kubectl describe`, once each.

    Not every flip is news: Ready going False on the first rollout and Progressing
    settling after Ready turned True repeat what another Event already says.
    """
    out: list[Event] = []
    was = {c.type: c for c in before}
    for cond in flipped(before, after):
        old = was.get(cond.type)
        problem = cond.status == "True" and cond.type == DEGRADED
        if cond.type == PROGRESSING and cond.reason == Reason.PROGRESS_DEADLINE_EXCEEDED:
            problem = True
        elif (
            cond.type == DEGRADED
            and cond.status == "False"
            and (old is None or old.status != "True")
        ):
            continue  # "not degraded" is news only after being degraded
        elif (
            cond.type == READY and cond.status == "False" and (old is None or old.status != "True")
        ):
            continue  # not ready yet, not a loss of readiness
        elif cond.type == PROGRESSING and cond.status == "False" and not problem:
            continue  # Ready=True says it better
        elif cond.type == PROGRESSING and cond.reason in _CANARY_REASONS:
            continue  # the rollout's own Events tell each canary step
        if any(
            e.reason == cond.reason and (e.message == cond.message or cond.type == READY)
            for e in out
        ):
            continue  # told already (lost readiness: by Degraded's Event, in its words)
        out.append(
            Event(
                "Warning"
                if problem or (cond.status == "False" and cond.type == READY)
                else "Normal",
                cond.reason,
                cond.message,
            )
        )
    return out


def _phase(conditions: Sequence[Condition], canary: CanaryStatus | None) -> Phase:
    """From the conditions; a paused canary shows as Paused unless something is degraded."""
    by_type = {c.type: c.status for c in conditions}
    if by_type.get(DEGRADED) == "True":
        return "Degraded"
    if canary is not None and canary.phase == "Paused":
        return "Paused"
    if by_type.get(READY) == "True" and by_type.get(PROGRESSING) != "True":
        return "Healthy"
    return "Progressing"


def _scheduling_problem(
    spec: ModelDeploymentSpec, pods: Sequence[PodState]
) -> tuple[str, str] | None:
    """(reason, message) when runtime pods cannot be placed, naming the scheduler's words."""
    stuck = [p for p in pods if p.unschedulable_message]
    if not stuck:
        return None
    first = stuck[0].unschedulable_message or ""
    gpu = spec.runtime.gpu
    counted = f"{len(stuck)} runtime pod(s) cannot be scheduled"
    if gpu and gpu.count > 0 and f"Insufficient {gpu.resource_name}" in first:
        need = f"{gpu.count} {gpu.resource_name} each"
        return Reason.INSUFFICIENT_GPU, f"{counted} ({need}): {first}"
    return Reason.UNSCHEDULABLE, f"{counted}: {first}"


def _canary_summary(canary: CanaryStatus | None) -> str | None:
    """``2.0@10%`` (``~`` when approximate), with the phase unless it is Progressing."""
    if canary is None:
        return None
    approx = "~" if canary.weight_approximate else ""
    text = f"{canary.revision.model_version}@{approx}{canary.weight}%"
    return text if canary.phase == "Progressing" else f"{text} {canary.phase}"


# One condition's (status, reason, message), as set_condition takes them.
_ConditionArgs = tuple[Literal["True", "False"], str, str]


def _problem(
    spec: ModelDeploymentSpec,
    pods: Sequence[PodState],
    rollout: RolloutPlan | None,
    stalled: str | None,
) -> tuple[str, str] | None:
    """(reason, message) of what keeps the model from serving as asked, most telling first.

    An abort outranks a canary that cannot be placed, which outranks the scheduler's
    words; a stalled Deployment counts only when nothing else explains it.
    """
    problem = _scheduling_problem(spec, pods)
    if rollout is not None and rollout.capacity_problem:
        # Our numbers first (pods, room, GPUs free), then the scheduler's words if it spoke.
        words = f"; {problem[1]}" if problem else ""
        problem = (
            Reason.INSUFFICIENT_GPU,
            f"canary cannot be placed: {rollout.capacity_problem}{words}",
        )
    if rollout is not None and rollout.aborted:
        problem = rollout.aborted
    if stalled is not None:
        problem = problem or (Reason.PROGRESS_DEADLINE_EXCEEDED, stalled)
    return problem


def _stalled(deployment: DeploymentState, canary: CanaryStatus | None, serving: str) -> str | None:
    """Why the stable rollout made no progress, if the Deployment controller gave up on it.

    Only without a canary: during one, Progressing tells the canary, whose own deadline
    aborts it.
    """
    if canary is not None or not deployment.deadline_exceeded_message:
        return None
    return f"rollout of {serving} made no progress: {deployment.deadline_exceeded_message}"


def _settled(
    deployment: DeploymentState, revision: RevisionRef, previous: ModelDeploymentStatus
) -> bool:
    """The stable track finished rolling out ``revision``.

    Pods lost after that are a readiness problem, not a rollout: updated but short of
    pods still counts once ``revision`` was recorded as stable.
    """
    return deployment.rolled_out or (
        deployment.updated
        and previous.stable_revision is not None
        and previous.stable_revision.name == revision.name
    )


def _canary_progressing(canary: CanaryStatus) -> _ConditionArgs:
    """Progressing while a canary runs; an abort ends it, a pause only names itself."""
    if canary.phase == "Aborted":
        # Degraded holds the abort's words (for as long as it stands): said once.
        what = f"canary {canary.revision.model_version} aborted"
        return "False", canary.abort_reason or Reason.ABORTED, f"{what}; see the Degraded condition"
    reason = {"Paused": Reason.CANARY_PAUSED, "Promoting": Reason.PROMOTING}.get(
        canary.phase, Reason.CANARY_PROGRESSING
    )
    if canary.phase == "Paused" and canary.pause_reason == "Analysis":
        reason = Reason.ANALYSIS_INCONCLUSIVE
    return "True", reason, f"canary {_canary_summary(canary)}: {canary.message}"


def _progressing_condition(
    spec: ModelDeploymentSpec,
    deployment: DeploymentState,
    canary: CanaryStatus | None,
    serving: str,
    settled: bool,
    stalled: str | None,
) -> _ConditionArgs:
    """Progressing: the canary if one runs, else the stable track's rolling update.

    Until the Deployment controller has seen the new generation its counts describe the
    old template, so they are not shown.
    """
    if canary is not None:
        return _canary_progressing(canary)
    if stalled is not None:
        return "False", Reason.PROGRESS_DEADLINE_EXCEEDED, stalled
    if settled:
        return "False", Reason.ROLLOUT_COMPLETE, f"{serving} rolled out"
    desired = spec.replicas
    counts = (
        f"{deployment.updated_replicas}/{desired} updated, "
        f"{deployment.ready_replicas}/{desired} ready"
        if deployment.observed_generation >= deployment.generation
        else "waiting for the Deployment controller"
    )
    return "True", Reason.ROLLING_UPDATE, f"rolling out {serving}: {counts}"


def _degraded_condition(problem: tuple[str, str] | None) -> _ConditionArgs:
    if problem:
        return "True", *problem
    return "False", Reason.AS_EXPECTED, "no problem observed"


def _pods_available(
    spec: ModelDeploymentSpec,
    deployment: DeploymentState,
    rollout: RolloutPlan | None,
    canary_track: DeploymentState | None,
) -> tuple[int, int]:
    """(available, planned) runtime pods, both tracks counted while a canary runs.

    An aborted canary's pods are on their way out: they are planned (at zero) but no
    longer count as serving.
    """
    available = deployment.available_replicas
    planned = spec.replicas
    canary = rollout.canary if rollout else None
    if canary is not None and rollout is not None:
        planned = rollout.stable_replicas + rollout.canary_replicas
        if canary_track is not None and canary.phase != "Aborted":
            available += canary_track.available_replicas
    return available, planned


def _ready_condition(
    spec: ModelDeploymentSpec,
    deployment: DeploymentState,
    previous: ModelDeploymentStatus,
    problem: tuple[str, str] | None,
    available: int,
    planned: int,
    serving: str,
    settled: bool,
) -> _ConditionArgs | None:
    """Ready: serving at the desired scale (both tracks count) with nothing failing.

    A healthy rolling update or canary keeps it True; a stuck or aborted one does not.
    None keeps the previous Ready while the Deployment controller has not caught up
    with the new generation: its counts would be no news about readiness yet.
    """
    desired = spec.replicas
    current = deployment.observed_generation >= deployment.generation
    ready_before = next((c for c in previous.conditions if c.type == READY), None)
    if not current and problem is None and ready_before is not None:
        return None
    if desired == 0 and deployment.rolled_out and problem is None:
        return "True", Reason.SCALED_TO_ZERO, f"{serving} scaled to 0 replicas"
    if problem is not None:
        # The problem's words are Degraded's; Ready names it and points there.
        pods = f"{available}/{planned} runtime pods available"
        return "False", problem[0], f"{pods}; see the Degraded condition"
    if available >= desired and current:
        where = f"on {serving}" if settled else f"while rolling out {serving}"
        return "True", Reason.AVAILABLE, f"{available}/{planned} runtime pods available {where}"
    return (
        "False",
        Reason.PODS_NOT_READY,
        f"{available}/{planned} runtime pods available on {serving}",
    )


def _history_after(
    spec: ModelDeploymentSpec,
    revision: RevisionRef,
    deployment: DeploymentState,
    previous: ModelDeploymentStatus,
    rollout: RolloutPlan | None,
    now: datetime,
) -> tuple[RevisionRef | None, list[HistoryEntry]]:
    """(stable revision, history) once this pass is applied.

    Without a canary the stable revision moves only when the Deployment finished
    rolling out the very revision we asked for (a Deployment not yet labelled counts);
    it is recorded as RolledOut once, not on every pass. An abort is recorded on the
    pass it happens, not while it stands.
    """
    canary = rollout.canary if rollout else None
    stable, history = previous.stable_revision, list(previous.history)
    limit = spec.revision_history_limit
    if rollout is not None and rollout.promoted is not None:
        stable = rollout.promoted
        history = record(history, rollout.promoted, Reason.PROMOTED, now, limit)
    elif canary is None and deployment.rolled_out and deployment.revision in (None, revision.name):
        if stable is None or stable.name != revision.name:
            history = record(history, revision, "RolledOut", now, limit)
        stable = revision
    if (
        rollout is not None
        and rollout.aborted
        and previous.canary is not None
        and previous.canary.phase != "Aborted"
        and canary is not None
    ):
        history = record(history, canary.revision, "Aborted", now, limit)
    return stable, history


def _requeue(deployment: DeploymentState, rollout: RolloutPlan | None) -> float | None:
    """Soon while stable's pods are coming; at the rollout's time (a timed pause, pods it
    waits for, the progress deadline) if that is sooner. A canary waiting for a person
    (paused, at a pause step without a duration) is not polled: watch events and the
    slow resync bring it back."""
    requeue = NOT_READY_REQUEUE_SECONDS if not deployment.rolled_out else None
    if rollout is not None and rollout.requeue_after is not None:
        requeue = min(requeue or rollout.requeue_after, rollout.requeue_after)
    return requeue


def _all_events(
    rollout: RolloutPlan | None, before: Sequence[Condition], after: Sequence[Condition]
) -> list[Event]:
    """The rollout's Events first, then condition flips it has not already told.

    A flip whose reason a rollout Event already carries is dropped even if its message
    differs: the rollout's wording is the more specific one.
    """
    told = [*(rollout.events if rollout else [])]
    return [
        *told,
        *(e for e in _events(before, after) if all(t.reason != e.reason for t in told)),
    ]


def assess_serving(
    generation: int,
    spec: ModelDeploymentSpec,
    revision: RevisionRef,
    deployment: DeploymentState,
    pods: Sequence[PodState],
    previous: ModelDeploymentStatus,
    now: datetime,
    rollout: RolloutPlan | None = None,
    canary_track: DeploymentState | None = None,
    repaired: str | None = None,
) -> StatusPlan:
    """Conditions, phase, stable revision and history from the tracks and the rollout plan.

    ``revision`` is what the stable track runs; ``pods`` are the runtime pods of both
    tracks (only needed while something is not ready). ``repaired``: what status said
    that was not so, told as Degraded (after any real problem) but not as lost readiness.
    """
    canary = rollout.canary if rollout else None
    serving = f"model {spec.model.name} {spec.model.version} (revision {revision.name})"
    stalled = _stalled(deployment, canary, serving)
    problem = _problem(spec, pods, rollout, stalled)
    settled = _settled(deployment, revision, previous)
    available, planned = _pods_available(spec, deployment, rollout, canary_track)

    # Set in this order: a new condition is appended, and the list order is the status.
    conds = list(previous.conditions)
    progressing = _progressing_condition(spec, deployment, canary, serving, settled, stalled)
    conds = set_condition(conds, PROGRESSING, *progressing, generation, now)
    shown = problem or ((Reason.STATUS_REPAIRED, repaired) if repaired else None)
    conds = set_condition(conds, DEGRADED, *_degraded_condition(shown), generation, now)
    ready = _ready_condition(
        spec, deployment, previous, problem, available, planned, serving, settled
    )
    if ready is not None:
        conds = set_condition(conds, READY, *ready, generation, now)

    stable, history = _history_after(spec, revision, deployment, previous, rollout, now)
    status = previous.model_copy(
        update={
            "observed_generation": generation,
            "phase": _phase(conds, canary),
            "stable_revision": stable,
            "canary": canary,
            "canary_summary": _canary_summary(canary),
            "replicas": spec.replicas,
            "ready_replicas": available,
            "ready_summary": f"{available}/{planned}",
            "conditions": conds,
            "history": history,
        }
    )
    events = _all_events(rollout, previous.conditions, conds)
    return StatusPlan(status, events, _requeue(deployment, rollout))


def assess_invalid_spec(
    generation: int, message: str, previous: ModelDeploymentStatus, now: datetime
) -> StatusPlan:
    """An object the API server accepted but the operator cannot act on.

    Not retried in a loop: the next change of the object triggers a new attempt.
    """
    conds = list(previous.conditions)
    for type_ in (DEGRADED, READY):
        status: Literal["True", "False"] = "True" if type_ == DEGRADED else "False"
        conds = set_condition(conds, type_, status, Reason.INVALID_SPEC, message, generation, now)
    status_ = previous.model_copy(
        update={"observed_generation": generation, "phase": "Degraded", "conditions": conds}
    )
    return StatusPlan(status_, _events(previous.conditions, conds), None)
