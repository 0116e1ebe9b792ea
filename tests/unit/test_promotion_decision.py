"""The ModelPromotion decision, table by table: runs, gates, the target, evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelship.analysis.checks import Observed
from modelship.api.approvals import Vote
from modelship.api.deployment import ModelRef
from modelship.api.promotion import ModelPromotionSpec
from modelship.api.promotion_status import ModelPromotionStatus, PromotedModel
from modelship.api.status import (
    Condition,
    DriftStatus,
    FeatureScore,
    HistoryEntry,
    ModelDeploymentStatus,
    RevisionRef,
)
from modelship.conditions import rfc3339
from modelship.decisions import promotion
from modelship.decisions.promotion_gates import human
from modelship.decisions.promotion_types import DeploymentView, EvaluationJob, Snapshot
from modelship.kernel.plan import Apply, CreateOnce, ObjectRef, Plan, Target
from modelship.observed import JobState
from modelship.render.promotion import PROMOTED_BY, PROMOTION_FIELD_MANAGER
from tests.unit.factories import canary_status

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
V14 = PromotedModel(name="fraud", version="1.4.0", uri="s3://m/fraud/1.4.0/", digest=None)
V15 = PromotedModel(name="fraud", version="1.5.0", uri="s3://m/fraud/1.5.0/", digest=None)


def md_status(
    version: str,
    since: datetime,
    ready: bool = True,
    degraded: bool = False,
    **extra: Any,
) -> ModelDeploymentStatus:
    stamp = rfc3339(since)
    rev = RevisionRef(name=f"r{version.replace('.', '')}", model_version=version)
    return ModelDeploymentStatus(
        stable_revision=rev,
        conditions=[
            Condition(
                type="Ready",
                status="True" if ready else "False",
                reason="Available",
                last_transition_time=stamp,
            ),
            Condition(
                type="Degraded",
                status="True" if degraded else "False",
                reason="AsExpected",
                last_transition_time=stamp,
            ),
        ],
        history=[HistoryEntry(revision=rev.name, model_version=version, deployed_at=stamp)],
        **extra,
    )


def view(
    name: str,
    ns: str,
    model: PromotedModel,
    status: ModelDeploymentStatus,
    **extra: Any,
) -> DeploymentView:
    return DeploymentView(
        namespace=ns,
        name=name,
        uid=f"uid-{ns}-{name}",
        generation=1,
        status=status,
        model=ModelRef.model_validate(model.model_dump()),
        stable_model=model,
        service_url=f"http://{name}.{ns}.svc:8080",
        **extra,
    )


def spec(**gates: Any) -> ModelPromotionSpec:
    mode = gates.pop("mode", "Once")
    return ModelPromotionSpec.model_validate(
        {
            "from": {"name": "fraud", "namespace": "staging"},
            "to": {"name": "fraud", "namespace": "prod"},
            "mode": mode,
            "gates": gates,
        }
    )


def snap(
    s: ModelPromotionSpec,
    previous: ModelPromotionStatus | None = None,
    source: DeploymentView | None = None,
    to: DeploymentView | None = None,
    created: datetime = T0,
    **extra: Any,
) -> Snapshot:
    previous = previous or ModelPromotionStatus()
    obj = {
        "metadata": {
            "name": "p",
            "namespace": "prod",
            "uid": "pu",
            "resourceVersion": "1",
            "creationTimestamp": rfc3339(created),
        }
    }
    return Snapshot(
        target=Target(
            ref=ObjectRef("modelship.io/v1alpha1", "ModelPromotion", "prod", "p"),
            uid="pu",
            generation=1,
            status=previous.model_dump(mode="json", by_alias=True, exclude_none=True),
            obj=obj,
        ),
        spec=s,
        invalid="",
        previous=previous,
        source_ref=("staging", "fraud"),
        to_ref=("prod", "fraud"),
        source=source,
        to=to,
        **extra,
    )


def status_of(plan: Plan) -> ModelPromotionStatus:
    assert plan.status is not None
    return ModelPromotionStatus.model_validate(plan.status)


def then(s: Snapshot, plan: Plan, **changes: Any) -> Snapshot:
    """The next reconcile's snapshot: the plan's status as observed."""
    status = status_of(plan)
    target = replace(
        s.target, status=status.model_dump(mode="json", by_alias=True, exclude_none=True)
    )
    return replace(s, target=target, previous=status, **changes)


def staging(since: datetime = T0 - timedelta(hours=2), **kw: Any) -> DeploymentView:
    return view("fraud", "staging", V14, md_status("1.4.0", since, **kw))


def prod(model: PromotedModel = V15, **kw: Any) -> DeploymentView:
    return view("fraud", "prod", model, md_status(model.version, T0 - timedelta(days=3)), **kw)


def gate(status: ModelPromotionStatus, name: str) -> Any:
    assert status.evidence is not None
    return next(g for g in status.evidence.gates if g.name == name)


# ----- starting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "version", "message"),
    [
        (None, None, "source ModelDeployment staging/fraud not found"),
        (
            view("fraud", "staging", V14, ModelDeploymentStatus()),
            None,
            "serves no stable revision yet",
        ),
        (staging(), "1.5.0", "waiting for it to serve 1.5.0"),
    ],
    ids=["no-source", "no-stable", "other-version"],
)
def test_a_run_waits_for_the_source(source: Any, version: Any, message: str) -> None:
    s = spec()
    if version:
        s = s.model_copy(update={"version": version})
    if source is not None and source.status.stable_revision is None:
        source = replace(source, stable_model=None)
    plan = promotion.decide(snap(s, source=source, to=prod()), T0)
    status = status_of(plan)
    assert status.phase == "Pending"
    assert message in status.message
    assert status.evidence is None
    assert plan.requeue_after == pytest.approx(72 * 3600)


def test_a_once_promotion_with_nothing_to_promote_fails_after_the_timeout() -> None:
    s = spec(timeout="1h")
    plan = promotion.decide(snap(s, source=None, created=T0 - timedelta(hours=1)), T0)
    status = status_of(plan)
    assert status.phase == "Failed"
    succeeded = next(c for c in status.conditions if c.type == "Succeeded")
    assert (succeeded.status, succeeded.reason) == ("False", "SourceVersionNotServed")


def test_no_gates_promotes_at_once_with_server_side_apply_under_its_own_manager() -> None:
    plan = promotion.decide(snap(spec(), source=staging(), to=prod()), T0)
    status = status_of(plan)
    assert status.phase == "Promoting"
    applies = [a for a in plan.actions if isinstance(a, Apply)]
    assert len(applies) == 1
    assert applies[0].field_manager == PROMOTION_FIELD_MANAGER
    body = applies[0].obj
    assert body["metadata"] == {
        "name": "fraud",
        "namespace": "prod",
        "annotations": {PROMOTED_BY: "prod/p#1", "modelship.io/promoted-version": "1.4.0"},
    }
    assert body["spec"] == {"model": {"name": "fraud", "version": "1.4.0", "uri": V14.uri}}
    assert [e.reason for e in plan.events] == ["RunStarted", "TargetChanged"]
    assert status.evidence is not None and status.evidence.promoted_at == rfc3339(T0)


# ----- soak -------------------------------------------------------------------------------


def test_soak_counts_from_when_the_revision_became_stable_and_shows_what_is_left() -> None:
    s = spec(soakTime="1h")
    plan = promotion.decide(
        snap(s, source=staging(since=T0 - timedelta(minutes=20)), to=prod()), T0
    )
    status = status_of(plan)
    assert status.phase == "WaitingForGates"
    soak = gate(status, "soakTime")
    assert (soak.verdict, soak.value, soak.threshold) == ("Waiting", 1200.0, 3600.0)
    assert status.soak_remaining == "40m"
    assert status.gates_summary == "1/2"  # the target gate passes
    # Back within a minute: the remaining time shown counts down by the minute.
    assert plan.requeue_after == pytest.approx(60)
    assert not any(isinstance(a, Apply) for a in plan.actions)


def test_a_flap_restarts_the_soak_clock_and_says_so() -> None:
    s = spec(soakTime="1h")
    first = snap(s, source=staging(since=T0 - timedelta(minutes=50)), to=prod())
    plan = promotion.decide(first, T0)
    flapped = then(first, plan, source=staging(since=T0 - timedelta(minutes=50), ready=False))
    plan = promotion.decide(flapped, T0 + timedelta(minutes=1))
    soak = gate(status_of(plan), "soakTime")
    assert soak.verdict == "Waiting"
    assert "not Ready" in soak.message and "restarted 1x" in soak.message
    # Ready again (the source's own Ready condition flipped back 2 minutes later).
    healthy = staging(since=T0 - timedelta(minutes=50))
    back = then(flapped, plan, source=healthy)
    plan = promotion.decide(back, T0 + timedelta(minutes=3))
    status = status_of(plan)
    soak = gate(status, "soakTime")
    assert soak.value == pytest.approx(120.0)  # from the interruption, not the old start
    assert status.soak_remaining == "58m"


def test_a_canary_in_flight_on_the_source_is_not_soaking() -> None:
    src = staging()
    rev = RevisionRef(name="r150", model_version="1.5.0")
    src = replace(src, status=src.status.model_copy(update={"canary": canary_status(rev, T0)}))
    plan = promotion.decide(snap(spec(soakTime="1m"), source=src, to=prod()), T0)
    assert "a canary of 1.5.0 is in flight" in gate(status_of(plan), "soakTime").message


def test_soak_passed_promotes() -> None:
    plan = promotion.decide(snap(spec(soakTime="1h"), source=staging(), to=prod()), T0)
    assert status_of(plan).phase == "Promoting"


# ----- checks, drift ----------------------------------------------------------------------


def observed(requests: float, errors: float) -> Observed:
    return Observed(requests={"stable": requests}, errors={"stable": errors}, subject="stable")


@pytest.mark.parametrize(
    ("requests", "errors", "verdict", "phase"),
    [
        (2000, 2, "Pass", "Promoting"),
        (2000, 200, "Fail", "WaitingForGates"),
        (5, 0, "Inconclusive", "WaitingForGates"),
    ],
    ids=["pass", "fail-keeps-waiting", "too-few-requests"],
)
def test_checks_judge_the_source_stable_track(
    requests: float, errors: float, verdict: str, phase: str
) -> None:
    s = spec(checks=[{"name": "errors", "errorRate": {"max": 0.01}}])
    plan = promotion.decide(
        snap(s, source=staging(), to=prod(), checks=observed(requests, errors)), T0
    )
    status = status_of(plan)
    assert gate(status, "checks/errors").verdict == verdict
    assert status.phase == phase


def test_checks_not_read_this_time_keep_their_last_result() -> None:
    s = spec(checks=[{"name": "errors", "errorRate": {"max": 0.01}}], soakTime="1h")
    src = staging(since=T0 - timedelta(minutes=10))
    first = snap(s, source=src, to=prod(), checks=observed(2000, 200))
    plan = promotion.decide(first, T0)
    later = then(first, plan, checks=None)
    plan = promotion.decide(later, T0 + timedelta(seconds=10))
    result = gate(status_of(plan), "checks/errors")
    assert (result.verdict, result.measured_at) == ("Fail", rfc3339(T0))


def drifted_source(verdict: str, score: float, evaluated: datetime) -> DeploymentView:
    src = staging()
    drift = DriftStatus(
        verdict=verdict,
        method="jensenshannon",
        threshold=0.1,
        window="1h",
        evaluated_at=rfc3339(evaluated),
        features=[FeatureScore(name="amount", score=score, p_value=0.5, drifted=False)],
    )
    return replace(src, status=src.status.model_copy(update={"drift": drift}))


@pytest.mark.parametrize(
    ("verdict", "score", "evaluated", "expected"),
    [
        ("NotDrifted", 0.03, T0 - timedelta(minutes=5), "Pass"),
        ("NotDrifted", 0.2, T0 - timedelta(minutes=5), "Fail"),
        ("Drifted", 0.3, T0 - timedelta(minutes=5), "Fail"),
        ("NotDrifted", 0.03, T0 - timedelta(hours=3), "Waiting"),  # before this revision
        ("Inconclusive", 0.0, T0 - timedelta(minutes=5), "Inconclusive"),
    ],
    ids=["pass", "over-max", "drifted", "stale-window", "inconclusive"],
)
def test_max_drift(verdict: str, score: float, evaluated: datetime, expected: str) -> None:
    src = drifted_source(verdict, score, evaluated)
    plan = promotion.decide(snap(spec(maxDrift=0.1), source=src, to=prod()), T0)
    assert gate(status_of(plan), "maxDrift").verdict == expected


# ----- evaluation Job ---------------------------------------------------------------------

JOB = {"spec": {"template": {"spec": {"containers": [{"name": "eval", "image": "e:1"}]}}}}


def job(succeeded: bool | None, message: str = "") -> EvaluationJob:
    finished = succeeded is not None
    state = JobState(
        name="p-eval-1",
        number=0,
        created_at=rfc3339(T0),
        finished=finished,
        succeeded=bool(succeeded),
        finished_at=rfc3339(T0) if finished else None,
        message="" if succeeded or not finished else "BackoffLimitExceeded: failed",
    )
    return EvaluationJob(state, message)


def test_the_evaluation_job_is_created_once_with_the_model_in_env() -> None:
    s = spec(evaluationJob=JOB)
    plan = promotion.decide(snap(s, source=staging(), to=prod()), T0)
    creates = [a for a in plan.actions if isinstance(a, CreateOnce)]
    assert [c.obj["metadata"]["name"] for c in creates] == ["p-eval-1"]
    env = {
        e["name"]: e["value"]
        for e in creates[0].obj["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODELSHIP_MODEL_VERSION"] == "1.4.0"
    assert env["MODELSHIP_SOURCE_URL"] == "http://fraud.staging.svc:8080"
    assert creates[0].obj["metadata"]["ownerReferences"][0]["uid"] == "pu"
    # Once it exists, it is not created again.
    plan = promotion.decide(snap(s, source=staging(), to=prod(), evaluation=job(None)), T0)
    assert not any(isinstance(a, CreateOnce) for a in plan.actions)
    assert gate(status_of(plan), "evaluationJob").verdict == "Waiting"


@pytest.mark.parametrize(
    ("succeeded", "message", "phase", "reason"),
    [
        (True, '{"accuracy": 0.95, "unsafe_pickle_ops": 0}', "Promoting", None),
        (True, '{"accuracy": 0.81, "unsafe_pickle_ops": 0}', "Failed", "EvaluationFailed"),
        (True, '{"accuracy": 0.95, "unsafe_pickle_ops": 3}', "Failed", "EvaluationFailed"),
        (True, '{"unsafe_pickle_ops": 0}', "Failed", "EvaluationFailed"),
        (False, "", "Failed", "EvaluationFailed"),
    ],
    ids=["pass", "accuracy", "unsafe-pickle", "missing-result", "job-failed"],
)
def test_evaluation_results_are_held_against_thresholds(
    succeeded: bool, message: str, phase: str, reason: str | None
) -> None:
    s = spec(
        evaluationJob=JOB,
        evaluationThresholds=[
            {"name": "accuracy", "min": 0.9},
            {"name": "unsafe_pickle_ops", "max": 0},
        ],
    )
    plan = promotion.decide(
        snap(s, source=staging(), to=prod(), evaluation=job(succeeded, message)), T0
    )
    status = status_of(plan)
    assert status.phase == phase
    if reason:
        assert status.evidence is not None and status.evidence.reason == reason
        assert any(
            isinstance(a, CreateOnce) and a.obj["kind"] == "ControllerRevision"
            for a in plan.actions
        )


# ----- approval ---------------------------------------------------------------------------


def test_approval_waits_for_enough_distinct_people_then_promotes() -> None:
    s = spec(approval={"required": True, "minApprovers": 2})
    base = snap(s, source=staging(), to=prod())
    plan = promotion.decide(base, T0)
    status = status_of(plan)
    assert status.phase == "WaitingForApproval"
    approved = next(c for c in status.conditions if c.type == "Approved")
    assert (approved.status, approved.reason) == ("False", "AwaitingApproval")
    one = then(base, plan, approvals=(Vote("alice", ""),))
    plan = promotion.decide(one, T0 + timedelta(minutes=1))
    assert status_of(plan).phase == "WaitingForApproval"
    assert "1 of 2 approvals (alice)" in status_of(plan).message
    two = then(one, plan, approvals=(Vote("alice", ""), Vote("bob", "")))
    plan = promotion.decide(two, T0 + timedelta(minutes=2))
    status = status_of(plan)
    assert status.phase == "Promoting"
    assert status.evidence is not None
    assert [(a.user, a.seen_at) for a in status.evidence.approvals] == [
        ("alice", rfc3339(T0 + timedelta(minutes=1))),
        ("bob", rfc3339(T0 + timedelta(minutes=2))),
    ]


def test_approval_does_not_bypass_the_other_gates() -> None:
    s = spec(approval={"required": True}, soakTime="3h")
    plan = promotion.decide(snap(s, source=staging(), to=prod(), approvals=(Vote("a", ""),)), T0)
    assert status_of(plan).phase == "WaitingForGates"


def test_a_rejection_fails_the_run_with_its_message() -> None:
    s = spec(approval={"required": True})
    plan = promotion.decide(
        snap(s, source=staging(), to=prod(), rejections=(Vote("carol", "p99 too high"),)), T0
    )
    status = status_of(plan)
    assert status.phase == "Failed"
    assert status.evidence is not None and status.evidence.reason == "Rejected"
    assert "rejected by carol: p99 too high" in status.message


# ----- the target and timeouts ------------------------------------------------------------


def test_an_argocd_managed_target_is_refused_unless_allowed() -> None:
    to = prod(labels={"app.kubernetes.io/instance": "fraud-prod"})
    plan = promotion.decide(snap(spec(), source=staging(), to=to), T0)
    status = status_of(plan)
    assert status.phase == "Failed"
    assert status.evidence is not None and status.evidence.reason == "TargetManagedByArgoCD"
    allowed = spec().model_copy(
        update={
            "strategy": spec().strategy.model_copy(
                update={
                    "direct": spec().strategy.direct.model_copy(  # type: ignore[union-attr]
                        update={"allow_argo_cd_managed": True}
                    )
                }
            )
        }
    )
    plan = promotion.decide(snap(allowed, source=staging(), to=to), T0)
    assert status_of(plan).phase == "Promoting"


def test_gates_that_never_pass_fail_at_the_timeout_naming_them() -> None:
    s = spec(soakTime="1h", timeout="2h")
    first = snap(s, source=staging(ready=False), to=prod())
    plan = promotion.decide(first, T0)
    plan = promotion.decide(then(first, plan), T0 + timedelta(hours=2))
    status = status_of(plan)
    assert status.phase == "Failed"
    assert status.evidence is not None and status.evidence.reason == "GateTimeout"
    assert "soakTime: not soaking" in status.message


def test_the_source_moving_on_fails_the_run() -> None:
    s = spec(soakTime="3h")
    first = snap(s, source=staging(), to=prod())
    plan = promotion.decide(first, T0)
    moved = view("fraud", "staging", V15, md_status("1.5.0", T0))
    plan = promotion.decide(then(first, plan, source=moved), T0 + timedelta(minutes=1))
    status = status_of(plan)
    assert (status.phase, status.evidence.reason if status.evidence else None) == (
        "Failed",
        "SourceMovedOn",
    )


def test_the_source_deleted_mid_way_fails_the_run() -> None:
    s = spec(soakTime="3h")
    first = snap(s, source=staging(), to=prod())
    plan = promotion.decide(first, T0)
    plan = promotion.decide(then(first, plan, source=None), T0 + timedelta(minutes=1))
    assert status_of(plan).evidence.reason == "SourceDeleted"  # type: ignore[union-attr]


# ----- after the target changed -----------------------------------------------------------


def promoting() -> tuple[Snapshot, Plan]:
    first = snap(spec(), source=staging(), to=prod())
    return first, promotion.decide(first, T0)


def test_succeeded_only_when_the_target_stable_revision_is_the_model() -> None:
    first, plan = promoting()
    rev = RevisionRef(name="r140", model_version="1.4.0")
    rolling = prod(V14)
    rolling = replace(
        rolling,
        status=md_status("1.5.0", T0).model_copy(
            update={"canary": canary_status(rev, T0, weight=10, message="analysis")}
        ),
    )
    plan = promotion.decide(then(first, plan, to=rolling), T0 + timedelta(seconds=5))
    status = status_of(plan)
    assert status.phase == "Promoting"
    assert status.evidence is not None and status.evidence.target.outcome == "RollingOut"
    assert not any(isinstance(a, Apply) for a in plan.actions)  # written once
    done = prod(V14)
    plan = promotion.decide(then(first, plan, to=done), T0 + timedelta(minutes=5))
    status = status_of(plan)
    assert status.phase == "Succeeded"
    assert status.history[0].outcome == "Succeeded"
    stored = [a for a in plan.actions if isinstance(a, CreateOnce)]
    assert stored and stored[0].owner_uid == done.uid
    assert stored[0].obj["data"]["outcome"] == "Succeeded"
    assert [e.reason for e in plan.events] == ["PromotionSucceeded"]


def test_the_target_aborting_the_canary_fails_the_promotion() -> None:
    first, plan = promoting()
    rev = RevisionRef(name="r140", model_version="1.4.0")
    aborted = replace(
        prod(V14),
        status=md_status("1.5.0", T0).model_copy(
            update={"canary": canary_status(rev, T0, phase="Aborted", abort_reason="p99 412ms")}
        ),
    )
    plan = promotion.decide(then(first, plan, to=aborted), T0 + timedelta(minutes=1))
    status = status_of(plan)
    assert status.phase == "Failed"
    assert status.evidence is not None and status.evidence.reason == "TargetAborted"
    assert "p99 412ms" in status.message and "serves 1.5.0 again" in status.message


def test_a_target_changed_by_a_run_that_stopped_before_recording_it_is_promoting() -> None:
    s = spec(soakTime="1h")
    written = replace(
        prod(V14, annotations={PROMOTED_BY: "prod/p#1"}),
        status=md_status("1.5.0", T0 - timedelta(days=3)),
    )
    # Gates would not pass now (the source flapped), but the target already carries run 1.
    run = ModelPromotionStatus.model_validate(
        status_of(promotion.decide(snap(s, source=staging(ready=False), to=prod()), T0)).model_dump(
            mode="json", by_alias=True
        )
    )
    plan = promotion.decide(snap(s, previous=run, source=staging(ready=False), to=written), T0)
    assert status_of(plan).phase == "Promoting"
    # The stopped reconcile wrote no Event (they come after the actions): this one does.
    assert [e.reason for e in plan.events] == ["TargetChanged"]


def test_once_ends_and_continuous_starts_a_run_for_each_new_stable_model() -> None:
    first, plan = promoting()
    done = then(first, plan, to=prod(V14))
    plan = promotion.decide(done, T0 + timedelta(minutes=1))
    settled = then(done, plan)
    again = promotion.decide(settled, T0 + timedelta(minutes=2))
    assert status_of(again).phase == "Succeeded"
    assert not any(isinstance(a, Apply) for a in again.actions)
    # Continuous: the source's new stable model starts run 2.
    cont = spec(mode="Continuous")
    first = snap(cont, source=staging(), to=prod())
    plan = promotion.decide(first, T0)
    done = then(first, plan, to=prod(V14))
    plan = promotion.decide(done, T0 + timedelta(minutes=1))
    settled = then(done, plan, evidence_stored=True)
    plan = promotion.decide(settled, T0 + timedelta(minutes=2))
    assert status_of(plan).phase == "Succeeded"
    assert "waiting for a new stable model" in status_of(plan).message
    new = then(settled, plan, source=view("fraud", "staging", V15, md_status("1.5.0", T0)))
    plan = promotion.decide(new, T0 + timedelta(hours=1))
    status = status_of(plan)
    assert status.runs == 2 and status.evidence is not None and status.evidence.run == 2
    assert status.history[0].run == 1


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.2, "1m"), (61, "1m1s"), (3600, "1h"), (3725, "1h2m5s")]
)
def test_human_durations(seconds: float, text: str) -> None:
    assert human(seconds) == text


def test_a_target_pinning_a_digest_the_promoted_model_lacks_is_refused() -> None:
    digest = "sha256:" + "a" * 64
    to = prod(V15.model_copy(update={"digest": digest}))
    plan = promotion.decide(snap(spec(), source=staging(), to=to), T0)
    status = status_of(plan)
    assert status.phase == "Failed"
    assert status.evidence is not None and status.evidence.reason == "TargetRefused"
    assert f"spec.model.digest {digest}" in status.message


def test_the_target_history_names_the_promotion_for_the_revision_it_set() -> None:
    from modelship.decisions.history import name_promotion

    before = [HistoryEntry(revision="r130", model_version="1.3.0", outcome="RolledOut")]
    after = [
        HistoryEntry(revision="r140", model_version="1.4.0", outcome="Promoted"),
        HistoryEntry(revision="r130", model_version="1.3.0", outcome="Superseded"),
    ]
    named = name_promotion(before, after, "prod/p#1", "1.4.0")
    assert [h.promotion for h in named] == ["prod/p#1", None]
    assert name_promotion(before, after, None, None) == after


def test_promotion_status_view_shows_each_gate_with_value_and_threshold() -> None:
    from modelship.promotion_ctl import render_status

    s = spec(soakTime="1h", approval={"required": True})
    status = status_of(promotion.decide(snap(s, source=staging(since=T0), to=prod()), T0))
    obj = {
        "metadata": {"name": "p", "namespace": "prod"},
        "spec": {"mode": "Once"},
        "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    text = render_status(obj)
    assert "Phase:       WaitingForGates" in text
    assert "soakTime" in text and "Waiting" in text and "0 / 3600" in text
    assert "remaining 1h" in text
    assert "Approved=False  AwaitingApproval" in text


# ----- conditions say each thing once -----------------------------------------------------


def _conditions(plan: Any) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in status_of(plan).conditions}


def test_a_run_held_by_a_gate_says_why_in_gates_passed_only() -> None:
    plan = promotion.decide(
        snap(spec(soakTime="1h"), source=staging(since=T0 - timedelta(minutes=20)), to=prod()),
        T0,
    )
    conditions = _conditions(plan)
    assert conditions["GatesPassed"][:2] == ("False", "GatesPending")
    assert "soakTime" in conditions["GatesPassed"][2]
    assert conditions["Succeeded"] == (
        "Unknown",
        "InProgress",
        "waiting for gates; see the GatesPassed condition",
    )


def test_a_run_waiting_for_approval_says_why_in_approved_only() -> None:
    s = spec(approval={"required": True, "minApprovers": 2})
    base = snap(s, source=staging(), to=prod())
    one = then(base, promotion.decide(base, T0), approvals=(Vote("alice", ""),))
    conditions = _conditions(promotion.decide(one, T0 + timedelta(minutes=1)))
    assert conditions["Approved"][:2] == ("False", "AwaitingApproval")
    assert "1 of 2 approvals (alice)" in conditions["Approved"][2]
    assert conditions["Succeeded"][2] == "waiting for approval; see the Approved condition"


def test_a_rejection_is_told_by_approved_and_succeeded_points_there() -> None:
    s = spec(approval={"required": True})
    plan = promotion.decide(
        snap(s, source=staging(), to=prod(), rejections=(Vote("carol", "p99 too high"),)), T0
    )
    conditions = _conditions(plan)
    assert conditions["Approved"] == ("False", "Rejected", "rejected by carol: p99 too high")
    assert conditions["Succeeded"] == ("False", "Rejected", "rejected; see the Approved condition")


def test_a_run_waiting_for_its_source_says_why_in_succeeded_only() -> None:
    s = spec().model_copy(update={"version": "1.5.0"})
    conditions = _conditions(promotion.decide(snap(s, source=staging(), to=prod()), T0))
    assert "waiting for it to serve 1.5.0" in conditions["Succeeded"][2]
    assert conditions["GatesPassed"] == (
        "Unknown",
        "WaitingForSource",
        "measured once a run starts; see the Succeeded condition",
    )


def test_a_soak_restart_names_the_source_problem_not_the_pointer_to_it() -> None:
    from modelship.decisions.promotion_gates import source_unhealthy

    status = md_status("1.4.0", T0, ready=False, degraded=True)
    words = {"Ready": "2/3 runtime pods available; see the Degraded condition"}
    words["Degraded"] = "1 runtime pod(s) cannot be scheduled: 0/5 nodes are available"
    conditions = [c.model_copy(update={"message": words[c.type]}) for c in status.conditions]
    status = status.model_copy(update={"conditions": conditions})
    why = source_unhealthy(view("fraud", "staging", V14, status))
    assert why == f"the source is Degraded: {words['Degraded']}"
