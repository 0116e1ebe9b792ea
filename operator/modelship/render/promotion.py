"""What a promotion writes (pure): the target's spec.model, the evaluation Job, and the
run's evidence kept on the target."""

from __future__ import annotations

import hashlib
from typing import Any, Final

from modelship.api.deployment import GROUP, KIND, VERSION
from modelship.api.promotion import ModelPromotionSpec
from modelship.api.promotion_status import Evidence, PromotedModel
from modelship.render.jobs import job_from_template
from modelship.render.labels import MANAGED_BY, MANAGER, Owner

Obj = dict[str, Any]

# The field manager of a direct change: `kubectl get md -o yaml --show-managed-fields`
# tells the promotion's writes from everyone else's.
PROMOTION_FIELD_MANAGER: Final = "modelship-promotion"
# On the target: which promotion run last set its model, and to what version (the
# ModelDeployment controller names it in the history entry of that revision).
PROMOTED_BY: Final = "modelship.io/promoted-by"
PROMOTED_VERSION: Final = "modelship.io/promoted-version"
# On evaluation Jobs and evidence: the promotion they belong to.
PROMOTION: Final = "modelship.io/model-promotion"
PROMOTION_RUN: Final = "modelship.io/promotion-run"
EVIDENCE_FOR: Final = "modelship.io/evidence-for"  # the target ModelDeployment's name


def promoted_by(namespace: str, name: str, run: int) -> str:
    return f"{namespace}/{name}#{run}"


def run_marker(uid: str, run: int) -> str:
    """The line a Git strategy's commit carries: this run of this very ModelPromotion
    (its uid, so a promotion deleted and made again under the same name starts afresh)."""
    return f"Modelship-Run: {uid}/{run}"


def commit_message(run: Evidence, to_key: str, uid: str) -> str:
    """Subject, what passed and who approved, then trailers a reader (or git log
    --grep) can find the promotion by."""
    model = run.model
    passed = ", ".join(g.name for g in run.gates if g.verdict == "Pass") or "none"
    approvers = ", ".join(a.user for a in run.approvals) or "not required"
    return (
        f"Promote {model.name} {model.version} to {to_key}\n\n"
        f"ModelPromotion {run.promotion} run {run.run} moves {model.uri} "
        f"from {run.source.namespace}/{run.source.name}.\n"
        f"Gates passed: {passed}.\nApproved by: {approvers}.\n\n"
        f"Modelship-Promotion: {run.promotion}#{run.run}\n"
        f"{run_marker(uid, run.run)}\n"
    )


def target_model_patch(namespace: str, name: str, model: PromotedModel, by: str) -> Obj:
    """The server-side apply body that sets the target's spec.model (and says who did)."""
    ref = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {PROMOTED_BY: by, PROMOTED_VERSION: model.version},
        },
        "spec": {"model": ref},
    }


def evaluation_job_name(promotion: str, run: int) -> str:
    return f"{promotion}-eval-{run}"


def evaluation_env(model: PromotedModel, source_url: str, promotion: str, run: int) -> list[Obj]:
    values = {
        "MODELSHIP_MODEL_NAME": model.name,
        "MODELSHIP_MODEL_VERSION": model.version,
        "MODELSHIP_MODEL_URI": model.uri,
        "MODELSHIP_MODEL_DIGEST": model.digest or "",
        "MODELSHIP_SOURCE_URL": source_url,
        "MODELSHIP_PROMOTION": promotion,
        "MODELSHIP_PROMOTION_RUN": str(run),
    }
    return [{"name": k, "value": v} for k, v in values.items()]


def evaluation_job(owner: Owner, spec: ModelPromotionSpec, run: int, env: list[Obj]) -> Obj:
    """A batch/v1 Job from gates.evaluationJob, owned by the ModelPromotion, with the
    model and the source's Service URL in every container's env."""
    return job_from_template(
        spec.gates.evaluation_job or {},
        owner,
        evaluation_job_name(owner.name, run),
        {PROMOTION: owner.name, PROMOTION_RUN: str(run)},
        env,
    )


def evidence_name(promotion_namespace: str, promotion: str, run: int) -> str:
    """Unique per promotion run, whatever namespace the promotion lives in."""
    tag = hashlib.sha256(f"{promotion_namespace}/{promotion}".encode()).hexdigest()[:8]
    return f"promotion-{promotion[:200]}-{tag}-{run}"


def evidence_revision(target: Owner, evidence: Evidence, promotion: str) -> Obj:
    """The run's evidence as an apps/v1 ControllerRevision owned by the target
    ModelDeployment: immutable data, kept as long as the target, readable after the
    ModelPromotion is gone (`modelship promotion evidence`)."""
    namespace, _, name = evidence.promotion.partition("/")
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": evidence_name(namespace, name, evidence.run),
            "namespace": target.namespace,
            "labels": {
                MANAGED_BY: MANAGER,
                EVIDENCE_FOR: target.name,
                PROMOTION: promotion[:63],
                PROMOTION_RUN: str(evidence.run),
            },
            "annotations": {PROMOTED_BY: promoted_by(namespace, name, evidence.run)},
            "ownerReferences": [{**target.reference(), "controller": False}],
        },
        "revision": evidence.run,
        "data": evidence.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
