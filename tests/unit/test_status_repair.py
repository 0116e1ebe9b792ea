"""Status is a cache of what was observed: a time that cannot be read is repaired on
reading, never a reconcile that fails forever (issue 16, item 2)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api import ModelDeploymentStatus

NOW = "2026-01-01T12:00:00Z"
CANARY: dict[str, Any] = {
    "revision": {"name": "abc", "modelVersion": "2.0.0"},
    "phase": "Paused",
    "startedAt": "2026-01-01T11:00:00Z",
    "stepStartedAt": "garbage",
    "lastProgressAt": "not-a-time",
    "abortedAt": "soon",
}


def test_required_times_become_now_and_optional_ones_absent() -> None:
    repaired: list[str] = []
    status = ModelDeploymentStatus.model_validate(
        {"canary": CANARY}, context={"now": NOW, "repaired": repaired}
    )
    assert status.canary is not None
    assert status.canary.started_at == "2026-01-01T11:00:00Z"  # readable: kept
    assert (status.canary.step_started_at, status.canary.last_progress_at) == (NOW, NOW)
    assert status.canary.aborted_at is None  # no abort is assumed from garbage
    assert sorted(repaired) == ["aborted_at", "last_progress_at", "step_started_at"]


def test_without_a_clock_a_garbage_required_time_is_refused_not_guessed() -> None:
    with pytest.raises(ValidationError):
        ModelDeploymentStatus.model_validate({"canary": {**CANARY, "stepStartedAt": 5}})


def test_the_crd_declares_every_status_time_a_date_time() -> None:
    from modelship.crd import model_deployment_crd

    schema = model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    canary = schema["properties"]["status"]["properties"]["canary"]["properties"]
    for name in ("startedAt", "stepStartedAt", "lastProgressAt", "abortedAt"):
        assert canary[name].get("format") == "date-time", name


def test_a_repair_is_told_in_a_warning_event() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from modelship.decisions.model_deployment import decide
    from tests.unit.test_model_deployment_decision import snapshot

    snap = replace(snapshot(), status_repaired=("step_started_at",))
    plan = decide(snap, datetime(2026, 1, 1, 12, tzinfo=UTC))
    [event] = [e for e in plan.events if e.reason == "StatusRepaired"]
    assert event.type == "Warning" and "step_started_at" in event.message
