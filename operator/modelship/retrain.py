"""Observe and act for retraining: list the ModelDeployment's Jobs, read finished Jobs'
termination messages, ask the pure decision, create or prune Jobs."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.status import DriftStatus, RetrainingStatus
from modelship.decisions.retraining import (
    RetrainingPlan,
    current_deploy,
    decide_retraining,
    watching_jobs,
)
from modelship.errors import AlreadyExistsError
from modelship.kube import Kube
from modelship.observed import JobState
from modelship.render.labels import MANAGED_BY, MANAGER, MODEL_DEPLOYMENT, Owner
from modelship.render.retraining import RETRAINING, retraining_job, trigger_env
from modelship.revision import revision_ref

JOB_NAME = "batch.kubernetes.io/job-name"  # set by the Job controller on its pods


def _owned(obj: dict[str, Any], owner: Owner) -> bool:
    return any(r.get("uid") == owner.uid for r in obj["metadata"].get("ownerReferences") or [])


def termination_message(pods: list[dict[str, Any]]) -> str:
    for pod in pods:
        for c in (pod.get("status") or {}).get("containerStatuses") or []:
            message = ((c.get("state") or {}).get("terminated") or {}).get("message")
            if message:
                return str(message)
    return ""


def retrain(
    kube: Kube,
    owner: Owner,
    spec: ModelDeploymentSpec,
    drift: DriftStatus | None,
    previous: RetrainingStatus | None,
    now: datetime,
) -> RetrainingPlan:
    spec_revision = revision_ref(spec).name
    if not watching_jobs(spec, drift, previous):
        if previous is None:
            return RetrainingPlan(None)
        deployed = current_deploy(previous, spec_revision)
        return RetrainingPlan(previous.model_copy(update={"deployed": deployed}))
    selector = {MANAGED_BY: MANAGER, MODEL_DEPLOYMENT: owner.name}
    jobs = []
    for obj in kube.list("batch/v1", "Job", owner.namespace, selector):
        number = (obj["metadata"].get("labels") or {}).get(RETRAINING, "")
        if number.isdigit() and _owned(obj, owner):
            jobs.append(JobState.from_object(obj, int(number)))
    results = {}
    recorded = previous.last.name if previous and previous.last else None
    for job in jobs:
        if job.finished and job.succeeded and job.name != recorded:
            pods = kube.list("v1", "Pod", owner.namespace, {JOB_NAME: job.name})
            results[job.name] = termination_message(pods)
    plan = decide_retraining(owner.name, spec_revision, spec, drift, previous, jobs, results, now)
    if plan.create is not None and drift is not None:
        new = retraining_job(owner, spec, plan.create, trigger_env(spec, drift, owner.namespace))
        # Taken: created by a run that stopped before recording it, so the same Job.
        with contextlib.suppress(AlreadyExistsError):
            kube.create(new)
    for name in plan.delete:
        kube.delete("batch/v1", "Job", owner.namespace, name)
    return plan


def retrained_spec(
    spec: ModelDeploymentSpec, status: RetrainingStatus | None, spec_revision: str
) -> ModelDeploymentSpec | None:
    """The spec serving an autoDeployed retrained model, while the spec's own revision is
    the one it was deployed against (GitOps wins at its next change)."""
    deployed = current_deploy(status, spec_revision) if status else None
    if deployed is None:
        return None
    model = spec.model.model_copy(
        update={"version": deployed.model_version, "uri": deployed.model_uri, "digest": None}
    )
    return spec.model_copy(update={"model": model})
