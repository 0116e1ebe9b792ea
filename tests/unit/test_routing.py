from modelship.render.labels import Owner
from modelship.routing import router_for
from tests.unit.factories import spec

OWNER = Owner(name="fraud", namespace="ml", uid="u")
GATEWAY = {
    "trafficRouting": {
        "gatewayAPI": {
            "parentRefs": [{"name": "gw", "namespace": "gateway-system"}],
            "hostnames": ["f.example"],
        }
    }
}


def test_replica_ratio_is_the_default_and_writes_nothing() -> None:
    router = router_for(spec())
    assert router.name == "replicaRatio" and not router.exact_weights
    assert router.objects(OWNER, spec(), 30) == []


def test_gateway_route_carries_the_weights() -> None:
    s = spec(rollout=GATEWAY)
    router = router_for(s)
    assert router.exact_weights
    objs = router.objects(OWNER, s, 30)
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert kinds == [
        ("Service", "fraud-stable"),
        ("Service", "fraud-canary"),
        ("HTTPRoute", "fraud"),
    ]
    route = objs[-1]
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [("fraud-stable", 70), ("fraud-canary", 30)]
    assert route["spec"]["parentRefs"] == [{"name": "gw", "namespace": "gateway-system"}]
    assert route["spec"]["hostnames"] == ["f.example"]
    assert objs[1]["spec"]["selector"]["modelship.io/track"] == "canary"
    assert all(o["metadata"]["ownerReferences"][0]["uid"] == "u" for o in objs)
