"""Named cases for the canary state machine (decisions/rollout.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelship.api.status import CanaryStatus, RevisionRef
from modelship.conditions import rfc3339
from modelship.decisions.gpu_capacity import GpuFree
from modelship.decisions.replicas import GpuNeed
from modelship.decisions.rollout import (
    AnalysisGate,
    Command,
    RolloutInput,
    RolloutPlan,
    decide_rollout,
)
from modelship.observed import DeploymentState
from tests.unit.factories import canary_status, spec

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STABLE = RevisionRef(name="s1", model_version="1.0")
NEW = RevisionRef(name="c2", model_version="2.0")
NEWER = RevisionRef(name="c3", model_version="3.0")
STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"pause": {"duration": "2m"}},
    {"setWeight": 50},
    {"pause": {}},
]


def track(rev: RevisionRef | None, replicas: int, ready: int | None = None) -> DeploymentState:
    ready = replicas if ready is None else ready
    return DeploymentState(
        generation=1,
        observed_generation=1,
        desired_replicas=replicas,
        replicas=replicas,
        updated_replicas=replicas,
        ready_replicas=ready,
        available_replicas=ready,
        deadline_exceeded_message=None,
        revision=rev.name if rev else None,
    )


def canary(
    step: int = 0,
    weight: int = 0,
    phase: str = "Progressing",
    at: datetime = T0,
    rev: RevisionRef = NEW,
    **extra: Any,
) -> CanaryStatus:
    return canary_status(rev, at, phase, weight, **{"step": step, "capacity": "surge", **extra})


def inp(steps: list[dict[str, Any]] | None = STEPS, replicas: int = 2, **kw: Any) -> RolloutInput:
    rollout: dict[str, Any] = {"capacity": kw.pop("capacity", "auto")}
    if steps is not None:
        rollout["steps"] = steps
    if "deadline" in kw:
        rollout["progressDeadline"] = kw.pop("deadline")
    if "scale_down_delay" in kw:
        rollout["scaleDownDelay"] = kw.pop("scale_down_delay")
    base: dict[str, Any] = dict(
        spec=spec(replicas=replicas, rollout=rollout),
        desired=NEW,
        stable=STABLE,
        canary=None,
        stable_track=track(STABLE, replicas),
        canary_track=None,
        now=T0,
        exact_weights=True,
    )
    base.update(kw)
    return RolloutInput(**base)


@dataclass
class Case:
    name: str
    given: RolloutInput
    check: Callable[[RolloutPlan], bool]
    events: tuple[str, ...] | None = None  # reasons, in order, when given


def reasons(plan: RolloutPlan) -> tuple[str, ...]:
    return tuple(e.reason for e in plan.events)


def phase(plan: RolloutPlan) -> str | None:
    return plan.canary.phase if plan.canary else None


LATER = T0 + timedelta(minutes=3)

CASES = [
    Case(
        "first deployment has no canary",
        inp(stable=None, stable_track=None),
        lambda p: p.canary is None and p.stable_revision == NEW and p.stable_replicas == 2,
    ),
    Case(
        "desired equals stable: steady",
        inp(desired=STABLE),
        lambda p: p.canary is None and p.canary_revision is None and p.weight == 0,
    ),
    Case(
        "new revision starts a canary at weight 0",
        inp(),
        lambda p: (
            phase(p) == "Progressing"
            and p.weight == 0
            and p.canary_replicas == 1
            and p.canary_revision == NEW
            and p.stable_revision == STABLE
        ),
        ("CanaryStarted",),
    ),
    Case(
        "first setWeight waits for canary pods",
        inp(canary=canary(), canary_track=track(NEW, 1, ready=0)),
        lambda p: (
            p.weight == 0
            and p.canary is not None
            and p.canary.step == 0
            and p.requeue_after is not None
        ),
    ),
    Case(
        "canary ready: weight 10, then the timed pause starts",
        inp(canary=canary(), canary_track=track(NEW, 1)),
        lambda p: (
            p.weight == 10
            and p.canary is not None
            and p.canary.step == 1
            and p.requeue_after == pytest.approx(120)
        ),
    ),
    Case(
        "timed pause not over keeps weight and step",
        inp(
            canary=canary(step=1, weight=10),
            canary_track=track(NEW, 1),
            now=T0 + timedelta(seconds=30),
        ),
        lambda p: (
            p.weight == 10
            and p.canary is not None
            and p.canary.step == 1
            and p.requeue_after == pytest.approx(90)
        ),
    ),
    Case(
        "timed pause over: 50% with the pods already there, then the indefinite pause",
        inp(canary=canary(step=1, weight=10), canary_track=track(NEW, 1), now=LATER),
        lambda p: (
            p.canary is not None
            and p.canary.step == 3
            and p.canary_replicas == 1
            and p.weight == 50
            and phase(p) == "Paused"
        ),
        ("CanaryWeight", "CanaryPaused"),
    ),
    Case(
        "50% needs more canary pods with three replicas",
        inp(
            replicas=3,
            canary=canary(step=2, weight=10),
            canary_track=track(NEW, 1),
            stable_track=track(STABLE, 3),
        ),
        lambda p: p.canary_replicas == 2 and p.weight == 10 and p.stable_replicas == 3,
    ),
    Case(
        "indefinite pause waits for promote",
        inp(canary=canary(step=3, weight=50), canary_track=track(NEW, 1)),
        lambda p: (
            phase(p) == "Paused"
            and p.canary is not None
            and p.canary.pause_reason == "Step"
            and p.weight == 50
            and p.requeue_after is None
        ),
        ("CanaryPaused",),
    ),
    Case(
        "indefinite pause is not news twice",
        inp(
            canary=canary(step=3, weight=50, phase="Paused", pause_reason="Step"),
            canary_track=track(NEW, 1),
        ),
        lambda p: phase(p) == "Paused",
        (),
    ),
    Case(
        "promote releases the indefinite pause and promotion starts",
        inp(
            canary=canary(step=3, weight=50, phase="Paused", pause_reason="Step"),
            canary_track=track(NEW, 1),
            commands=frozenset({Command.PROMOTE}),
        ),
        lambda p: phase(p) == "Promoting" and p.stable_revision == NEW and p.weight == 50,
        ("Promoted", "Promoting"),
    ),
    Case(
        "promote skips a setWeight step still waiting for pods",
        inp(
            canary=canary(),
            canary_track=track(NEW, 1, ready=0),
            commands=frozenset({Command.PROMOTE}),
        ),
        lambda p: p.canary is not None and p.canary.step == 1,
    ),
    Case(
        "promote skips a timed pause",
        inp(
            canary=canary(step=1, weight=10),
            canary_track=track(NEW, 1),
            commands=frozenset({Command.PROMOTE}),
        ),
        lambda p: p.canary is not None and p.canary.step == 3 and p.weight == 50,
    ),
    Case(
        "promote --full goes straight to promoting",
        inp(
            canary=canary(),
            canary_track=track(NEW, 1, ready=0),
            commands=frozenset({Command.PROMOTE_FULL}),
        ),
        lambda p: phase(p) == "Promoting" and p.stable_revision == NEW,
        ("PromotedFull",),
    ),
    Case(
        "promoting waits for stable to run the new revision",
        inp(
            canary=canary(step=4, weight=50, phase="Promoting", canary_replicas=1),
            canary_track=track(NEW, 1),
            stable_track=track(STABLE, 2),
        ),
        lambda p: (
            p.stable_revision == NEW
            and p.stable_replicas == 2
            and p.weight == 50
            and p.canary_replicas == 1
            and p.promoted is None
        ),
    ),
    Case(
        "promotion completes: traffic to stable, canary removed",
        inp(
            canary=canary(step=4, weight=50, phase="Promoting"),
            canary_track=track(NEW, 1),
            stable_track=track(NEW, 2),
        ),
        lambda p: (
            p.promoted == NEW
            and p.canary is None
            and p.canary_revision is None
            and p.weight == 0
            and p.stable_replicas == 2
        ),
        ("Promoted",),
    ),
    Case(
        "no steps: wait for the canary pod, then promote",
        inp(steps=None, canary=canary(), canary_track=track(NEW, 1, ready=0)),
        lambda p: phase(p) == "Progressing" and p.canary_replicas == 1,
    ),
    Case(
        "no steps: canary ready promotes",
        inp(steps=None, canary=canary(), canary_track=track(NEW, 1)),
        lambda p: phase(p) == "Promoting",
        ("Promoting",),
    ),
    Case(
        "abort: weight 0 now, the canary keeps its pod for scaleDownDelay, stable untouched",
        inp(
            canary=canary(step=2, weight=10, canary_replicas=1),
            canary_track=track(NEW, 1),
            commands=frozenset({Command.ABORT}),
        ),
        lambda p: (
            phase(p) == "Aborted"
            and p.weight == 0
            and p.canary_replicas == 1
            and p.requeue_after == 30.0
            and p.canary is not None
            and p.canary.aborted_at == rfc3339(T0)
            and p.stable_revision == STABLE
            and p.stable_replicas == 2
            and p.aborted is not None
            and p.aborted[0] == "Aborted"
        ),
        ("Aborted",),
    ),
    Case(
        "aborted longer ago than scaleDownDelay: the canary is scaled to zero",
        inp(
            canary=canary(
                phase="Aborted",
                abort_reason="Aborted",
                canary_replicas=1,
                aborted_at=rfc3339(T0 - timedelta(seconds=31)),
            ),
            canary_track=track(NEW, 1),
        ),
        lambda p: p.canary_replicas == 0 and p.weight == 0 and p.requeue_after is None,
    ),
    Case(
        "scaleDownDelay 0s: the canary goes to zero in the abort itself",
        inp(
            canary=canary(step=2, weight=10, canary_replicas=1),
            canary_track=track(NEW, 1),
            commands=frozenset({Command.ABORT}),
            scale_down_delay="0s",
        ),
        lambda p: p.canary_replicas == 0 and p.weight == 0,
    ),
    Case(
        "swap abort at 75 %: stable has 1 of 4 pods, the canary keeps 75 % and its pods",
        inp(
            replicas=4,
            canary=canary(step=2, weight=75, capacity="swap", canary_replicas=3),
            canary_track=track(NEW, 3),
            stable_track=track(STABLE, 4, ready=1),
            commands=frozenset({Command.ABORT}),
        ),
        lambda p: (
            phase(p) == "Aborted"
            and p.weight == 75
            and p.canary_replicas == 3
            and p.stable_replicas == 4
            and p.canary is not None
            and p.canary.aborted_at is None
        ),
    ),
    Case(
        "swap abort: the weight follows stable's available pods (3 of 4: 25 %)",
        inp(
            replicas=4,
            canary=canary(
                phase="Aborted",
                weight=75,
                capacity="swap",
                canary_replicas=3,
                abort_reason="Aborted",
            ),
            canary_track=track(NEW, 3),
            stable_track=track(STABLE, 4, ready=3),
        ),
        lambda p: p.weight == 25 and p.canary_replicas == 3 and p.requeue_after == 5.0,
    ),
    Case(
        "swap abort: stable whole again, weight 0 now, the scale-down delay starts",
        inp(
            replicas=4,
            canary=canary(
                phase="Aborted",
                weight=25,
                capacity="swap",
                canary_replicas=3,
                abort_reason="Aborted",
            ),
            canary_track=track(NEW, 3),
            stable_track=track(STABLE, 4),
        ),
        lambda p: (
            p.weight == 0
            and p.canary_replicas == 3
            and p.canary is not None
            and p.canary.aborted_at == rfc3339(T0)
            and p.requeue_after == 30.0
        ),
    ),
    Case(
        "aborted canary stays aborted",
        inp(canary=canary(phase="Aborted", abort_reason="Aborted", message="m")),
        lambda p: phase(p) == "Aborted" and p.weight == 0 and p.aborted == ("Aborted", "m"),
        (),
    ),
    Case(
        "retry restarts an aborted canary from step 0",
        inp(
            canary=canary(step=2, phase="Aborted", abort_reason="Aborted"),
            commands=frozenset({Command.RETRY}),
        ),
        lambda p: phase(p) == "Progressing" and p.canary is not None and p.canary.step == 0,
        ("CanaryRetried", "CanaryStarted"),
    ),
    Case(
        "analysis failure aborts",
        inp(
            canary=canary(step=1, weight=10),
            canary_track=track(NEW, 1),
            analysis=AnalysisGate("Fail", "p99 latency 412ms > 250ms"),
        ),
        lambda p: (
            p.aborted is not None
            and p.aborted[0] == "AnalysisFailed"
            and "412ms" in p.aborted[1]
            and p.weight == 0
        ),
    ),
    Case(
        "inconclusive analysis pauses, never promotes or aborts",
        inp(
            canary=canary(step=4, weight=50),
            canary_track=track(NEW, 1),
            analysis=AnalysisGate("Inconclusive", "too few requests"),
        ),
        lambda p: (
            phase(p) == "Paused"
            and p.canary is not None
            and p.canary.pause_reason == "Analysis"
            and p.aborted is None
            and p.promoted is None
        ),
        ("AnalysisInconclusive",),
    ),
    Case(
        "a timed pause that has run out waits for a passing analysis round",
        inp(
            canary=canary(step=1, weight=10),
            canary_track=track(NEW, 1),
            now=LATER,
            analysis=AnalysisGate(required=True, passed_at=T0 - timedelta(seconds=1), retry_in=7),
        ),
        lambda p: (
            p.canary is not None
            and p.canary.step == 1
            and "analysis" in p.canary.message
            and p.requeue_after == 7
        ),
    ),
    Case(
        "a pause before any weight is not held by analysis (nothing to measure)",
        inp(
            steps=[{"pause": {"duration": "2m"}}, {"setWeight": 50}],
            canary=canary(step=0, weight=0),
            canary_track=track(NEW, 1),
            now=LATER,
            analysis=AnalysisGate(required=True),
        ),
        lambda p: p.canary is not None and p.canary.step >= 1,
    ),
    Case(
        "a round passed during the pause lets the step end",
        inp(
            canary=canary(step=1, weight=10),
            canary_track=track(NEW, 1),
            now=LATER,
            analysis=AnalysisGate(required=True, passed_at=T0 + timedelta(minutes=2)),
        ),
        lambda p: p.canary is not None and p.canary.step == 3,
    ),
    Case(
        "without steps a measured canary takes its pods' share and waits for a pass",
        inp(
            steps=None,
            canary=canary(),
            canary_track=track(NEW, 1),
            analysis=AnalysisGate(required=True, retry_in=30),
        ),
        lambda p: p.promoted is None and p.weight == 33 and p.canary_replicas == 1,
    ),
    Case(
        "without steps a passing round promotes",
        inp(
            steps=None,
            canary=canary(weight=33),
            canary_track=track(NEW, 1),
            now=LATER,
            analysis=AnalysisGate(required=True, passed_at=LATER),
        ),
        lambda p: p.canary is not None and p.canary.phase == "Promoting",
    ),
    Case(
        "a manual promote passes a step held by inconclusive analysis",
        inp(
            canary=canary(step=1, weight=10, phase="Paused", pause_reason="Analysis"),
            canary_track=track(NEW, 1),
            commands=frozenset({Command.PROMOTE}),
            analysis=AnalysisGate("Inconclusive", "no data"),
        ),
        lambda p: p.canary is not None and p.canary.step >= 2,
    ),
    Case(
        "progress deadline exceeded aborts",
        inp(
            canary=canary(),
            canary_track=track(NEW, 1, ready=0),
            deadline="5m",
            now=T0 + timedelta(minutes=6),
        ),
        lambda p: p.aborted is not None and p.aborted[0] == "ProgressDeadlineExceeded",
        ("ProgressDeadlineExceeded",),
    ),
    Case(
        "no deadline while paused for a person",
        inp(
            canary=canary(step=3, weight=50, phase="Paused", pause_reason="Step"),
            canary_track=track(NEW, 1),
            deadline="5m",
            now=T0 + timedelta(hours=2),
        ),
        lambda p: phase(p) == "Paused" and p.aborted is None,
    ),
    Case(
        "a long timed pause is not stuck",
        inp(
            steps=[{"setWeight": 10}, {"pause": {"duration": "1h"}}],
            canary=canary(step=1, weight=10),
            canary_track=track(NEW, 1),
            deadline="5m",
            now=T0 + timedelta(minutes=30),
        ),
        lambda p: p.aborted is None and p.canary is not None and p.canary.step == 1,
    ),
    Case(
        "manual pause holds everything",
        inp(canary=canary(), canary_track=track(NEW, 1), paused=True),
        lambda p: (
            phase(p) == "Paused"
            and p.canary is not None
            and p.canary.pause_reason == "Manual"
            and p.weight == 0
        ),
        ("CanaryPaused",),
    ),
    Case(
        "resume continues and restarts the timed pause",
        inp(
            canary=canary(step=1, weight=10, phase="Paused", pause_reason="Manual"),
            canary_track=track(NEW, 1),
            now=LATER,
        ),
        lambda p: (
            phase(p) == "Progressing"
            and p.canary is not None
            and p.canary.step == 1
            and p.canary.step_started_at == rfc3339(LATER)
        ),
        ("CanaryResumed",),
    ),
    Case(
        "a newer revision mid-canary restarts on the newest",
        inp(desired=NEWER, canary=canary(step=2, weight=10), canary_track=track(NEW, 1)),
        lambda p: (
            p.canary is not None
            and p.canary.revision == NEWER
            and p.canary.step == 0
            and p.weight == 0
            and p.canary_revision == NEWER
        ),
        ("CanaryRestarted", "CanaryStarted"),
    ),
    Case(
        "a revert to stable mid-canary drops the canary at once",
        inp(desired=STABLE, canary=canary(step=2, weight=10), canary_track=track(NEW, 1)),
        lambda p: p.canary is None and p.canary_revision is None and p.weight == 0,
        ("CanaryDropped",),
    ),
    Case(
        "scale change mid-canary resizes both tracks",
        inp(
            replicas=10,
            canary=canary(step=1, weight=10),
            canary_track=track(NEW, 1),
            stable_track=track(STABLE, 2),
            now=T0 + timedelta(seconds=10),
        ),
        lambda p: p.stable_replicas == 10 and p.canary_replicas == 1,
    ),
    Case(
        "replica ratio: the weight is the canary's share of pods",
        inp(exact_weights=False, canary=canary(), canary_track=track(NEW, 1)),
        lambda p: p.weight == 33 and p.canary_replicas == 1 and p.stable_replicas == 2,
    ),
    Case(
        "gatewayAPI removed under a running canary: its weight is now approximate",
        inp(exact_weights=False, canary=canary(step=1, weight=10), canary_track=track(NEW, 1)),
        lambda p: p.canary is not None and p.canary.weight_approximate is True,
    ),
    Case(
        "swap shrinks stable as the canary grows",
        inp(
            replicas=4,
            canary=canary(step=2, weight=10, capacity="swap"),
            canary_track=track(NEW, 2),
            stable_track=track(STABLE, 3),
        ),
        lambda p: p.canary_replicas == 2 and p.stable_replicas == 2 and p.weight == 50,
    ),
    Case(
        "auto surges when the GPUs are free",
        inp(gpu=GpuNeed("nvidia.com/gpu", 1, 1, free=GpuFree.of([8]))),
        lambda p: (
            p.canary is not None and p.canary.capacity == "surge" and p.capacity_problem is None
        ),
    ),
    Case(
        "auto swaps when the GPUs are not free",
        inp(gpu=GpuNeed("nvidia.com/gpu", 8, 8, free=GpuFree.of([0]))),
        lambda p: (
            p.canary is not None
            and p.canary.capacity == "swap"
            and p.stable_replicas == 1
            and p.capacity_problem is None
        ),
    ),
    Case(
        "neither fits: InsufficientGPU with the numbers",
        inp(gpu=GpuNeed("nvidia.com/gpu", 8, 1, free=GpuFree.of([2]))),
        lambda p: (
            p.capacity_problem is not None
            and "surge needs 1 pod of 8 nvidia.com/gpu, room for 0" in p.capacity_problem
            and "2 nvidia.com/gpu free" in p.capacity_problem
        ),
        ("CanaryStarted", "InsufficientGPU"),
    ),
    Case(
        "surge requested but no room: InsufficientGPU, still surge",
        inp(capacity="surge", gpu=GpuNeed("nvidia.com/gpu", 1, 1, free=GpuFree.of([0]))),
        lambda p: (
            p.canary is not None
            and p.canary.capacity == "surge"
            and p.capacity_problem
            == "surge needs 1 pod of 1 nvidia.com/gpu, room for 0: 0 nvidia.com/gpu free"
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide_rollout(case: Case) -> None:
    plan = decide_rollout(case.given)
    assert case.check(plan), plan
    if case.events is not None:
        assert reasons(plan) == case.events


def test_whole_rollout_walks_every_step() -> None:
    """Feed each plan back as the next observation: 10% -> pause -> 50% -> promote."""
    given = inp()
    now = T0
    weights = []
    for _ in range(20):
        plan = decide_rollout(given)
        weights.append(plan.weight)
        if plan.promoted:
            break
        if plan.canary and plan.canary.pause_reason == "Step":
            given = replace(given, commands=frozenset({Command.PROMOTE}))
        else:
            given = replace(given, commands=frozenset())
        now += timedelta(minutes=1)
        given = replace(
            given,
            canary=plan.canary,
            now=now,
            canary_track=track(plan.canary_revision, plan.canary_replicas)
            if plan.canary_revision
            else None,
            stable_track=track(plan.stable_revision, plan.stable_replicas),
        )
    assert plan.promoted == NEW
    assert 10 in weights and 50 in weights and weights[-1] == 0
