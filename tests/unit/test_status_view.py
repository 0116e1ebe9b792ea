"""`modelship status`: drift and retraining, as an SRE reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelship.api.status import (
    ModelDeploymentStatus,
    RetrainedModel,
    RetrainingRun,
    RetrainingStatus,
)
from modelship.ctl import render_status
from tests.unit.factories import spec_dict
from tests.unit.test_retraining import drifted

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def view(status: ModelDeploymentStatus) -> str:
    obj: dict[str, Any] = {
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": spec_dict(),
        "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    return render_status(obj, [], NOW)


def test_without_drift_or_retraining_nothing_is_added() -> None:
    text = view(ModelDeploymentStatus())
    assert "Drift:" not in text and "Retraining:" not in text


def test_drift_and_retraining_are_shown_with_their_evidence() -> None:
    last = RetrainingRun(
        name="fraud-retrain-1",
        started_at="2026-11-25T10:00:00Z",
        finished_at="2026-11-25T10:20:00Z",
        outcome="Succeeded",
        reason="drift in 2 windows",
        model_version="1.5.0",
        model_uri="s3://models/fraud/1.5.0/",
    )
    active = RetrainingRun(
        name="fraud-retrain-2",
        started_at="2026-11-25T11:50:00Z",
        outcome="Running",
        reason="drift in 3 windows",
    )
    deployed = RetrainedModel(
        job="fraud-retrain-1",
        model_version="1.5.0",
        model_uri="s3://models/fraud/1.5.0/",
        spec_revision="abc",
    )
    status = ModelDeploymentStatus(
        drift=drifted(3),
        retraining=RetrainingStatus(count=2, active=active, last=last, deployed=deployed),
    )
    lines = view(status).splitlines()
    at = lines.index(next(line for line in lines if line.startswith("Drift:")))
    assert lines[at : at + 6] == [
        "Drift:       Drifted  (ks, window 1h, at 2026-01-01T12:00:00Z; 3 drifted window(s) "
        "in a row)",
        "  1 of 4 features drifted (ks >= 0.05 and significant): amount 0.3",
        "Retraining:  2 Job(s) started",
        "  running: fraud-retrain-2 since 2026-11-25T11:50:00Z: drift in 3 windows",
        "  last: fraud-retrain-1 Succeeded at 2026-11-25T10:20:00Z: drift in 2 windows; "
        "reported 1.5.0 at s3://models/fraud/1.5.0/",
        "  serving 1.5.0 from fraud-retrain-1 (autoDeploy) until the spec's own model changes",
    ]


def test_traffic_shows_the_set_weight_and_the_weight_read_back() -> None:
    from modelship.api.status import RevisionRef
    from tests.unit.factories import canary_status

    canary = canary_status(RevisionRef(name="r2", model_version="2.0"), NOW, weight=25)
    lagging = canary.model_copy(update={"actual_weight": 10})
    text = view(ModelDeploymentStatus(canary=lagging))
    assert "set: stable 75%  canary 25%" in text
    assert "actual: stable 90%  canary 10% (HTTPRoute)  (catching up" in text
    unseen = view(ModelDeploymentStatus(canary=canary))
    assert "actual: not observed yet" in unseen
    ratio = canary.model_copy(update={"actual_weight": 25, "weight_approximate": True})
    assert "canary 25% (share of available pods)\n" in view(ModelDeploymentStatus(canary=ratio))
