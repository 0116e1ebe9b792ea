"""Typed views of observed cluster objects, parsed from plain dicts (pure).

The reconcile layer reads objects through the Kubernetes I/O layer and hands
these views to decisions, so decisions never touch raw API shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelship.render.labels import REVISION


def _conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])


@dataclass(frozen=True)
class DeploymentState:
    """A runtime Deployment as the Deployment controller reports it."""

    generation: int
    observed_generation: int
    desired_replicas: int
    replicas: int
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    deadline_exceeded_message: str | None
    revision: str | None = None  # modelship.io/revision of its pod template

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> DeploymentState:
        status = obj.get("status") or {}
        deadline = next(
            (
                c.get("message") or "progress deadline exceeded"
                for c in _conditions(obj)
                if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
            ),
            None,
        )
        return cls(
            generation=int(obj["metadata"].get("generation", 0)),
            observed_generation=int(status.get("observedGeneration", 0)),
            desired_replicas=int((obj.get("spec") or {}).get("replicas", 1)),
            replicas=int(status.get("replicas", 0)),
            updated_replicas=int(status.get("updatedReplicas", 0)),
            ready_replicas=int(status.get("readyReplicas", 0)),
            available_replicas=int(status.get("availableReplicas", 0)),
            deadline_exceeded_message=deadline,
            revision=(obj["metadata"].get("labels") or {}).get(REVISION),
        )

    @property
    def updated(self) -> bool:
        """Every replica runs the current template; no old pods left."""
        want = self.desired_replicas
        return (
            self.observed_generation >= self.generation
            and self.updated_replicas == want
            and self.replicas == want
        )

    @property
    def rolled_out(self) -> bool:
        """Updated, and every replica is available."""
        return self.updated and self.available_replicas == self.desired_replicas


@dataclass(frozen=True)
class PodState:
    """One runtime pod: whether it is scheduled and, if not, the scheduler's words."""

    name: str
    ready: bool
    unschedulable_message: str | None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> PodState:
        ready = False
        unschedulable = None
        for cond in _conditions(obj):
            if cond.get("type") == "Ready":
                ready = cond.get("status") == "True"
            if (
                cond.get("type") == "PodScheduled"
                and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"
            ):
                unschedulable = cond.get("message") or "unschedulable"
        return cls(name=obj["metadata"]["name"], ready=ready, unschedulable_message=unschedulable)


@dataclass(frozen=True)
class JobState:
    """A retraining Job as the Job controller reports it."""

    name: str
    number: int
    created_at: str
    finished: bool
    succeeded: bool
    finished_at: str | None
    message: str  # why it failed (the Job's Failed condition)

    @classmethod
    def from_object(cls, obj: dict[str, Any], number: int) -> JobState:
        conditions = {c.get("type"): c for c in _conditions(obj) if c.get("status") == "True"}
        done = conditions.get("Complete") or conditions.get("SuccessCriteriaMet")
        failed = conditions.get("Failed")
        status = obj.get("status") or {}
        end = done or failed
        return cls(
            name=obj["metadata"]["name"],
            number=number,
            created_at=obj["metadata"].get("creationTimestamp", ""),
            finished=end is not None,
            succeeded=done is not None and failed is None,
            finished_at=status.get("completionTime") or (end or {}).get("lastTransitionTime"),
            message=((failed or {}).get("reason", "") + ": " + (failed or {}).get("message", ""))
            if failed
            else "",
        )
