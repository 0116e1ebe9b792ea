"""What the decision reads off the children it renders (pure): how a track will look
once this plan's apply is done, whether someone edited a child by hand, and the
canary's weight as the HTTPRoute has it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from modelship.kernel.plan import ObjectRef
from modelship.observed import DeploymentState
from modelship.render.labels import APPLIED_HASH, Owner

Obj = dict[str, Any]


def projected(observed: Obj | None, rendered: Obj) -> DeploymentState:
    """A track as the API server will answer this plan's apply: unchanged, as observed;
    changed (or new), at a generation its controller has not seen yet."""
    if observed is not None and _hash(observed) == _hash(rendered):
        return DeploymentState.from_object(observed)
    state = DeploymentState.from_object(observed or {"metadata": {"generation": 0}})
    after = DeploymentState.from_object(rendered)
    return replace(
        state,
        generation=state.generation + 1,
        desired_replicas=after.desired_replicas,
        revision=after.revision,
    )


def drifted(observed: Obj | None, rendered: Obj) -> bool:
    """The live object differs from what we rendered in a field we can see (the watch
    cache keeps a Deployment's replicas and an HTTPRoute's backend weights): edited by
    hand, so it must be applied again although it carries our applied hash."""
    if observed is None or _hash(observed) != _hash(rendered):
        return False  # absent or not ours as rendered: applied anyway
    if rendered["kind"] == "Deployment":
        live = (observed.get("spec") or {}).get("replicas")
        return live is not None and live != rendered["spec"]["replicas"]
    if rendered["kind"] == "HTTPRoute":
        return _backend_weights(observed) != _backend_weights(rendered)
    return False


def _backend_weights(route: Obj) -> list[list[tuple[str, int]]]:
    return [
        [(str(b.get("name")), int(b.get("weight", 1))) for b in rule.get("backendRefs") or []]
        for rule in (route.get("spec") or {}).get("rules") or []
    ]


def _hash(obj: Obj) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(APPLIED_HASH)
    return str(value) if value is not None else None


def route_weight(children: Mapping[ObjectRef, Obj], owner: Owner) -> int | None:
    """The canary's percent of the observed HTTPRoute's backend weights, if there is one."""
    ref = ObjectRef("gateway.networking.k8s.io/v1", "HTTPRoute", owner.namespace, owner.name)
    route = children.get(ref)
    if route is None:
        return None
    weights = {"stable": 0, "canary": 0}
    for rule in (route.get("spec") or {}).get("rules") or []:
        for backend in rule.get("backendRefs") or []:
            track = str(backend.get("name", "")).removeprefix(f"{owner.name}-")
            if track in weights:
                weights[track] += int(backend.get("weight", 1))
    total = weights["stable"] + weights["canary"]
    return round(100 * weights["canary"] / total) if total else None
