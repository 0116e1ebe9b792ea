"""spec.drift and spec.retraining: live inputs against the training reference."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship.api.types import ApiModel, Duration, EmbeddedObject


class ConfigMapKeyRef(ApiModel):
    """A key in a ConfigMap of the same namespace."""

    name: str = Field(min_length=1, max_length=253, description="ConfigMap name.")
    key: str = Field(min_length=1, max_length=253, description="Key holding the reference JSON.")


class DriftReference(ApiModel):
    """The training-data distribution live inputs are compared with."""

    config_map_ref: ConfigMapKeyRef = Field(description="ConfigMap key with the reference JSON.")


class Drift(ApiModel):
    """Continuous monitoring of live inputs against the training reference."""

    reference: DriftReference = Field(description="Training reference.")
    method: Literal["psi", "jensenshannon", "wasserstein", "ks", "chisquare"] = Field(
        default="jensenshannon", description="Drift score."
    )
    threshold: float | None = Field(
        default=None,
        ge=0,
        description="Score at or above which a significant difference counts as drift; "
        "default per method: psi 0.02, jensenshannon 0.05, wasserstein 0.1, ks 0.05, "
        "chisquare 0.1.",
    )
    window: Duration = Field(default="1h", description="Live window compared with the reference.")
    interval: Duration = Field(default="5m", description="Time between evaluations.")


class RetrainingTrigger(ApiModel):
    """When retraining starts."""

    drift_windows: int = Field(
        default=3, ge=1, le=1000, description="Consecutive drifted windows that start a Job."
    )


class Retraining(ApiModel):
    """A retraining Job started by sustained drift."""

    trigger: RetrainingTrigger = Field(
        default_factory=RetrainingTrigger, description="Trigger condition."
    )
    cooldown: Duration = Field(default="6h", description="Minimum time between two Jobs.")
    job_template: EmbeddedObject = Field(description="batch/v1 JobTemplateSpec.")
    auto_deploy: bool = Field(
        default=False, description="Roll out a successful Job's version as a canary."
    )
