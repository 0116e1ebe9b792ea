"""ModelDeployment status: what SREs and GitOps tools read."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship.api.types import ApiModel, EmbeddedObject

Phase = Literal["Healthy", "Progressing", "Paused", "Degraded"]


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=1024, description="CamelCase reason.")
    message: str = Field(default="", max_length=32768, description="What was observed.")
    observed_generation: int = Field(default=0, ge=0, description="Generation this is about.")
    last_transition_time: str = Field(description="When status last flipped (RFC 3339).")


class RevisionRef(ApiModel):
    """A revision: a hash of what changes the served model."""

    name: str = Field(description="Revision hash.")
    model_version: str = Field(description="spec.model.version of this revision.")
    digest: str | None = Field(default=None, description="spec.model.digest of this revision.")
    image: str | None = Field(default=None, description="Runtime image of this revision.")


class HistoryEntry(ApiModel):
    """A revision that was served."""

    revision: str = Field(description="Revision hash.")
    model_version: str = Field(description="Model version.")
    digest: str | None = Field(default=None, description="Model digest.")
    image: str | None = Field(default=None, description="Runtime image.")
    deployed_at: str | None = Field(default=None, description="When it became stable.")
    outcome: str | None = Field(default=None, description="Promoted, Aborted, Superseded...")


class ModelDeploymentStatus(ApiModel):
    """Observed state of a ModelDeployment."""

    observed_generation: int | None = Field(default=None, description="Last generation seen.")
    phase: Phase | None = Field(default=None, description="Healthy, Progressing, Paused, Degraded.")
    stable_revision: RevisionRef | None = Field(default=None, description="Serving revision.")
    canary: EmbeddedObject | None = Field(default=None, description="The running canary.")
    replicas: int | None = Field(default=None, description="Desired stable replicas.")
    ready_replicas: int | None = Field(default=None, description="Ready runtime pods.")
    canary_summary: str | None = Field(
        default=None, description="version@weight% of the canary, for printer columns."
    )
    ready_summary: str | None = Field(
        default=None, description="ready/desired, for printer columns."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Ready, Progressing, Degraded, Drifted.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    analysis: EmbeddedObject | None = Field(default=None, description="Last measurement per check.")
    drift: EmbeddedObject | None = Field(default=None, description="Per-feature drift scores.")
    retraining: EmbeddedObject | None = Field(default=None, description="Retraining Jobs.")
    history: list[HistoryEntry] = Field(
        default_factory=list, description="Revisions served, newest first."
    )
