"""The ModelDeployment controller's decision: one snapshot and ``now`` -> one Plan (pure).

The order inside is the order of cause and effect: which revisions (spec, undo,
retrained model), the analysis round the snapshot read for, the canary state machine,
the objects that carry its result (tracks, Service, router), the status those objects
will produce, then drift and retraining. Each step is a pure module of its own
(revisions, analysis, rollout, serving, drift, retraining); this one wires them and
turns their results into the kernel's typed actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from modelship.analysis.checks import Observed
from modelship.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.status import RevisionRef
from modelship.api.types import parse_duration
from modelship.conditions import Reason
from modelship.decisions.analysis import AnalysisResult, analyse, begin_window
from modelship.decisions.autoscaling import (
    Bounds,
    GpuRoom,
    HpaReport,
    Scaling,
    base_replicas,
    limited_events,
    room_for,
    scale,
    scaling_status,
)
from modelship.decisions.children import drifted, projected, route_weight
from modelship.decisions.commands import Requested
from modelship.decisions.drift import assess_reading, record, window_due, with_drift
from modelship.decisions.gpu_capacity import GpuFree
from modelship.decisions.history import name_promotion
from modelship.decisions.history import record as record_history
from modelship.decisions.replicas import GpuNeed
from modelship.decisions.retiring import retiring
from modelship.decisions.retraining import decide_retraining, keep_retraining, watching_jobs
from modelship.decisions.revisions import Revisions, Stored, choose
from modelship.decisions.rollout import RolloutInput, RolloutPlan, decide_rollout
from modelship.decisions.serving import StatusPlan, assess_invalid_spec, assess_serving
from modelship.drift.assess import DriftAssessment
from modelship.drift.live import FeatureResult
from modelship.kernel.plan import (
    Action,
    Apply,
    CreateOnce,
    Delete,
    Event,
    Keep,
    ObjectRef,
    Plan,
    Target,
)
from modelship.observed import DeploymentState, JobState, PodState
from modelship.render import with_applied_hash
from modelship.render.autoscaling import horizontal_pod_autoscaler, hpa_name
from modelship.render.labels import Owner, Track
from modelship.render.promotion import PROMOTED_BY, PROMOTED_VERSION
from modelship.render.retraining import retraining_job, trigger_env
from modelship.render.serving import deployment_name, runtime_deployment, runtime_service
from modelship.revision_hash import revision_ref
from modelship.routing import router_for

Obj = dict[str, Any]
# The kinds a ModelDeployment's renderers write: what they no longer render is deleted.
PRUNED = frozenset(
    {
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
    }
)
UNREAD_WINDOW_RETRY = 1.0  # seconds: a due drift window observe left for the next reconcile
NO_ROUTES = (
    "spec.rollout.trafficRouting.gatewayAPI is set but this cluster does not serve "
    "HTTPRoute (gateway.networking.k8s.io/v1): install the Gateway API CRDs or "
    "remove gatewayAPI to split by replica ratio"
)


@dataclass(frozen=True)
class Snapshot:
    """Everything one ModelDeployment reconcile may use, read by observe."""

    target: Target
    owner: Owner
    spec: ModelDeploymentSpec | None
    invalid: str | None  # why the spec cannot be acted on (spec is None then)
    previous: ModelDeploymentStatus
    asked: Requested
    children: Mapping[ObjectRef, Obj] = field(default_factory=dict)  # owned, by us
    stored: Stored = field(default_factory=dict)  # ControllerRevisions by revision hash
    pods: tuple[PodState, ...] = ()
    routes_served: bool = True  # the cluster serves HTTPRoute (asked only with gatewayAPI)
    # Free GPUs of the desired revision's kind per node, when a canary starts or tracks
    # autoscale.
    free_gpus: GpuFree | None = None
    analysis: Observed | None = None  # read for a due round
    canary_features: FeatureResult | None = None  # the canary's inputs (drift checks)
    drift: FeatureResult | None = None  # the stable track's inputs (a due drift window)
    jobs: tuple[JobState, ...] | None = None  # retraining Jobs, when they can matter
    job_results: Mapping[str, str] = field(default_factory=dict)  # termination messages
    # Status fields that could not be read (a garbage time) and were repaired on reading.
    status_repaired: tuple[str, ...] = ()
    live_stable: str | None = None  # the revision the stable Deployment runs (its label)

    def track(self, track: Track) -> Obj | None:
        name = deployment_name(self.owner.name, track)
        return self.children.get(ObjectRef("apps/v1", "Deployment", self.owner.namespace, name))

    def live_replicas(self, track: Track) -> int | None:
        """The track's replicas as the API server has them (its HPA's last count)."""
        obj = self.track(track)
        value = (obj.get("spec") or {}).get("replicas") if obj is not None else None
        return int(value) if value is not None else None

    def hpa_report(self, track: Track) -> HpaReport | None:
        ref = ObjectRef(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            self.owner.namespace,
            hpa_name(self.owner.name, track),
        )
        obj = self.children.get(ref)
        if obj is None:
            return None
        status = obj.get("status") or {}
        return HpaReport(status.get("currentReplicas"), status.get("desiredReplicas"))


def decide(s: Snapshot, now: datetime) -> Plan:
    if s.spec is None:
        return invalid(s, s.invalid or "the spec cannot be read", now)
    # With autoscaling, the rollout splits the count the stable's HPA set, not spec.replicas.
    spec = _autoscaled(s, s.spec)
    revisions = choose(s.owner, spec, s.previous, s.asked, s.stored, s.live_stable)
    analysis = analyse(
        spec.analysis,
        s.previous.canary,
        s.previous.analysis,
        now,
        s.analysis,
        _drift_checks(spec, s.canary_features),
    )
    rollout = _rollout(s, spec, revisions, analysis, now)
    scaling = _scaling(s, spec, revisions, rollout)
    if scaling is not None:
        rollout = replace(
            rollout,
            stable_replicas=scaling.stable_replicas,
            canary_replicas=scaling.canary_replicas,
        )
    analysis = begin_window(spec.analysis, rollout.canary, analysis, now)
    objects, tracks = _render(s, spec, revisions, rollout, scaling)
    observed_canary = s.track("canary")
    retired, retire_in = retiring(
        s.previous.retiring,
        rollout.canary_revision,
        DeploymentState.from_object(observed_canary) if observed_canary else None,
        parse_duration(spec.rollout.scale_down_delay),
        now,
    )
    repaired = _repaired(s, revisions, rollout, tracks)
    serving = _serving(s, spec, revisions, rollout, tracks, now, repaired)
    notes = (s.target.obj.get("metadata") or {}).get("annotations") or {}
    status = serving.status.model_copy(
        update={
            "history": name_promotion(
                s.previous.history,
                serving.status.history,
                notes.get(PROMOTED_BY),
                notes.get(PROMOTED_VERSION),
            ),
            "commands": s.asked.handled,
            "undo": revisions.undo,
            "revision_count": max(s.previous.revision_count, revisions.desired.number or 0),
            "analysis": analysis.status,
            "canary": _with_actual_weight(serving.status, s, tracks),
            "autoscaling": scaling_status(scaling, s.hpa_report("stable"), s.hpa_report("canary"))
            if scaling is not None
            else None,
            "retiring": retired,
            "repaired": repaired,
        }
    )
    status, drift_events, drift_next = _drift(s, spec, status, now)
    status, jobs, retraining = _retraining(s, spec, status, now)
    # The tracks first: apply -> Deployment is what users wait for. A new revision is
    # stored right after, before the status that names it is written.
    actions: list[Action] = [
        Apply(obj, drifted(s.children.get(ObjectRef.of(obj)), obj)) for obj in objects
    ]
    if retired is not None and observed_canary is not None:
        actions.append(Keep(ObjectRef.of(observed_canary)))
    if (
        (live := s.track("stable")) is not None
        and revisions.stable_spec is None
        and revisions.stable
    ):
        actions.append(Keep(ObjectRef.of(live)))
    if revisions.store is not None:
        actions.append(CreateOnce(revisions.store))
    actions += jobs
    waits = (
        serving.requeue_after,
        analysis.next_in,
        drift_next,
        retraining.requeue_after,
        retire_in,
    )
    events = [
        *revisions.events,
        *analysis.events,
        *serving.events,
        *limited_events(s.previous.autoscaling, scaling),
        *drift_events,
        *retraining.events,
    ]
    return Plan(
        actions=tuple(actions),
        status=status.model_dump(mode="json", by_alias=True),
        events=tuple(events),
        requeue_after=min((t for t in waits if t is not None), default=None),
        prune=PRUNED,
    )


def invalid(s: Snapshot, message: str, now: datetime) -> Plan:
    """A spec the operator cannot act on: Degraded, children left as they are."""
    plan = assess_invalid_spec(s.target.generation, message, s.previous, now)
    return _status_only(plan)


def _status_only(plan: StatusPlan) -> Plan:
    return Plan(
        status=plan.status.model_dump(mode="json", by_alias=True),
        events=tuple(plan.events),
        requeue_after=plan.requeue_after,
    )


def _drift_checks(
    spec: ModelDeploymentSpec, reading: FeatureResult | None
) -> dict[str, DriftAssessment | str]:
    """Each drift check's assessment of the canary's inputs (read once per round)."""
    out: dict[str, DriftAssessment | str] = {}
    for check in (spec.analysis.checks or []) if spec.analysis else []:
        if check.drift is None:
            continue
        if spec.drift is None:
            out[check.name] = "drift checks need spec.drift (its reference, method)"
        elif reading is not None:
            out[check.name] = assess_reading(reading, spec.drift.method, check.drift.threshold)
    return out


def _rollout(
    s: Snapshot,
    spec: ModelDeploymentSpec,
    revisions: Revisions,
    analysis: AnalysisResult,
    now: datetime,
) -> RolloutPlan:
    router = router_for(spec)
    stable_track, canary_track = s.track("stable"), s.track("canary")
    plan = decide_rollout(
        RolloutInput(
            spec=spec,
            desired=revisions.desired,
            stable=revisions.stable,
            canary=s.previous.canary,
            stable_track=DeploymentState.from_object(stable_track) if stable_track else None,
            canary_track=DeploymentState.from_object(canary_track) if canary_track else None,
            now=now,
            commands=s.asked.commands,
            paused=s.asked.paused,
            exact_weights=router.exact_weights,
            gpu=_gpu_need(revisions, s.free_gpus)
            if revisions.starting(s.previous.canary)
            else None,
            analysis=analysis.gate,
        )
    )
    if router.kinds and not s.routes_served:
        plan = replace(plan, aborted=(Reason.GATEWAY_API_UNAVAILABLE, NO_ROUTES))
    return plan


def _gpu_need(revisions: Revisions, free: GpuFree | None) -> GpuNeed | None:
    gpu = revisions.desired_spec.runtime.gpu
    if gpu is None or gpu.count == 0 or free is None:
        return None
    stable_gpu = revisions.stable_spec.runtime.gpu if revisions.stable_spec else None
    same = stable_gpu is not None and stable_gpu.resource_name == gpu.resource_name
    return GpuNeed(
        resource=gpu.resource_name,
        per_canary_pod=gpu.count,
        per_stable_pod=stable_gpu.count if same and stable_gpu else 0,
        free=free,
    )


def _autoscaled(s: Snapshot, spec: ModelDeploymentSpec) -> ModelDeploymentSpec:
    auto = spec.autoscaling
    if auto is None:
        return spec
    canary = s.previous.canary
    swap = canary is not None and canary.capacity == "swap" and canary.phase != "Aborted"
    base = base_replicas(
        auto,
        spec.replicas,
        s.live_replicas("stable"),
        s.live_replicas("canary"),
        swap,
        room_for(spec, s.free_gpus),
    )
    return spec.model_copy(update={"replicas": base})


def _scaling(
    s: Snapshot, spec: ModelDeploymentSpec, revisions: Revisions, rollout: RolloutPlan
) -> Scaling | None:
    if spec.autoscaling is None:
        return None
    specs = revisions.specs()
    stable_spec = specs.get(rollout.stable_revision.name)
    canary_spec = specs.get(rollout.canary_revision.name) if rollout.canary_revision else None
    desired_gpu = revisions.desired_spec.runtime.gpu
    kind = desired_gpu.resource_name if desired_gpu is not None else None

    def room(served: ModelDeploymentSpec | None) -> GpuRoom | None:
        # free_gpus counts the desired revision's kind; a track of another has no room.
        found = room_for(served, s.free_gpus)
        return found if found is not None and found.resource == kind else None

    return scale(
        spec.autoscaling,
        rollout,
        s.live_replicas("stable"),
        s.live_replicas("canary"),
        room(stable_spec),
        room(canary_spec),
    )


@dataclass(frozen=True)
class _Tracks:
    """Each track as it will be once this plan's applies are done."""

    stable: DeploymentState
    canary: DeploymentState | None


def _render(
    s: Snapshot,
    spec: ModelDeploymentSpec,
    revisions: Revisions,
    rollout: RolloutPlan,
    scaling: Scaling | None,
) -> tuple[list[Obj], _Tracks]:
    """The objects that carry the rollout's result, with their applied hashes."""
    specs = revisions.specs()
    surge = rollout.canary is None or rollout.canary.capacity != "swap"

    def track(name: Track, revision: RevisionRef, replicas: int) -> Obj:
        served = specs[revision.name]
        return with_applied_hash(
            runtime_deployment(s.owner, served, revision.name, name, replicas, surge=surge)
        )

    # A stable revision without a stored spec is left running as it is (Keep, in decide).
    known = rollout.stable_revision.name in specs
    stable = track("stable", rollout.stable_revision, rollout.stable_replicas) if known else None
    # Written in this order: the weights before the canary's pods. Taking traffic away
    # must reach the route before the pods that serve it go (an abort); giving traffic
    # needs no such care, as a weight is only raised once the canary's pods are ready.
    objects = [*([stable] if stable else []), with_applied_hash(runtime_service(s.owner, spec))]
    if s.routes_served:
        routed = router_for(spec).objects(s.owner, spec, rollout.weight)
        objects += [with_applied_hash(o) for o in routed]
    canary = None
    if rollout.canary_revision is not None:
        canary = track("canary", rollout.canary_revision, rollout.canary_replicas)
        objects.append(canary)
    # Each HPA after its Deployment: it scales what exists.
    bounds: tuple[tuple[Track, Bounds | None], ...] = (
        (("stable", scaling.stable), ("canary", scaling.canary)) if scaling else ()
    )
    for name, bound in bounds:
        if bound is not None:
            hpa = horizontal_pod_autoscaler(
                s.owner, spec, name, bound.min_replicas, bound.max_replicas
            )
            objects.append(with_applied_hash(hpa))
    observed_stable = s.track("stable")
    tracks = _Tracks(
        projected(observed_stable, stable)
        if stable is not None
        else DeploymentState.from_object(observed_stable or {"metadata": {}}),
        projected(s.track("canary"), canary) if canary is not None else None,
    )
    return objects, tracks


def _named(spec: ModelDeploymentSpec, revision: RevisionRef) -> ModelDeploymentSpec:
    """``spec`` naming ``revision``'s version: for a stable revision whose spec is gone."""
    model = spec.model.model_copy(update={"version": revision.model_version})
    return spec.model_copy(update={"model": model})


def _repaired(
    s: Snapshot, revisions: Revisions, rollout: RolloutPlan, tracks: _Tracks
) -> str | None:
    """A repair of status made now, or one made earlier until the rollout it caused has
    settled (no canary, stable rolled out): Degraded says so meanwhile."""
    unreadable = sorted(set(s.status_repaired))
    now_repaired = [
        f"status {', '.join(unreadable)} could not be read" if unreadable else "",
        revisions.repaired or "",
        rollout.repaired or "",
    ]
    if any(now_repaired):
        return "; ".join(r for r in now_repaired if r)
    settled = rollout.canary is None and tracks.stable.rolled_out
    return None if settled else s.previous.repaired


def _serving(
    s: Snapshot,
    spec: ModelDeploymentSpec,
    revisions: Revisions,
    rollout: RolloutPlan,
    tracks: _Tracks,
    now: datetime,
    repaired: str | None,
) -> StatusPlan:
    stable_served = revisions.specs().get(rollout.stable_revision.name) or _named(
        spec, rollout.stable_revision
    )
    settled = tracks.stable.rolled_out and (tracks.canary is None or tracks.canary.rolled_out)
    # A re-derived stable revision is the one status goes on from, in history too.
    previous = s.previous
    if revisions.derived and revisions.stable is not None:
        history = previous.history
        if not any(h.revision == revisions.stable.name for h in history):
            limit = spec.revision_history_limit
            history = record_history(history, revisions.stable, "RolledOut", now, limit)
        previous = previous.model_copy(
            update={"stable_revision": revisions.stable, "history": history}
        )
    return assess_serving(
        s.target.generation,
        stable_served,
        rollout.stable_revision,
        tracks.stable,
        () if settled else s.pods,
        previous,
        now,
        rollout,
        tracks.canary,
        repaired,
    )


def _with_actual_weight(status: ModelDeploymentStatus, s: Snapshot, tracks: _Tracks) -> Any:
    """status.canary with the weight as observed: the HTTPRoute's canary weight
    (Gateway API), else the canary's share of available pods (replica ratio)."""
    canary = status.canary
    if canary is None:
        return None
    actual = route_weight(s.children, s.owner)
    if actual is None and canary.weight_approximate:
        ready_canary = tracks.canary.available_replicas if tracks.canary else 0
        total = tracks.stable.available_replicas + ready_canary
        actual = round(100 * ready_canary / total) if total else 0
    return canary.model_copy(update={"actual_weight": actual})


def _drift(
    s: Snapshot, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> tuple[ModelDeploymentStatus, list[Event], float | None]:
    """A due drift window of the stable track, folded into status and Drifted."""
    if spec.drift is None:
        return with_drift(status, None, s.target.generation, now), [], None
    due = window_due(spec.drift, s.previous.drift, now)
    if not due.due or s.drift is None:
        # Due but unread: observe acted on a new spec first; the window is read next.
        next_in = UNREAD_WINDOW_RETRY if due.due else due.next_in
        return with_drift(status, s.previous.drift, s.target.generation, now), [], next_in
    result = assess_reading(s.drift, spec.drift.method, spec.drift.threshold)
    drift, events = record(spec.drift, s.previous.drift, result, now)
    return with_drift(status, drift, s.target.generation, now), events, due.next_in


@dataclass(frozen=True)
class _RetrainingOutcome:
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def _retraining(
    s: Snapshot, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> tuple[ModelDeploymentStatus, list[Action], _RetrainingOutcome]:
    spec_revision = revision_ref(spec).name
    previous = s.previous.retraining
    if s.jobs is None or not watching_jobs(spec, status.drift, previous):
        kept = keep_retraining(previous, spec_revision)
        return status.model_copy(update={"retraining": kept}), [], _RetrainingOutcome()
    plan = decide_retraining(
        s.owner.name, spec_revision, spec, status.drift, previous, list(s.jobs), s.job_results, now
    )
    actions: list[Action] = []
    if plan.create is not None and status.drift is not None:
        env = trigger_env(spec, status.drift, s.owner.namespace)
        actions.append(CreateOnce(retraining_job(s.owner, spec, plan.create, env)))
    for name in plan.delete:
        actions.append(Delete(ObjectRef("batch/v1", "Job", s.owner.namespace, name)))
    outcome = _RetrainingOutcome(plan.events, plan.requeue_after)
    return status.model_copy(update={"retraining": plan.status}), actions, outcome
