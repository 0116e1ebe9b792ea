"""What one analysis round reads from a provider (metrics/readings.py) and what the
pure round decision makes of it (decisions/analysis.py), and the operator's metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelship import telemetry
from modelship.api.analysis import AnalysisSpec
from modelship.api.status import AnalysisStatus, CanaryStatus, ModelDeploymentStatus, RevisionRef
from modelship.decisions.analysis import AnalysisResult, analyse, plan_round
from modelship.metrics import (
    BackendUnreachable,
    Labels,
    MetricsProvider,
    NoopProvider,
    ProviderError,
)
from modelship.metrics.pool import ProviderPool, Targets
from modelship.metrics.readings import Readings
from tests.unit.factories import canary_status

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REV = RevisionRef(name="m-abc", model_version="2.0")


Query = tuple[str, frozenset[tuple[str, str]], float]


def query(metric: str, window: float, **labels: str) -> Query:
    return (metric, frozenset(labels.items()), window)


class Table(NoopProvider):
    """A MetricsProvider that answers only the exact queries in its table (metric,
    label selector, window): anything else is no data, so a wrong selector shows up
    in the verdicts."""

    name = "table"

    def __init__(
        self, answers: dict[Query, Any] | None = None, down: bool = False, down_track: str = ""
    ) -> None:
        self.answers = answers or {}
        self.down = down
        self.down_track = down_track  # only this track's pods fail to answer

    def _answer(self, metric: str, labels: Labels, window: float) -> Any:
        if self.down or (self.down_track and labels.get("track") == self.down_track):
            raise ProviderError("scrape of every pod failed")
        return self.answers.get((metric, frozenset(labels.items()), window))

    def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
        return self._answer(metric, labels, window)  # type: ignore[no-any-return]

    def increase(self, metric: str, labels: Labels, window: float) -> float | None:
        return self._answer(metric, labels, window)  # type: ignore[no-any-return]


FAST = {0.1: 600.0, float("inf"): 600.0}  # 600 requests, all under 100 ms


def canary() -> CanaryStatus:
    return canary_status(REV, T0, weight=10)


def spec(**extra: Any) -> AnalysisSpec:
    body = {
        "interval": "30s",
        "provider": {"scrape": {}},
        "checks": [
            {"name": "p99", "latency": {"max": "250ms"}},
            {"name": "errors", "errorRate": {"max": 0.01}},
        ],
        **extra,
    }
    return AnalysisSpec.model_validate(body)


class OnePool(ProviderPool):
    """Every ModelDeployment, scope and track reads from the one table."""

    def __init__(self, provider: Table) -> None:
        super().__init__()
        self.provider = provider

    def get(self, *args: Any, **kwargs: Any) -> MetricsProvider:
        return self.provider


class Analyst:
    """What a reconcile does for analysis: observe reads when a round is due, the pure
    decision judges the reading."""

    def __init__(self, provider: Table) -> None:
        self.readings = Readings(OnePool(provider))

    def run(
        self,
        key: tuple[str, str],
        spec: AnalysisSpec,
        canary: CanaryStatus,
        previous: AnalysisStatus | None,
        now: datetime,
        targets: Targets,
    ) -> AnalysisResult:
        rnd = plan_round(spec, canary, previous, now)
        observed = None
        if rnd.due:
            observed = self.readings.analysis(key, spec, canary.revision.name, rnd.window, targets)
        return analyse(spec, canary, previous, now, observed)


def analyst_with(provider: Table) -> Analyst:
    return Analyst(provider)


def test_a_round_reads_the_canary_over_the_window_and_records_verdicts() -> None:
    # Answers exist only for the canary's series over the 40 s since the canary started.
    table = Table(
        {
            query("modelship_request_duration_seconds", 40.0, track="canary"): FAST,
            query("modelship_requests_total", 40.0, track="canary"): 600.0,
            query("modelship_requests_total", 40.0, track="canary", code="~5.."): 30.0,
        }
    )
    a = analyst_with(table)
    first = a.run(("ns", "m"), spec(), canary(), None, T0, lambda track: [])
    assert not first.measured and first.next_in == 30 and first.status is not None
    later = T0 + timedelta(seconds=40)
    out = a.run(("ns", "m"), spec(), canary(), first.status, later, lambda track: [])
    assert out.measured and out.status is not None and out.status.rounds == 1
    verdicts = {c.name: c.verdict for c in out.status.checks}
    # 30 of 600 = 5 % > 1 %: failing proves the error counter was read with its selector
    # (absent 5xx series count as no errors).
    assert verdicts == {"p99": "Pass", "errors": "Fail"}


def test_checks_that_do_not_compare_with_stable_are_judged_while_stable_is_unreadable() -> None:
    table = Table(
        {
            query("modelship_request_duration_seconds", 40.0, track="canary"): FAST,
            query("modelship_requests_total", 40.0, track="canary"): 600.0,
        },
        down_track="stable",
    )
    a = analyst_with(table)
    first = a.run(("ns", "m"), spec(), canary(), None, T0, lambda track: [])
    out = a.run(
        ("ns", "m"), spec(), canary(), first.status, T0 + timedelta(seconds=40), lambda t: []
    )
    assert out.status is not None
    assert {c.name: c.verdict for c in out.status.checks} == {"p99": "Pass", "errors": "Pass"}
    # A check against stable needs it: Error, never a decision.
    judged = spec(checks=[{"name": "judge", "compare": {"metric": "latency"}}])
    first = a.run(("ns", "m2"), judged, canary(), None, T0, lambda track: [])
    out = a.run(
        ("ns", "m2"), judged, canary(), first.status, T0 + timedelta(seconds=40), lambda t: []
    )
    assert out.status is not None and [c.verdict for c in out.status.checks] == ["Error"]


def test_a_backend_that_is_down_gives_error_verdicts_not_failures() -> None:
    a = analyst_with(Table(down=True))
    first = a.run(("ns", "m"), spec(), canary(), None, T0, lambda track: [])
    out = a.run(
        ("ns", "m"), spec(), canary(), first.status, T0 + timedelta(seconds=31), lambda t: []
    )
    assert out.status is not None and out.status.failures == 0
    assert {c.verdict for c in out.status.checks} == {"Error"}


def test_vllm_preset_selects_by_pod_name_and_cannot_measure_errors() -> None:
    # vLLM series carry no track label: the canary's pods are selected by name.
    pods = "~m-canary-[a-z0-9]+-[a-z0-9]+"
    ttft = query("vllm:time_to_first_token_seconds", 31.0, namespace="ns", pod=pods)
    a = analyst_with(Table({ttft: FAST}))
    s = spec(
        preset="vllm",
        provider={"prometheus": {"address": "http://127.0.0.1:9"}},
        checks=[
            {"name": "ttft", "latency": {"max": "1s", "metric": "timeToFirstToken"}},
            {"name": "errors", "errorRate": {"max": 0.01}},
        ],
    )
    first = a.run(("ns", "m"), s, canary(), None, T0, lambda track: [])
    out = a.run(("ns", "m"), s, canary(), first.status, T0 + timedelta(seconds=31), lambda t: [])
    assert out.status is not None
    checks = {c.name: c for c in out.status.checks}
    assert checks["ttft"].verdict == "Pass", checks["ttft"]
    assert checks["errors"].verdict == "Error" and "no error counter" in checks["errors"].message


@pytest.mark.parametrize(
    ("before", "after", "outcome"),
    [
        (None, "Progressing", "started"),
        ("Progressing", "Aborted", "aborted"),
        ("Progressing", None, "promoted"),
    ],
)
def test_rollout_outcomes_are_counted_once(
    before: str | None, after: str | None, outcome: str
) -> None:
    def status(phase: str | None, stable: RevisionRef) -> ModelDeploymentStatus:
        c = canary().model_copy(update={"phase": phase}) if phase else None
        return ModelDeploymentStatus(canary=c, stable_revision=stable)

    old = RevisionRef(name="m-old", model_version="1.0")
    new_stable = REV if outcome == "promoted" else old
    sample = ("modelship_rollouts_total", {"namespace": "ns", "name": outcome, "outcome": outcome})
    was = telemetry.REGISTRY.get_sample_value(sample[0], sample[1]) or 0.0
    telemetry.rollout_outcomes("ns", outcome, status(before, old), status(after, new_stable))
    telemetry.rollout_outcomes("ns", outcome, status(after, new_stable), status(after, new_stable))
    assert telemetry.REGISTRY.get_sample_value(sample[0], sample[1]) == was + 1


def test_no_canary_metrics_yet_looks_again_shortly_then_counts_as_inconclusive() -> None:
    a = analyst_with(Table())
    first = a.run(("ns", "m"), spec(), canary(), None, T0, lambda track: [])
    early = a.run(
        ("ns", "m"), spec(), canary(), first.status, T0 + timedelta(seconds=31), lambda t: []
    )
    assert early.status is not None and early.status.rounds == 0 and early.next_in == 1.0
    late = a.run(
        ("ns", "m"), spec(), canary(), first.status, T0 + timedelta(seconds=61), lambda t: []
    )
    assert late.status is not None and late.status.rounds == 1
    assert late.status.verdict == "Inconclusive" and "no data" in late.status.message


def test_a_deleted_model_deployments_series_are_removed() -> None:
    from modelship.api.status import AnalysisStatus, CheckResult

    status = AnalysisStatus(
        revision="r",
        since="2026-01-01T00:00:00Z",
        checks=[CheckResult(name="p99", verdict="Pass", value=0.1)],
    )
    telemetry.analysis_round("gone-ns", "gone", status)
    labels = {"namespace": "gone-ns", "name": "gone", "check": "p99"}
    assert telemetry.REGISTRY.get_sample_value("modelship_analysis_check_value", labels) == 0.1
    telemetry.forget("gone-ns", "gone")
    assert telemetry.REGISTRY.get_sample_value("modelship_analysis_check_value", labels) is None


def test_an_answer_the_provider_did_not_foresee_is_an_error_verdict_not_a_crash() -> None:
    class Broken(Table):
        def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
            raise KeyError("le")  # a provider bug: the reconcile must go on

    a = analyst_with(Broken())
    first = a.run(("ns", "m"), spec(), canary(), None, T0, lambda track: [])
    out = a.run(
        ("ns", "m"), spec(), canary(), first.status, T0 + timedelta(seconds=31), lambda t: []
    )
    assert out.status is not None
    checks = {c.name: c for c in out.status.checks}
    # The latency histogram's read failed: its check is an Error; the error-rate check,
    # read from the counters, is judged on its own (here: no data).
    assert checks["p99"].verdict == "Error"
    assert "the metrics provider failed: KeyError" in checks["p99"].message
    assert checks["errors"].verdict == "Inconclusive" and "no data" in checks["errors"].message


def test_the_users_query_is_asked_when_the_operators_own_queries_fail() -> None:
    asked: list[str] = []

    class DownButAnswersPromQL(Table):
        def scalar(self, promql: str) -> float | None:
            asked.append(promql)
            raise ProviderError("Prometheus at http://p unreachable: timed out")

    s = spec(checks=[{"name": "q", "query": {"promql": "vector(1)", "max": 10}}])
    a = analyst_with(DownButAnswersPromQL(down=True))
    first = a.run(("ns", "m"), s, canary(), None, T0, lambda track: [])
    out = a.run(("ns", "m"), s, canary(), first.status, T0 + timedelta(seconds=31), lambda t: [])
    assert asked == ["vector(1)"], "the query was sent"
    assert out.status is not None and out.status.checks[0].verdict == "Error"
    assert "unreachable" in out.status.checks[0].message, "not 'no data'"


def test_a_bad_histogram_answer_fails_only_the_checks_that_use_it() -> None:
    class NoLe(Table):
        def buckets(self, metric: str, labels: Labels, window: float) -> dict[float, float] | None:
            raise ProviderError("a histogram sample has no numeric 'le' label: {}")

    answers = {
        query("modelship_requests_total", 31.0, track="canary"): 600.0,
        query("modelship_requests_total", 31.0, track="canary", code="~5.."): 0.0,
    }
    a = analyst_with(NoLe(answers))
    first = a.run(("ns", "m"), spec(), canary(), None, T0, lambda track: [])
    out = a.run(
        ("ns", "m"), spec(), canary(), first.status, T0 + timedelta(seconds=31), lambda t: []
    )
    assert out.status is not None and out.status.rounds == 1
    assert {c.name: c.verdict for c in out.status.checks} == {"p99": "Error", "errors": "Pass"}


def test_an_unreachable_backend_is_asked_once_per_round_for_our_own_series() -> None:
    calls: list[str] = []

    class Hangs(Table):
        def _answer(self, metric: str, labels: Labels, window: float) -> Any:
            calls.append(metric)
            raise BackendUnreachable("Prometheus at http://p unreachable: timed out")

    a = analyst_with(Hangs())
    first = a.run(("ns", "m"), spec(), canary(), None, T0, lambda track: [])
    out = a.run(
        ("ns", "m"), spec(), canary(), first.status, T0 + timedelta(seconds=31), lambda t: []
    )
    assert len(calls) == 1, calls  # each later read would wait out the same timeout
    assert out.status is not None and {c.verdict for c in out.status.checks} == {"Error"}
    assert "unreachable" in out.status.message


class Asked(Table):
    """A table that remembers which metrics were asked for, by track."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, str]] = []

    def _answer(self, metric: str, labels: Labels, window: float) -> Any:
        self.asked.append((labels.get("track", ""), metric))
        return None


@pytest.mark.parametrize(
    ("checks", "histograms"),
    [
        ([{"name": "errors", "errorRate": {"max": 0.01}}], []),
        (
            [{"name": "p99", "latency": {"max": "250ms"}}],
            [("canary", "modelship_request_duration_seconds")],
        ),
        (
            [{"name": "judge", "compare": {"metric": "errorRate"}}],
            [
                ("canary", "modelship_request_duration_seconds"),
                ("stable", "modelship_request_duration_seconds"),
            ],
        ),
    ],
    ids=["errorRate", "latency", "compare"],
)
def test_a_round_reads_a_latency_histogram_only_for_checks_that_use_one(
    checks: list[dict[str, Any]], histograms: list[tuple[str, str]]
) -> None:
    table = Asked()
    Readings(OnePool(table)).analysis(
        ("ns", "m"), spec(checks=checks), "m-abc", 30.0, lambda track: []
    )
    asked = [a for a in table.asked if a[1] == "modelship_request_duration_seconds"]
    assert asked == histograms
    # the request and error counters are read either way: they say whether there is traffic
    assert ("canary", "modelship_requests_total") in table.asked
