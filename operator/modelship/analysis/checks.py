"""Each spec.analysis check and the numbers read for it -> a Measurement (pure).

Too little data is Inconclusive, never Fail: a quantile needs enough requests that a
few of them lie beyond it, and an error rate over its bound must be significantly
over it (one-sided binomial test at 95 %) before it fails; just over it on a handful
of requests is Inconclusive and the next round, on more data, decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelship.analysis.distributions import binomial_sf
from modelship.analysis.histogram import Histogram
from modelship.analysis.judge import Traffic, judge
from modelship.analysis.verdict import Measurement, Verdict
from modelship.api.analysis import Check, ErrorRateCheck, LatencyCheck, QueryCheck
from modelship.api.types import parse_duration
from modelship.drift.assess import DriftAssessment

# A quantile q needs this many requests beyond it on average: p99 needs 500 requests.
TAIL_SAMPLES = 5
MIN_REQUESTS = 20
ERROR_RATE_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Observed:
    """What one round read since the canary took traffic, per track ("canary",
    "stable"): latency buckets per latency metric, request and error counts (None: no
    data); each query check's value; the backend error if it could not be asked."""

    latency: Mapping[tuple[str, str], Mapping[float, float] | None] = field(default_factory=dict)
    requests: Mapping[str, float | None] = field(default_factory=dict)
    errors: Mapping[str, float | None] = field(default_factory=dict)
    queries: Mapping[str, float | None] = field(default_factory=dict)
    check_errors: Mapping[str, str] = field(default_factory=dict)  # check name -> why not
    error: str | None = None  # the backend could not be asked at all
    read_error: str | None = None  # the first of the reads that failed, if any
    drift: Mapping[str, DriftAssessment | str] = field(default_factory=dict)  # by check
    # The track under judgement: the canary in a rollout; a promotion's checks judge the
    # source's stable track alone (no compare checks there).
    subject: str = "canary"

    def has_canary_data(self) -> bool:
        return self.requests.get("canary") is not None or any(
            buckets for (track, _), buckets in self.latency.items() if track == "canary"
        )

    def traffic(self, track: str, metric: str = "request") -> Traffic | None:
        """The track's traffic as the judge takes it; None without latency data."""
        buckets = self.latency.get((track, metric))
        if not buckets:
            return None
        count = Histogram.from_buckets(buckets).count
        requests = self.requests.get(track)
        return Traffic(
            buckets, count if requests is None else requests, self.errors.get(track) or 0.0
        )


def min_requests(quantile: float) -> int:
    return max(MIN_REQUESTS, math.ceil(TAIL_SAMPLES / (1 - quantile) - 1e-9))


def measure(check: Check, observed: Observed, look: int) -> Measurement:
    """One check's verdict for this round (``look``: 1 for the first round)."""
    if check.name in observed.check_errors:
        return Measurement(check.name, "Error", None, None, observed.check_errors[check.name])
    if observed.error is not None and check.query is None:
        return Measurement(check.name, "Error", None, None, observed.error)
    if check.latency is not None:
        return _latency(check.name, check.latency, observed)
    if check.error_rate is not None:
        return _error_rate(check.name, check.error_rate, observed)
    if check.compare is not None:
        canary, stable = observed.traffic("canary"), observed.traffic("stable")
        if canary is None or stable is None:
            return _no_data(check.name, "canary" if canary is None else "stable")
        j = judge(
            canary,
            stable,
            metric=check.compare.metric,
            confidence=check.compare.confidence,
            look=look,
        )
        return Measurement(check.name, j.verdict, j.value, j.threshold, j.reason)
    if check.query is not None:
        return _query(check.name, check.query, observed)
    return _drift(check.name, observed.drift.get(check.name, "no drift assessment was made"))


_DRIFT_VERDICTS: dict[str, Verdict] = {
    "Drifted": "Fail",
    "NotDrifted": "Pass",
    "Inconclusive": "Inconclusive",
}


def _drift(name: str, result: DriftAssessment | str) -> Measurement:
    """Canary inputs against the reference: drifted features fail the check."""
    if isinstance(result, str):
        return Measurement(name, "Error", None, None, result)
    top = max((f.score for f in result.features), default=None)
    return Measurement(
        name, _DRIFT_VERDICTS[result.verdict], top, result.threshold, f"inputs: {result.message}"
    )


def _no_data(name: str, track: str) -> Measurement:
    return Measurement(name, "Inconclusive", None, None, f"no data from the {track} track yet")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


def _latency(name: str, check: LatencyCheck, observed: Observed) -> Measurement:
    track = observed.subject
    buckets = observed.latency.get((track, check.metric))
    if not buckets:
        return _no_data(name, track)
    q, label = check.quantile, f"p{check.quantile * 100:g}"
    need = min_requests(q)
    canary = Histogram.from_buckets(buckets)
    value = canary.quantile(q)
    if value is None or canary.count < need:
        return Measurement(
            name,
            "Inconclusive",
            value,
            None,
            f"{canary.count:.0f} {track} requests, {label} needs {need}",
        )
    if check.max is not None:
        bound = parse_duration(check.max)
        if value > bound:
            return Measurement(
                name, "Fail", value, bound, f"{label} latency {_ms(value)} > {check.max}"
            )
    if check.max_increase is None:
        assert check.max is not None
        return Measurement(
            name,
            "Pass",
            value,
            parse_duration(check.max),
            f"{label} latency {_ms(value)} <= {check.max}",
        )
    stable = Histogram.from_buckets(observed.latency.get(("stable", check.metric)))
    base = stable.quantile(q)
    if base is None or stable.count < need:
        return Measurement(
            name,
            "Inconclusive",
            value,
            None,
            f"{label} latency {_ms(value)} on canary; {stable.count:.0f} stable requests, "
            f"{label} needs {need}",
        )
    bound = base * (1 + check.max_increase / 100)
    text = (
        f"{label} latency {_ms(value)} vs {_ms(base)} on stable "
        f"({(value / base - 1) * 100:+.0f}%, at most +{check.max_increase:g}%)"
    )
    return Measurement(name, "Fail" if value > bound else "Pass", value, bound, text)


def _error_rate(name: str, check: ErrorRateCheck, observed: Observed) -> Measurement:
    track = observed.subject
    requests, errors = observed.requests.get(track), observed.errors.get(track) or 0.0
    if not requests:
        return _no_data(name, track)
    # The two counters are read by separate queries a moment apart: errors counted after
    # the requests were read can exceed them. No more requests failed than were made.
    errors = min(errors, requests)
    rate = errors / requests
    text = f"error rate {rate:.2%} ({errors:.0f} of {requests:.0f} requests)"
    if requests < MIN_REQUESTS:
        return Measurement(
            name, "Inconclusive", rate, check.max, f"{text}: need {MIN_REQUESTS} requests"
        )
    if rate <= check.max:
        return Measurement(name, "Pass", rate, check.max, f"{text} <= {check.max:.2%}")
    p = binomial_sf(round(errors) - 1, round(requests), check.max)
    if p < 1 - ERROR_RATE_CONFIDENCE:
        return Measurement(name, "Fail", rate, check.max, f"{text} > {check.max:.2%}")
    return Measurement(
        name,
        "Inconclusive",
        rate,
        check.max,
        f"{text} > {check.max:.2%} but not significantly yet (p={p:.2g})",
    )


def _query(name: str, check: QueryCheck, observed: Observed) -> Measurement:
    value = observed.queries.get(name)
    if value is None:
        return Measurement(name, "Inconclusive", None, None, "the query returned no data")
    if check.min is not None and value < check.min:
        return Measurement(name, "Fail", value, check.min, f"query value {value:g} < {check.min:g}")
    if check.max is not None and value > check.max:
        return Measurement(name, "Fail", value, check.max, f"query value {value:g} > {check.max:g}")
    bound = check.max if check.max is not None else check.min
    return Measurement(name, "Pass", value, bound, f"query value {value:g} within bounds")
