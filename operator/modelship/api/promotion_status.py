"""ModelPromotion status: the run in progress (or the last), as evidence, and earlier runs.

``status.evidence`` is the whole record of one run: what was promoted, each gate's
measurement (value, threshold, verdict, when), who approved, the evaluation Job and its
results, the source's state when the target was changed and the target's outcome. When a
run ends the same record is stored on the target (a ControllerRevision owned by the target
ModelDeployment), so it outlives the ModelPromotion (docs/promotion.md, "Evidence").
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship.api.status import CheckResult, Condition
from modelship.api.types import ApiModel, OptionalTimestamp, Timestamp

PromotionPhase = Literal[
    "Pending", "WaitingForGates", "WaitingForApproval", "Promoting", "Succeeded", "Failed"
]
GateVerdict = Literal["Pass", "Fail", "Waiting", "Inconclusive", "Error"]
RunOutcome = Literal["Running", "Succeeded", "Failed"]


class PromotedModel(ApiModel):
    """The model asset being promoted, as the source's stable revision stores it."""

    name: str = Field(description="spec.model.name.")
    version: str = Field(description="spec.model.version.")
    uri: str = Field(description="spec.model.uri.")
    digest: str | None = Field(default=None, description="spec.model.digest.")
    format: str | None = Field(default=None, description="spec.model.format.")


class GateResult(ApiModel):
    """One gate's last evaluation."""

    name: str = Field(
        description="soakTime, checks/<check>, maxDrift, evaluationJob, "
        "evaluation/<result>, approval or target."
    )
    verdict: GateVerdict = Field(
        description="Pass; Fail; Waiting (not decidable yet: soaking, running, "
        "awaiting people); Inconclusive (too little data); Error (could not be measured)."
    )
    value: float | None = Field(default=None, description="What was measured.")
    threshold: float | None = Field(default=None, description="What it was held against.")
    message: str = Field(default="", description="What was measured and against what.")
    measured_at: Timestamp = Field(description="When (RFC 3339).")
    final: bool = Field(
        default=False, description="It can no longer change: a Fail here fails the run."
    )


class ApprovalRecord(ApiModel):
    """One approval or rejection, by the user the API server authenticated."""

    user: str = Field(description="request.userInfo.username of the approving request.")
    seen_at: Timestamp = Field(description="When the operator first saw it.")
    message: str = Field(default="", description="The rejection's message.")


class Soak(ApiModel):
    """How long the source has served this revision healthily."""

    since: OptionalTimestamp = Field(
        default=None, description="Start of the current healthy stretch; absent: not healthy."
    )
    remaining: str | None = Field(default=None, description="Time left, e.g. 12m30s.")
    restarts: int = Field(default=0, ge=0, description="Times the clock restarted.")
    last_interruption: str = Field(default="", description="Why the clock last restarted.")
    interrupted_at: OptionalTimestamp = Field(default=None, description="When.")


class EvaluationRecord(ApiModel):
    """The evaluation Job of a run."""

    job: str = Field(description="Job name: <promotion>-eval-<run>.")
    namespace: str = Field(description="The Job's namespace (the promotion's).")
    outcome: Literal["Running", "Succeeded", "Failed"] = Field(description="Where it stands.")
    results: dict[str, float] = Field(
        default_factory=dict, description="Named results from the termination message."
    )
    message: str = Field(default="", description="Why it failed, or what it reported.")
    finished_at: OptionalTimestamp = Field(default=None, description="When it ended.")


class SourceState(ApiModel):
    """The source as it was when gates were last evaluated (frozen when the target is
    changed)."""

    namespace: str = Field(description="Source namespace.")
    name: str = Field(description="Source ModelDeployment.")
    revision: str | None = Field(default=None, description="Its stable revision hash.")
    served_since: OptionalTimestamp = Field(
        default=None, description="When that revision became its stable one."
    )
    analysis: list[CheckResult] = Field(
        default_factory=list,
        max_length=32,
        description="The source's last canary analysis of this revision (its verdicts).",
    )
    drift: str | None = Field(default=None, description="The source's last drift verdict.")


class TargetState(ApiModel):
    """The target, and what its rollout of the promoted model did."""

    namespace: str = Field(description="Target namespace.")
    name: str = Field(description="Target ModelDeployment.")
    previous: str | None = Field(
        default=None, description="Model version the target served before."
    )
    revision: str | None = Field(default=None, description="The target's revision of it.")
    outcome: Literal["Pending", "RollingOut", "RolledOut", "Aborted"] | None = Field(
        default=None, description="The target's rollout of the promoted model."
    )
    message: str = Field(default="", description="What the target reports.")
    changed_by: str | None = Field(
        default=None,
        description="How it was changed: direct (field manager), or git (repository, "
        "branch and file).",
    )
    commit: str | None = Field(
        default=None, description="Git strategy: the SHA of the commit that changed it."
    )
    committed_at: OptionalTimestamp = Field(
        default=None, description="Git strategy: when that commit was made."
    )


class Evidence(ApiModel):
    """Everything about one run (its number counts from 1 per ModelPromotion)."""

    run: int = Field(ge=1, description="Run number.")
    promotion: str = Field(description="namespace/name of the ModelPromotion.")
    model: PromotedModel = Field(description="What is promoted.")
    source: SourceState = Field(description="Where it comes from.")
    target: TargetState = Field(description="Where it goes.")
    outcome: RunOutcome = Field(description="Running, Succeeded or Failed.")
    reason: str = Field(default="", description="CamelCase reason of the outcome.")
    message: str = Field(default="", description="The outcome in one line.")
    started_at: Timestamp = Field(description="When the run started.")
    gates_passed_at: OptionalTimestamp = Field(
        default=None, description="When all gates passed together."
    )
    promoted_at: OptionalTimestamp = Field(default=None, description="When the target changed.")
    finished_at: OptionalTimestamp = Field(default=None, description="When the run ended.")
    gates: list[GateResult] = Field(
        default_factory=list,
        max_length=80,
        description="Each gate's last evaluation.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    soak: Soak | None = Field(default=None, description="gates.soakTime's clock.")
    approvals: list[ApprovalRecord] = Field(
        default_factory=list, max_length=20, description="Who approved this run."
    )
    rejection: ApprovalRecord | None = Field(default=None, description="Who rejected it.")
    evaluation: EvaluationRecord | None = Field(default=None, description="The evaluation Job.")


class RunSummary(ApiModel):
    """A finished run, in status.history (its whole evidence is on the target)."""

    run: int = Field(ge=1, description="Run number.")
    version: str = Field(description="Model version promoted.")
    digest: str | None = Field(default=None, description="Model digest.")
    outcome: RunOutcome = Field(description="Succeeded or Failed.")
    reason: str = Field(default="", description="CamelCase reason.")
    message: str = Field(default="", description="The outcome in one line.")
    started_at: Timestamp = Field(description="When it started.")
    finished_at: OptionalTimestamp = Field(default=None, description="When it ended.")
    approvers: list[str] = Field(default_factory=list, description="Who approved it.")
    evidence: str | None = Field(
        default=None,
        description="namespace/name of the ControllerRevision on the target holding its evidence.",
    )


class ModelPromotionStatus(ApiModel):
    """Observed state of a ModelPromotion."""

    observed_generation: int | None = Field(default=None, description="Last generation seen.")
    phase: PromotionPhase | None = Field(
        default=None,
        description="Pending, WaitingForGates, WaitingForApproval, Promoting, Succeeded, Failed.",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="GatesPassed, Approved, Succeeded.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    message: str = Field(default="", max_length=4096, description="Where it stands.")
    runs: int = Field(default=0, ge=0, description="Runs started so far (the last number).")
    evidence: Evidence | None = Field(default=None, description="The current or last run.")
    history: list[RunSummary] = Field(
        default_factory=list, description="Finished runs, newest first (spec.historyLimit)."
    )
    # For printer columns.
    from_summary: str | None = Field(default=None, description="namespace/name of the source.")
    to_summary: str | None = Field(default=None, description="namespace/name of the target.")
    version: str | None = Field(default=None, description="Version of the current run.")
    gates_summary: str | None = Field(default=None, description="Gates passing / gates, e.g. 3/5.")
    soak_remaining: str | None = Field(default=None, description="Soak time left, e.g. 12m.")
