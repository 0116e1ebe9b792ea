"""One reconcile path for create, update, resume and timers (level-based).

Every call re-reads the ModelDeployment, works out which revision each track
should run (the pure canary decision), applies the Deployments, Services and
router objects (idempotent server-side apply), asks the pure status decision
for conditions, and writes status and Events. Interrupting it anywhere and
running it again converges to the same result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from modelship import telemetry
from modelship.api import GROUP, KIND, VERSION, ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.status import RevisionRef, UndoTarget
from modelship.cache import ChildCache
from modelship.decisions.commands import Requested, requested
from modelship.decisions.events import Event
from modelship.decisions.gpu_capacity import free_gpus
from modelship.decisions.history import find
from modelship.decisions.replicas import GpuNeed
from modelship.decisions.rollout import RolloutInput, RolloutPlan, decide_rollout
from modelship.decisions.serving import StatusPlan, assess_invalid_spec, assess_serving
from modelship.errors import AlreadyExistsError, InvalidObjectError, NotFoundError, TransientError
from modelship.kube import Kube
from modelship.measuring import Measuring
from modelship.observed import DeploymentState, PodState
from modelship.render import with_applied_hash
from modelship.render.labels import APPLIED_HASH, Owner, Track, selector
from modelship.render.revision import controller_revision, controller_revision_name, served_spec
from modelship.render.serving import deployment_name, runtime_deployment, runtime_service
from modelship.retrain import retrained_spec
from modelship.revision import revision_ref
from modelship.routing import router_for

log = logging.getLogger(__name__)
API_VERSION = f"{GROUP}/{VERSION}"
Obj = dict[str, Any]


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


def _previous_status(obj: Obj) -> ModelDeploymentStatus:
    try:
        return ModelDeploymentStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        log.warning("ignoring unreadable status of %s", obj["metadata"]["name"])
        return ModelDeploymentStatus()


@dataclass
class _Context:
    """What one reconcile knows about one ModelDeployment."""

    obj: Obj
    owner: Owner
    spec: ModelDeploymentSpec
    generation: int
    previous: ModelDeploymentStatus
    asked: Requested
    events: list[Event]


class Reconciler:
    """Observe, decide, execute. ``cache`` (fed by watch events) saves API calls; without
    one every read goes to the API server."""

    def __init__(
        self, kube: Kube, cache: ChildCache | None = None, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.clock = clock
        self.measuring = Measuring(kube, self._pods)
        # ControllerRevisions are immutable: keep each one read, by (namespace, name, owner uid).
        self._stored: dict[tuple[str, str, str], Obj] = {}

    def reconcile(self, namespace: str, name: str) -> Result:
        started = time.perf_counter()
        try:
            result = self._reconcile(namespace, name)
        except Exception:
            telemetry.RECONCILES.labels("error").inc()
            raise
        finally:
            telemetry.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        telemetry.RECONCILES.labels("ok").inc()
        return result

    def _reconcile(self, namespace: str, name: str) -> Result:
        obj = self.kube.get(API_VERSION, KIND, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            self.measuring.forget((namespace, name))
            if obj is None:
                telemetry.forget(namespace, name)
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
        meta = obj["metadata"]
        ctx = _Context(
            obj=obj,
            owner=Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"]),
            spec=spec,
            generation=generation,
            previous=previous,
            asked=requested(meta.get("annotations") or {}, previous.commands),
            events=[],
        )
        try:
            plan = self._serve(ctx)
        except NotFoundError:
            return Result()  # deleted, or its namespace is terminating, while we worked
        except InvalidObjectError as exc:
            message = f"the API server rejected a child object: {exc}"
            plan = assess_invalid_spec(generation, message, previous, self.clock())
        return self._write(obj, previous, plan)

    # ----- revisions ------------------------------------------------------------------

    def _stored_revision(self, owner: Owner, revision: str) -> Obj | None:
        """The ControllerRevision of ``revision`` owned by this very object (by uid: a
        deleted and recreated ModelDeployment must not inherit its predecessor's)."""
        name = controller_revision_name(owner.name, revision)
        key = (owner.namespace, name, owner.uid)
        if key not in self._stored:
            found = self.kube.get("apps/v1", "ControllerRevision", owner.namespace, name)
            if found is None or not _owned_by(found, owner):
                return None
            self._stored[key] = found
        return self._stored[key]

    def _remember(self, ctx: _Context, spec: ModelDeploymentSpec, ref: RevisionRef) -> RevisionRef:
        """Store ``spec``'s revision as a ControllerRevision once; return it numbered.

        Create, never apply: an existing revision keeps the number it was given.
        """
        owner = ctx.owner
        key = (owner.namespace, controller_revision_name(owner.name, ref.name), owner.uid)
        stored = self._stored.get(key)
        if stored is None:
            number = ctx.previous.revision_count + 1
            try:
                stored = self.kube.create(controller_revision(owner, spec, ref.name, number))
            except AlreadyExistsError:
                stored = self._stored_revision(owner, ref.name)
            if stored is None:  # a predecessor's, waiting for garbage collection
                raise TransientError(f"ControllerRevision {key[1]} belongs to another object")
            self._stored[key] = stored
        return ref.model_copy(update={"number": int(stored.get("revision", 0))})

    def _desired(self, ctx: _Context) -> tuple[ModelDeploymentSpec, RevisionRef, UndoTarget | None]:
        """The spec's revision, or an undo target while the spec has not changed since."""
        spec_ref = revision_ref(ctx.spec)
        undo = ctx.previous.undo
        if ctx.asked.undo is not None:
            entry = find(ctx.previous.history, ctx.asked.undo)
            stored = self._stored_revision(ctx.owner, entry.revision) if entry else None
            if entry is None or stored is None:
                ctx.events.append(
                    Event(
                        "Warning",
                        "UndoFailed",
                        f"revision {ctx.asked.undo} is not in status.history",
                    )
                )
            else:
                ref = revision_ref(served_spec(ctx.spec, stored))
                ref = ref.model_copy(update={"number": entry.number})
                undo = UndoTarget(revision=ref, number=entry.number, spec_revision=spec_ref.name)
                ctx.events.append(
                    Event(
                        "Normal",
                        "Undo",
                        f"rolling back to revision {entry.number} ({entry.model_version})",
                    )
                )
        if ctx.asked.undo_invalid is not None:
            ctx.events.append(
                Event(
                    "Warning",
                    "UndoFailed",
                    f"modelship.io/undo={ctx.asked.undo_invalid!r}: expected a revision number",
                )
            )
        if undo is not None and undo.spec_revision == spec_ref.name:
            stored = self._stored_revision(ctx.owner, undo.revision.name)
            if stored is not None:
                return served_spec(ctx.spec, stored), undo.revision, undo
        retrained = retrained_spec(ctx.spec, ctx.previous.retraining, spec_ref.name)
        if retrained is not None:
            return retrained, revision_ref(retrained), None
        return ctx.spec, spec_ref, None

    def _stable(
        self, ctx: _Context, desired: RevisionRef, desired_spec: ModelDeploymentSpec
    ) -> tuple[ModelDeploymentSpec | None, RevisionRef | None]:
        stable = ctx.previous.stable_revision
        if stable is None:
            return None, None
        if stable.name == desired.name:
            return desired_spec, stable
        stored = self._stored_revision(ctx.owner, stable.name)
        if stored is None:  # written by an older operator, or deleted: start over from spec
            ctx.events.append(
                Event(
                    "Warning",
                    "StableRevisionMissing",
                    f"no stored spec for stable revision {stable.name}; "
                    "deploying the spec's revision directly",
                )
            )
            return None, None
        return served_spec(ctx.spec, stored), stable

    # ----- serving ----------------------------------------------------------------------

    def _serve(self, ctx: _Context) -> StatusPlan:
        owner, spec = ctx.owner, ctx.spec
        desired_spec, desired, undo = self._desired(ctx)
        desired = self._remember(ctx, desired_spec, desired)
        stable_spec, stable = self._stable(ctx, desired, desired_spec)
        router = router_for(spec)
        stable_track = self._track(owner, "stable")
        canary_track = self._track(owner, "canary")
        starting = (
            stable is not None
            and desired.name != stable.name
            and (ctx.previous.canary is None or ctx.previous.canary.revision.name != desired.name)
        )
        now = self.clock()
        analysis = self.measuring.analyse(owner, spec, ctx.previous, now)
        plan = decide_rollout(
            RolloutInput(
                spec=spec,
                desired=desired,
                stable=stable,
                canary=ctx.previous.canary,
                stable_track=stable_track,
                canary_track=canary_track,
                now=now,
                commands=ctx.asked.commands,
                paused=ctx.asked.paused,
                exact_weights=router.exact_weights,
                gpu=self._gpu_need(desired_spec, stable_spec) if starting else None,
                analysis=analysis.verdict,
            )
        )
        analysis = self.measuring.begin(owner, spec, plan.canary, analysis, now)
        spec_for = {desired.name: desired_spec}
        if stable is not None and stable_spec is not None:
            spec_for[stable.name] = stable_spec
        swap = plan.canary is not None and plan.canary.capacity == "swap"
        stable_served = spec_for[plan.stable_revision.name]
        live = self._ensure(
            runtime_deployment(
                owner,
                stable_served,
                plan.stable_revision.name,
                "stable",
                plan.stable_replicas,
                surge=not swap,
            )
        )
        canary_live = None
        if plan.canary_revision is not None:
            canary_live = self._ensure(
                runtime_deployment(
                    owner,
                    spec_for[plan.canary_revision.name],
                    plan.canary_revision.name,
                    "canary",
                    plan.canary_replicas,
                    surge=not swap,
                )
            )
        elif canary_track is not None:
            self.kube.delete(
                "apps/v1", "Deployment", owner.namespace, deployment_name(owner.name, "canary")
            )
        self._ensure(runtime_service(owner, spec))
        try:
            for routed in router.objects(owner, spec, plan.weight):
                self._ensure(routed)
        except NotFoundError:
            plan = _routing_missing(plan)
        stable_state = DeploymentState.from_object(live)
        canary_state = DeploymentState.from_object(canary_live) if canary_live else None
        pods: list[PodState] = []
        if not stable_state.rolled_out or (canary_state and not canary_state.rolled_out):
            pods = [
                PodState.from_object(p)
                for p in self._pods(owner)
                if not p["metadata"].get("deletionTimestamp")
            ]
        status_plan = assess_serving(
            ctx.generation,
            stable_served,
            plan.stable_revision,
            stable_state,
            pods,
            ctx.previous,
            self.clock(),
            plan,
            canary_state,
        )
        status = status_plan.status.model_copy(
            update={
                "commands": ctx.asked.handled,
                "undo": undo,
                "revision_count": max(ctx.previous.revision_count, desired.number or 0),
                "analysis": analysis.status,
            }
        )
        measured = self.measuring.after(owner, spec, ctx.generation, ctx.previous, status, now)
        waits = (status_plan.requeue_after, analysis.next_in, *measured.waits)
        requeue = min((t for t in waits if t is not None), default=None)
        events = [*ctx.events, *analysis.events, *status_plan.events, *measured.events]
        return StatusPlan(measured.status, events, requeue)

    def _track(self, owner: Owner, track: Track) -> DeploymentState | None:
        """A track's Deployment. With a cache, absent there means absent: right after a
        restart that may be briefly wrong, which only makes the rollout wait a moment."""
        name = deployment_name(owner.name, track)
        if self.cache is not None:
            obj = self.cache.get("Deployment", owner.namespace, name)
        else:
            obj = self.kube.get("apps/v1", "Deployment", owner.namespace, name)
        return DeploymentState.from_object(obj) if obj else None

    def _gpu_need(
        self, canary: ModelDeploymentSpec, stable: ModelDeploymentSpec | None
    ) -> GpuNeed | None:
        gpu = canary.runtime.gpu
        if gpu is None or gpu.count == 0:
            return None
        nodes = self.kube.list("v1", "Node", None)
        pods = self.kube.list(
            "v1", "Pod", None, field_selector="status.phase!=Succeeded,status.phase!=Failed"
        )
        stable_gpu = stable.runtime.gpu if stable is not None else None
        same = stable_gpu is not None and stable_gpu.resource_name == gpu.resource_name
        return GpuNeed(
            resource=gpu.resource_name,
            per_canary_pod=gpu.count,
            per_stable_pod=stable_gpu.count if same and stable_gpu else 0,
            free=free_gpus(nodes, pods, gpu.resource_name, gpu.product),
        )

    def _ensure(self, desired: Obj) -> Obj:
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

    def _pods(self, owner: Owner) -> list[Obj]:
        if self.cache is not None:
            return self.cache.pods(owner.namespace, owner.name, selector(owner.name))
        return self.kube.list("v1", "Pod", owner.namespace, selector(owner.name))

    def _write(self, obj: Obj, previous: ModelDeploymentStatus, plan: StatusPlan) -> Result:
        meta = obj["metadata"]
        before = previous.model_dump(mode="json", by_alias=True)
        after = plan.status.model_dump(mode="json", by_alias=True)
        if after != before:
            log.info(
                "%s/%s: phase %s, %s",
                meta["namespace"],
                meta["name"],
                plan.status.phase,
                ", ".join(f"{c.type}={c.status}/{c.reason}" for c in plan.status.conditions),
            )
            self.kube.patch_status(API_VERSION, KIND, meta["namespace"], meta["name"], after)
            telemetry.rollout_outcomes(meta["namespace"], meta["name"], previous, plan.status)
        for event in plan.events:
            self.kube.record_event(obj, event.type, event.reason, event.message, self.clock())
        return Result(plan.requeue_after)


def _owned_by(obj: Obj, owner: Owner) -> bool:
    return any(ref.get("uid") == owner.uid for ref in obj["metadata"].get("ownerReferences") or [])


def _routing_missing(plan: RolloutPlan) -> RolloutPlan:
    """The HTTPRoute kind is not served: say so instead of failing the whole reconcile."""
    message = (
        "spec.rollout.trafficRouting.gatewayAPI is set but this cluster does not serve "
        "HTTPRoute (gateway.networking.k8s.io/v1): install the Gateway API CRDs or "
        "remove gatewayAPI to split by replica ratio"
    )
    return replace(plan, aborted=("GatewayAPIUnavailable", message))
