"""Small builders for valid API objects, so each test states only what it varies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.api.status import CanaryStatus, RevisionRef
from modelship.conditions import rfc3339


def spec_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": {"name": "fraud-scorer", "version": "1.4.0", "uri": "s3://models/fraud/1.4.0/"},
        "runtime": {"image": "registry.example.com/modelship-runtime:0.1"},
        "replicas": 2,
    }
    for key, value in overrides.items():
        base[key] = value
    return base


def spec(**overrides: Any) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(spec_dict(**overrides))


def gpu_spec(
    count: int = 1,
    resource_name: str = "nvidia.com/gpu",
    product: str | None = None,
    replicas: int = 2,
) -> ModelDeploymentSpec:
    gpu: dict[str, Any] = {"count": count, "resourceName": resource_name}
    if product:
        gpu["product"] = product
    return spec(runtime={"image": "rt:1", "gpu": gpu}, replicas=replicas)


def canary_status(
    rev: RevisionRef, at: datetime, phase: str = "Progressing", weight: int = 0, **extra: Any
) -> CanaryStatus:
    """A canary that started, and entered its current step, at ``at``."""
    stamp = rfc3339(at)
    fields: dict[str, Any] = dict(
        revision=rev,
        phase=phase,
        weight=weight,
        started_at=stamp,
        step_started_at=stamp,
        last_progress_at=stamp,
    )
    fields.update(extra)
    return CanaryStatus(**fields)
