"""The retraining Job: spec.retraining.jobTemplate plus what triggered it (pure)."""

from __future__ import annotations

import json
from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.status import DriftStatus
from modelship.render.jobs import job_from_template
from modelship.render.labels import MODEL_DEPLOYMENT, Owner

Obj = dict[str, Any]
RETRAINING = "modelship.io/retraining"  # the Job's number, on Jobs and their pods


def job_name(owner: str, number: int) -> str:
    return f"{owner}-retrain-{number}"


def trigger_env(spec: ModelDeploymentSpec, drift: DriftStatus, namespace: str) -> list[Obj]:
    """What the Job needs to know: the model it retrains and the drift that started it."""
    assert spec.drift is not None
    ref = spec.drift.reference.config_map_ref
    scores = {f.name: round(f.score, 6) for f in drift.features}
    values = {
        "MODELSHIP_MODEL_NAME": spec.model.name,
        "MODELSHIP_MODEL_VERSION": spec.model.version,
        "MODELSHIP_MODEL_URI": spec.model.uri,
        "MODELSHIP_DRIFT_METHOD": drift.method,
        "MODELSHIP_DRIFT_SCORES": json.dumps(scores, sort_keys=True),
        "MODELSHIP_DRIFTED_FEATURES": json.dumps([f.name for f in drift.features if f.drifted]),
        "MODELSHIP_DRIFT_MESSAGE": drift.message,
        "MODELSHIP_REFERENCE": f"configmap/{namespace}/{ref.name}/{ref.key}",
    }
    return [{"name": k, "value": v} for k, v in values.items()]


def retraining_job(owner: Owner, spec: ModelDeploymentSpec, number: int, env: list[Obj]) -> Obj:
    """A batch/v1 Job from the template, owned by the ModelDeployment, with the trigger
    in every container's env. Its pods carry only the retraining label, so they are
    never mistaken for runtime pods."""
    assert spec.retraining is not None
    return job_from_template(
        spec.retraining.job_template,
        owner,
        job_name(owner.name, number),
        {MODEL_DEPLOYMENT: owner.name, RETRAINING: str(number)},
        env,
        pod_labels={RETRAINING: f"{owner.name}-{number}"},
    )
