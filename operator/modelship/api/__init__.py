"""The v1alpha1 API as pydantic models; the CRDs in crds/ are generated from them."""

from modelship.api.deployment import (
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    ModelDeployment,
    ModelDeploymentSpec,
)
from modelship.api.status import ModelDeploymentStatus

__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
]
