"""ModelDeployment status: what SREs and GitOps tools read."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship.api.types import ApiModel, OptionalTimestamp, Timestamp

Phase = Literal["Healthy", "Progressing", "Paused", "Degraded"]


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=1024, description="CamelCase reason.")
    message: str = Field(default="", max_length=32768, description="What was observed.")
    observed_generation: int = Field(default=0, ge=0, description="Generation this is about.")
    last_transition_time: Timestamp = Field(description="When status last flipped (RFC 3339).")


class RevisionRef(ApiModel):
    """A revision: a hash of what changes the served model."""

    name: str = Field(description="Revision hash.")
    model_version: str = Field(description="spec.model.version of this revision.")
    digest: str | None = Field(default=None, description="spec.model.digest of this revision.")
    image: str | None = Field(default=None, description="Runtime image of this revision.")
    number: int | None = Field(default=None, description="Revision number (undo --to-revision).")


CanaryPhase = Literal["Progressing", "Paused", "Promoting", "Aborted"]


class CanaryStatus(ApiModel):
    """The canary: which revision, which step, how much traffic."""

    revision: RevisionRef = Field(description="Revision under test.")
    phase: CanaryPhase = Field(description="Progressing, Paused, Promoting or Aborted.")
    step: int = Field(
        default=0, ge=0, le=64, description="Index of the current step in spec.rollout.steps."
    )
    weight: int = Field(
        default=0, ge=0, le=100, description="Percent of traffic sent to the canary."
    )
    actual_weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Canary percent of traffic as observed: the HTTPRoute's weight "
        "(Gateway API), else the canary's share of available pods (replica ratio).",
    )
    weight_approximate: bool = Field(
        default=False,
        description="True with replica-ratio routing: the weight is the canary's share of "
        "ready pods, not an exact split.",
    )
    capacity: Literal["surge", "swap"] | None = Field(
        default=None, description="How the canary found room: resolved from spec.rollout.capacity."
    )
    stable_replicas: int = Field(default=0, ge=0, description="Replicas of the stable track.")
    canary_replicas: int = Field(default=0, ge=0, description="Replicas of the canary track.")
    started_at: Timestamp = Field(description="When this canary started.")
    step_started_at: Timestamp = Field(description="When the current step started.")
    last_progress_at: Timestamp = Field(
        description="Last step or weight change (progress deadline)."
    )
    message: str = Field(default="", description="What the canary waits for.")
    abort_reason: str | None = Field(default=None, description="Why it was aborted.")
    aborted_at: OptionalTimestamp = Field(
        default=None, description="When it was aborted: its weight went to 0 then."
    )
    pause_reason: Literal["Manual", "Step", "Analysis"] | None = Field(
        default=None, description="Why it is paused: a manual pause, a pause step, or analysis."
    )
    capacity_note: str = Field(
        default="",
        description="GPU shortfall found when the canary started (pods, room, GPUs free).",
    )


class Commands(ApiModel):
    """The last manual command of each kind the operator acted on (annotation values)."""

    promote: str | None = Field(default=None, description="modelship.io/promote handled.")
    promote_full: str | None = Field(default=None, description="modelship.io/promote-full handled.")
    abort: str | None = Field(default=None, description="modelship.io/abort handled.")
    retry: str | None = Field(default=None, description="modelship.io/retry handled.")
    undo: str | None = Field(default=None, description="modelship.io/undo handled.")


class UndoTarget(ApiModel):
    """A manual rollback in force: serve ``revision`` until spec changes again."""

    revision: RevisionRef = Field(description="Revision to serve.")
    number: int = Field(description="Its number in status.history.")
    spec_revision: str = Field(description="The spec's own revision when undo was asked for.")


class HistoryEntry(ApiModel):
    """A revision that was served."""

    revision: str = Field(description="Revision hash.")
    number: int = Field(default=0, ge=0, description="Revision number, for undo --to-revision.")
    model_version: str = Field(description="Model version.")
    digest: str | None = Field(default=None, description="Model digest.")
    image: str | None = Field(default=None, description="Runtime image.")
    deployed_at: OptionalTimestamp = Field(default=None, description="When it became stable.")
    outcome: str | None = Field(
        default=None, description="RolledOut, Promoted, Aborted, Superseded or RolledBack."
    )
    promotion: str | None = Field(
        default=None,
        description="namespace/name#run of the ModelPromotion that set this model "
        "(`modelship promotion evidence` prints its record).",
    )


AnalysisVerdict = Literal["Pass", "Fail", "Inconclusive", "Error"]


class CheckResult(ApiModel):
    """One check's last measurement."""

    name: str = Field(description="spec.analysis.checks[].name.")
    verdict: AnalysisVerdict = Field(description="Pass, Fail, Inconclusive or Error.")
    value: float | None = Field(default=None, description="What was measured (seconds, ratio).")
    threshold: float | None = Field(default=None, description="What it was held against.")
    message: str = Field(default="", description="What was measured and against what.")


class AnalysisStatus(ApiModel):
    """Measurements of the current (or last) canary, one round every spec.analysis.interval."""

    revision: str = Field(description="Canary revision these measurements are of.")
    since: Timestamp = Field(description="When the canary first took traffic: the window's start.")
    rounds: int = Field(default=0, ge=0, description="Analysis rounds taken.")
    failures: int = Field(default=0, ge=0, description="Rounds with a failed check.")
    inconclusive: int = Field(default=0, ge=0, description="Consecutive inconclusive rounds.")
    verdict: AnalysisVerdict | None = Field(default=None, description="The last round's verdict.")
    message: str = Field(default="", description="The last round in one line.")
    last_round_at: OptionalTimestamp = Field(default=None, description="When the last round ran.")
    last_pass_at: OptionalTimestamp = Field(default=None, description="When a round last passed.")
    checks: list[CheckResult] = Field(
        default_factory=list,
        max_length=32,
        description="Each check's last measurement.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class FeatureScore(ApiModel):
    """One feature's drift in the last window."""

    name: str = Field(description="Feature name.")
    score: float = Field(description="The method's score (0: same distribution).")
    p_value: float = Field(description="How likely sampling noise alone gives this difference.")
    drifted: bool = Field(description="Significant after correction and at or over threshold.")


class DriftStatus(ApiModel):
    """The stable track's live inputs against the reference, every spec.drift.interval."""

    verdict: Literal["Drifted", "NotDrifted", "Inconclusive", "Error"] = Field(
        description="The last window's verdict."
    )
    method: str = Field(description="spec.drift.method used.")
    threshold: float = Field(description="Score threshold used.")
    window: str = Field(description="spec.drift.window used.")
    evaluated_at: Timestamp = Field(description="When the last window was evaluated.")
    message: str = Field(default="", description="The verdict in one line.")
    drifted_features: int = Field(default=0, ge=0, description="Features that drifted.")
    consecutive_drifted: int = Field(
        default=0, ge=0, description="Drifted windows in a row (retraining trigger)."
    )
    features: list[FeatureScore] = Field(
        default_factory=list,
        max_length=200,
        description="Per-feature scores, highest first (at most 200).",
    )


class RetrainingRun(ApiModel):
    """One retraining Job."""

    name: str = Field(description="Job name: NAME-retrain-<number>.")
    started_at: Timestamp = Field(description="When the operator created it.")
    finished_at: OptionalTimestamp = Field(default=None, description="When it succeeded or failed.")
    outcome: Literal["Running", "Succeeded", "Failed"] = Field(description="Where it stands.")
    reason: str = Field(default="", description="Why it started, or why it failed.")
    model_version: str | None = Field(
        default=None, description="The new version the Job reported (termination message)."
    )
    model_uri: str | None = Field(default=None, description="Where the Job put the new model.")


class RetrainedModel(ApiModel):
    """A retrained model rolled out by autoDeploy, in force until the spec changes."""

    job: str = Field(description="The Job that produced it.")
    model_version: str = Field(description="spec.model.version served instead of the spec's.")
    model_uri: str = Field(description="spec.model.uri served instead of the spec's.")
    spec_revision: str = Field(description="The spec's own revision when it was deployed.")


class RetrainingStatus(ApiModel):
    """Retraining Jobs started by sustained drift."""

    count: int = Field(default=0, ge=0, description="Jobs started so far (the last number).")
    active: RetrainingRun | None = Field(default=None, description="The running Job.")
    last: RetrainingRun | None = Field(default=None, description="The last finished Job.")
    deployed: RetrainedModel | None = Field(
        default=None,
        description="autoDeploy: the retrained model served (through a canary) until the "
        "spec's own revision changes.",
    )


class RetiringCanary(ApiModel):
    """A canary whose traffic went to 0 by promotion or a revert: its pods serve out the
    requests a gateway had already sent it, for spec.rollout.scaleDownDelay, then go."""

    revision: str = Field(max_length=63, description="Revision the retiring pods run.")
    since: Timestamp = Field(description="When its traffic went to 0 (RFC 3339).")


class TrackScaling(ApiModel):
    """One track's HorizontalPodAutoscaler: the bounds we set, the counts it reports."""

    min_replicas: int = Field(ge=0, description="minReplicas we set on the track's HPA.")
    max_replicas: int = Field(ge=0, description="maxReplicas we set on the track's HPA.")
    current_replicas: int | None = Field(default=None, description="The HPA's current count.")
    desired_replicas: int | None = Field(default=None, description="The HPA's recommendation.")


class AutoscalingStatus(ApiModel):
    """spec.autoscaling as applied: per track, and why a bound is below the spec's."""

    stable: TrackScaling | None = Field(default=None, description="The stable track's HPA.")
    canary: TrackScaling | None = Field(default=None, description="The canary's HPA.")
    limited: str = Field(
        default="",
        max_length=1024,
        description="Why maxReplicas is below spec.autoscaling.maxReplicas (GPUs that fit).",
    )


class ModelDeploymentStatus(ApiModel):
    """Observed state of a ModelDeployment."""

    observed_generation: int | None = Field(default=None, description="Last generation seen.")
    phase: Phase | None = Field(default=None, description="Healthy, Progressing, Paused, Degraded.")
    stable_revision: RevisionRef | None = Field(default=None, description="Serving revision.")
    canary: CanaryStatus | None = Field(default=None, description="The running canary.")
    commands: Commands = Field(default_factory=Commands, description="Manual commands handled.")
    undo: UndoTarget | None = Field(default=None, description="A manual rollback in force.")
    revision_count: int = Field(default=0, ge=0, description="Highest revision number so far.")
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
    analysis: AnalysisStatus | None = Field(
        default=None, description="Measurements of the current or last canary."
    )
    drift: DriftStatus | None = Field(default=None, description="Per-feature drift scores.")
    retraining: RetrainingStatus | None = Field(default=None, description="Retraining Jobs.")
    autoscaling: AutoscalingStatus | None = Field(
        default=None, description="Autoscaling bounds and counts per track."
    )
    retiring: RetiringCanary | None = Field(
        default=None, description="The last canary's pods, kept for scaleDownDelay."
    )
    repaired: str | None = Field(
        default=None,
        max_length=4096,
        description="What status said that was not so, and what the operator went by "
        "instead (Degraded=True, StatusRepaired, until the rollout settles).",
    )
    history: list[HistoryEntry] = Field(
        default_factory=list, description="Revisions served, newest first."
    )
