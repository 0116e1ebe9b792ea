"""The one condition helper: every status condition goes through ``set_condition``.

It follows metav1.Condition semantics (as cluster-api's conditions package does):
``observedGeneration`` is stamped on every write, ``lastTransitionTime`` moves
only when ``status`` flips, and reasons are the constants below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

from modelship.api.status import Condition

# Condition types.
READY: Final = "Ready"
PROGRESSING: Final = "Progressing"
DEGRADED: Final = "Degraded"
DRIFTED: Final = "Drifted"
# ModelPromotion's.
GATES_PASSED: Final = "GatesPassed"
APPROVED: Final = "Approved"
SUCCEEDED: Final = "Succeeded"

Status = Literal["True", "False", "Unknown"]


class Reason:
    """CamelCase reasons, one place so tests and docs can list them."""

    AVAILABLE: Final = "Available"
    ROLLING_UPDATE: Final = "RollingUpdate"
    ROLLOUT_COMPLETE: Final = "RolloutComplete"
    PODS_NOT_READY: Final = "PodsNotReady"
    SCALED_TO_ZERO: Final = "ScaledToZero"
    INSUFFICIENT_GPU: Final = "InsufficientGPU"
    UNSCHEDULABLE: Final = "Unschedulable"
    PROGRESS_DEADLINE_EXCEEDED: Final = "ProgressDeadlineExceeded"
    INVALID_SPEC: Final = "InvalidSpec"
    AS_EXPECTED: Final = "AsExpected"
    CANARY_PROGRESSING: Final = "CanaryProgressing"
    CANARY_PAUSED: Final = "CanaryPaused"
    PROMOTING: Final = "Promoting"
    ABORTED: Final = "Aborted"
    ANALYSIS_FAILED: Final = "AnalysisFailed"
    ANALYSIS_INCONCLUSIVE: Final = "AnalysisInconclusive"
    DRIFT_DETECTED: Final = "DriftDetected"
    NO_DRIFT: Final = "NoDrift"
    DRIFT_UNKNOWN: Final = "DriftUnknown"
    GATEWAY_API_UNAVAILABLE: Final = "GatewayAPIUnavailable"
    # Event reasons (kubectl describe): the rollout's steps and commands.
    CANARY_STARTED: Final = "CanaryStarted"
    CANARY_RESTARTED: Final = "CanaryRestarted"
    CANARY_RETRIED: Final = "CanaryRetried"
    CANARY_DROPPED: Final = "CanaryDropped"
    CANARY_RESUMED: Final = "CanaryResumed"
    CANARY_WEIGHT: Final = "CanaryWeight"
    PROMOTED: Final = "Promoted"
    PROMOTED_FULL: Final = "PromotedFull"
    UNDO: Final = "Undo"
    UNDO_FAILED: Final = "UndoFailed"
    STABLE_REVISION_MISSING: Final = "StableRevisionMissing"
    # Event reasons: analysis rounds.
    ANALYSIS_ROUND_FAILED: Final = "AnalysisRoundFailed"
    ANALYSIS_PASS: Final = "AnalysisPass"
    ANALYSIS_ERROR: Final = "AnalysisError"
    # Event reasons: drift and retraining.
    DRIFT_CLEARED: Final = "DriftCleared"
    RETRAINING_STARTED: Final = "RetrainingStarted"
    RETRAINING_SUCCEEDED: Final = "RetrainingSucceeded"
    RETRAINING_FAILED: Final = "RetrainingFailed"
    RETRAINED_MODEL_DEPLOYING: Final = "RetrainedModelDeploying"
    STATUS_REPAIRED: Final = "StatusRepaired"
    # Event reasons: autoscaling.
    AUTOSCALING_LIMITED: Final = "AutoscalingLimited"
    # ModelPromotion: conditions, run outcomes and Events.
    WAITING_FOR_SOURCE: Final = "WaitingForSource"
    GATES_PENDING: Final = "GatesPending"
    ALL_GATES_PASSED: Final = "AllGatesPassed"
    AWAITING_APPROVAL: Final = "AwaitingApproval"
    APPROVAL_NOT_REQUIRED: Final = "ApprovalNotRequired"
    APPROVAL_GRANTED: Final = "Approved"
    REJECTED: Final = "Rejected"
    IN_PROGRESS: Final = "InProgress"
    TARGET_ROLLED_OUT: Final = "TargetRolledOut"
    TARGET_ABORTED: Final = "TargetAborted"
    TARGET_OVERWRITTEN: Final = "TargetOverwritten"
    TARGET_DELETED: Final = "TargetDeleted"
    TARGET_MANAGED_BY_ARGOCD: Final = "TargetManagedByArgoCD"
    TARGET_REFUSED: Final = "TargetRefused"
    SOURCE_DELETED: Final = "SourceDeleted"
    SOURCE_MOVED_ON: Final = "SourceMovedOn"
    SOURCE_VERSION_NOT_SERVED: Final = "SourceVersionNotServed"
    EVALUATION_FAILED: Final = "EvaluationFailed"
    GATE_TIMEOUT: Final = "GateTimeout"
    RUN_STARTED: Final = "RunStarted"
    PROMOTION_SUCCEEDED: Final = "PromotionSucceeded"
    PROMOTION_FAILED: Final = "PromotionFailed"
    TARGET_CHANGED: Final = "TargetChanged"
    TARGET_COMMITTED: Final = "TargetCommitted"
    TARGET_NOT_SYNCED: Final = "TargetNotSynced"


def parse_time(text: str) -> datetime:
    """The inverse of ``rfc3339``."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def age(stamp: str | None, now: datetime) -> str:
    """How long ago, as kubectl's AGE column shows it (5d, 3h, 12m, 40s)."""
    if not stamp:
        return "?"
    seconds = int((now - parse_time(stamp)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def rfc3339(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


# metav1.Condition's limit on message, which the CRD enforces: a longer one would make
# every status write fail validation.
MAX_MESSAGE = 32768


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut to ``limit`` characters, saying so, when it is longer."""
    if len(message) <= limit:
        return message
    marker = f" ... [truncated: {len(message)} characters]"
    return message[: limit - len(marker)] + marker


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: Status,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """Return ``conditions`` with ``type_`` set; order is kept, new types appended."""
    previous = find(conditions, type_)
    transition = (
        previous.last_transition_time
        if previous is not None and previous.status == status
        else rfc3339(now)
    )
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=bounded(message),
        observed_generation=generation,
        last_transition_time=transition,
    )
    out = [updated if c.type == type_ else c for c in conditions]
    if previous is None:
        out.append(updated)
    return out


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def flipped(before: Sequence[Condition], after: Sequence[Condition]) -> list[Condition]:
    """Conditions in ``after`` whose status or reason differs from ``before``.

    Used to emit one Event per transition, not one per reconcile.
    """
    changed = []
    for cond in after:
        old = find(before, cond.type)
        if old is None or old.status != cond.status or old.reason != cond.reason:
            changed.append(cond)
    return changed
