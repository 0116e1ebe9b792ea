"""What the ModelPromotion decision is given: one typed snapshot (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelship.analysis.checks import Observed
from modelship.api.approvals import Vote
from modelship.api.deployment import ModelRef
from modelship.api.promotion import ModelPromotionSpec
from modelship.api.promotion_status import ModelPromotionStatus, PromotedModel
from modelship.api.status import ModelDeploymentStatus
from modelship.kernel.plan import Obj, ObjectRef, Target
from modelship.observed import JobState


@dataclass(frozen=True)
class DeploymentView:
    """A ModelDeployment the promotion reads (source) or writes (target)."""

    namespace: str
    name: str
    uid: str
    generation: int
    status: ModelDeploymentStatus
    model: ModelRef  # spec.model as written
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    stable_model: PromotedModel | None = None  # what its stable revision serves
    service_url: str = ""  # in-cluster URL of its Service

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class EvaluationJob:
    state: JobState
    message: str  # its pod's termination message: results, or why it failed


@dataclass(frozen=True)
class SeenCommit:
    """The run's commit on the Git strategy's branch."""

    sha: str
    committed_at: str  # RFC 3339


@dataclass(frozen=True)
class Snapshot:
    target: Target  # the ModelPromotion (the kernel's reconciled object)
    spec: ModelPromotionSpec | None
    invalid: str  # why the spec cannot be read, when spec is None
    previous: ModelPromotionStatus
    source_ref: tuple[str, str]  # namespace, name (defaults resolved)
    to_ref: tuple[str, str]
    source: DeploymentView | None  # None: not found
    to: DeploymentView | None
    approvals: tuple[Vote, ...] = ()  # of the current run
    rejections: tuple[Vote, ...] = ()
    evaluation: EvaluationJob | None = None  # the current run's Job, when it exists
    checks: Observed | None = None  # read for this reconcile when checks were due
    evidence_stored: bool = False  # the finished run's evidence is on the target
    # Git strategy, once the gates passed: the run's commit if the branch has it, or why
    # the branch could not be read.
    commit: SeenCommit | None = None
    git_error: str = ""
    children: Mapping[ObjectRef, Obj] = field(default_factory=dict)
