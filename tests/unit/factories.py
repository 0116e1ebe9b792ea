"""Small builders for valid API objects, so each test states only what it varies."""

from __future__ import annotations

from typing import Any

from modelship.api import ModelDeploymentSpec


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
