"""Replica arithmetic of a canary: how many pods per track for a traffic weight.

Pure functions, in the manner of Argo Rollouts' replica calculations.

- Exact routers (Gateway API) split traffic by weight, so the canary needs only
  enough pods for its share: ``ceil(R * w / 100)``, at least one.
- Replica ratio has no router: one Service spreads requests over every ready pod,
  so the canary's share *is* its share of pods. With ``surge`` the stable keeps R
  pods and the canary gets ``round(R * w / (100 - w))``; with ``swap`` the R pods
  are divided, canary ``round(R * w / 100)``. Either way the realised weight is
  ``c / (s + c)``, reported as approximate.
- ``swap`` keeps the total at R (the GPU count never exceeds the stable's). With
  R = 1 there is no room for both tracks: the canary replaces the only stable pod
  and takes all traffic, which the realised weight says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from modelship.decisions.gpu_capacity import GpuFree

CapacityMode = Literal["surge", "swap"]


@dataclass(frozen=True)
class Split:
    stable: int
    canary: int
    weight: int  # realised traffic weight to the canary, percent

    @property
    def total(self) -> int:
        return self.stable + self.canary


def split(replicas: int, weight: int, mode: CapacityMode, exact: bool) -> Split:
    """Pods per track for ``weight`` percent of traffic on the canary."""
    if replicas <= 0:
        return Split(0, 0, 0)
    w = max(0, min(100, weight))
    if mode == "surge":
        if exact:
            canary = max(1, math.ceil(replicas * w / 100))
        else:
            canary = replicas if w >= 100 else max(1, round(replicas * w / (100 - w)))
        stable = replicas
    else:
        share = math.ceil(replicas * w / 100) if exact else round(replicas * w / 100)
        canary = replicas if w >= 100 else min(max(1, share), replicas)
        stable = replicas - canary
    if stable == 0:
        realised = 100  # nothing left on stable: every request reaches the canary
    elif exact:
        realised = w
    else:
        realised = round(100 * canary / (stable + canary))
    return Split(stable, canary, realised)


@dataclass(frozen=True)
class GpuNeed:
    """GPUs a canary needs, against what the cluster has free (same resource and product)."""

    resource: str
    per_canary_pod: int
    per_stable_pod: int  # of the same resource; 0 if the stable uses none
    free: GpuFree


@dataclass(frozen=True)
class CapacityChoice:
    mode: CapacityMode
    fits: bool
    message: str


def _pods(n: int) -> str:
    return f"{n} pod" if n == 1 else f"{n} pods"


def choose_capacity(
    requested: Literal["surge", "swap", "auto"], canary_pods: int, gpu: GpuNeed | None
) -> CapacityChoice:
    """Resolve ``spec.rollout.capacity`` for a canary of ``canary_pods`` pods at its peak.

    A pod takes all its GPUs from one node, so what must fit is pods, not a GPU sum.
    surge needs room for ``canary_pods`` pods of ``per_canary_pod`` GPUs. swap frees one
    stable pod per canary pod, so a canary pod no larger than a stable one always fits
    where its stable pod was; a larger one needs the difference free on a node besides
    (which assumes the stable pod it replaces was there: the ReplicaSet controller, not
    us, picks which stable pod goes). ``auto`` surges when that fits and swaps otherwise.
    """
    if gpu is None or gpu.per_canary_pod == 0:
        return CapacityChoice("swap" if requested == "swap" else "surge", True, "")
    extra = max(0, gpu.per_canary_pod - gpu.per_stable_pod)
    surge_room = gpu.free.pods(gpu.per_canary_pod)
    swap_room = canary_pods if extra == 0 else gpu.free.pods(extra)
    surge_fits, swap_fits = surge_room >= canary_pods, swap_room >= canary_pods
    surge_text = (
        f"surge needs {_pods(canary_pods)} of {gpu.per_canary_pod} {gpu.resource}, "
        f"room for {surge_room}"
    )
    swap_text = (
        f"swap needs {_pods(canary_pods)} of {extra} more {gpu.resource} than the stable's, "
        f"room for {swap_room}"
    )
    if requested == "surge" or (requested == "auto" and surge_fits):
        why = gpu.free.why_short(gpu.per_canary_pod, gpu.resource)
        return CapacityChoice("surge", surge_fits, "" if surge_fits else f"{surge_text}: {why}")
    if swap_fits:
        return CapacityChoice("swap", True, "")
    if requested == "auto":
        why = gpu.free.why_short(gpu.per_canary_pod, gpu.resource)
        return CapacityChoice("swap", False, f"{surge_text}; {swap_text}: {why}")
    why = gpu.free.why_short(extra, gpu.resource)
    return CapacityChoice("swap", False, f"{swap_text}: {why}")
