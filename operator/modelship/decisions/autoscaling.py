"""How autoscaled tracks are sized: the HPA bounds per track and the replicas we write (pure).

The stable track's HPA scales it on its own pods' load. The rollout's arithmetic
(decisions/replicas.py) then works from ``base``: the pods that serve all traffic now,
which is what that HPA last set (plus the canary's pods under ``swap``, which keeps the
total). During a canary:

- ``surge``: the stable HPA's minReplicas is raised to the stable's count, so the stable
  does not shrink while traffic moves away from it: an abort puts every request back on
  it and it must have the pods (Argo Rollouts keeps the stable at full scale the same way).
  The canary's HPA starts at its weight's share of ``base`` (minReplicas) and may grow
  on the canary's own load up to the ceiling.
- ``swap``: both HPAs are pinned (min = max) to the split, as GPUs allow no more.

We write each Deployment's replicas too, clamped to the bounds we set: the HPA's count
when it is inside them (so we never fight it), the bound at once when it is not (no wait
for the HPA's next sync). A track never goes above the GPUs that fit: its live pods plus
the free GPUs of its kind over its GPUs per pod; ``limited`` says so. Both tracks are
measured against the same free GPUs, so two tracks scaling at once may leave a pod
Pending, which the InsufficientGPU condition reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelship.api import ModelDeploymentSpec
from modelship.api.autoscaling import Autoscaling
from modelship.api.status import AutoscalingStatus, TrackScaling
from modelship.conditions import Reason
from modelship.decisions.gpu_capacity import GpuFree
from modelship.decisions.rollout_types import RolloutPlan
from modelship.kernel.plan import Event


@dataclass(frozen=True)
class GpuRoom:
    """Free GPUs of a track's kind and how many each of its pods takes."""

    resource: str
    per_pod: int
    free: GpuFree


@dataclass(frozen=True)
class Bounds:
    min_replicas: int
    max_replicas: int

    def clamp(self, count: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, count))


@dataclass(frozen=True)
class HpaReport:
    """What a track's HPA reports in its status."""

    current: int | None
    desired: int | None


@dataclass(frozen=True)
class Scaling:
    stable_replicas: int
    canary_replicas: int
    stable: Bounds | None  # None: no HPA on the track
    canary: Bounds | None
    limited: str = ""


def ceiling(auto: Autoscaling, live: int, room: GpuRoom | None) -> tuple[int, str]:
    """The most pods a track may have, and why it is below maxReplicas if it is."""
    if room is None or room.per_pod <= 0:
        return auto.max_replicas, ""
    fit = live + room.free.pods(room.per_pod)
    if fit >= auto.max_replicas:
        return auto.max_replicas, ""
    # At least one pod: a track with none would have no HPA; Pending shows why.
    top = max(1, fit)
    why = (
        f"{top} replicas at most (maxReplicas {auto.max_replicas}): {live} running, "
        f"{room.per_pod} {room.resource} per pod, "
        f"{room.free.why_short(room.per_pod, room.resource)}"
    )
    return top, why


def base_replicas(
    auto: Autoscaling,
    replicas: int,
    stable_live: int | None,
    canary_live: int | None,
    swap: bool,
    room: GpuRoom | None,
) -> int:
    """The pods that serve all traffic now: the spec's count before the first scale,
    then what the stable HPA set (with the canary's pods under swap, which shares them)."""
    shared = (canary_live or 0) if swap else 0
    live = replicas if stable_live is None else stable_live + shared
    top, _ = ceiling(auto, stable_live or 0, room)
    return max(auto.min_replicas, min(top, live)) if top >= auto.min_replicas else top


def scale(
    auto: Autoscaling,
    rollout: RolloutPlan,
    stable_live: int | None,
    canary_live: int | None,
    stable_room: GpuRoom | None,
    canary_room: GpuRoom | None,
) -> Scaling:
    """Bounds per track and the replicas to write, from the rollout's split of ``base``."""
    canary = rollout.canary
    swap = canary is not None and canary.capacity == "swap"
    running = (
        canary is not None
        and canary.phase != "Aborted"
        and rollout.canary_revision is not None
        and rollout.canary_replicas > 0
    )
    stable_top, stable_why = ceiling(auto, stable_live or 0, stable_room)
    notes = [f"stable: {stable_why}"] if stable_why else []

    stable_bounds: Bounds | None = None
    if rollout.stable_replicas > 0:
        if running and swap:
            stable_bounds = Bounds(rollout.stable_replicas, rollout.stable_replicas)
        elif running:
            floor = min(stable_top, max(auto.min_replicas, rollout.stable_replicas))
            stable_bounds = Bounds(floor, stable_top)
        else:
            stable_bounds = Bounds(min(auto.min_replicas, stable_top), stable_top)
    stable_replicas = (
        stable_bounds.clamp(stable_live if stable_live is not None else rollout.stable_replicas)
        if stable_bounds is not None
        else rollout.stable_replicas
    )

    canary_bounds: Bounds | None = None
    canary_replicas = rollout.canary_replicas
    if running:
        canary_top, canary_why = ceiling(auto, canary_live or 0, canary_room)
        if canary_why:
            notes.append(f"canary: {canary_why}")
        share = rollout.canary_replicas
        canary_bounds = Bounds(share, share) if swap else Bounds(share, max(share, canary_top))
        canary_replicas = canary_bounds.clamp(canary_live if canary_live is not None else share)
    return Scaling(stable_replicas, canary_replicas, stable_bounds, canary_bounds, "; ".join(notes))


def scaling_status(
    scaling: Scaling, stable: HpaReport | None, canary: HpaReport | None
) -> AutoscalingStatus:
    def track(bounds: Bounds | None, report: HpaReport | None) -> TrackScaling | None:
        if bounds is None:
            return None
        return TrackScaling(
            min_replicas=bounds.min_replicas,
            max_replicas=bounds.max_replicas,
            current_replicas=report.current if report else None,
            desired_replicas=report.desired if report else None,
        )

    return AutoscalingStatus(
        stable=track(scaling.stable, stable),
        canary=track(scaling.canary, canary),
        limited=scaling.limited,
    )


def room_for(spec: ModelDeploymentSpec | None, free: GpuFree | None) -> GpuRoom | None:
    """GPUs a track's pods take and the free ones of that kind (same kind as observed)."""
    gpu = spec.runtime.gpu if spec is not None else None
    if gpu is None or gpu.count == 0 or free is None:
        return None
    return GpuRoom(gpu.resource_name, gpu.count, free)


def limited_events(previous: AutoscalingStatus | None, scaling: Scaling | None) -> list[Event]:
    """One Event when a GPU limit starts to hold the HPA below maxReplicas, or changes."""
    if scaling is None or not scaling.limited:
        return []
    before = previous.limited if previous else ""
    if before == scaling.limited:
        return []
    return [Event("Warning", Reason.AUTOSCALING_LIMITED, f"autoscaling: {scaling.limited}")]
