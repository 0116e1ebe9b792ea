"""ModelPromotion spec, v1alpha1 (names fixed by shared/design/api.md, "ModelPromotion").

A promotion moves the model a source ModelDeployment serves on its stable track (name,
version, URI, digest) to a target ModelDeployment, only after gates pass; the target then
rolls it out through its own canary and analysis. docs/promotion.md is the user's guide.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship.api.analysis import Check
from modelship.api.promotion_status import ModelPromotionStatus
from modelship.api.types import (
    ApiModel,
    Duration,
    JobTemplate,
    cel,
    exactly_one,
    validations,
)

PROMOTION_KIND = "ModelPromotion"
PROMOTION_PLURAL = "modelpromotions"

# ModelDeployment names are DNS-1035 labels of at most 52 characters (crd.py).
_MD_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
_NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class DeploymentRef(ApiModel):
    """A ModelDeployment, by name and namespace."""

    name: str = Field(
        min_length=1, max_length=52, pattern=_MD_NAME, description="ModelDeployment name."
    )
    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=_NAMESPACE,
        description="Its namespace; default: the ModelPromotion's own.",
    )


class Approval(ApiModel):
    """People who must approve, each as the identity the API server authenticated
    (docs/promotion.md, "Approval")."""

    required: bool = Field(default=True, description="Whether approval is needed at all.")
    min_approvers: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Distinct users who must approve the run (each holding the approve "
        "verb on modelpromotions).",
    )


class ResultThreshold(ApiModel):
    """A bound on one named result of the evaluation Job's termination message."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.min) || has(self.max)", "set min, max or both")
        )
    }

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$",
        description="Result name, e.g. accuracy or unsafe_pickle_ops.",
    )
    min: float | None = Field(default=None, description="Lowest passing value.")
    max: float | None = Field(default=None, description="Highest passing value.")


# Checks on the source's stable track alone: nothing to compare it with.
_SINGLE_TRACK = cel(
    "self.all(c, !has(c.compare) && !has(c.drift) "
    "&& !(has(c.latency) && has(c.latency.maxIncrease)))",
    "a promotion's checks measure the source's stable track alone: compare and "
    "latency.maxIncrease need a canary to compare with, and drift is gates.maxDrift",
)


class Gates(ApiModel):
    """What must hold before the target changes. Every gate is re-evaluated until all
    pass at once, and recorded as evidence (value, threshold, verdict, when)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.soakTime) || duration(self.soakTime) < duration(self.timeout)",
                "must be shorter than gates.timeout, or the promotion could never pass",
                ".soakTime",
            ),
            cel(
                "!has(self.evaluationThresholds) || has(self.evaluationJob)",
                "evaluationThresholds hold the evaluationJob's results: set evaluationJob",
                ".evaluationThresholds",
            ),
        )
    }

    soak_time: Duration | None = Field(
        default=None,
        description="The source must have served this exact revision (version and digest) "
        "for at least this long, Ready, not Degraded, with no canary in flight; a flap "
        "restarts the clock.",
    )
    checks: list[Check] | None = Field(
        default=None,
        max_length=32,
        description="Analysis checks (latency with max, errorRate, query) measured on the "
        "source's stable track through the source's spec.analysis provider, over "
        "checkWindow.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            **validations(_SINGLE_TRACK),
        },
    )
    check_window: Duration = Field(
        default="5m",
        description="How far back checks look, ending now (never before this revision "
        "became the source's stable one).",
    )
    max_drift: float | None = Field(
        default=None,
        ge=0,
        description="The source's latest drift window, evaluated while it served this "
        "revision, is not Drifted and no feature scored above this.",
    )
    evaluation_job: JobTemplate | None = Field(
        default=None,
        description="batch/v1 JobTemplateSpec of an offline evaluation, created once per "
        "run with the model in env; it must succeed, and its termination message (a JSON "
        "object of named numbers) is held against evaluationThresholds.",
    )
    evaluation_thresholds: list[ResultThreshold] | None = Field(
        default=None,
        max_length=32,
        description="Bounds on the evaluation Job's named results.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    approval: Approval | None = Field(default=None, description="Approval by people.")
    timeout: Duration = Field(
        default="72h",
        description="A run whose gates have not all passed this long after it started fails "
        "(GateTimeout).",
    )


class DirectStrategy(ApiModel):
    """Server-side apply of the target's spec.model under the field manager
    modelship-promotion."""

    allow_argo_cd_managed: bool = Field(
        default=False,
        alias="allowArgoCDManaged",
        description="Write a target that Argo CD tracks anyway; its selfHeal would revert "
        "the change, so by default such a target fails the run (TargetManagedByArgoCD).",
    )


class SecretRef(ApiModel):
    """A Secret in the ModelPromotion's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Secret name.")


class GitAuthor(ApiModel):
    """Who the commit says wrote it (the evidence names the approvers either way)."""

    name: str = Field(default="modelship", min_length=1, max_length=200)
    email: str = Field(default="modelship@localhost", min_length=3, max_length=200)


class GitStrategy(ApiModel):
    """Commit the target's new spec.model to the manifest in a Git repository and push;
    a GitOps tool (Argo CD, Flux) applies it, and the run waits for the cluster to show
    it (docs/promotion.md, "Changing the target through Git")."""

    repo_url: str = Field(
        alias="repoURL",
        min_length=1,
        max_length=2048,
        pattern=r"^(https?|ssh|file)://\S+$|^[\w.-]+@[\w.-]+:\S+$",
        description="Repository URL: https://, ssh://, user@host:path, or file:// (a "
        "repository the operator's file system holds).",
    )
    branch: str = Field(
        default="main",
        min_length=1,
        max_length=255,
        pattern=r"^[\w][\w./-]*$",
        description="Branch to commit to.",
    )
    path: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[^/].*\.ya?ml$",
        description="File in the repository, relative to its root, that holds the target "
        "ModelDeployment's manifest (other documents in it are kept as they are).",
    )
    secret_ref: SecretRef | None = Field(
        default=None,
        alias="secretRef",
        description="Credentials: keys username and password (HTTPS; a token as the "
        "password), or sshPrivateKey with optional knownHosts (SSH).",
    )
    author: GitAuthor = Field(default_factory=GitAuthor, description="The commit's author.")
    sync_timeout: Duration = Field(
        default="30m",
        alias="syncTimeout",
        description="A run whose commit the cluster has not applied this long after it "
        "was pushed fails (TargetNotSynced).",
    )


class Strategy(ApiModel):
    """How the target is changed."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(exactly_one(["direct", "git"], "in strategy"))
    }

    direct: DirectStrategy | None = Field(
        default=None, description="Apply spec.model to the target in the cluster."
    )
    git: GitStrategy | None = Field(
        default=None, description="Commit spec.model to the target's manifest in Git."
    )


class ModelPromotionSpec(ApiModel):
    """Which model moves where, through which gates."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                # CEL spells the reserved word namespace as __namespace__.
                "!(self.from.name == self.to.name && "
                "(has(self.from.__namespace__) ? self.from.__namespace__ : '') == "
                "(has(self.to.__namespace__) ? self.to.__namespace__ : ''))",
                "from and to name the same ModelDeployment: a promotion moves a model between two",
                ".to",
            ),
            cel(
                "self.mode == 'Once' || !has(self.version)",
                "a Continuous promotion promotes every new stable version of the source: "
                "leave version unset",
                ".version",
            ),
        )
    }

    source: DeploymentRef = Field(alias="from", description="The source ModelDeployment.")
    to: DeploymentRef = Field(description="The target ModelDeployment.")
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="Model version to promote (Once); default: the source's stable version "
        "when the run starts. The source must serve it on its stable track.",
    )
    mode: Literal["Once", "Continuous"] = Field(
        default="Once",
        description="Once: one run, ending Succeeded or Failed. Continuous: a run for "
        "every new stable revision of the source, through the same gates, one at a time.",
    )
    gates: Gates = Field(default_factory=Gates, description="What must hold first.")
    strategy: Strategy = Field(
        default_factory=lambda: Strategy(direct=DirectStrategy()),
        description="How the target is changed; default direct.",
    )
    history_limit: int = Field(
        default=50,
        ge=1,
        le=500,
        description="Finished runs kept in status.history (the full evidence of each is "
        "kept on the target as well).",
    )


class ModelPromotion(ApiModel):
    """A model version moved between environments through gates, with evidence."""

    spec: ModelPromotionSpec
    status: ModelPromotionStatus = Field(default_factory=ModelPromotionStatus)
