"""The reference runtime as a real process: endpoints, validation, metrics, faults."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.runtime.conftest import Runtime

ROW = [100.0, 500.0, 0.5, 12.0]


def samples(rt: Runtime, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    code, text = rt.call("GET", "/metrics")
    assert code == 200
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_v1_and_v2_predict_agree(start_runtime: Callable[..., Runtime]) -> None:
    rt = start_runtime()
    code, v1 = rt.call("POST", "/v1/models/fraud:predict", {"instances": [ROW]})
    assert code == 200 and 0 < v1["predictions"][0] < 1
    code, v2 = rt.call(
        "POST",
        "/v2/models/fraud/infer",
        {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP32", "data": ROW}]},
    )
    assert code == 200 and v2["outputs"][0]["data"] == v1["predictions"]
    named = {"amount": 100, "account_age_days": 500, "merchant_risk": 0.5, "hour_of_day": 12}
    assert rt.call("POST", "/v1/models/fraud:predict", {"instances": [named]})[1] == v1
    assert rt.call("GET", "/v2/health/ready")[0] == 200


def test_bad_requests_get_a_reason_and_the_server_lives_on(
    start_runtime: Callable[..., Runtime],
) -> None:
    rt = start_runtime()
    cases = [
        (b"not json", 400, "not JSON"),
        ({"rows": []}, 400, "instances"),
        ({"instances": []}, 400, "non-empty"),
        ({"instances": [[1, 2]]}, 400, "expected 4 features"),
        ({"instances": [[1, 2, "x", 4]]}, 400, "merchant_risk"),
        ({"instances": [{"amount": 1}]}, 400, "missing features"),
    ]
    for body, code, words in cases:
        got, answer = rt.call("POST", "/v1/models/fraud:predict", body)
        assert got == code and words in answer["error"], (body, answer)
    got, answer = rt.call(
        "POST",
        "/v2/models/fraud/infer",
        {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
    )
    assert got == 400 and "4 features" in answer["error"]
    assert rt.call("POST", "/v1/models/other:predict", {"instances": [ROW]})[0] == 404
    assert rt.call("POST", "/v1/models/fraud:predict", {"instances": [ROW]})[0] == 200
    counts = samples(rt, "modelship_requests_total")
    by_code = {dict(k)["code"]: v for k, v in counts.items()}
    assert by_code == {"400": 7.0, "200": 1.0, "500": 0.0}


def test_metrics_carry_model_version_track(start_runtime: Callable[..., Runtime]) -> None:
    rt = start_runtime()
    for _ in range(5):
        rt.call("POST", "/v1/models/fraud:predict", {"instances": [ROW, ROW]})
    count = samples(rt, "modelship_request_duration_seconds_count")
    assert count == {(("model", "fraud"), ("track", "canary"), ("version", "1.0.0")): 5.0}
    features = samples(rt, "modelship_feature_value_count")
    assert {dict(k)["feature"] for k in features} == {
        "amount",
        "account_age_days",
        "merchant_risk",
        "hour_of_day",
    }
    assert all(v == 10.0 for v in features.values())
    assert sum(samples(rt, "modelship_prediction_value_count").values()) == 10.0


def test_fault_knobs(start_runtime: Callable[..., Runtime]) -> None:
    broken = start_runtime(MODELSHIP_FAULT_ERROR_RATE="1")
    assert broken.call("POST", "/v1/models/fraud:predict", {"instances": [ROW]})[0] == 500
    slow = start_runtime(MODELSHIP_FAULT_LATENCY="120ms")
    for _ in range(3):
        slow.call("POST", "/v1/models/fraud:predict", {"instances": [ROW]})
    buckets = samples(slow, "modelship_request_duration_seconds_bucket")
    le = {dict(k)["le"]: v for k, v in buckets.items()}
    assert le["0.1"] == 0 and le["0.15"] == 3, le
    shifted = start_runtime(MODELSHIP_FAULT_INPUT_SHIFT="amount=1000")
    shifted.call("POST", "/v1/models/fraud:predict", {"instances": [ROW]})
    sums = {
        dict(k)["feature"]: v for k, v in samples(shifted, "modelship_feature_value_sum").items()
    }
    assert sums["amount"] == 1100.0 and sums["hour_of_day"] == 12.0


def test_unloadable_model_is_not_ready_but_alive(start_runtime: Callable[..., Runtime]) -> None:
    rt = start_runtime(MODELSHIP_MODEL_URI="s3://bucket/model/")
    assert rt.call("GET", "/v2/health/live")[0] == 200
    code, answer = rt.call("GET", "/v2/health/ready")
    assert code == 503 and "file://" in answer["error"]
    assert rt.call("POST", "/v1/models/fraud:predict", {"instances": [ROW]})[0] == 503


def test_bad_fault_config_exits_with_a_message(start_runtime: Callable[..., Runtime]) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "modelship.runtime", "--port", "0"],
        env={"MODELSHIP_FAULT_ERROR_RATE": "lots", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2 and "MODELSHIP_FAULT_ERROR_RATE" in done.stdout + done.stderr


def test_a_mounted_reference_sets_the_feature_buckets(
    start_runtime: Callable[..., Runtime], model_dir: Path, tmp_path: Path
) -> None:
    from modelship.drift.builder import build_from_csv

    reference = build_from_csv(
        (model_dir / "train.csv").read_text().splitlines(), bins=5, exclude=["label"]
    )
    path = tmp_path / "reference.json"
    path.write_text(reference.dumps())
    rt = start_runtime(MODELSHIP_REFERENCE_PATH=str(path))
    rt.call("POST", "/v1/models/fraud:predict", {"instances": [ROW]})
    buckets = samples(rt, "modelship_feature_value_bucket")
    amount = sorted(float(dict(k)["le"]) for k in buckets if dict(k)["feature"] == "amount")
    expected = [float(e) for e in reference.features["amount"].edges]  # type: ignore[union-attr]
    assert amount == [*expected, float("inf")]
    broken = start_runtime(MODELSHIP_REFERENCE_PATH=str(tmp_path / "missing.json"))
    assert broken.call("GET", "/v2/health/ready")[0] == 200  # falls back, still serves
