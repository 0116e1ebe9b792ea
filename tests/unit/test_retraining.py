"""Retraining decisions: trigger, one active Job, cooldown, restart safety, results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelship.api.status import DriftStatus, RetrainingRun, RetrainingStatus
from modelship.conditions import rfc3339
from modelship.decisions.retraining import decide_retraining, parse_result
from modelship.observed import JobState
from modelship.render.labels import Owner
from modelship.render.retraining import RETRAINING, retraining_job, trigger_env
from tests.unit.factories import spec

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DRIFT = {"reference": {"configMapRef": {"name": "ref", "key": "reference.json"}}}
TEMPLATE = {
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {"name": "train", "image": "trainer:1", "env": [{"name": "X", "value": "1"}]}
                ]
            }
        }
    }
}


def retrain_spec(**extra: Any) -> Any:
    body = {"trigger": {"driftWindows": 2}, "cooldown": "1h", "jobTemplate": TEMPLATE, **extra}
    return spec(drift=DRIFT, retraining=body)


def drifted(windows: int) -> DriftStatus:
    return DriftStatus(
        verdict="Drifted" if windows else "NotDrifted",
        method="ks",
        threshold=0.05,
        window="1h",
        evaluated_at=rfc3339(T0),
        message="1 of 4 features drifted (ks >= 0.05 and significant): amount 0.3",
        drifted_features=1,
        consecutive_drifted=windows,
    )


def job(number: int, *, done: bool = False, ok: bool = True, at: datetime = T0) -> JobState:
    return JobState(
        name=f"fraud-retrain-{number}",
        number=number,
        created_at=rfc3339(at),
        finished=done,
        succeeded=done and ok,
        finished_at=rfc3339(at + timedelta(minutes=5)) if done else None,
        message="" if ok else "BackoffLimitExceeded: Job has reached the specified backoff limit",
    )


def test_sustained_drift_starts_exactly_one_job() -> None:
    assert (
        decide_retraining("fraud", "rev", retrain_spec(), drifted(1), None, [], {}, T0).create
        is None
    )
    plan = decide_retraining("fraud", "rev", retrain_spec(), drifted(2), None, [], {}, T0)
    assert plan.create == 1 and plan.status is not None and plan.status.active is not None
    assert plan.status.active.name == "fraud-retrain-1"
    assert [e.reason for e in plan.events] == ["RetrainingStarted"]
    # The next reconcile sees the running Job: nothing more, whatever status says.
    again = decide_retraining("fraud", "rev", retrain_spec(), drifted(3), None, [job(1)], {}, T0)
    assert again.create is None and again.status is not None and again.status.count == 1


def test_a_restart_before_status_was_written_never_makes_a_second_job() -> None:
    # The Job exists (created), the status write was lost: previous status is empty.
    plan = decide_retraining("fraud", "rev", retrain_spec(), drifted(5), None, [job(1)], {}, T0)
    assert plan.create is None and plan.status is not None and plan.status.active is not None


def test_cooldown_counts_from_the_last_jobs_start() -> None:
    done = [job(1, done=True)]
    soon = decide_retraining(
        "fraud", "rev", retrain_spec(), drifted(4), None, done, {}, T0 + timedelta(minutes=30)
    )
    assert soon.create is None and soon.requeue_after == 30 * 60
    later = decide_retraining(
        "fraud", "rev", retrain_spec(), drifted(4), soon.status, done, {}, T0 + timedelta(hours=1)
    )
    assert later.create == 2


def test_success_records_the_reported_model_once() -> None:
    results = {"fraud-retrain-1": '{"version": "1.5.0", "uri": "file:///models/1.5.0"}'}
    plan = decide_retraining(
        "fraud", "rev", retrain_spec(), drifted(0), None, [job(1, done=True)], results, T0
    )
    assert plan.status is not None and plan.status.last is not None
    last = plan.status.last
    assert (last.outcome, last.model_version, last.model_uri) == (
        "Succeeded",
        "1.5.0",
        "file:///models/1.5.0",
    )
    assert [e.reason for e in plan.events] == ["RetrainingSucceeded"]
    again = decide_retraining(
        "fraud", "rev", retrain_spec(), drifted(0), plan.status, [job(1, done=True)], {}, T0
    )
    assert again.events == [] and again.status == plan.status


def test_a_failed_job_is_recorded_with_its_reason_and_not_retried_in_a_loop() -> None:
    previous = RetrainingStatus(
        count=1,
        active=RetrainingRun(name="fraud-retrain-1", started_at=rfc3339(T0), outcome="Running"),
    )
    failed = [job(1, done=True, ok=False)]
    plan = decide_retraining(
        "fraud", "rev", retrain_spec(), drifted(6), previous, failed, {}, T0 + timedelta(minutes=6)
    )
    assert plan.create is None  # cooldown from the failed Job's start
    assert plan.status is not None and plan.status.last is not None
    assert (
        plan.status.last.outcome == "Failed" and "BackoffLimitExceeded" in plan.status.last.reason
    )
    assert [e.reason for e in plan.events] == ["RetrainingFailed"]


def test_history_keeps_the_newest_finished_jobs() -> None:
    jobs = [job(n, done=True, at=T0 - timedelta(days=n)) for n in range(1, 6)]
    plan = decide_retraining("fraud", "rev", retrain_spec(), drifted(0), None, jobs, {}, T0)
    assert plan.delete == ["fraud-retrain-1", "fraud-retrain-2"]


def test_result_parsing_says_what_was_wrong() -> None:
    assert parse_result('{"version": "2", "uri": "s3://m/2"}') == ("2", "s3://m/2", "")
    version, uri, problem = parse_result("done")
    assert uri is None
    assert version is None and "termination message 'done'" in problem


def test_the_job_carries_the_trigger_and_is_owned() -> None:
    owner = Owner(name="fraud", namespace="ml", uid="u-1")
    s = retrain_spec()
    obj = retraining_job(owner, s, 3, trigger_env(s, drifted(2), "ml"))
    assert obj["metadata"]["name"] == "fraud-retrain-3"
    assert obj["metadata"]["labels"][RETRAINING] == "3"
    assert obj["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    pod = obj["spec"]["template"]
    assert "modelship.io/model-deployment" not in pod["metadata"]["labels"]  # not a runtime pod
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["X"] == "1" and env["MODELSHIP_MODEL_VERSION"] == "1.4.0"
    assert env["MODELSHIP_REFERENCE"] == "configmap/ml/ref/reference.json"
    assert env["MODELSHIP_DRIFT_METHOD"] == "ks"
    assert pod["spec"]["restartPolicy"] == "Never"


def test_auto_deploy_serves_the_reported_model_until_the_spec_changes() -> None:
    from modelship.decisions.revisions import retrained_spec

    s = retrain_spec(autoDeploy=True)
    results = {"fraud-retrain-1": '{"version": "1.5.0", "uri": "file:///models/1.5.0"}'}
    plan = decide_retraining(
        "fraud", "rev-a", s, drifted(0), None, [job(1, done=True)], results, T0
    )
    assert plan.status is not None and plan.status.deployed is not None
    assert plan.status.deployed.model_version == "1.5.0" and plan.requeue_after == 1.0
    assert [e.reason for e in plan.events] == ["RetrainingSucceeded", "RetrainedModelDeploying"]
    served = retrained_spec(s, plan.status, "rev-a")
    assert served is not None and served.model.version == "1.5.0"
    assert served.model.uri == "file:///models/1.5.0" and served.model.digest is None
    # GitOps changed the spec: its own revision wins and the override is dropped.
    assert retrained_spec(s, plan.status, "rev-b") is None
    later = decide_retraining(
        "fraud", "rev-b", s, drifted(0), plan.status, [job(1, done=True)], {}, T0
    )
    assert later.status is not None and later.status.deployed is None


def test_without_auto_deploy_a_success_is_only_recorded() -> None:
    results = {"fraud-retrain-1": '{"version": "1.5.0", "uri": "file:///models/1.5.0"}'}
    plan = decide_retraining(
        "fraud", "rev", retrain_spec(), drifted(0), None, [job(1, done=True)], results, T0
    )
    assert plan.status is not None and plan.status.deployed is None


def test_jobs_are_looked_at_only_while_one_runs_or_drift_may_start_one() -> None:
    from modelship.decisions.retraining import watching_jobs

    s = retrain_spec()
    assert not watching_jobs(s, drifted(1), None)
    assert watching_jobs(s, drifted(2), None)
    running = RetrainingStatus(
        count=1,
        active=RetrainingRun(name="fraud-retrain-1", started_at=rfc3339(T0), outcome="Running"),
    )
    assert watching_jobs(s, drifted(0), running)
    assert not watching_jobs(spec(), drifted(5), running)  # no spec.retraining


def test_a_new_auto_deploy_takes_effect_soon_even_within_the_cooldown() -> None:
    # Job 1 succeeded 10 minutes after it started; drift still lasts, the 1 h cooldown
    # from its start has not passed: the retrained model must still roll out at once.
    s = retrain_spec(autoDeploy=True)
    results = {"fraud-retrain-1": '{"version": "1.5.0", "uri": "file:///models/1.5.0"}'}
    running = RetrainingStatus(
        count=1,
        active=RetrainingRun(name="fraud-retrain-1", started_at=rfc3339(T0), outcome="Running"),
    )
    later = T0 + timedelta(minutes=10)
    plan = decide_retraining(
        "fraud", "rev-a", s, drifted(4), running, [job(1, done=True)], results, later
    )
    assert plan.create is None, "within the cooldown"
    assert plan.status is not None and plan.status.deployed is not None
    assert plan.requeue_after == 1.0, "not the remaining cooldown"


def test_replicas_zero_with_a_new_version_does_not_crash() -> None:
    from modelship.api.status import RevisionRef
    from modelship.decisions.rollout import RolloutInput, decide_rollout

    zero = spec(replicas=0)
    plan = decide_rollout(
        RolloutInput(
            spec=zero,
            desired=RevisionRef(name="new", model_version="2.0"),
            stable=RevisionRef(name="old", model_version="1.0"),
            canary=None,
            stable_track=None,
            canary_track=None,
            now=T0,
            exact_weights=True,
        )
    )
    assert plan.canary is not None and plan.weight == 0
