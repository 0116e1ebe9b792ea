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
from modelship.api.status import CanaryStatus, Condition, Phase, RevisionRef
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
        if any(e.reason == cond.reason and e.message == cond.message for e in out):
            continue
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


def _phase(conditions: Sequence[Condition]) -> Phase:
    by_type = {c.type: c.status for c in conditions}
    if by_type.get(DEGRADED) == "True":
        return "Degraded"
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
) -> StatusPlan:
    """Conditions, phase, stable revision and history from the tracks and the rollout plan.

    ``revision`` is what the stable track runs; ``pods`` are the runtime pods of both
    tracks (only needed while something is not ready).
    """
    desired = spec.replicas
    conds = list(previous.conditions)

    def put(type_: str, status: Literal["True", "False"], reason: str, message: str) -> None:
        nonlocal conds
        conds = set_condition(conds, type_, status, reason, message, generation, now)

    canary = rollout.canary if rollout else None
    serving = f"model {spec.model.name} {spec.model.version} (revision {revision.name})"
    problem = _scheduling_problem(spec, pods)
    if rollout is not None and rollout.capacity_problem:
        # Our numbers first (needed, free), then the scheduler's words if it has spoken.
        words = f"; {problem[1]}" if problem else ""
        problem = (
            Reason.INSUFFICIENT_GPU,
            f"canary cannot be placed: {rollout.capacity_problem}{words}",
        )
    if rollout is not None and rollout.aborted:
        problem = rollout.aborted
    settled = deployment.rolled_out or (
        # Pods lost after the rollout finished are a readiness problem, not a rollout.
        deployment.updated
        and previous.stable_revision is not None
        and previous.stable_revision.name == revision.name
    )
    if canary is not None and canary.phase == "Aborted":
        put(PROGRESSING, "False", canary.abort_reason or Reason.ABORTED, canary.message)
    elif canary is not None:
        reason = {"Paused": Reason.CANARY_PAUSED, "Promoting": Reason.PROMOTING}.get(
            canary.phase, Reason.CANARY_PROGRESSING
        )
        if canary.phase == "Paused" and canary.pause_reason == "Analysis":
            reason = Reason.ANALYSIS_INCONCLUSIVE
        put(PROGRESSING, "True", reason, f"canary {_canary_summary(canary)}: {canary.message}")
    elif deployment.deadline_exceeded_message:
        msg = f"rollout of {serving} made no progress: {deployment.deadline_exceeded_message}"
        put(PROGRESSING, "False", Reason.PROGRESS_DEADLINE_EXCEEDED, msg)
        problem = problem or (Reason.PROGRESS_DEADLINE_EXCEEDED, msg)
    elif settled:
        put(PROGRESSING, "False", Reason.ROLLOUT_COMPLETE, f"{serving} rolled out")
    else:
        counts = (
            f"{deployment.updated_replicas}/{desired} updated, "
            f"{deployment.ready_replicas}/{desired} ready"
            if deployment.observed_generation >= deployment.generation
            else "waiting for the Deployment controller"
        )
        put(PROGRESSING, "True", Reason.ROLLING_UPDATE, f"rolling out {serving}: {counts}")
    if problem:
        put(DEGRADED, "True", *problem)
    else:
        put(DEGRADED, "False", Reason.AS_EXPECTED, "no problem observed")

    # Ready: serving at the desired scale (both tracks count) with nothing failing. A
    # healthy rolling update or canary keeps it True; a stuck or aborted one does not.
    available = deployment.available_replicas
    planned = desired
    if canary is not None and rollout is not None:
        planned = rollout.stable_replicas + rollout.canary_replicas
        if canary_track is not None and canary.phase != "Aborted":
            available += canary_track.available_replicas
    current = deployment.observed_generation >= deployment.generation
    ready_before = next((c for c in previous.conditions if c.type == READY), None)
    if not current and problem is None and ready_before is not None:
        pass  # the Deployment controller has not caught up: no news about readiness yet
    elif desired == 0 and deployment.rolled_out and problem is None:
        put(READY, "True", Reason.SCALED_TO_ZERO, f"{serving} scaled to 0 replicas")
    elif problem is not None:
        put(
            READY,
            "False",
            problem[0],
            f"{available}/{planned} runtime pods available; {problem[1]}",
        )
    elif available >= desired and current:
        where = f"on {serving}" if settled else f"while rolling out {serving}"
        put(
            READY, "True", Reason.AVAILABLE, f"{available}/{planned} runtime pods available {where}"
        )
    else:
        put(
            READY,
            "False",
            Reason.PODS_NOT_READY,
            f"{available}/{planned} runtime pods available on {serving}",
        )

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

    conds_phase = _phase(conds)
    if conds_phase != "Degraded" and canary is not None and canary.phase == "Paused":
        conds_phase = "Paused"
    status = previous.model_copy(
        update={
            "observed_generation": generation,
            "phase": conds_phase,
            "stable_revision": stable,
            "canary": canary,
            "canary_summary": _canary_summary(canary),
            "replicas": desired,
            "ready_replicas": available,
            "ready_summary": f"{available}/{planned}",
            "conditions": conds,
            "history": history,
        }
    )
    waiting = not deployment.rolled_out or (canary is not None and canary.phase != "Aborted")
    requeue = NOT_READY_REQUEUE_SECONDS if waiting else None
    if rollout is not None and rollout.requeue_after is not None:
        requeue = min(requeue or rollout.requeue_after, rollout.requeue_after)
    told = [*(rollout.events if rollout else [])]
    events = [
        *told,
        *(
            e
            for e in _events(previous.conditions, conds)
            if all(t.reason != e.reason for t in told)
        ),
    ]
    return StatusPlan(status, events, requeue)


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
