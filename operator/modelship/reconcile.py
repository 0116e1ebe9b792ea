"""One reconcile path for create, update, resume and timers (level-based).

Every call re-reads the ModelDeployment and its children, renders the desired
children, applies them (idempotent server-side apply), asks the pure decision
for the status, and writes status and Events. Interrupting it anywhere and
running it again converges to the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from modelship.api import GROUP, KIND, VERSION, ModelDeploymentSpec, ModelDeploymentStatus
from modelship.cache import ChildCache
from modelship.decisions.serving import StatusPlan, assess_invalid_spec, assess_serving
from modelship.errors import InvalidObjectError
from modelship.kube import Kube
from modelship.observed import DeploymentState, PodState
from modelship.render import with_applied_hash
from modelship.render.labels import APPLIED_HASH, Owner, track_labels
from modelship.render.serving import runtime_deployment, runtime_service
from modelship.revision import revision_ref

log = logging.getLogger(__name__)
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def describe_validation_error(exc: ValidationError) -> str:
    """`spec.runtime.gpu.count: Input should be ...` for each problem, joined."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in ("spec", *err["loc"]))
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _previous_status(obj: dict[str, Any]) -> ModelDeploymentStatus:
    try:
        return ModelDeploymentStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        log.warning("ignoring unreadable status of %s", obj["metadata"]["name"])
        return ModelDeploymentStatus()


class Reconciler:
    """Observe, decide, execute. ``cache`` (fed by watch events) saves API calls; without
    one every read goes to the API server."""

    def __init__(
        self, kube: Kube, cache: ChildCache | None = None, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.clock = clock

    def reconcile(self, namespace: str, name: str) -> Result:
        obj = self.kube.get(API_VERSION, KIND, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return Result()
        generation = int(obj["metadata"].get("generation", 0))
        previous = _previous_status(obj)
        try:
            spec = ModelDeploymentSpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:
            message = describe_validation_error(exc)
            return self._write(
                obj, previous, assess_invalid_spec(generation, message, previous, self.clock())
            )
        try:
            plan = self._serve(obj, spec, generation, previous)
        except InvalidObjectError as exc:
            message = f"the API server rejected a child object: {exc}"
            plan = assess_invalid_spec(generation, message, previous, self.clock())
        return self._write(obj, previous, plan)

    def _serve(
        self,
        obj: dict[str, Any],
        spec: ModelDeploymentSpec,
        generation: int,
        previous: ModelDeploymentStatus,
    ) -> StatusPlan:
        meta = obj["metadata"]
        owner = Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
        revision = revision_ref(spec)
        live = self.kube.apply(
            runtime_deployment(owner, spec, revision.name, "stable", spec.replicas)
        )
        self.kube.apply(runtime_service(owner, spec))
        deployment = DeploymentState.from_object(live)
        pods: list[PodState] = []
        if not deployment.rolled_out:
            listed = self.kube.list(
                "v1", "Pod", owner.namespace, track_labels(owner.name, "stable")
            )
            pods = [
                PodState.from_object(p)
                for p in listed
                if not p["metadata"].get("deletionTimestamp")
            ]
        return assess_serving(generation, spec, revision, deployment, pods, previous, self.clock())

    def _ensure(self, desired: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``desired`` unless the live object already carries its hash."""
        desired = with_applied_hash(desired)
        meta = desired["metadata"]
        if self.cache is not None:
            cached = self.cache.get(desired["kind"], meta["namespace"], meta["name"])
            annotations = (cached or {}).get("metadata", {}).get("annotations") or {}
            if (
                cached is not None
                and annotations.get(APPLIED_HASH) == meta["annotations"][APPLIED_HASH]
            ):
                return cached
        live = self.kube.apply(desired)
        if self.cache is not None:
            self.cache.put(live)
        return live

    def _pods(self, owner: Owner, labels: dict[str, str]) -> list[dict[str, Any]]:
        if self.cache is not None:
            return self.cache.pods(owner.namespace, owner.name, labels)
        return self.kube.list("v1", "Pod", owner.namespace, labels)

    def _write(
        self, obj: dict[str, Any], previous: ModelDeploymentStatus, plan: StatusPlan
    ) -> Result:
        meta = obj["metadata"]
        before = previous.model_dump(mode="json", by_alias=True)
        after = plan.status.model_dump(mode="json", by_alias=True)
        if after != before:
            log.info(
                "%s/%s: phase %s, conditions %s",
                meta["namespace"],
                meta["name"],
                plan.status.phase,
                ", ".join(f"{c.type}={c.status}/{c.reason}" for c in plan.status.conditions),
            )
            self.kube.patch_status(API_VERSION, KIND, meta["namespace"], meta["name"], after)
        for event in plan.events:
            self.kube.record_event(obj, event.type, event.reason, event.message, self.clock())
        return Result(plan.requeue_after)
