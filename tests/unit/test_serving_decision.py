"""Table-driven cases for the stable-track status decision."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from modelship.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.status import CanaryStatus
from modelship.decisions.rollout import RolloutPlan
from modelship.decisions.serving import assess_invalid_spec, assess_serving
from modelship.observed import DeploymentState, PodState
from modelship.revision_hash import revision_ref
from tests.unit.factories import gpu_spec, spec

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

DONE = DeploymentState(
    generation=2,
    observed_generation=2,
    desired_replicas=2,
    replicas=2,
    updated_replicas=2,
    ready_replicas=2,
    available_replicas=2,
    deadline_exceeded_message=None,
)
ROLLING = replace(DONE, updated_replicas=1, ready_replicas=1, available_replicas=1, replicas=3)
SURGING = replace(DONE, replicas=3, updated_replicas=1, ready_replicas=3, available_replicas=3)
STARTING = replace(DONE, replicas=2, updated_replicas=2, ready_replicas=0, available_replicas=0)
STALE = replace(DONE, observed_generation=1)
DEADLINE = replace(STARTING, deadline_exceeded_message="ReplicaSet has timed out progressing.")
ZERO = replace(
    DONE, desired_replicas=0, replicas=0, updated_replicas=0, ready_replicas=0, available_replicas=0
)

GPU_MSG = (
    "0/5 nodes are available: 2 Insufficient nvidia.com/gpu, 3 node(s) had untolerated "
    "taint. preemption: not eligible"
)
PENDING_GPU = PodState("p-1", ready=False, unschedulable_message=GPU_MSG)
PENDING_OTHER = PodState(
    "p-2",
    ready=False,
    unschedulable_message="0/5 nodes are available: 5 node(s) didn't match "
    "Pod's node affinity/selector.",
)


@dataclass
class Case:
    name: str
    deployment: DeploymentState
    spec: ModelDeploymentSpec
    pods: tuple[PodState, ...] = ()
    ready: str = "True"
    ready_reason: str = "Available"
    progressing: str = "False"
    degraded: str = "False"
    degraded_reason: str = "AsExpected"
    phase: str = "Healthy"
    requeue: bool = False
    stable_set: bool = True


CASES = [
    Case("rolled out", DONE, spec()),
    Case(
        "pods starting",
        STARTING,
        spec(),
        ready="False",
        ready_reason="PodsNotReady",
        progressing="True",
        phase="Progressing",
        requeue=True,
        stable_set=False,
    ),
    Case(
        "rolling update",
        ROLLING,
        spec(),
        ready="False",
        ready_reason="PodsNotReady",
        progressing="True",
        phase="Progressing",
        requeue=True,
        stable_set=False,
    ),
    Case(
        "healthy rolling update keeps serving",
        SURGING,
        spec(),
        progressing="True",
        phase="Progressing",
        requeue=True,
        stable_set=False,
    ),
    Case(
        "controller has not seen the new generation",
        STALE,
        spec(),
        ready="False",
        ready_reason="PodsNotReady",
        progressing="True",
        phase="Progressing",
        requeue=True,
        stable_set=False,
    ),
    Case(
        "not enough GPUs",
        STARTING,
        gpu_spec(count=8),
        pods=(PENDING_GPU,),
        ready="False",
        ready_reason="InsufficientGPU",
        progressing="True",
        degraded="True",
        degraded_reason="InsufficientGPU",
        phase="Degraded",
        requeue=True,
        stable_set=False,
    ),
    Case(
        "unschedulable for another reason",
        STARTING,
        gpu_spec(count=1, product="nope"),
        pods=(PENDING_OTHER,),
        ready="False",
        ready_reason="Unschedulable",
        progressing="True",
        degraded="True",
        degraded_reason="Unschedulable",
        phase="Degraded",
        requeue=True,
        stable_set=False,
    ),
    Case(
        "insufficient cpu on a cpu model is not a GPU problem",
        STARTING,
        spec(),
        pods=(PodState("p", False, "0/5 nodes are available: 5 Insufficient cpu."),),
        ready="False",
        ready_reason="Unschedulable",
        progressing="True",
        degraded="True",
        degraded_reason="Unschedulable",
        phase="Degraded",
        requeue=True,
        stable_set=False,
    ),
    Case(
        "progress deadline exceeded",
        DEADLINE,
        spec(),
        ready="False",
        ready_reason="ProgressDeadlineExceeded",
        progressing="False",
        degraded="True",
        degraded_reason="ProgressDeadlineExceeded",
        phase="Degraded",
        requeue=True,
        stable_set=False,
    ),
    Case("scaled to zero", ZERO, spec(replicas=0), ready_reason="ScaledToZero"),
    Case(
        "MIG shortage is a GPU shortage",
        STARTING,
        gpu_spec(resource_name="nvidia.com/mig-1g.10gb", count=1),
        pods=(
            PodState("p", False, "0/5 nodes are available: 5 Insufficient nvidia.com/mig-1g.10gb."),
        ),
        ready="False",
        ready_reason="InsufficientGPU",
        progressing="True",
        degraded="True",
        degraded_reason="InsufficientGPU",
        phase="Degraded",
        requeue=True,
        stable_set=False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_assess_serving(case: Case) -> None:
    rev = revision_ref(case.spec)
    plan = assess_serving(
        2, case.spec, rev, case.deployment, case.pods, ModelDeploymentStatus(), NOW
    )
    by_type = {c.type: c for c in plan.status.conditions}
    assert by_type["Ready"].status == case.ready
    assert by_type["Ready"].reason == case.ready_reason
    assert by_type["Progressing"].status == case.progressing
    assert by_type["Degraded"].status == case.degraded
    assert by_type["Degraded"].reason == case.degraded_reason
    assert all(c.observed_generation == 2 for c in plan.status.conditions)
    assert plan.status.phase == case.phase
    assert plan.status.observed_generation == 2
    assert (plan.requeue_after is not None) == case.requeue
    assert (plan.status.stable_revision == rev) == case.stable_set


def test_insufficient_gpu_message_has_the_numbers_and_scheduler_words() -> None:
    plan = assess_serving(
        1,
        gpu_spec(count=8),
        revision_ref(gpu_spec(count=8)),
        STARTING,
        [PENDING_GPU],
        ModelDeploymentStatus(),
        NOW,
    )
    degraded = next(c for c in plan.status.conditions if c.type == "Degraded")
    assert "8 nvidia.com/gpu each" in degraded.message
    assert "Insufficient nvidia.com/gpu" in degraded.message
    assert [(e.type, e.reason) for e in plan.events if e.reason == "InsufficientGPU"] == [
        ("Warning", "InsufficientGPU")
    ]


def test_events_only_on_transitions() -> None:
    s = spec()
    rev = revision_ref(s)
    first = assess_serving(2, s, rev, STARTING, [], ModelDeploymentStatus(), NOW)
    again = assess_serving(2, s, rev, STARTING, [], first.status, NOW)
    assert first.events and not again.events
    ready = assess_serving(2, s, rev, DONE, [], again.status, NOW)
    assert [(e.reason, e.type) for e in ready.events] == [("Available", "Normal")]
    assert [(e.reason, e.type) for e in first.events] == [("RollingUpdate", "Normal")]


def test_losing_readiness_is_a_warning() -> None:
    s = spec()
    rev = revision_ref(s)
    ready = assess_serving(2, s, rev, DONE, [], ModelDeploymentStatus(), NOW)
    lost = assess_serving(
        2, s, rev, replace(DONE, ready_replicas=1, available_replicas=1), [], ready.status, NOW
    )
    assert [(e.reason, e.type) for e in lost.events] == [("PodsNotReady", "Warning")]


def test_history_records_new_revisions_and_supersedes_old() -> None:
    old, new = spec(), spec(model={"name": "fraud-scorer", "version": "2", "uri": "s3://x/"})
    first = assess_serving(1, old, revision_ref(old), DONE, [], ModelDeploymentStatus(), NOW)
    second = assess_serving(2, new, revision_ref(new), DONE, [], first.status, NOW)
    assert [(h.model_version, h.outcome) for h in second.status.history] == [
        ("2", "RolledOut"),
        ("1.4.0", "Superseded"),
    ]
    same = assess_serving(2, new, revision_ref(new), DONE, [], second.status, NOW)
    assert len(same.status.history) == 2


def test_history_is_bounded_by_revision_history_limit() -> None:
    status = ModelDeploymentStatus()
    for v in range(5):
        s = spec(model={"name": "m", "version": str(v), "uri": "s3://x/"}, revisionHistoryLimit=3)
        status = assess_serving(1, s, revision_ref(s), DONE, [], status, NOW).status
    assert [h.model_version for h in status.history] == ["4", "3", "2"]


def test_invalid_spec_is_degraded_and_not_requeued() -> None:
    plan = assess_invalid_spec(4, "spec.replicas: must be >= 0", ModelDeploymentStatus(), NOW)
    by_type = {c.type: c for c in plan.status.conditions}
    assert by_type["Degraded"].status == "True"
    assert by_type["Degraded"].reason == "InvalidSpec"
    assert by_type["Ready"].status == "False"
    assert plan.status.phase == "Degraded"
    assert plan.requeue_after is None
    assert plan.events[0].type == "Warning"


def _words_once(plan_status: ModelDeploymentStatus, words: str) -> list[str]:
    """The conditions whose message holds ``words``: the explanation is said once."""
    return [c.type for c in plan_status.conditions if words in c.message]


def test_a_lost_gpu_is_explained_once_and_ready_points_to_it() -> None:
    s = gpu_spec(count=8)
    rev = revision_ref(s)
    ready = assess_serving(2, s, rev, DONE, [], ModelDeploymentStatus(), NOW)
    lost = assess_serving(
        2,
        s,
        rev,
        replace(DONE, ready_replicas=1, available_replicas=1),
        [PENDING_GPU],
        ready.status,
        NOW,
    )
    by_type = {c.type: c for c in lost.status.conditions}
    assert (by_type["Ready"].status, by_type["Ready"].reason) == ("False", "InsufficientGPU")
    assert by_type["Ready"].message == "1/2 runtime pods available; see the Degraded condition"
    assert _words_once(lost.status, "Insufficient nvidia.com/gpu") == ["Degraded"]
    # One Warning, in Degraded's words, not a second one for the readiness it cost.
    told = [(e.type, e.reason, e.message) for e in lost.events]
    assert told == [("Warning", "InsufficientGPU", by_type["Degraded"].message)]


def test_an_aborted_canary_is_explained_once_by_degraded() -> None:
    s = spec()
    rev = revision_ref(s)
    canary_rev = revision_ref(
        spec(model={"name": "fraud-scorer", "version": "2", "uri": "s3://y/"})
    )
    words = "latency p95: 0.21 > 0.05 (3 of 3 failures)"
    canary = CanaryStatus(
        revision=canary_rev,
        phase="Aborted",
        abort_reason="AnalysisFailed",
        message=words,
        started_at="2026-01-01T11:50:00Z",
        step_started_at="2026-01-01T11:50:00Z",
        last_progress_at="2026-01-01T11:55:00Z",
    )
    rollout = RolloutPlan(
        stable_revision=rev,
        stable_replicas=2,
        canary_revision=canary_rev,
        canary_replicas=0,
        weight=0,
        canary=canary,
        aborted=("AnalysisFailed", words),
    )
    plan = assess_serving(2, s, rev, DONE, [], ModelDeploymentStatus(), NOW, rollout)
    by_type = {c.type: c for c in plan.status.conditions}
    assert (by_type["Degraded"].reason, by_type["Degraded"].message) == ("AnalysisFailed", words)
    assert by_type["Progressing"].reason == "AnalysisFailed"
    assert by_type["Progressing"].message == "canary 2 aborted; see the Degraded condition"
    assert by_type["Ready"].message == "2/2 runtime pods available; see the Degraded condition"
    assert _words_once(plan.status, words) == ["Degraded"]
