"""Gateway API: an HTTPRoute owned by the operator splits requests by weight
between a stable and a canary Service (standard channel, gateway.networking.k8s.io/v1)."""

from __future__ import annotations

from modelship.api import ModelDeploymentSpec
from modelship.api.deployment import GatewayAPIRouting
from modelship.render.labels import Owner, selector, track_labels
from modelship.routing import Obj

HTTPROUTE_API = "gateway.networking.k8s.io/v1"


def track_service_name(owner_name: str, track: str) -> str:
    return f"{owner_name}-{track}"


class GatewayAPIRouter:
    name = "gatewayAPI"
    exact_weights = True
    kinds: tuple[tuple[str, str], ...] = ((HTTPROUTE_API, "HTTPRoute"),)

    def __init__(self, config: GatewayAPIRouting) -> None:
        self.config = config

    def objects(self, owner: Owner, spec: ModelDeploymentSpec, weight: int) -> list[Obj]:
        port = spec.runtime.port
        services: list[Obj] = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": track_service_name(owner.name, track),
                    "namespace": owner.namespace,
                    "labels": track_labels(owner.name, track),
                    "ownerReferences": [owner.reference()],
                },
                "spec": {
                    "selector": track_labels(owner.name, track),
                    "ports": [{"name": "http", "port": port, "targetPort": "http"}],
                },
            }
            for track in ("stable", "canary")
        ]
        parent_refs = [
            ref.model_dump(mode="json", by_alias=True, exclude_none=True)
            for ref in self.config.parent_refs
        ]
        route_spec: Obj = {
            "parentRefs": parent_refs,
            "rules": [
                {
                    "backendRefs": [
                        {
                            "name": track_service_name(owner.name, "stable"),
                            "port": port,
                            "weight": 100 - weight,
                        },
                        {
                            "name": track_service_name(owner.name, "canary"),
                            "port": port,
                            "weight": weight,
                        },
                    ]
                }
            ],
        }
        if self.config.hostnames:
            route_spec["hostnames"] = list(self.config.hostnames)
        route: Obj = {
            "apiVersion": HTTPROUTE_API,
            "kind": "HTTPRoute",
            "metadata": {
                "name": owner.name,
                "namespace": owner.namespace,
                "labels": selector(owner.name),
                "ownerReferences": [owner.reference()],
            },
            "spec": route_spec,
        }
        return [*services, route]
