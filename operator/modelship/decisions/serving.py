"""Status of the stable serving track: conditions, phase, events, when to look again.

A pure function of the spec, the observed Deployment and pods, the previous
status and ``now``. The reconcile layer executes the returned plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from modelship.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.status import Condition, HistoryEntry, Phase, RevisionRef
from modelship.conditions import (
    DEGRADED,
    PROGRESSING,
    READY,
    Reason,
    flipped,
    rfc3339,
    set_condition,
)
from modelship.observed import DeploymentState, PodState

# While pods are not ready, look again this often even without a watch event:
# a pod that stays Pending produces no new event once the scheduler has spoken.
NOT_READY_REQUEUE_SECONDS = 10.0


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to record on the ModelDeployment."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class StatusPlan:
    status: ModelDeploymentStatus
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


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


def _history(
    previous: Sequence[HistoryEntry], revision: RevisionRef, now: datetime, limit: int
) -> list[HistoryEntry]:
    if previous and previous[0].revision == revision.name:
        return list(previous[:limit])
    entry = HistoryEntry(
        revision=revision.name,
        model_version=revision.model_version,
        digest=revision.digest,
        image=revision.image,
        deployed_at=rfc3339(now),
        outcome="RolledOut",
    )
    older = [
        h.model_copy(update={"outcome": "Superseded"}) if h.outcome == "RolledOut" else h
        for h in previous
    ]
    return [entry, *older][: max(limit, 1)]


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


def assess_serving(
    generation: int,
    spec: ModelDeploymentSpec,
    revision: RevisionRef,
    deployment: DeploymentState,
    pods: Sequence[PodState],
    previous: ModelDeploymentStatus,
    now: datetime,
) -> StatusPlan:
    desired = spec.replicas
    ready = deployment.ready_replicas
    conds = list(previous.conditions)

    def put(type_: str, status: Literal["True", "False"], reason: str, message: str) -> None:
        nonlocal conds
        conds = set_condition(conds, type_, status, reason, message, generation, now)

    serving = f"model {spec.model.name} {spec.model.version} (revision {revision.name})"
    problem = _scheduling_problem(spec, pods)
    if deployment.deadline_exceeded_message:
        msg = f"rollout of {serving} made no progress: {deployment.deadline_exceeded_message}"
        put(PROGRESSING, "False", Reason.PROGRESS_DEADLINE_EXCEEDED, msg)
        put(DEGRADED, "True", Reason.PROGRESS_DEADLINE_EXCEEDED, msg)
    elif deployment.rolled_out or (
        # Pods lost after the rollout finished are a readiness problem, not a rollout.
        deployment.updated
        and previous.stable_revision is not None
        and previous.stable_revision.name == revision.name
    ):
        put(PROGRESSING, "False", Reason.ROLLOUT_COMPLETE, f"{serving} rolled out")
    else:
        put(
            PROGRESSING,
            "True",
            Reason.ROLLING_UPDATE,
            f"rolling out {serving}: "
            + (
                f"{deployment.updated_replicas}/{desired} updated, {ready}/{desired} ready"
                if deployment.observed_generation >= deployment.generation
                else "waiting for the Deployment controller"
            ),
        )
    if problem:
        put(DEGRADED, "True", *problem)
    elif not deployment.deadline_exceeded_message:
        put(DEGRADED, "False", Reason.AS_EXPECTED, "no problem observed")

    # Ready means serving at the desired scale with nothing failing: a healthy rolling
    # update keeps it True (old pods still serve); a stuck one turns it False.
    available = deployment.available_replicas
    degraded = problem is not None or deployment.deadline_exceeded_message is not None
    if desired == 0 and deployment.rolled_out:
        put(READY, "True", Reason.SCALED_TO_ZERO, f"{serving} scaled to 0 replicas")
    elif (
        available >= desired
        and deployment.observed_generation >= deployment.generation
        and (not degraded)
    ):
        where = f"on {serving}" if deployment.rolled_out else f"while rolling out {serving}"
        put(
            READY, "True", Reason.AVAILABLE, f"{available}/{desired} runtime pods available {where}"
        )
    elif problem is not None:
        put(
            READY,
            "False",
            problem[0],
            f"{available}/{desired} runtime pods available; {problem[1]}",
        )
    elif deployment.deadline_exceeded_message:
        put(
            READY,
            "False",
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            f"{available}/{desired} runtime pods available; {deployment.deadline_exceeded_message}",
        )
    else:
        put(
            READY,
            "False",
            Reason.PODS_NOT_READY,
            f"{available}/{desired} runtime pods available on {serving}",
        )

    stable = previous.stable_revision
    history = list(previous.history)
    if deployment.rolled_out:
        stable = revision
        history = _history(history, revision, now, spec.revision_history_limit)

    status = previous.model_copy(
        update={
            "observed_generation": generation,
            "phase": _phase(conds),
            "stable_revision": stable,
            "replicas": desired,
            "ready_replicas": ready,
            "ready_summary": f"{ready}/{desired}",
            "conditions": conds,
            "history": history,
        }
    )
    requeue = None if deployment.rolled_out else NOT_READY_REQUEUE_SECONDS
    return StatusPlan(status, _events(previous.conditions, conds), requeue)


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
