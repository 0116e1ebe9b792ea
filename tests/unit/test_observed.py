from typing import Any

import pytest

from modelship.observed import DeploymentState, PodState


def deployment(spec_replicas: int = 2, generation: int = 3, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": spec_replicas},
        "status": status,
    }


@pytest.mark.parametrize(
    ("name", "obj", "rolled_out"),
    [
        (
            "complete",
            deployment(
                observedGeneration=3,
                replicas=2,
                updatedReplicas=2,
                readyReplicas=2,
                availableReplicas=2,
            ),
            True,
        ),
        (
            "old generation",
            deployment(
                observedGeneration=2,
                replicas=2,
                updatedReplicas=2,
                readyReplicas=2,
                availableReplicas=2,
            ),
            False,
        ),
        (
            "old pods still around",
            deployment(
                observedGeneration=3,
                replicas=3,
                updatedReplicas=2,
                readyReplicas=3,
                availableReplicas=3,
            ),
            False,
        ),
        (
            "not available yet",
            deployment(
                observedGeneration=3,
                replicas=2,
                updatedReplicas=2,
                readyReplicas=2,
                availableReplicas=1,
            ),
            False,
        ),
        ("empty status", deployment(), False),
        ("scaled to zero", deployment(spec_replicas=0, observedGeneration=3), True),
    ],
)
def test_rolled_out(name: str, obj: dict[str, Any], rolled_out: bool) -> None:
    assert DeploymentState.from_object(obj).rolled_out is rolled_out, name


def test_progress_deadline_is_read_from_the_deployment_condition() -> None:
    obj = deployment(
        observedGeneration=3,
        conditions=[
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "x" has timed out progressing.',
            }
        ],
    )
    assert DeploymentState.from_object(obj).deadline_exceeded_message == (
        'ReplicaSet "x" has timed out progressing.'
    )


def test_pod_scheduling_failure_keeps_the_scheduler_message() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/5 nodes are available: 2 Insufficient nvidia.com/gpu.",
                }
            ],
        },
    }
    state = PodState.from_object(pod)
    assert state.unschedulable_message == "0/5 nodes are available: 2 Insufficient nvidia.com/gpu."
    assert not state.ready


def test_ready_pod() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True"},
            ]
        },
    }
    assert PodState.from_object(pod) == PodState("p", ready=True, unschedulable_message=None)
