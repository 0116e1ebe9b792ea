"""Analysis: histogram reading, the judge, each check's verdicts, round bookkeeping."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from modelship.analysis.checks import Observed, measure, min_requests
from modelship.analysis.histogram import Histogram
from modelship.analysis.judge import MIN_SAMPLES, Traffic, judge
from modelship.analysis.verdict import Measurement
from modelship.api.analysis import AnalysisSpec, Check
from modelship.api.status import AnalysisStatus, CanaryStatus, RevisionRef
from modelship.conditions import rfc3339
from modelship.decisions.analysis import plan_round, record_round, rollout_verdict
from modelship.runtime.metrics import LATENCY_BUCKETS
from tests.unit.factories import canary_status

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
INF = math.inf


def buckets(samples: np.ndarray) -> dict[float, float]:
    bounds = [*LATENCY_BUCKETS, INF]
    return {b: float(np.sum(samples <= b)) for b in bounds}


def lognormal(n: int, median: float = 0.04, seed: int = 0) -> np.ndarray:
    return median * np.exp(0.35 * np.random.default_rng(seed).standard_normal(n))


# -- histogram ---------------------------------------------------------------------------


def test_quantile_interpolates_like_histogram_quantile() -> None:
    h = Histogram.from_buckets({0.1: 50, 0.2: 100, INF: 100})
    assert h.quantile(0.5) == pytest.approx(0.1)
    assert h.quantile(0.75) == pytest.approx(0.15)
    assert h.quantile(0.25) == pytest.approx(0.05)  # the lowest bucket starts at 0


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert Histogram.from_buckets({0.1: 1, INF: 10}).quantile(0.99) == 0.1


def test_empty_histogram_has_no_quantile_and_counts_are_made_monotone() -> None:
    assert Histogram.from_buckets(None).quantile(0.5) is None
    h = Histogram.from_buckets({0.1: 10.0, 0.2: 9.999, INF: 12})
    assert h.cumulative == (10.0, 10.0, 12.0)
    assert h.counts() == [10.0, 0.0, 2.0]


def test_share_below_and_bound_at() -> None:
    h = Histogram.from_buckets({0.1: 50, 0.2: 100, INF: 100})
    assert h.share_below(0.15) == pytest.approx(0.75)
    assert h.share_below(1.0) == 1.0
    assert h.bound_at(0.6) == 0.2
    assert h.above(0.1) == 50


def test_tail_share_inside_a_wide_bucket_follows_the_falling_tail() -> None:
    """Lognormal(sigma 0.25) around 2 s in vLLM's end-to-end buckets: 19 % of requests lie in
    (2.5 s, 5 s]; the share above 4.76 s is ~0.03 %, which linear interpolation of the
    CDF puts at ~1.8 %."""
    from scipy.special import ndtr

    bounds = [1.5, 2.0, 2.5, 5.0, 10.0]
    total = 1_000_000
    cdf = {b: total * float(ndtr(math.log(b / 2.0) / 0.25)) for b in bounds}
    h = Histogram.from_buckets({**cdf, INF: total})
    truth = 1 - float(ndtr(math.log(4.76 / 2.0) / 0.25))
    assert 1 - h.share_below(4.76) > 50 * truth
    assert h.share_above(4.76) == pytest.approx(truth, rel=0.5)
    assert h.share_above(5.0) == pytest.approx(1 - cdf[5.0] / total)
    assert h.share_above(100.0) < 1e-9  # beyond the last bound: all that lies above it


def test_tail_share_with_nothing_above_counts_half_an_observation() -> None:
    h = Histogram.from_buckets({0.01: 900, 0.025: 1000, INF: 1000})
    assert 0.0 < h.share_above(0.024) < 0.1 * (1 - h.share_below(0.024))


def test_quantile_of_bucketed_samples_is_near_the_sample_quantile() -> None:
    samples = lognormal(20_000)
    h = Histogram.from_buckets(buckets(samples))
    for q in (0.5, 0.9, 0.99):
        estimate = h.quantile(q)
        assert estimate is not None
        assert estimate == pytest.approx(float(np.quantile(samples, q)), rel=0.1)


# -- the judge -----------------------------------------------------------------------------


def traffic(samples: np.ndarray, errors: float = 0.0) -> Traffic:
    return Traffic(buckets(samples), float(len(samples)), errors)


def test_same_distribution_passes_even_with_much_data() -> None:
    j = judge(traffic(lognormal(5000, seed=1)), traffic(lognormal(20000, seed=2)), metric="latency")
    assert j.verdict == "Pass", j.reason


def test_three_percent_slower_is_within_tolerance() -> None:
    slow = lognormal(20000, median=0.04 * 1.03, seed=1)
    j = judge(traffic(slow), traffic(lognormal(20000, seed=2)), metric="latency")
    assert j.verdict == "Pass", j.reason


def test_twenty_five_percent_slower_fails_with_the_numbers() -> None:
    slow = lognormal(1000, median=0.05, seed=1)
    j = judge(traffic(slow), traffic(lognormal(4000, seed=2)), metric="latency")
    assert j.verdict == "Fail"
    assert re.search(r"p50 4\dms vs 4\dms", j.reason) and "in 59% of request pairs" in j.reason
    assert j.p_value is not None and j.p_value < j.alpha


def test_a_slow_tail_fails_although_the_median_is_unchanged() -> None:
    canary = lognormal(3000, seed=1)
    canary[:150] *= 4  # 5 % of requests four times slower
    j = judge(traffic(canary), traffic(lognormal(12000, seed=2)), metric="latency")
    assert j.verdict == "Fail" and "tail" in j.reason


def test_error_rate_regression_fails_and_equal_rates_pass() -> None:
    c, s = lognormal(3000, seed=1), lognormal(12000, seed=2)
    assert judge(traffic(c, 45), traffic(s, 60), metric="errorRate").verdict == "Fail"
    assert judge(traffic(c, 15), traffic(s, 60), metric="errorRate").verdict == "Pass"


def test_too_few_requests_is_inconclusive_not_fail() -> None:
    few = lognormal(MIN_SAMPLES - 1, median=1.0)
    j = judge(traffic(few, errors=10), traffic(lognormal(1000)), metric="latency")
    assert j.verdict == "Inconclusive" and "too few" in j.reason


# -- checks --------------------------------------------------------------------------------


def check(**kind: Any) -> Check:
    return Check.model_validate({"name": "c", **kind})


def observed(canary: np.ndarray | None, stable: np.ndarray | None = None, **kw: Any) -> Observed:
    latency = {}
    if canary is not None:
        latency[("canary", "request")] = buckets(canary)
    if stable is not None:
        latency[("stable", "request")] = buckets(stable)
    return Observed(latency=latency, **kw)


def test_latency_max_fails_passes_and_needs_enough_requests() -> None:
    fast, slow = lognormal(600), lognormal(600, median=0.4)
    c = check(latency={"quantile": 0.99, "max": "250ms"})
    assert measure(c, observed(fast), 1).verdict == "Pass"
    failed = measure(c, observed(slow), 1)
    assert failed.verdict == "Fail" and "> 250ms" in failed.message
    assert failed.threshold == 0.25 and failed.value is not None and failed.value > 0.25
    few = measure(c, observed(slow[:100]), 1)
    assert few.verdict == "Inconclusive" and f"needs {min_requests(0.99)}" in few.message


def test_latency_max_increase_compares_with_stable() -> None:
    c = check(latency={"quantile": 0.9, "maxIncrease": 20})
    same = measure(c, observed(lognormal(600, seed=1), lognormal(600, seed=2)), 1)
    assert same.verdict == "Pass"
    worse = measure(c, observed(lognormal(600, median=0.06), lognormal(600)), 1)
    assert worse.verdict == "Fail" and "at most +20%" in worse.message
    assert measure(c, observed(lognormal(600), None), 1).verdict == "Inconclusive"


@pytest.mark.parametrize(
    ("requests", "errors", "verdict"),
    [
        (100, 0, "Pass"),
        (100, 5, "Fail"),  # 5 % against 1 %: significant on 100 requests
        (100, 2, "Inconclusive"),  # 2 % but 2 errors prove nothing yet
        (10, 5, "Inconclusive"),  # too few requests
        (0, 0, "Inconclusive"),
    ],
)
def test_error_rate(requests: float, errors: float, verdict: str) -> None:
    o = Observed(requests={"canary": requests}, errors={"canary": errors})
    m = measure(check(errorRate={"max": 0.01}), o, 1)
    assert m.verdict == verdict, m.message
    assert m.threshold in (0.01, None)


def test_query_check_bounds_and_no_data() -> None:
    c = check(query={"promql": "up", "min": 1})
    assert measure(c, Observed(queries={"c": 0.0}), 1).verdict == "Fail"
    assert measure(c, Observed(queries={"c": 1.0}), 1).verdict == "Pass"
    assert measure(c, Observed(queries={"c": None}), 1).verdict == "Inconclusive"


def test_backend_down_is_an_error_never_a_fail() -> None:
    o = Observed(error="Prometheus at http://127.0.0.1:1 unreachable")
    for kind in (
        {"latency": {"max": "1s"}},
        {"errorRate": {"max": 0.01}},
        {"compare": {"metric": "latency"}},
    ):
        m = measure(check(**kind), o, 1)
        assert m.verdict == "Error" and "unreachable" in m.message


def test_compare_without_data_is_inconclusive() -> None:
    m = measure(check(compare={"metric": "latency"}), observed(lognormal(100), None), 1)
    assert m.verdict == "Inconclusive" and "stable" in m.message


# -- rounds --------------------------------------------------------------------------------

SPEC = AnalysisSpec.model_validate(
    {
        "interval": "30s",
        "failureLimit": 2,
        "inconclusiveLimit": 2,
        "checks": [{"name": "e", "errorRate": {"max": 0.01}}],
    }
)
REV = RevisionRef(name="c2", model_version="2.0")


def canary(weight: int = 10, started: datetime = T0, phase: str = "Progressing") -> CanaryStatus:
    return canary_status(REV, started, phase, weight)


def test_first_round_is_due_an_interval_after_the_canary_takes_traffic() -> None:
    assert plan_round(SPEC, canary(weight=0), None, T0).status is None
    first = plan_round(SPEC, canary(), None, T0)
    assert first.status is not None and not first.due and first.next_in == 30
    due = plan_round(SPEC, canary(), first.status, T0 + timedelta(seconds=31))
    assert due.due and due.window == 31 and due.look == 1


def test_a_retried_canary_starts_counting_again() -> None:
    old = AnalysisStatus(revision="c2", since=rfc3339(T0), rounds=5, failures=2)
    later = T0 + timedelta(minutes=5)
    fresh = plan_round(SPEC, canary(started=later), old, later)
    assert fresh.status is not None and fresh.status.failures == 0 and fresh.status.rounds == 0


def test_no_rounds_while_promoting_or_aborted() -> None:
    assert not plan_round(SPEC, canary(phase="Aborted"), None, T0).due
    assert rollout_verdict(SPEC, None, None).required


def fold(verdicts: list[str]) -> AnalysisStatus:
    status = AnalysisStatus(revision="c2", since=rfc3339(T0))
    for i, v in enumerate(verdicts):
        m = Measurement("e", v, 0.05, 0.01, f"error rate {v}")  # type: ignore[arg-type]
        status, _ = record_round(SPEC, status, [m], T0 + timedelta(seconds=30 * i), "canary 2.0")
    return status


def test_failures_count_for_the_canary_life_and_abort_at_the_limit() -> None:
    once = fold(["Fail", "Pass"])
    assert once.failures == 1 and rollout_verdict(SPEC, once, 30).verdict == "Pass"
    twice = fold(["Fail", "Pass", "Fail"])
    v = rollout_verdict(SPEC, twice, 30)
    assert v.verdict == "Fail" and "(2 of 2 failures)" in v.message and "e: error rate" in v.message


def test_inconclusive_rounds_pause_only_in_a_row() -> None:
    assert (
        rollout_verdict(SPEC, fold(["Inconclusive", "Pass", "Inconclusive"]), 30).verdict == "Pass"
    )
    v = rollout_verdict(SPEC, fold(["Inconclusive", "Error"]), 30)
    assert v.verdict == "Error" and "2 inconclusive rounds in a row" in v.message


def test_record_round_keeps_evidence_and_raises_events_on_change() -> None:
    status = AnalysisStatus(revision="c2", since=rfc3339(T0))
    m = Measurement("e", "Fail", 0.05, 0.01, "error rate 5.00% > 1.00%")
    after, events = record_round(SPEC, status, [m], T0, "canary 2.0 (c2)")
    assert after.checks[0].value == 0.05 and after.checks[0].threshold == 0.01
    assert [e.reason for e in events] == ["AnalysisRoundFailed"]
    assert events[0].message == "canary 2.0 (c2): e: error rate 5.00% > 1.00% (1 of 2 failures)"
    passed = Measurement("e", "Pass", 0.0, 0.01, "ok")
    again, events = record_round(SPEC, after, [passed], T0, "canary 2.0 (c2)")
    assert again.last_pass_at == rfc3339(T0) and [e.reason for e in events] == ["AnalysisPass"]


def test_begin_starts_the_window_when_the_canary_gets_traffic() -> None:
    from modelship.decisions.analysis import begin

    assert begin(SPEC, canary(weight=0), None, T0) == (None, None)
    status, next_in = begin(SPEC, canary(weight=10), None, T0)
    assert status is not None and status.since == rfc3339(T0) and next_in == 30
    assert begin(SPEC, canary(weight=50), status, T0 + timedelta(seconds=5)) == (status, None)


def test_drift_check_maps_the_assessment() -> None:
    from modelship.drift.assess import DriftAssessment, FeatureDrift

    drifted = DriftAssessment(
        "Drifted", "ks", 0.05, [FeatureDrift("amount", 0.3, 1e-9, 500, True)], "1 of 1 drifted"
    )
    c = check(drift={})
    m = measure(c, Observed(drift={"c": drifted}), 1)
    assert (m.verdict, m.value, m.threshold) == ("Fail", 0.3, 0.05)
    assert "inputs: 1 of 1 drifted" in m.message
    assert measure(c, Observed(drift={"c": "ConfigMap x not found"}), 1).verdict == "Error"
    assert (
        measure(c, Observed(check_errors={"c": "drift checks need spec.drift"}), 1).verdict
        == "Error"
    )


def test_error_rate_never_exceeds_every_request() -> None:
    from modelship.analysis.checks import _error_rate
    from modelship.api.analysis import ErrorRateCheck

    observed = Observed(requests={"canary": 89.0}, errors={"canary": 89.33})  # read later
    m = _error_rate("errors", ErrorRateCheck(max=0.01), observed)
    assert m.value == 1.0 and "100.00% (89 of 89 requests)" in m.message, m.message
