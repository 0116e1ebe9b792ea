"""Traffic routers: how the canary's weight reaches requests.

A router is pure: it renders the objects that carry the weight; the executor
applies them and deletes what a router no longer renders (switching routers, or
removing gatewayAPI, leaves nothing behind). ``exact_weights`` says whether the
weight is honoured exactly (a router splits requests) or only approximated by pod
counts; ``kinds`` are the API kinds it writes besides Services.
"""

from __future__ import annotations

from typing import Any, Protocol

from modelship.api import ModelDeploymentSpec
from modelship.render.labels import Owner

Obj = dict[str, Any]


class TrafficRouter(Protocol):
    name: str
    exact_weights: bool
    kinds: tuple[tuple[str, str], ...]  # (apiVersion, kind) of what it writes beyond Services

    def objects(self, owner: Owner, spec: ModelDeploymentSpec, weight: int) -> list[Obj]:
        """Objects that send ``weight`` percent of requests to the canary."""
        ...


def router_for(spec: ModelDeploymentSpec) -> TrafficRouter:
    """Gateway API when spec.rollout.trafficRouting.gatewayAPI is set, else replica ratio."""
    from modelship.routing.gateway import GatewayAPIRouter
    from modelship.routing.ratio import ReplicaRatioRouter

    routing = spec.rollout.traffic_routing
    if routing is not None and routing.gateway_api is not None:
        return GatewayAPIRouter(routing.gateway_api)
    return ReplicaRatioRouter()
