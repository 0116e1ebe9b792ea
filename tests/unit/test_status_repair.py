"""Status is a cache of what was observed: a time that cannot be read is repaired on
reading, never a reconcile that fails forever (issue 16, item 2)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api import ModelDeploymentStatus
from modelship.crd import model_deployment_crd
from modelship.decisions.model_deployment import decide
from modelship.kernel.plan import Apply, Keep
from modelship.observe.model_deployment import read_status
from modelship.revision_hash import revision_ref
from tests.unit.factories import canary_status
from tests.unit.test_model_deployment_decision import (
    STABLE_V1,
    V1,
    V2,
    children,
    live_deployment,
    snapshot,
    stored,
)

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
    schema = model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    canary = schema["properties"]["status"]["properties"]["canary"]["properties"]
    for name in ("startedAt", "stepStartedAt", "lastProgressAt", "abortedAt"):
        assert canary[name].get("format") == "date-time", name


def test_a_repair_is_told_in_a_warning_event() -> None:
    snap = replace(snapshot(), status_repaired=("step_started_at",))
    plan = decide(snap, datetime(2026, 1, 1, 12, tzinfo=UTC))
    [event] = [e for e in plan.events if e.reason == "StatusRepaired"]  # Degraded's flip
    assert event.type == "Warning" and "step_started_at" in event.message
    assert plan.status is not None and "step_started_at" in plan.status["repaired"]


# ----- the stable revision is re-derived from the live stable Deployment (item 1) -------


def _lost(status: Any) -> Any:
    """Stable 1.4.0 runs (its Deployment labelled with its revision), the spec asks for
    2.0.0, and status is ``status``: the decision's plan."""
    kids = children(live_deployment(V1, "stable", 2))

    snap = snapshot(
        V2,
        status,
        children=kids,
        stored=stored((V1, 1), (V2, 2)),
        live_stable=revision_ref(V1).name,
    )
    return decide(snap, datetime(2026, 1, 1, 12, tzinfo=UTC))


def _stable_label(plan: Any) -> str:
    [stable] = [
        a.obj
        for a in plan.actions
        if isinstance(a, Apply) and a.obj["metadata"]["name"] == "fraud-stable"
    ]
    return str(stable["metadata"]["labels"]["modelship.io/revision"])


@pytest.mark.parametrize(
    "status",
    [
        ModelDeploymentStatus(),
        ModelDeploymentStatus.model_validate(
            {"stableRevision": {"name": "0000000000", "modelVersion": "9.9.9"}}
        ),
    ],
    ids=["status-emptied", "unknown-stable-revision"],
)
def test_lost_status_never_turns_the_new_revision_into_stable_untested(status: Any) -> None:
    plan = _lost(status)
    assert _stable_label(plan) == revision_ref(V1).name  # stable keeps serving 1.4.0
    st = plan.status
    assert st["stableRevision"]["name"] == revision_ref(V1).name
    assert st["stableRevision"]["number"] == 1
    assert st["canary"]["revision"]["name"] == revision_ref(V2).name  # 2.0.0 is a canary
    assert st["canary"]["step"] == 0
    degraded = {c["type"]: c for c in st["conditions"]}["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "StatusRepaired"), degraded
    assert "the stable Deployment runs revision 1" in st["repaired"]


def test_a_step_past_the_plan_starts_the_canary_again() -> None:
    c = canary_status_for(revision_ref(V2).model_copy(update={"number": 2}), step=7)
    plan = _lost(STABLE_V1.model_copy(update={"canary": c}))
    st = plan.status
    assert st["canary"]["step"] == 0 and st["stableRevision"]["modelVersion"] == "1.4.0"
    assert "past the plan's 0 steps" in st["repaired"]


def canary_status_for(rev: Any, step: int) -> Any:
    return canary_status(rev, datetime(2026, 1, 1, 11, tzinfo=UTC), step=step)


def test_an_unreadable_status_field_is_dropped_and_said() -> None:
    raw = {"phase": "Exploded", "revisionCount": 3, "canary": {"step": "many"}}
    status, repaired = read_status(raw, datetime(2026, 1, 1, tzinfo=UTC))
    assert status.revision_count == 3 and status.phase is None and status.canary is None
    assert sorted(repaired) == ["canary", "phase"]


def test_a_stable_revision_whose_spec_is_gone_is_kept_as_it_runs() -> None:
    """Its ControllerRevision deleted (and the operator restarted): the stable
    Deployment is left as it runs and the spec's revision goes through a canary."""
    snap = snapshot(
        V2,
        STABLE_V1,
        children=children(live_deployment(V1, "stable", 2)),
        stored=stored((V2, 2)),  # revision 1's ControllerRevision is gone
        live_stable=revision_ref(V1).name,
    )
    plan = decide(snap, datetime(2026, 1, 1, 12, tzinfo=UTC))
    applied = [a.obj["metadata"]["name"] for a in plan.actions if isinstance(a, Apply)]
    kept = [a.ref.name for a in plan.actions if isinstance(a, Keep)]
    assert "fraud-stable" not in applied and kept == ["fraud-stable"]
    assert "fraud-canary" in applied
    assert plan.status is not None
    assert plan.status["canary"]["revision"]["name"] == revision_ref(V2).name
    assert plan.status["stableRevision"]["name"] == revision_ref(V1).name
    assert "kept as it runs" in plan.status["repaired"]
    assert "StableRevisionMissing" in [e.reason for e in plan.events]


def test_a_first_rollout_under_way_is_not_a_repair() -> None:
    """Before the first rollout completes status has no stable revision while the stable
    Deployment already runs the spec's: that is news to nobody."""
    snap = snapshot(
        V1,
        ModelDeploymentStatus(),
        children=children(live_deployment(V1, "stable", 2)),
        live_stable=revision_ref(V1).name,
    )
    plan = decide(snap, datetime(2026, 1, 1, 12, tzinfo=UTC))
    assert plan.status is not None and plan.status.get("repaired") is None
    assert [h["outcome"] for h in plan.status["history"]] == ["RolledOut"]


def test_a_spec_change_before_the_first_rollout_was_recorded_canaries_quietly() -> None:
    """The first rollout serves 1.4.0 but status has not recorded it yet when the spec
    moves to 2.0.0: 1.4.0 is the stable revision (in history too), 2.0.0 a canary, and
    nothing was lost, so nothing is flagged."""
    plan = _lost(ModelDeploymentStatus(observed_generation=1, revision_count=1))
    st = plan.status
    assert st.get("repaired") is None
    assert st["stableRevision"]["name"] == revision_ref(V1).name
    assert st["canary"]["revision"]["name"] == revision_ref(V2).name
    assert [(h["modelVersion"], h["outcome"]) for h in st["history"]][-1] == ("1.4.0", "RolledOut")


def test_a_status_write_removes_what_the_plan_no_longer_has() -> None:
    """A JSON merge patch keeps keys it does not name: a finished promotion showed the
    soak's remaining time, and a new run would have kept the last run's finish time."""
    from modelship.kernel.executor import merge_body

    old = {
        "phase": "WaitingForApproval",
        "soakRemaining": "19s",
        "evidence": {"run": 1, "finishedAt": "t1", "target": {"commit": "ab", "name": "x"}},
        "conditions": [{"type": "Ready"}],
    }
    new = {"phase": "Succeeded", "evidence": {"run": 2, "target": {"name": "x"}}, "runs": 2}
    assert merge_body(new, old) == {
        "phase": "Succeeded",
        "soakRemaining": None,
        "evidence": {"run": 2, "finishedAt": None, "target": {"name": "x", "commit": None}},
        "conditions": None,
        "runs": 2,
    }
