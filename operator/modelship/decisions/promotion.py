"""The ModelPromotion controller's decision: one snapshot and ``now`` -> one Plan (pure).

A promotion works in runs. A run pins the model the source serves on its stable track
(name, version, URI, digest), evaluates the gates (promotion_gates.py) until all pass at
once, changes the target's spec.model, and waits for the target's own rollout: Succeeded
when the target's stable revision is that model, Failed when the target aborts it, when
a gate can no longer pass, or when gates.timeout runs out. Once has one run; Continuous
starts another whenever the source's stable model changes. Everything a run measured is
its evidence (status.evidence), stored on the target when the run ends.

Level-based: a reconcile re-derives where the run is from what it observes. A target
already carrying this run's model and promoted-by annotation was changed by a reconcile
that stopped before recording it, so the run is Promoting, whatever the gates say now.
"""

from __future__ import annotations

from datetime import datetime

from modelship.api.approvals import Vote
from modelship.api.promotion import GitStrategy, ModelPromotionSpec
from modelship.api.promotion_status import (
    ApprovalRecord,
    Evidence,
    GateResult,
    ModelPromotionStatus,
    PromotedModel,
    RunSummary,
    SourceState,
    TargetState,
)
from modelship.api.types import parse_duration
from modelship.conditions import (
    APPROVED,
    GATES_PASSED,
    SUCCEEDED,
    Reason,
    Status,
    parse_time,
    rfc3339,
    set_condition,
)
from modelship.decisions import promotion_gates as gates
from modelship.decisions import promotion_git
from modelship.decisions.promotion_types import DeploymentView, Snapshot
from modelship.kernel.plan import Action, Apply, CreateOnce, Event, Plan
from modelship.render.labels import Owner
from modelship.render.promotion import (
    PROMOTED_BY,
    PROMOTION_FIELD_MANAGER,
    evaluation_env,
    evaluation_job,
    evaluation_job_name,
    evidence_name,
    evidence_revision,
    promoted_by,
    target_model_patch,
)

MD_API = "modelship.io/v1alpha1"
# A gate whose Fail ends the run, and the reason the run fails with.
FINAL_REASONS = {
    "target": Reason.TARGET_REFUSED,
    "evaluationJob": Reason.EVALUATION_FAILED,
    "approval": Reason.REJECTED,
}


def _owner(s: Snapshot) -> Owner:
    ref = s.target.ref
    return Owner(ref.name, ref.namespace, s.target.uid, MD_API, ref.kind)


def _key(s: Snapshot) -> str:
    return f"{s.target.ref.namespace}/{s.target.ref.name}"


def decide(s: Snapshot, now: datetime) -> Plan:
    if s.spec is None:
        return invalid(s, s.invalid, now)
    spec = s.spec
    run = s.previous.evidence
    if run is not None and run.outcome != "Running":
        if spec.mode == "Once" or not _new_model(s, run):
            return _settled(s, spec, run, now)
        run = None
    if run is None:
        started = _start(s, spec, now)
        if isinstance(started, Plan):
            return started
        run = started
        event = Event(
            "Normal",
            Reason.RUN_STARTED,
            f"run {run.run}: promoting {run.model.name} {run.model.version} from "
            f"{run.source.namespace}/{run.source.name} to {run.target.namespace}/"
            f"{run.target.name}",
        )
        plan = _running(s, spec, run, now)
        return Plan(
            actions=plan.actions,
            status=plan.status,
            events=(event, *plan.events),
            requeue_after=plan.requeue_after,
        )
    return _running(s, spec, run, now)


def _running(s: Snapshot, spec: ModelPromotionSpec, run: Evidence, now: datetime) -> Plan:
    if run.promoted_at is None and not _already_promoted(s, run):
        # Gates passed and the target not changed yet: only a commit waits like this.
        if run.gates_passed_at is not None and spec.strategy.git is not None:
            return _syncing(s, spec, spec.strategy.git, run, now)
        return _gating(s, spec, run, now)
    if run.promoted_at is None:
        # Changed by a reconcile that stopped before recording it (a direct change), or
        # by the GitOps tool's sync of this run's commit: said now, as it was not then.
        run = run.model_copy(update={"promoted_at": rfc3339(now)})
        plan = _promoting(s, spec, run, now)
        return Plan(
            actions=plan.actions,
            status=plan.status,
            events=(_changed(s, run), *plan.events),
            requeue_after=plan.requeue_after,
        )
    return _promoting(s, spec, run, now)


def _changed(s: Snapshot, run: Evidence) -> Event:
    """The Event of the target's change (the same words whoever made it, so a reconcile
    stopped before writing it and its rerun write one Event between them)."""
    how = "the GitOps tool applied the commit" if run.target.commit else "all gates passed"
    return Event(
        "Normal",
        Reason.TARGET_CHANGED,
        f"run {run.run}: {how}; {s.to_ref[0]}/{s.to_ref[1]} spec.model set to "
        f"{run.model.version} ({run.model.uri})",
    )


# ----- starting a run ---------------------------------------------------------------------


def _new_model(s: Snapshot, last: Evidence) -> bool:
    """Continuous: the source's stable model is another than the last run's."""
    source = s.source
    return (
        source is not None
        and source.stable_model is not None
        and not gates.same_model(source.stable_model, last.model)
    )


def _start(s: Snapshot, spec: ModelPromotionSpec, now: datetime) -> Evidence | Plan:
    """A new run on the source's stable model, or the plan that waits for one."""
    source = s.source
    where = f"{s.source_ref[0]}/{s.source_ref[1]}"
    if source is None:
        why = f"source ModelDeployment {where} not found"
    elif source.stable_model is None:
        why = f"source {where} serves no stable revision yet"
    elif spec.version is not None and source.stable_model.version != spec.version:
        why = (
            f"source {where} serves {source.stable_model.version} on its stable track; "
            f"waiting for it to serve {spec.version}"
        )
    else:
        return _new_run(s, source, source.stable_model, now)
    created = (s.target.obj.get("metadata") or {}).get("creationTimestamp")
    timeout = parse_duration(spec.gates.timeout)
    if spec.mode == "Once" and created and (now - parse_time(created)).total_seconds() >= timeout:
        return _status_plan(
            s,
            spec,
            None,
            "Failed",
            f"nothing to promote after {spec.gates.timeout}: {why}",
            now,
            succeeded=("False", Reason.SOURCE_VERSION_NOT_SERVED),
        )
    return _status_plan(
        s,
        spec,
        s.previous.evidence,
        s.previous.phase if s.previous.evidence is not None else "Pending",
        why,
        now,
        succeeded=("Unknown", Reason.WAITING_FOR_SOURCE),
        requeue=_until(created, timeout, now) if spec.mode == "Once" else None,
    )


def _new_run(s: Snapshot, source: DeploymentView, model: PromotedModel, now: datetime) -> Evidence:
    to = s.to
    stable = source.status.stable_revision
    return Evidence(
        run=s.previous.runs + 1,
        promotion=_key(s),
        model=model,
        source=SourceState(
            namespace=source.namespace,
            name=source.name,
            revision=stable.name if stable else None,
            served_since=_stamp(gates.served_since(source)),
        ),
        target=TargetState(
            namespace=s.to_ref[0],
            name=s.to_ref[1],
            previous=(
                to.status.stable_revision.model_version
                if to and to.status.stable_revision
                else None
            ),
            outcome="Pending",
        ),
        outcome="Running",
        started_at=rfc3339(now),
    )


def _stamp(when: datetime | None) -> str | None:
    return rfc3339(when) if when is not None else None


def _until(start: str | None, seconds: float, now: datetime) -> float | None:
    if not start:
        return None
    left = parse_time(start).timestamp() + seconds - now.timestamp()
    return max(1.0, left)


# ----- gates ------------------------------------------------------------------------------


def _already_promoted(s: Snapshot, run: Evidence) -> bool:
    """The target carries this run's model and says this run put it there."""
    to = s.to
    if to is None:
        return False
    mark = promoted_by(s.target.ref.namespace, s.target.ref.name, run.run)
    model = PromotedModel.model_validate(to.model.model_dump())
    return to.annotations.get(PROMOTED_BY) == mark and gates.same_model(model, run.model)


def _evaluate(
    s: Snapshot, spec: ModelPromotionSpec, run: Evidence, source: DeploymentView, now: datetime
) -> tuple[list[GateResult], Evidence]:
    """Every gate, in the order people read them; the run with what was measured."""
    results = [gates.target(spec, s.to, run.model, now)]
    soak, clock = gates.soak(spec.gates, source, run.soak, now)
    if soak is not None:
        results.append(soak)
    results += gates.checks(spec, s.checks, run.gates, now)
    drift = gates.drift(spec.gates, source, now)
    if drift is not None:
        results.append(drift)
    job_name = evaluation_job_name(s.target.ref.name, run.run)
    evaluated, record = gates.evaluation(
        spec.gates, job_name, s.target.ref.namespace, s.evaluation, now
    )
    results += evaluated
    approval = gates.approval(spec.gates, s.approvals, s.rejections, now)
    if approval is not None:
        results.append(approval)
    status = source.status
    run = run.model_copy(
        update={
            "gates": results,
            "soak": clock,
            "evaluation": record,
            "approvals": _records(s.approvals, run.approvals, now),
            "rejection": _records(s.rejections, [run.rejection] if run.rejection else [], now)[0]
            if s.rejections
            else None,
            "source": run.source.model_copy(
                update={
                    "analysis": list(status.analysis.checks) if status.analysis else [],
                    "drift": status.drift.verdict if status.drift else None,
                }
            ),
        }
    )
    return results, run


def _records(
    votes: tuple[Vote, ...], known: list[ApprovalRecord], now: datetime
) -> list[ApprovalRecord]:
    """Votes as evidence, each with when the operator first saw it."""
    seen = {r.user: r.seen_at for r in known}
    return [
        ApprovalRecord(user=v.user, seen_at=seen.get(v.user, rfc3339(now)), message=v.message)
        for v in votes
    ]


def _gating(s: Snapshot, spec: ModelPromotionSpec, run: Evidence, now: datetime) -> Plan:
    source = s.source
    if source is None:
        return _end(
            s,
            spec,
            run,
            "Failed",
            Reason.SOURCE_DELETED,
            f"source {run.source.namespace}/{run.source.name} was deleted",
            now,
        )
    if not gates.same_model(source.stable_model, run.model):
        serving = source.stable_model.version if source.stable_model else "nothing"
        return _end(
            s,
            spec,
            run,
            "Failed",
            Reason.SOURCE_MOVED_ON,
            f"the source now serves {serving} on its stable track; this run promotes "
            f"{run.model.version}",
            now,
        )
    results, run = _evaluate(s, spec, run, source, now)
    final = next((g for g in results if g.final and g.verdict == "Fail"), None)
    actions: list[Action] = []
    if spec.gates.evaluation_job is not None and s.evaluation is None:
        env = evaluation_env(run.model, source.service_url, _key(s), run.run)
        actions.append(CreateOnce(evaluation_job(_owner(s), spec, run.run, env)))
    if final is not None:
        reason = FINAL_REASONS.get(final.name, Reason.EVALUATION_FAILED)
        if final.name == "target" and s.to is not None and gates.argocd_tracking(s.to):
            reason = Reason.TARGET_MANAGED_BY_ARGOCD
        return _end(s, spec, run, "Failed", reason, f"{final.name}: {final.message}", now)
    blocking = [g for g in results if g.verdict != "Pass" and g.name != "approval"]
    approval = next((g for g in results if g.name == "approval"), None)
    if not blocking and (approval is None or approval.verdict == "Pass"):
        return _promote(s, spec, run, actions, now)
    started = parse_time(run.started_at)
    timeout = parse_duration(spec.gates.timeout)
    if (now - started).total_seconds() >= timeout:
        waiting = "; ".join(
            f"{g.name}: {g.message}"
            for g in blocking + ([approval] if approval and approval.verdict != "Pass" else [])
        )
        return _end(
            s,
            spec,
            run,
            "Failed",
            Reason.GATE_TIMEOUT,
            f"gates not passed {spec.gates.timeout} after the run started: {waiting}",
            now,
        )
    phase = "WaitingForGates" if blocking else "WaitingForApproval"
    message = (
        "; ".join(f"{g.name}: {g.message}" for g in blocking)
        if blocking
        else f"all gates passed; approval: {approval.message if approval else ''}"
    )
    plan = _status_plan(s, spec, run, phase, message, now)
    requeue = [_until(run.started_at, timeout, now)]
    requeue.append(gates.soak_due_in(spec.gates, run.soak, now))
    if spec.gates.checks:
        requeue.append(gates.CHECK_INTERVAL)
    return Plan(
        actions=tuple(actions),
        status=plan.status,
        events=plan.events,
        requeue_after=min((r for r in requeue if r is not None), default=None),
    )


# ----- changing the target ----------------------------------------------------------------


def _promote(
    s: Snapshot, spec: ModelPromotionSpec, run: Evidence, actions: list[Action], now: datetime
) -> Plan:
    to = s.to
    assert to is not None  # the target gate passed
    if spec.strategy.git is not None:
        return _commit(s, spec, spec.strategy.git, run, actions, now)
    by = promoted_by(s.target.ref.namespace, s.target.ref.name, run.run)
    run = run.model_copy(
        update={
            "gates_passed_at": rfc3339(now),
            "promoted_at": rfc3339(now),
            "target": run.target.model_copy(
                update={"changed_by": f"direct (field manager {PROMOTION_FIELD_MANAGER})"}
            ),
        }
    )
    patch = target_model_patch(to.namespace, to.name, run.model, by)
    actions = [*actions, Apply(patch, field_manager=PROMOTION_FIELD_MANAGER)]
    event = _changed(s, run)
    plan = _promoting(s, spec, run, now, written=True)
    return Plan(
        actions=(*actions, *plan.actions),
        status=plan.status,
        events=(event, *plan.events),
        requeue_after=plan.requeue_after,
    )


def _commit(
    s: Snapshot,
    spec: ModelPromotionSpec,
    git: GitStrategy,
    run: Evidence,
    actions: list[Action],
    now: datetime,
) -> Plan:
    """Gates passed: commit the change; the cluster shows it once the GitOps tool syncs."""
    target = run.target.model_copy(update={"changed_by": promotion_git.changed_by(git)})
    run = run.model_copy(update={"gates_passed_at": rfc3339(now), "target": target})
    plan = _syncing(s, spec, git, run, now)
    return Plan(
        actions=(*actions, *plan.actions),
        status=plan.status,
        events=plan.events,
        requeue_after=plan.requeue_after,
    )


def _syncing(
    s: Snapshot, spec: ModelPromotionSpec, git: GitStrategy, run: Evidence, now: datetime
) -> Plan:
    """Through Git: the commit is made (again, if a stop lost it: the writer skips a
    branch that has it), recorded, then waited on until the target shows it."""
    where = f"{git.path} on {git.repo_url} {git.branch}"
    if s.commit is None and run.target.commit is None:
        trouble = f" (reading the branch: {s.git_error})" if s.git_error else ""
        plan = _status_plan(
            s,
            spec,
            run,
            "Promoting",
            f"all gates passed; committing {where}{trouble}",
            now,
            requeue=promotion_git.COMMIT_RECHECK,
        )
        return Plan(
            actions=(promotion_git.commit(s, git, run),),
            status=plan.status,
            requeue_after=plan.requeue_after,
        )
    events: tuple[Event, ...] = ()
    if s.commit is not None and run.target.commit != s.commit.sha:
        run = promotion_git.recorded(run, s.commit)
        events = (
            Event(
                "Normal",
                Reason.TARGET_COMMITTED,
                f"run {run.run}: all gates passed; committed {s.commit.sha[:12]} setting "
                f"{s.to_ref[0]}/{s.to_ref[1]} spec.model to {run.model.version} in {where}",
            ),
        )
    sha = (run.target.commit or "")[:12]
    left = promotion_git.sync_left(git, run, now)
    if left <= 0:
        return _end(
            s,
            spec,
            run,
            "Failed",
            Reason.TARGET_NOT_SYNCED,
            f"{s.to_ref[0]}/{s.to_ref[1]} did not show commit {sha} within "
            f"{git.sync_timeout} (spec.strategy.git.syncTimeout): is a GitOps tool syncing "
            f"{where}?",
            now,
        )
    plan = _status_plan(
        s,
        spec,
        run,
        "Promoting",
        f"committed {sha} to {where}; waiting for the cluster to apply it "
        f"({gates.human(left)} left)",
        now,
        requeue=left,
    )
    return Plan(status=plan.status, events=events, requeue_after=plan.requeue_after)


def _promoting(
    s: Snapshot, spec: ModelPromotionSpec, run: Evidence, now: datetime, written: bool = False
) -> Plan:
    """``written``: this plan changes the target, so its spec as observed is the old one."""
    to = s.to
    if to is None:
        return _end(
            s,
            spec,
            run,
            "Failed",
            Reason.TARGET_DELETED,
            f"target {run.target.namespace}/{run.target.name} was deleted",
            now,
        )
    status = to.status
    stable = status.stable_revision
    canary = status.canary
    target = run.target
    if stable is not None and (stable.model_version, stable.digest) == (
        run.model.version,
        run.model.digest,
    ):
        target = target.model_copy(
            update={
                "revision": stable.name,
                "outcome": "RolledOut",
                "message": f"stable revision {stable.name} serves {stable.model_version}",
            }
        )
        run = run.model_copy(update={"target": target})
        return _end(
            s,
            spec,
            run,
            "Succeeded",
            Reason.TARGET_ROLLED_OUT,
            f"{to.key} serves {run.model.version} on its stable track",
            now,
        )
    if canary is not None and canary.revision.model_version == run.model.version:
        if canary.phase == "Aborted":
            target = target.model_copy(
                update={
                    "revision": canary.revision.name,
                    "outcome": "Aborted",
                    "message": canary.abort_reason or "aborted",
                }
            )
            run = run.model_copy(update={"target": target})
            return _end(
                s,
                spec,
                run,
                "Failed",
                Reason.TARGET_ABORTED,
                f"{to.key} aborted its canary of {run.model.version}: "
                f"{canary.abort_reason or 'aborted'}; it serves "
                f"{stable.model_version if stable else 'nothing'} again",
                now,
            )
        target = target.model_copy(
            update={
                "revision": canary.revision.name,
                "outcome": "RollingOut",
                "message": f"canary at {canary.weight}%: {canary.message}",
            }
        )
    elif not written and (to.model.version, to.model.uri) != (run.model.version, run.model.uri):
        return _end(
            s,
            spec,
            run,
            "Failed",
            Reason.TARGET_OVERWRITTEN,
            f"{to.key} spec.model was changed to {to.model.version} by someone else "
            "while it rolled out the promoted model",
            now,
        )
    run = run.model_copy(update={"target": target})
    return _status_plan(
        s, spec, run, "Promoting", f"{to.key}: {target.message or 'rolling out'}", now
    )


# ----- ending and after -------------------------------------------------------------------


def _end(
    s: Snapshot,
    spec: ModelPromotionSpec,
    run: Evidence,
    outcome: str,
    reason: str,
    message: str,
    now: datetime,
) -> Plan:
    run = run.model_copy(
        update={
            "outcome": outcome,
            "reason": reason,
            "message": message,
            "finished_at": rfc3339(now),
        }
    )
    summary = RunSummary(
        run=run.run,
        version=run.model.version,
        digest=run.model.digest,
        outcome="Succeeded" if outcome == "Succeeded" else "Failed",
        reason=reason,
        message=message,
        started_at=run.started_at,
        finished_at=run.finished_at,
        approvers=[a.user for a in run.approvals],
        evidence=f"{run.target.namespace}/"
        + evidence_name(s.target.ref.namespace, s.target.ref.name, run.run),
    )
    history = [summary, *[h for h in s.previous.history if h.run != run.run]]
    text = f"run {run.run} ({run.model.version}): {reason}: {message}"
    event = (
        Event("Normal", Reason.PROMOTION_SUCCEEDED, text)
        if outcome == "Succeeded"
        else Event("Warning", Reason.PROMOTION_FAILED, text)
    )
    plan = _status_plan(
        s,
        spec,
        run,
        "Succeeded" if outcome == "Succeeded" else "Failed",
        message,
        now,
        history=history[: spec.history_limit],
    )
    return Plan(
        actions=_store_evidence(s, run),
        status=plan.status,
        events=(event,),
    )


def _store_evidence(s: Snapshot, run: Evidence) -> tuple[Action, ...]:
    to = s.to
    if to is None or s.evidence_stored:
        return ()
    owner = Owner(to.name, to.namespace, to.uid)
    return (CreateOnce(evidence_revision(owner, run, s.target.ref.name), owner_uid=to.uid),)


def _settled(s: Snapshot, spec: ModelPromotionSpec, run: Evidence, now: datetime) -> Plan:
    """A finished run and nothing new to do: its status stands (evidence stored)."""
    if spec.mode == "Continuous":
        where = f"{s.source_ref[0]}/{s.source_ref[1]}"
        message = f"{run.message}; waiting for a new stable model on {where}"
    else:
        message = run.message
    plan = _status_plan(
        s,
        spec,
        run,
        s.previous.phase or ("Succeeded" if run.outcome == "Succeeded" else "Failed"),
        message,
        now,
    )
    return Plan(actions=_store_evidence(s, run), status=plan.status)


# ----- status -----------------------------------------------------------------------------


def _conditions(
    s: Snapshot,
    run: Evidence | None,
    phase: str,
    message: str,
    now: datetime,
    succeeded: tuple[Status, str] | None,
) -> list:  # type: ignore[type-arg]
    conditions = list(s.previous.conditions)
    gen = s.target.generation
    results = run.gates if run is not None else []
    blocking = [g for g in results if g.verdict != "Pass" and g.name != "approval"]
    if run is None:
        gate_status: tuple[Status, str, str] = (
            "Unknown",
            Reason.WAITING_FOR_SOURCE,
            f"measured once a run starts; see the {SUCCEEDED} condition",
        )
    elif run.gates_passed_at is not None or (results and not blocking):
        gate_status = ("True", Reason.ALL_GATES_PASSED, f"{len(results)} gates passed")
    else:
        gate_status = (
            "False",
            Reason.GATES_PENDING,
            "; ".join(f"{g.name}: {g.message}" for g in blocking) or "not evaluated yet",
        )
    conditions = set_condition(conditions, GATES_PASSED, *gate_status, gen, now)
    approval = next((g for g in results if g.name == "approval"), None)
    if s.spec is not None and (s.spec.gates.approval is None or not s.spec.gates.approval.required):
        appr: tuple[Status, str, str] = ("True", Reason.APPROVAL_NOT_REQUIRED, "no approval gate")
    elif run is not None and run.rejection is not None:
        appr = (
            "False",
            Reason.REJECTED,
            f"rejected by {run.rejection.user}: {run.rejection.message}",
        )
    elif approval is not None and approval.verdict == "Pass":
        appr = ("True", Reason.APPROVAL_GRANTED, approval.message)
    else:
        appr = ("False", Reason.AWAITING_APPROVAL, approval.message if approval else "no run yet")
    conditions = set_condition(conditions, APPROVED, *appr, gen, now)
    if succeeded is not None:
        outcome = succeeded
    elif run is not None and run.outcome == "Succeeded":
        outcome = ("True", run.reason)
    elif run is not None and run.outcome == "Failed":
        outcome = ("False", run.reason)
    else:
        outcome = ("Unknown", Reason.IN_PROGRESS)
    # While a gate or an approval holds the run, or after a rejection, that condition
    # says why; said once.
    waiting = {
        "WaitingForGates": ("gates", GATES_PASSED),
        "WaitingForApproval": ("approval", APPROVED),
    }
    if outcome[0] == "Unknown" and phase in waiting:
        what, where = waiting[phase]
        message = f"waiting for {what}; see the {where} condition"
    elif outcome == ("False", Reason.REJECTED) and appr[1] == Reason.REJECTED:
        message = f"rejected; see the {APPROVED} condition"
    conditions = set_condition(conditions, SUCCEEDED, outcome[0], outcome[1], message, gen, now)
    return conditions


def _status_plan(
    s: Snapshot,
    spec: ModelPromotionSpec,
    run: Evidence | None,
    phase: str | None,
    message: str,
    now: datetime,
    succeeded: tuple[Status, str] | None = None,
    history: list[RunSummary] | None = None,
    requeue: float | None = None,
) -> Plan:
    results = run.gates if run is not None else []
    passing = sum(1 for g in results if g.verdict == "Pass")
    soak_left = run.soak.remaining if run is not None and run.soak is not None else None
    status = ModelPromotionStatus(
        observed_generation=s.target.generation,
        phase=phase,
        conditions=_conditions(s, run, phase or "", message, now, succeeded),
        message=message[:4096],
        runs=max(s.previous.runs, run.run if run is not None else 0),
        evidence=run,
        history=s.previous.history if history is None else history,
        from_summary=f"{s.source_ref[0]}/{s.source_ref[1]}",
        to_summary=f"{s.to_ref[0]}/{s.to_ref[1]}",
        version=run.model.version if run is not None else spec.version,
        gates_summary=f"{passing}/{len(results)}" if results else None,
        soak_remaining=soak_left if phase in ("WaitingForGates", "WaitingForApproval") else None,
    )
    return Plan(
        status=status.model_dump(mode="json", by_alias=True, exclude_none=True),
        requeue_after=requeue,
    )


def invalid(s: Snapshot, message: str, now: datetime) -> Plan:
    """A spec the operator cannot act on (the API server accepted it): said, not retried."""
    previous = s.previous
    conditions = set_condition(
        list(previous.conditions),
        SUCCEEDED,
        "False",
        Reason.INVALID_SPEC,
        message,
        s.target.generation,
        now,
    )
    status = previous.model_copy(
        update={
            "observed_generation": s.target.generation,
            "conditions": conditions,
            "message": message[:4096],
        }
    )
    return Plan(status=status.model_dump(mode="json", by_alias=True, exclude_none=True))
