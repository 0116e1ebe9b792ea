"""When a reconcile asks to look again: only when time matters (issue 16, item 7).

A canary waiting for a person (an indefinite pause step, a manual pause) is not polled;
one at a timed pause comes back when the pause ends; one making progress comes back by
its progress deadline at the latest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelship.api.status import ModelDeploymentStatus
from modelship.decisions.model_deployment import decide
from modelship.revision_hash import revision_ref
from tests.unit.factories import canary_status, spec
from tests.unit.test_model_deployment_decision import (
    GATEWAY,
    NOW,
    STABLE_V1,
    V1,
    children,
    live_deployment,
    snapshot,
    stored,
)


def v2(steps: list[dict[str, Any]]) -> Any:
    return spec(
        replicas=2,
        model={"name": "fraud-scorer", "version": "2.0.0", "uri": "s3://models/fraud/2.0.0/"},
        rollout={"trafficRouting": GATEWAY, "steps": steps},
    )


def paused_at(steps: list[dict[str, Any]], step: int, **canary: Any) -> float | None:
    new = v2(steps)
    c = canary_status(
        revision_ref(new).model_copy(update={"number": 2}),
        NOW - timedelta(seconds=5),
        weight=50,
        step=step,
        stable_replicas=2,
        canary_replicas=1,
        **canary,
    )
    status: ModelDeploymentStatus = STABLE_V1.model_copy(update={"canary": c})
    kids = children(live_deployment(V1, "stable", 2), live_deployment(new, "canary", 1))
    plan = decide(snapshot(new, status, children=kids, stored=stored((V1, 1), (new, 2))), NOW)
    assert plan.status is not None
    return plan.requeue_after


def test_a_canary_waiting_for_a_person_is_not_polled() -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    assert paused_at(steps, 1, phase="Paused", pause_reason="Step") is None


def test_a_timed_pause_comes_back_when_it_ends() -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "60s"}}]
    assert paused_at(steps, 1) == 55.0
