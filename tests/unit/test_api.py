from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api.types import parse_duration
from tests.unit.factories import spec, spec_dict


def test_defaults_follow_api_md() -> None:
    s = spec()
    assert s.runtime.port == 8080
    assert s.runtime.metrics_port == 8080
    assert s.runtime.metrics.path == "/metrics"
    assert s.rollout.progress_deadline == "10m"
    assert s.rollout.capacity == "auto"
    assert s.revision_history_limit == 10
    assert s.runtime.gpu is None


def test_camel_case_on_the_wire() -> None:
    s = spec(
        rollout={
            "steps": [{"setWeight": 10}, {"pause": {"duration": "2m"}}],
            "trafficRouting": {"gatewayAPI": {"parentRefs": [{"name": "gw"}]}},
        }
    )
    assert s.rollout.steps is not None and s.rollout.steps[0].set_weight == 10
    assert s.rollout.traffic_routing is not None
    assert s.rollout.traffic_routing.gateway_api is not None
    dumped = s.model_dump(by_alias=True, exclude_none=True)
    assert dumped["rollout"]["trafficRouting"]["gatewayAPI"]["parentRefs"][0]["name"] == "gw"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("1.5h", 5400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "5 minutes", "-5s", "1d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("name", "overrides", "field"),
    [
        ("negative gpu count", {"runtime": {"image": "i", "gpu": {"count": -1}}}, "count"),
        ("bad interval", {"analysis": {"interval": "soon"}}, "interval"),
        # A 0s interval asked for a reconcile at once, every time (found by fuzzing).
        ("analysis interval 0s", {"analysis": {"interval": "0s"}}, "interval"),
        ("analysis interval under 1s", {"analysis": {"interval": "999ms"}}, "interval"),
        # A Deployment's progressDeadlineSeconds is an int32 above 0 (found by fuzzing).
        ("progress deadline 0s", {"rollout": {"progressDeadline": "0s"}}, "progressDeadline"),
        ("progress deadline 0.5s", {"rollout": {"progressDeadline": "0.5s"}}, "progressDeadline"),
        # The Deployment refuses other variable names (found by fuzzing).
        (
            "env name not printable ASCII",
            {"runtime": {"image": "i", "env": [{"name": "\u0661a", "value": "x"}]}},
            "env.0.name",
        ),
        ("env name with =", {"runtime": {"image": "i", "env": [{"name": "A=B"}]}}, "env.0.name"),
        # The Job renderer walks these levels; a string there raised in every reconcile
        # (found by fuzzing).
        (
            "job template pod spec a string",
            {"retraining": {"jobTemplate": {"spec": {"template": {"spec": "text"}}}}},
            "spec.template.spec must be an object",
        ),
        (
            "job template containers not objects",
            {"retraining": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [1]}}}}}},
            "spec.template.spec.containers[0] must be an object",
        ),
        (
            "job template labels not strings",
            {"retraining": {"jobTemplate": {"metadata": {"labels": {"a": 1}}}}},
            "metadata.labels.a must be a string",
        ),
        (
            "progress deadline past int32 seconds",
            {"rollout": {"progressDeadline": "9999999h"}},
            "progressDeadline",
        ),
        (
            "drift interval 0s",
            {"drift": {"reference": {"configMapRef": {"name": "r", "key": "k"}}, "interval": "0s"}},
            "interval",
        ),
        ("weight over 100", {"rollout": {"steps": [{"setWeight": 101}]}}, "setWeight"),
        ("unknown capacity", {"rollout": {"capacity": "lots"}}, "capacity"),
        (
            "model name not DNS",
            {"model": {"name": "Fraud_Scorer", "version": "1", "uri": "s3://x"}},
            "name",
        ),
    ],
)
def test_invalid_specs_name_the_field(name: str, overrides: dict[str, Any], field: str) -> None:
    from modelship.api import ModelDeploymentSpec

    with pytest.raises(ValidationError) as info:
        ModelDeploymentSpec.model_validate(spec_dict(**overrides))
    assert field in str(info.value), name


def test_a_promotion_s_evaluation_job_is_shaped_like_a_job_template() -> None:
    from modelship.api.promotion import ModelPromotionSpec

    spec = {"from": {"name": "a"}, "to": {"name": "b"}}
    bad = {"spec": {"template": {"spec": {"containers": [{"name": "e", "env": "x"}]}}}}
    with pytest.raises(ValidationError, match=r"containers\[0\]\.env must be a list"):
        ModelPromotionSpec.model_validate({**spec, "gates": {"evaluationJob": bad}})
    kept = {"spec": {"backoffLimit": 2, "template": {"spec": {"containers": [], "x": {}}}}}
    parsed = ModelPromotionSpec.model_validate({**spec, "gates": {"evaluationJob": kept}})
    assert parsed.gates.evaluation_job == kept, "everything else is kept as written"
