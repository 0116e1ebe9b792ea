"""spec.drift and spec.retraining: live inputs against the training reference.

``spec.drift.method`` is one of the registry's names (modelship.drift.methods, which
imports no numpy): a plain ``str`` checked by a validator (a Literal cannot be built
from a tuple for mypy) whose CRD ``enum`` and descriptions come from the registry too.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from modelship.api.types import ApiModel, Duration, Interval, JobTemplate
from modelship.drift.methods import DEFAULT, METHODS, NAMES, unknown


class ConfigMapKeyRef(ApiModel):
    """A key in a ConfigMap of the same namespace."""

    name: str = Field(min_length=1, max_length=253, description="ConfigMap name.")
    key: str = Field(min_length=1, max_length=253, description="Key holding the reference JSON.")


class DriftReference(ApiModel):
    """The training-data distribution live inputs are compared with."""

    config_map_ref: ConfigMapKeyRef = Field(description="ConfigMap key with the reference JSON.")


def _check_method(value: str) -> str:
    if value not in METHODS:
        raise ValueError(unknown(value))
    return value


DriftMethodName = Annotated[
    str,
    AfterValidator(_check_method),
    Field(json_schema_extra={"enum": list(NAMES)}),
]
_METHOD_HELP = "Drift score: " + ", ".join(f"{m.name} ({m.description})" for m in METHODS.values())
_DEFAULTS = ", ".join(f"{m.name} {m.default_threshold:g}" for m in METHODS.values())


class Drift(ApiModel):
    """Continuous monitoring of live inputs against the training reference."""

    reference: DriftReference = Field(description="Training reference.")
    method: DriftMethodName = Field(default=DEFAULT, description=_METHOD_HELP + ".")
    threshold: float | None = Field(
        default=None,
        ge=0,
        description="Score at or above which a significant difference counts as drift; "
        f"default per method: {_DEFAULTS}.",
    )
    window: Duration = Field(default="1h", description="Live window compared with the reference.")
    interval: Interval = Field(default="5m", description="Time between evaluations (at least 1s).")


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
    job_template: JobTemplate = Field(description="batch/v1 JobTemplateSpec.")
    auto_deploy: bool = Field(
        default=False, description="Roll out a successful Job's version as a canary."
    )
