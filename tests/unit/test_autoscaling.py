"""spec.autoscaling: the bounds per track, the replicas we write, the HPAs rendered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelship.api.autoscaling import Autoscaling
from modelship.api.status import HistoryEntry, RevisionRef
from modelship.decisions.autoscaling import Bounds, GpuRoom, base_replicas, ceiling, scale
from modelship.decisions.gpu_capacity import GpuFree
from modelship.decisions.model_deployment import decide
from modelship.decisions.rollout_types import RolloutPlan
from modelship.kernel.plan import Apply, Plan
from modelship.render.autoscaling import horizontal_pod_autoscaler
from modelship.revision_hash import revision_ref
from tests.unit.factories import canary_status, spec
from tests.unit.test_model_deployment_decision import (
    GATEWAY,
    OWNER,
    children,
    live_deployment,
    snapshot,
    stored,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
AUTO = {"minReplicas": 1, "maxReplicas": 8, "metrics": [{"inFlightRequests": {"averageValue": 2}}]}
REV = RevisionRef(name="abc", model_version="2.0.0")
STABLE = RevisionRef(name="def", model_version="1.0.0")


def auto(**overrides: Any) -> Autoscaling:
    return Autoscaling.model_validate({**AUTO, **overrides})


def plan(stable: int, canary: int, capacity: str = "surge", phase: str = "Progressing") -> Any:
    status = canary_status(REV, NOW, phase=phase, weight=50, capacity=capacity)
    return RolloutPlan(STABLE, stable, REV, canary, 50, status)


def test_without_a_canary_the_stable_scales_between_the_specs_bounds() -> None:
    got = scale(auto(), RolloutPlan(STABLE, 3, None, 0, 0, None), 5, None, None, None)
    assert (got.stable, got.canary) == (Bounds(1, 8), None)
    assert got.stable_replicas == 5  # the HPA's count, not ours


def test_a_surge_canary_keeps_the_stable_from_shrinking_and_starts_at_its_share() -> None:
    # base 4 at 50 %: decide_rollout gave stable 4, canary 2.
    got = scale(auto(), plan(4, 2), 4, None, None, None)
    assert got.stable == Bounds(4, 8)  # an abort puts all traffic back: keep the pods
    assert got.canary == Bounds(2, 8)  # may grow on its own load
    assert (got.stable_replicas, got.canary_replicas) == (4, 2)
    # The canary's HPA scaled it to 3: we keep what it set.
    assert scale(auto(), plan(4, 2), 4, 3, None, None).canary_replicas == 3


def test_a_swap_canary_pins_both_tracks_to_the_split() -> None:
    got = scale(auto(), plan(2, 2, "swap"), 4, 0, None, None)
    assert (got.stable, got.canary) == (Bounds(2, 2), Bounds(2, 2))
    assert (got.stable_replicas, got.canary_replicas) == (2, 2)  # shrunk at once


def test_an_aborted_canary_has_no_hpa_and_scales_to_what_the_rollout_says() -> None:
    got = scale(auto(), plan(4, 0, phase="Aborted"), 4, 2, None, None)
    assert got.canary is None and got.canary_replicas == 0
    assert got.stable == Bounds(1, 8)


def test_gpus_cap_the_ceiling_and_say_why() -> None:
    room = GpuRoom("nvidia.com/gpu", 4, free=GpuFree.of([6]))
    top, why = ceiling(auto(), 2, room)
    assert top == 3  # 2 running + 6 // 4
    assert "nvidia.com/gpu" in why and "maxReplicas 8" in why
    assert ceiling(auto(), 2, GpuRoom("nvidia.com/gpu", 1, GpuFree.of([100]))) == (8, "")
    got = scale(auto(), RolloutPlan(STABLE, 2, None, 0, 0, None), 2, None, room, None)
    assert got.stable == Bounds(1, 3) and got.limited.startswith("stable: 3 replicas")


def test_the_ceiling_counts_pods_that_fit_on_a_node_not_gpus() -> None:
    """6 GPUs free as 3 + 3 take no 4-GPU pod: the HPA stays at what runs."""
    room = GpuRoom("nvidia.com/gpu", 4, free=GpuFree.of([3, 3]))
    top, why = ceiling(auto(), 2, room)
    assert top == 2
    assert why.endswith("6 nvidia.com/gpu free, but no node has 4 free for one pod"), why


def test_base_is_the_stable_hpas_count_and_under_swap_the_canarys_too() -> None:
    a = auto(minReplicas=2)
    assert base_replicas(a, 1, None, None, False, None) == 2  # before the first scale
    assert base_replicas(a, 3, 5, 2, False, None) == 5
    assert base_replicas(a, 3, 2, 2, True, None) == 4
    assert base_replicas(a, 3, 20, None, False, None) == 8


def test_the_crd_rules_the_pydantic_model_shares() -> None:
    with pytest.raises(ValidationError):
        Autoscaling.model_validate({**AUTO, "metrics": []})
    with pytest.raises(ValidationError):
        Autoscaling.model_validate({**AUTO, "maxReplicas": 0})


def hpa(s: ModelDeploymentSpec) -> dict[str, Any]:
    return horizontal_pod_autoscaler(OWNER, s, "stable", 1, 4)


def test_signals_render_as_the_presets_metric_names() -> None:
    metrics = [
        {"cpu": {"averageUtilization": 70}},
        {"inFlightRequests": {"averageValue": 4}},
        {"queueLength": {"averageValue": "10"}},
        {"kvCacheUsage": {"averageUtilization": 80}},
        {"pods": {"name": "DCGM_FI_DEV_GPU_UTIL", "averageValue": 80}},
    ]
    s = spec(
        autoscaling={**AUTO, "metrics": metrics, "scaleDownStabilization": 30},
        analysis={"preset": "vllm"},
    )
    body = hpa(s)["spec"]
    assert body["scaleTargetRef"]["name"] == "fraud-stable"
    assert body["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 30}}
    got = [
        (m["type"], (m.get("pods") or {}).get("metric", {}).get("name"), m[m["type"].lower()])
        for m in body["metrics"]
    ]
    assert [(t, n) for t, n, _ in got] == [
        ("Resource", None),
        ("Pods", "vllm:num_requests_running"),
        ("Pods", "vllm:num_requests_waiting"),
        ("Pods", "vllm:gpu_cache_usage_perc"),
        ("Pods", "DCGM_FI_DEV_GPU_UTIL"),
    ]
    assert got[3][2]["target"] == {"type": "AverageValue", "averageValue": "800m"}
    assert got[0][2]["target"] == {"type": "Utilization", "averageUtilization": 70}
    plain = hpa(spec(autoscaling=AUTO))["spec"]["metrics"][0]["pods"]["metric"]["name"]
    assert plain == "modelship_requests_in_flight"


# ----- through decide(): the rollout splits what the HPA set ---------------------------

V1 = spec(replicas=1, autoscaling=AUTO, rollout={"trafficRouting": GATEWAY})
V2 = spec(
    replicas=1,
    autoscaling=AUTO,
    rollout={"trafficRouting": GATEWAY, "steps": [{"setWeight": 50}, {"pause": {}}]},
    model={"name": "fraud-scorer", "version": "2.0.0", "uri": "s3://models/fraud/2.0.0/"},
)


def applied(p: Plan, kind: str) -> dict[str, dict[str, Any]]:
    return {
        a.obj["metadata"]["name"]: a.obj
        for a in p.actions
        if isinstance(a, Apply) and a.obj["kind"] == kind
    }


def settled(scaled_to: int) -> Any:
    status = ModelDeploymentStatus(
        stable_revision=revision_ref(V1).model_copy(update={"number": 1}),
        revision_count=1,
        history=[HistoryEntry(revision=revision_ref(V1).name, number=1, model_version="1.4.0")],
    )
    return status, children(live_deployment(V1, "stable", scaled_to))


def test_decide_keeps_the_count_the_hpa_set_and_renders_its_hpa() -> None:
    status, kids = settled(4)
    p = decide(snapshot(V1, status, children=kids, stored=stored((V1, 1))), NOW)
    assert applied(p, "Deployment")["fraud-stable"]["spec"]["replicas"] == 4
    hpas = applied(p, "HorizontalPodAutoscaler")
    assert list(hpas) == ["fraud-stable"]
    assert (
        hpas["fraud-stable"]["spec"]["minReplicas"],
        hpas["fraud-stable"]["spec"]["maxReplicas"],
    ) == (1, 8)
    assert p.status is not None and p.status["autoscaling"]["stable"]["maxReplicas"] == 8


def test_decide_sizes_the_canary_from_the_stables_count() -> None:
    status, kids = settled(4)
    canary = canary_status(revision_ref(V2), NOW, weight=0)
    status = status.model_copy(update={"canary": canary})
    kids.update(children(live_deployment(V2, "canary", 2)))
    p = decide(
        snapshot(V2, status, children=kids, stored=stored((V1, 1), (V2, 2))),
        NOW,
    )
    deployments = applied(p, "Deployment")
    assert deployments["fraud-stable"]["spec"]["replicas"] == 4
    assert deployments["fraud-canary"]["spec"]["replicas"] == 2  # 50 % of 4
    hpas = applied(p, "HorizontalPodAutoscaler")
    assert hpas["fraud-stable"]["spec"]["minReplicas"] == 4
    assert hpas["fraud-canary"]["spec"]["minReplicas"] == 2
