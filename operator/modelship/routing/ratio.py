"""Replica ratio: no router. The ModelDeployment's Service spans both tracks, so
each track gets requests in proportion to its ready pods; the rollout sizes the
tracks (decisions/replicas.py) and reports the weight as approximate."""

from __future__ import annotations

from modelship.api import ModelDeploymentSpec
from modelship.render.labels import Owner
from modelship.routing import Obj


class ReplicaRatioRouter:
    name = "replicaRatio"
    exact_weights = False
    kinds: tuple[tuple[str, str], ...] = ()

    def objects(self, owner: Owner, spec: ModelDeploymentSpec, weight: int) -> list[Obj]:
        return []  # nothing beyond the shared Service the serving renderer already writes
