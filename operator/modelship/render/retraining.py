"""The retraining Job: spec.retraining.jobTemplate plus what triggered it (pure)."""

from __future__ import annotations

import copy
import json
from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.status import DriftStatus
from modelship.render.labels import MANAGED_BY, MANAGER, MODEL_DEPLOYMENT, Owner

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
    template = copy.deepcopy(spec.retraining.job_template)
    job_spec = template.get("spec") or {}
    pod_template = job_spec.setdefault("template", {})
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta.setdefault("labels", {})[RETRAINING] = f"{owner.name}-{number}"
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    for container in pod_spec.get("containers") or []:
        names = {e["name"] for e in env}
        container["env"] = [e for e in container.get("env") or [] if e.get("name") not in names]
        container["env"] += copy.deepcopy(env)
    labels = {
        **((template.get("metadata") or {}).get("labels") or {}),
        MANAGED_BY: MANAGER,
        MODEL_DEPLOYMENT: owner.name,
        RETRAINING: str(number),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(owner.name, number),
            "namespace": owner.namespace,
            "labels": labels,
            "ownerReferences": [owner.reference()],
        },
        "spec": job_spec,
    }
