"""decide(snapshot, now) -> Plan for ModelDeployments, table-driven on snapshots.

Each case names what it expects of the plan field by field, so a failure says which
field is wrong (the action list, a condition's reason, an Event, what is pruned).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelship.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.status import (
    AnalysisStatus,
    HistoryEntry,
    RetiringCanary,
    RetrainedModel,
    RetrainingStatus,
    RevisionRef,
)
from modelship.conditions import rfc3339
from modelship.decisions.children import projected, route_weight
from modelship.decisions.commands import requested
from modelship.decisions.model_deployment import PRUNED, Snapshot, decide
from modelship.kernel.plan import Apply, CreateOnce, ObjectRef, Plan, Target
from modelship.observed import DeploymentState
from modelship.render import with_applied_hash
from modelship.render.controller_revision import controller_revision
from modelship.render.labels import Owner
from modelship.render.serving import runtime_deployment
from modelship.revision_hash import revision_ref
from tests.unit.factories import canary_status, spec

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OWNER = Owner("fraud", "ml", "uid-1")
GATEWAY = {"gatewayAPI": {"parentRefs": [{"name": "gw"}]}}
V1 = spec(replicas=2)
V2 = spec(
    replicas=2,
    model={"name": "fraud-scorer", "version": "2.0.0", "uri": "s3://models/fraud/2.0.0/"},
)


def ref(s: ModelDeploymentSpec, number: int) -> RevisionRef:
    return revision_ref(s).model_copy(update={"number": number})


def stored(*specs: tuple[ModelDeploymentSpec, int]) -> dict[str, dict[str, Any]]:
    return {
        revision_ref(s).name: controller_revision(OWNER, s, revision_ref(s).name, n)
        for s, n in specs
    }


def live_deployment(s: ModelDeploymentSpec, track: str, replicas: int) -> dict[str, Any]:
    """A track's Deployment as the API server reports it, fully rolled out."""
    obj = with_applied_hash(
        runtime_deployment(OWNER, s, revision_ref(s).name, track, replicas)  # type: ignore[arg-type]
    )
    obj["metadata"].update(generation=1, uid=f"{track}-uid")
    obj["metadata"]["ownerReferences"] = [{"uid": OWNER.uid}]
    obj["status"] = {
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    return obj


def child(api_version: str, kind: str, name: str, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": OWNER.namespace, "ownerReferences": [{"uid": OWNER.uid}]}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


def children(*objs: dict[str, Any]) -> dict[ObjectRef, dict[str, Any]]:
    return {ObjectRef.of(o): o for o in objs}


def snapshot(
    s: ModelDeploymentSpec | None = V1,
    status: ModelDeploymentStatus | None = None,
    annotations: dict[str, str] | None = None,
    **fields: Any,
) -> Snapshot:
    previous = status or ModelDeploymentStatus()
    target = Target(
        ObjectRef("modelship.io/v1alpha1", "ModelDeployment", OWNER.namespace, OWNER.name),
        OWNER.uid,
        3,
        previous.model_dump(mode="json", by_alias=True),
    )
    asked = requested(annotations or {}, previous.commands)
    invalid = None if s is not None else "spec.replicas: Input should be greater than 0"
    return Snapshot(target, OWNER, s, invalid, previous, asked, **fields)


_RECORDED = ModelDeploymentStatus(
    stable_revision=ref(V1, 1),
    revision_count=1,
    history=[HistoryEntry(revision=revision_ref(V1).name, number=1, model_version="1.4.0")],
)
SETTLED_V1: dict[str, Any] = {
    "children": children(live_deployment(V1, "stable", 2)),
    "stored": stored((V1, 1)),
}


def _settled() -> ModelDeploymentStatus:
    """1.4.0 rolled out and Ready: the status a reconcile of the settled tracks writes."""
    plan = decide(snapshot(V1, _RECORDED, **SETTLED_V1), NOW)
    assert plan.status is not None
    return ModelDeploymentStatus.model_validate(plan.status)


STABLE_V1 = _settled()


def applied(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [a.obj for a in plan.actions if isinstance(a, Apply) and a.obj["kind"] == kind]


def created(plan: Plan) -> list[str]:
    return [
        f"{a.obj['kind']}/{a.obj['metadata']['name']}"
        for a in plan.actions
        if isinstance(a, CreateOnce)
    ]


def condition(plan: Plan, type_: str) -> tuple[str, str]:
    assert plan.status is not None
    for c in plan.status["conditions"]:
        if c["type"] == type_:
            return c["status"], c["reason"]
    return ("absent", "")


def events(plan: Plan, _: Snapshot | None = None) -> list[str]:
    return [e.reason for e in plan.events]


def pruned(plan: Plan, snap: Snapshot) -> list[str]:
    return [f"{r.kind}/{r.name}" for r in plan.pruned(snap.children)]


@dataclass
class Case:
    name: str
    snap: Snapshot
    # field of the plan -> (how to read it, what it must be)
    want: dict[str, tuple[Callable[[Plan, Snapshot], Any], Any]] = field(default_factory=dict)


def stable_revision_label(plan: Plan, _: Snapshot) -> list[str]:
    return [
        d["metadata"]["labels"]["modelship.io/revision"]
        for d in applied(plan, "Deployment")
        if d["metadata"]["name"].endswith("-stable")
    ]


def deployments(plan: Plan, _: Snapshot) -> list[str]:
    return sorted(d["metadata"]["name"] for d in applied(plan, "Deployment"))


CASES = [
    Case(
        "first deployment stores revision 1 and applies the stable track and Service",
        snapshot(),
        {
            "created": (
                lambda p, s: created(p),
                [f"ControllerRevision/fraud-{revision_ref(V1).name}"],
            ),
            "deployments": (deployments, ["fraud-stable"]),
            "services": (
                lambda p, s: [o["metadata"]["name"] for o in applied(p, "Service")],
                ["fraud"],
            ),
            "status.revisionCount": (lambda p, s: p.status and p.status["revisionCount"], 1),
            "prune kinds": (
                lambda p, s: sorted(k for _, k in p.prune),
                ["Deployment", "HTTPRoute", "HorizontalPodAutoscaler", "Service"],
            ),
        },
    ),
    Case(
        "an invalid spec writes Degraded/InvalidSpec and touches no child",
        snapshot(None),
        {
            "actions": (lambda p, s: p.actions, ()),
            "prune": (lambda p, s: p.prune, frozenset()),
            "Degraded": (lambda p, s: condition(p, "Degraded"), ("True", "InvalidSpec")),
            "Ready": (lambda p, s: condition(p, "Ready"), ("False", "InvalidSpec")),
        },
    ),
    Case(
        "gatewayAPI on a cluster without HTTPRoute: no route rendered, Degraded says why",
        snapshot(spec(rollout={"trafficRouting": GATEWAY}), routes_served=False),
        {
            "routes": (lambda p, s: applied(p, "HTTPRoute"), []),
            "Degraded": (lambda p, s: condition(p, "Degraded"), ("True", "GatewayAPIUnavailable")),
        },
    ),
    Case(
        "gatewayAPI removed: the route and per-track Services are pruned, the Service kept",
        snapshot(
            V1,
            STABLE_V1,
            children=children(
                live_deployment(V1, "stable", 2),
                child("v1", "Service", "fraud"),
                child("v1", "Service", "fraud-stable"),
                child("v1", "Service", "fraud-canary"),
                child("gateway.networking.k8s.io/v1", "HTTPRoute", "fraud"),
            ),
            stored=stored((V1, 1)),
        ),
        {
            "pruned": (
                pruned,
                ["HTTPRoute/fraud", "Service/fraud-canary", "Service/fraud-stable"],
            ),
        },
    ),
    Case(
        "no canary any more: its Deployment keeps its pods for scaleDownDelay",
        snapshot(
            V1,
            STABLE_V1,
            children=children(live_deployment(V1, "stable", 2), live_deployment(V2, "canary", 1)),
            stored=stored((V1, 1)),
        ),
        {
            "deployments": (deployments, ["fraud-stable"]),
            "pruned": (pruned, []),
            "status.retiring": (
                lambda p, s: p.status and p.status["retiring"],
                {"revision": revision_ref(V2).name, "since": rfc3339(NOW)},
            ),
            "requeue": (lambda p, s: p.requeue_after, 30.0),
        },
    ),
    Case(
        "no canary any more and its scaleDownDelay is over: its Deployment is pruned",
        snapshot(
            V1,
            STABLE_V1.model_copy(
                update={
                    "retiring": RetiringCanary(
                        revision=revision_ref(V2).name, since=rfc3339(NOW - timedelta(seconds=30))
                    )
                }
            ),
            children=children(live_deployment(V1, "stable", 2), live_deployment(V2, "canary", 1)),
            stored=stored((V1, 1)),
        ),
        {
            "deployments": (deployments, ["fraud-stable"]),
            "pruned": (pruned, ["Deployment/fraud-canary"]),
            "status.retiring": (lambda p, s: p.status and p.status["retiring"], None),
        },
    ),
    Case(
        "a new version starts a canary next to stable, stored as revision 2",
        snapshot(V2, STABLE_V1, **SETTLED_V1),
        {
            "created": (
                lambda p, s: created(p),
                [f"ControllerRevision/fraud-{revision_ref(V2).name}"],
            ),
            "deployments": (deployments, ["fraud-canary", "fraud-stable"]),
            "stable keeps 1.4.0": (stable_revision_label, [revision_ref(V1).name]),
            "events": (events, ["CanaryStarted"]),
            "status.canary.revision.number": (
                lambda p, s: p.status and p.status["canary"]["revision"]["number"],
                2,
            ),
        },
    ),
    Case(
        "undo to a revision in history serves it (an Event says so)",
        snapshot(
            V2,
            STABLE_V1.model_copy(update={"stable_revision": ref(V2, 2), "revision_count": 2}),
            annotations={"modelship.io/undo": "1"},
            children=children(live_deployment(V2, "stable", 2)),
            stored=stored((V1, 1), (V2, 2)),
        ),
        {
            "events": (lambda p, s: events(p)[:2], ["Undo", "CanaryStarted"]),
            "status.undo.number": (lambda p, s: p.status and p.status["undo"]["number"], 1),
            "canary runs revision 1": (
                lambda p, s: p.status and p.status["canary"]["revision"]["name"],
                revision_ref(V1).name,
            ),
        },
    ),
    Case(
        "undo to a revision not in history changes nothing but says so",
        snapshot(V1, STABLE_V1, annotations={"modelship.io/undo": "7"}, **SETTLED_V1),
        {
            "events": (events, ["UndoFailed"]),
            "status.undo": (lambda p, s: p.status and p.status["undo"], None),
            "status.commands.undo": (lambda p, s: p.status and p.status["commands"]["undo"], "7"),
        },
    ),
    Case(
        "an autoDeployed retrained model is the desired revision while the spec stands",
        snapshot(
            V1,
            STABLE_V1.model_copy(
                update={
                    "retraining": RetrainingStatus(
                        count=1,
                        deployed=RetrainedModel(
                            job="fraud-retrain-1",
                            model_version="1.5.0",
                            model_uri="s3://models/fraud/1.5.0/",
                            spec_revision=revision_ref(V1).name,
                        ),
                    )
                }
            ),
            **SETTLED_V1,
        ),
        {
            "canary model": (
                lambda p, s: p.status and p.status["canary"]["revision"]["modelVersion"],
                "1.5.0",
            ),
        },
    ),
    Case(
        "a stable revision with no stored spec: deploy the spec's, and warn",
        snapshot(V2, STABLE_V1, children=SETTLED_V1["children"]),
        {
            "events": (lambda p, s: events(p)[:1], ["StableRevisionMissing"]),
            "stable runs the spec's revision": (stable_revision_label, [revision_ref(V2).name]),
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    plan = decide(case.snap, NOW)
    for name, (read, want) in case.want.items():
        got = read(plan, case.snap)
        assert got == want, f"{name}: got {got!r}, want {want!r}"


def test_decide_is_pure_and_repeatable() -> None:
    snap = snapshot(V2, STABLE_V1, **SETTLED_V1)
    assert decide(snap, NOW) == decide(snap, NOW)


def test_a_track_about_to_change_is_projected_as_not_yet_observed() -> None:
    live = live_deployment(V1, "stable", 2)
    same = with_applied_hash(runtime_deployment(OWNER, V1, revision_ref(V1).name, "stable", 2))
    assert projected(live, same) == DeploymentState.from_object(live), "unchanged: as observed"
    scaled = with_applied_hash(runtime_deployment(OWNER, V1, revision_ref(V1).name, "stable", 3))
    after = projected(live, scaled)
    assert (after.generation, after.observed_generation, after.desired_replicas) == (2, 1, 3)
    assert not after.rolled_out, "a change is not rolled out until its controller says so"
    new = projected(None, scaled)
    assert (new.generation, new.available_replicas, new.revision) == (
        1,
        0,
        revision_ref(V1).name,
    )


def test_route_weight_read_back() -> None:
    route = child(
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        "fraud",
        spec={
            "rules": [
                {
                    "backendRefs": [
                        {"name": "fraud-stable", "weight": 75},
                        {"name": "fraud-canary", "weight": 25},
                    ]
                }
            ]
        },
    )
    assert route_weight(children(route), OWNER) == 25
    assert route_weight({}, OWNER) is None


def test_analysis_without_canary_data_early_looks_again_in_a_second() -> None:
    from modelship.analysis.checks import Observed

    analysed = spec(
        replicas=2,
        model=V2.model.model_dump(by_alias=True),
        analysis={"interval": "30s", "checks": [{"name": "p99", "latency": {"max": "250ms"}}]},
    )
    since = NOW - timedelta(seconds=31)
    canary = canary_status(ref(analysed, 2), since, weight=0)
    status = STABLE_V1.model_copy(update={"canary": canary})
    snap = snapshot(
        analysed,
        status,
        children=children(live_deployment(V1, "stable", 2)),
        stored=stored((V1, 1), (analysed, 2)),
        analysis=Observed(),
    )
    window = AnalysisStatus(revision=canary.revision.name, since=rfc3339(since))
    snap = replace(
        snap,
        previous=snap.previous.model_copy(
            update={"canary": canary.model_copy(update={"weight": 50}), "analysis": window}
        ),
    )
    plan = decide(snap, NOW)
    assert plan.status is not None
    assert plan.status["analysis"]["rounds"] == 0, "no round recorded without data"
    assert plan.requeue_after == 1.0, "looks again in NO_DATA_RETRY seconds"


@pytest.mark.parametrize("how", ["another revision", "a retry of the same revision"])
def test_a_new_canary_never_inherits_an_earlier_canarys_failed_rounds(how: str) -> None:
    """v3 failed analysis and was aborted; v4 (or v3 retried) must start from zero, not be
    aborted at once on v3's rounds (issue: 'A new canary inherits the previous verdict')."""
    checks = {"interval": "30s", "checks": [{"name": "errors", "errorRate": {"max": 0.01}}]}
    analysed = spec(replicas=2, model=V2.model.model_dump(by_alias=True), analysis=checks)
    failed_at = NOW - timedelta(minutes=5)
    earlier = "v3-revision" if how == "another revision" else revision_ref(analysed).name
    old_rounds = AnalysisStatus(
        revision=earlier,
        since=rfc3339(failed_at),
        rounds=1,
        failures=1,
        verdict="Fail",
        message="errors: error rate 33.48% (22 of 66 requests)",
        last_round_at=rfc3339(failed_at),
    )
    started = NOW - timedelta(seconds=5)  # the new canary, still at weight 0
    canary = canary_status(ref(analysed, 2), started, weight=0)
    status = STABLE_V1.model_copy(update={"canary": canary, "analysis": old_rounds})
    snap = snapshot(
        analysed,
        status,
        children=children(live_deployment(V1, "stable", 2)),
        stored=stored((V1, 1), (analysed, 2)),
    )
    plan = decide(snap, NOW)
    assert plan.status is not None
    assert plan.status["canary"]["phase"] != "Aborted", plan.status["canary"]["message"]
    assert "AnalysisFailed" not in events(plan)
    fresh = plan.status["analysis"]
    assert fresh is None or (
        fresh["revision"] == revision_ref(analysed).name
        and (fresh["rounds"], fresh["failures"]) == (0, 0)
    ), f"the earlier rounds are not this canary's: {fresh}"


def test_a_hand_edited_route_or_replica_count_is_applied_again() -> None:
    """The applied hash on a child says what we applied, not what it is now: a route set
    to 0/100 by hand, or a Deployment scaled by hand, is restored (issue 15, defect 4)."""
    base = snapshot(spec(replicas=2, rollout={"trafficRouting": GATEWAY}), STABLE_V1)
    first = decide(replace(base, children=SETTLED_V1["children"], stored=stored((V1, 1))), NOW)
    route = next(
        a.obj for a in first.actions if isinstance(a, Apply) and a.obj["kind"] == "HTTPRoute"
    )
    live_route = {
        **route,
        "metadata": {**route["metadata"], "ownerReferences": [{"uid": OWNER.uid}]},
    }
    stable = SETTLED_V1["children"]
    kept = replace(base, children={**stable, **children(live_route)}, stored=stored((V1, 1)))
    assert not [a for a in decide(kept, NOW).actions if isinstance(a, Apply) and a.drifted]

    edited = {
        **live_route,
        "spec": {
            "rules": [
                {
                    "backendRefs": [
                        {"name": "fraud-stable", "weight": 0},
                        {"name": "fraud-canary", "weight": 100},
                    ]
                }
            ]
        },
    }
    scaled = live_deployment(V1, "stable", 2)
    scaled["spec"]["replicas"] = 5
    drifted_snap = replace(kept, children={**children(scaled), **children(edited)})
    restored = sorted(
        a.obj["kind"]
        for a in decide(drifted_snap, NOW).actions
        if isinstance(a, Apply) and a.drifted
    )
    assert restored == ["Deployment", "HTTPRoute"]


def test_the_route_is_written_before_the_canary_deployment() -> None:
    """On abort the canary's weight must reach the route before its pods go (issue 15,
    defect 2); the plan's actions run in order."""
    gateway = spec(replicas=2, rollout={"trafficRouting": GATEWAY})
    v2 = gateway.model_copy(update={"model": V2.model})
    canary = canary_status(ref(v2, 2), NOW, weight=50, canary_replicas=1, step=1)
    status = STABLE_V1.model_copy(update={"canary": canary})
    snap = snapshot(
        v2,
        status,
        annotations={"modelship.io/abort": "1"},
        children=children(live_deployment(V1, "stable", 2), live_deployment(v2, "canary", 1)),
        stored=stored((V1, 1), (v2, 2)),
    )
    plan = decide(snap, NOW)
    kinds = [
        f"{a.obj['kind']}/{a.obj['metadata']['name']}" for a in plan.actions if isinstance(a, Apply)
    ]
    assert kinds.index("HTTPRoute/fraud") < kinds.index("Deployment/fraud-canary"), kinds
    route = next(
        a.obj for a in plan.actions if isinstance(a, Apply) and a.obj["kind"] == "HTTPRoute"
    )
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [100, 0]


def test_every_kind_a_plan_writes_or_prunes_is_one_the_client_can_address() -> None:
    from modelship.kube.client import _KINDS

    assert set(_KINDS) >= PRUNED, PRUNED - set(_KINDS)


def test_a_due_drift_window_left_unread_is_read_a_second_later_and_keeps_its_status() -> None:
    # observe leaves a due window unread while it acts on a new spec (a first deploy
    # here): the plan keeps the drift status as it was and looks again in 1 s, not after a
    # whole drift interval.
    drifting = spec(
        replicas=2,
        drift={"reference": {"configMapRef": {"name": "ref", "key": "ref.json"}}, "interval": "5m"},
    )
    plan = decide(snapshot(drifting), NOW)
    assert plan.status is not None and plan.status.get("drift") is None
    assert plan.requeue_after == 1.0
