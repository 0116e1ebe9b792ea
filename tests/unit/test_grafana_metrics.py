"""The operator metrics the Grafana dashboard needs beyond the analysis and drift ones:
set and actual canary weight, retraining Jobs by outcome, work queue depth."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest

from modelship import telemetry
from modelship.api.status import (
    ModelDeploymentStatus,
    RetrainingRun,
    RetrainingStatus,
    RevisionRef,
)
from modelship.workqueue import WorkQueue
from tests.unit.factories import canary_status

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STAMP = "2026-01-01T12:00:00Z"
REV = RevisionRef(name="m-abc", model_version="2.0")


def sample(metric: str, **labels: str) -> float | None:
    return telemetry.REGISTRY.get_sample_value(metric, labels)


def weights(name: str) -> dict[str, float | None]:
    return {
        w: sample("modelship_canary_weight", namespace="ns", name=name, weight=w)
        for w in ("set", "actual")
    }


@pytest.mark.parametrize(
    ("canary", "expected"),
    [
        ("none", {"set": 0.0, "actual": 0.0}),
        ("at 30, seen at 25", {"set": 30.0, "actual": 25.0}),
        ("at 30, not seen yet", {"set": 30.0, "actual": None}),
        ("aborted", {"set": 0.0, "actual": 0.0}),
    ],
)
def test_canary_weights_set_and_actual(canary: str, expected: dict[str, float | None]) -> None:
    statuses = {
        "none": ModelDeploymentStatus(),
        "at 30, seen at 25": ModelDeploymentStatus(
            canary=canary_status(REV, T0, weight=30, actual_weight=25)
        ),
        "at 30, not seen yet": ModelDeploymentStatus(canary=canary_status(REV, T0, weight=30)),
        "aborted": ModelDeploymentStatus(
            canary=canary_status(REV, T0, phase="Aborted", weight=0, actual_weight=0)
        ),
    }
    name = f"w-{canary.replace(' ', '-').replace(',', '')}"
    # An actual weight seen before and unknown now is removed, not left at its old value.
    telemetry.canary_weights(
        "ns", name, ModelDeploymentStatus(canary=canary_status(REV, T0, weight=5, actual_weight=5))
    )
    telemetry.canary_weights("ns", name, statuses[canary])
    assert weights(name) == expected
    telemetry.forget("ns", name)
    assert weights(name) == {"set": None, "actual": None}


def test_canary_outcomes_start_at_zero_so_the_first_abort_is_an_increase() -> None:
    def outcomes() -> dict[str, float | None]:
        return {
            o: sample("modelship_rollouts_total", namespace="ns", name="first", outcome=o)
            for o in telemetry.ROLLOUT_OUTCOMES
        }

    telemetry.canary_weights("ns", "first", ModelDeploymentStatus())
    assert outcomes() == {"started": 0, "promoted": 0, "aborted": 0}
    progressing = ModelDeploymentStatus(canary=canary_status(REV, T0, weight=10))
    aborted = ModelDeploymentStatus(canary=canary_status(REV, T0, phase="Aborted"))
    telemetry.rollout_outcomes("ns", "first", ModelDeploymentStatus(), progressing)
    telemetry.rollout_outcomes("ns", "first", progressing, aborted)
    telemetry.canary_weights("ns", "first", aborted)  # zeroing again keeps the counts
    assert outcomes() == {"started": 1, "promoted": 0, "aborted": 1}
    telemetry.forget("ns", "first")
    assert set(outcomes().values()) == {None}


def run(name: str, outcome: str = "Running", finished: bool = False) -> RetrainingRun:
    return RetrainingRun(
        name=name,
        started_at=STAMP,
        finished_at=STAMP if finished else None,
        outcome=outcome,
    )


def jobs(name: str) -> dict[str, float | None]:
    return {
        o: sample("modelship_retraining_jobs_total", namespace="ns", name=name, outcome=o)
        for o in telemetry.RETRAINING_OUTCOMES
    }


STARTED = RetrainingStatus(count=1, active=run("m-retrain-1"))
SUCCEEDED = RetrainingStatus(count=1, last=run("m-retrain-1", "Succeeded", finished=True))
FAILED_2 = RetrainingStatus(count=2, last=run("m-retrain-2", "Failed", finished=True), active=None)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ("enabled, no Job yet", {"started": 0, "succeeded": 0, "failed": 0}),
        ("a Job starts", {"started": 1, "succeeded": 0, "failed": 0}),
        ("it succeeds", {"started": 1, "succeeded": 1, "failed": 0}),
        ("the next fails", {"started": 2, "succeeded": 1, "failed": 1}),
        ("not enabled", {"started": None, "succeeded": None, "failed": None}),
    ],
)
def test_retraining_jobs_by_outcome_counted_once(
    steps: str, expected: dict[str, float | None]
) -> None:
    paths: dict[str, list[RetrainingStatus | None]] = {
        "enabled, no Job yet": [None, None],
        "a Job starts": [None, STARTED],
        "it succeeds": [None, STARTED, SUCCEEDED],
        "the next fails": [None, STARTED, SUCCEEDED, FAILED_2],
        "not enabled": [None, None],
    }
    path = paths[steps]
    name = f"r-{steps.replace(' ', '-').replace(',', '')}"
    enabled = steps != "not enabled"
    for before, after in itertools.pairwise(path):
        telemetry.retraining_jobs("ns", name, before, after, enabled=enabled)
        # the same status again (a reconcile that changed nothing) counts nothing
        telemetry.retraining_jobs("ns", name, after, after, enabled=enabled)
    assert jobs(name) == expected
    telemetry.forget("ns", name)
    assert set(jobs(name).values()) == {None}


def test_queue_depth_counts_keys_waiting_not_those_running() -> None:
    async def main() -> None:
        release = asyncio.Event()
        running = asyncio.Event()

        async def worker(key: str) -> float | None:
            running.set()
            await release.wait()
            return None

        queue: WorkQueue[str] = WorkQueue(worker, workers=1)
        telemetry.watch_queue("test-queue", queue.depth)

        def depth() -> float | None:
            return sample("modelship_workqueue_depth", queue="test-queue")

        assert depth() == 0
        for key in ("a", "b", "c", "b"):
            queue.add(key)
        assert depth() == 3  # "b" coalesced
        queue.start()
        await asyncio.wait_for(running.wait(), 5)
        assert depth() == 2  # "a" is with the worker
        queue.add("a")  # re-queued once "a" ends: not waiting for a worker yet
        assert depth() == 2
        release.set()
        await queue.stop()

    asyncio.run(main())
