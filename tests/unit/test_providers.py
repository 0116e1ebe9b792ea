"""Metric providers against canned answers: data, empty, NaN, a backend that is down."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from modelship.metrics import ProviderError
from modelship.metrics.prometheus import PrometheusProvider, selector
from modelship.metrics.scrape import ScrapeProvider


def prom(answer: Any, status: int = 200, seen: list[str] | None = None) -> PrometheusProvider:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request.url.params["query"])
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(status, text=json.dumps(answer))

    return PrometheusProvider(
        "http://prom:9090", httpx.Client(transport=httpx.MockTransport(handle))
    )


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": m, "value": [1700000000, v]} for m, v in samples],
        },
    }


def test_selector_quotes_and_regexes() -> None:
    assert selector({"track": "canary", "code": "~5..", "model": 'a"b'}) == (
        '{code=~"5..",model="a\\"b",track="canary"}'
    )


def test_a_histogram_sample_without_le_is_a_provider_error() -> None:
    p = prom(vector(({"le": "0.1"}, "90"), ({}, "100")))
    with pytest.raises(ProviderError, match="no numeric 'le' label"):
        p.buckets("modelship_request_duration_seconds", {}, 30)


def test_buckets_query_and_parse() -> None:
    seen: list[str] = []
    p = prom(
        vector(({"le": "0.1"}, "90"), ({"le": "+Inf"}, "100"), ({"le": "0.5"}, "NaN")), seen=seen
    )
    assert p.buckets("modelship_request_duration_seconds", {"track": "canary"}, 30) == {
        0.1: 90.0,
        float("inf"): 100.0,
    }
    assert seen == [
        'sum by (le) (increase(modelship_request_duration_seconds_bucket{track="canary"}[30s]))'
    ]


@pytest.mark.parametrize(
    ("name", "answer", "expected"),
    [
        ("a number", vector(({}, "12.5")), 12.5),
        ("empty result is no data", vector(), None),
        ("NaN is no data", vector(({}, "NaN")), None),
        (
            "scalar result",
            {"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}},
            3.0,
        ),
    ],
)
def test_increase(name: str, answer: Any, expected: float | None) -> None:
    assert prom(answer).increase("modelship_requests_total", {}, 60) == expected, name


@pytest.mark.parametrize(
    ("name", "answer", "status", "words"),
    [
        ("down", httpx.ConnectError("connection refused"), 200, "unreachable"),
        ("bad query", {"status": "error", "error": "parse error"}, 400, "parse error"),
        ("not json", None, 502, "without JSON"),
        ("a list, not an object", [1, 2], 200, "answered list, not an object"),
        ("no data object", {"status": "success", "data": []}, 200, "no data object"),
        (
            "a value that is not a number",
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "lots"]}]},
            },
            200,
            "not \\[time, number\\]",
        ),
        (
            "two series where one number is asked",
            vector(({"pod": "a"}, "1"), ({"pod": "b"}, "500")),
            200,
            "returned 2 series",
        ),
    ],
)
def test_backend_trouble_is_a_provider_error(
    name: str, answer: Any, status: int, words: str
) -> None:
    if answer is None:

        def handle(request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, text="<html>bad gateway</html>")

        p = PrometheusProvider("http://prom", httpx.Client(transport=httpx.MockTransport(handle)))
    else:
        p = prom(answer, status)
    with pytest.raises(ProviderError, match=words):
        p.increase("x", {}, 30)


METRICS = """# TYPE modelship_requests counter
modelship_requests_total{{code="200",track="canary"}} {ok}
modelship_requests_total{{code="500",track="canary"}} {err}
modelship_requests_total{{code="200",track="stable"}} 1000
# TYPE modelship_request_duration_seconds histogram
modelship_request_duration_seconds_bucket{{le="0.1",track="canary"}} {fast}
modelship_request_duration_seconds_bucket{{le="+Inf",track="canary"}} {all}
modelship_request_duration_seconds_count{{track="canary"}} {all}
modelship_request_duration_seconds_sum{{track="canary"}} 1.0
"""


class Pods:
    """Canned /metrics pages per URL; ``advance`` moves every pod to its next page."""

    def __init__(self, pages: list[dict[str, dict[str, int] | None]]) -> None:
        self.pages = pages
        self.index = 0
        self.now = 1000.0

    def advance(self) -> None:
        self.index += 1
        self.now += 30.0

    def handle(self, request: httpx.Request) -> httpx.Response:
        page = self.pages[min(self.index, len(self.pages) - 1)].get(str(request.url))
        if page is None:
            return httpx.Response(503)
        return httpx.Response(200, text=METRICS.format(**page))

    def provider(self) -> ScrapeProvider:
        client = httpx.Client(transport=httpx.MockTransport(self.handle))
        return ScrapeProvider(
            lambda: list(self.pages[min(self.index, len(self.pages) - 1)]),
            client,
            clock=lambda: self.now,
        )


def test_scrape_returns_deltas_between_reads_and_handles_resets() -> None:
    a, b = "http://127.100.0.1:8080/metrics", "http://127.100.0.2:8080/metrics"
    first = {"ok": 100, "err": 1, "fast": 90, "all": 101}
    pages = [
        {a: first, b: first},
        {
            a: {"ok": 150, "err": 3, "fast": 130, "all": 153},
            b: {"ok": 20, "err": 0, "fast": 20, "all": 20},
        },
    ]  # b restarted: counters reset
    pods = Pods(pages)  # type: ignore[arg-type]
    p = pods.provider()
    assert p.increase("modelship_requests_total", {"track": "canary"}, 30) is None  # baseline
    assert p.buckets("modelship_request_duration_seconds", {"track": "canary"}, 30) is None
    pods.advance()
    errors = p.increase("modelship_requests_total", {"track": "canary", "code": "~5.."}, 30)
    assert errors == 2 + 0
    assert p.buckets("modelship_request_duration_seconds", {"track": "canary"}, 30) == {
        0.1: 40 + 20,
        float("inf"): 52 + 20,
    }


def test_scrape_counts_new_pods_and_new_series_from_zero_and_honours_the_window() -> None:
    a, b = "http://127.100.0.1:8080/metrics", "http://127.100.0.2:8080/metrics"
    pages = [
        {a: {"ok": 100, "err": 0, "fast": 90, "all": 100}},
        {
            a: {"ok": 110, "err": 0, "fast": 95, "all": 110},
            b: {"ok": 7, "err": 2, "fast": 9, "all": 9},
        },
        {
            a: {"ok": 130, "err": 1, "fast": 99, "all": 131},
            b: {"ok": 7, "err": 2, "fast": 9, "all": 9},
        },
    ]
    pods = Pods(pages)  # type: ignore[arg-type]
    p = pods.provider()
    assert p.increase("modelship_requests_total", {"track": "canary"}, 60) is None
    pods.advance()
    # b appeared after the first read: everything it counted is new.
    assert p.increase("modelship_requests_total", {"track": "canary"}, 60) == 10 + 9
    pods.advance()
    errors = {"track": "canary", "code": "~5.."}
    assert p.increase("modelship_requests_total", errors, 90) == 1 + 2
    # A 30 s window starts at the second read: only the last step counts.
    assert p.increase("modelship_requests_total", errors, 30) == 1
    assert p.increase("modelship_requests_total", {"track": "canary"}, 30) == 21


def test_scrape_counting_from_zero_sees_a_canary_pod_at_its_first_read() -> None:
    a = "http://127.100.0.1:8080/metrics"
    pods = Pods([{a: {"ok": 30, "err": 2, "fast": 30, "all": 32}}])
    client = httpx.Client(transport=httpx.MockTransport(pods.handle))
    p = ScrapeProvider(lambda: [a], client, clock=lambda: pods.now, count_from_zero=True)
    assert p.increase("modelship_requests_total", {"track": "canary", "code": "~5.."}, 30) == 2


def test_scrape_increase_by_groups_by_the_named_labels() -> None:
    a = "http://127.100.0.1:8080/metrics"
    pages = [
        {a: {"ok": 100, "err": 1, "fast": 90, "all": 101}},
        {a: {"ok": 110, "err": 4, "fast": 95, "all": 114}},
    ]
    pods = Pods(pages)  # type: ignore[arg-type]
    p = pods.provider()
    p.increase_by("modelship_requests_total", {}, 60, ("code",))
    pods.advance()
    got = p.increase_by("modelship_requests_total", {"track": "canary"}, 60, ("code",))
    assert got == {("200",): 10.0, ("500",): 3.0}


def test_scrape_keeps_reads_for_the_longest_window_asked_and_one_base() -> None:
    a = "http://127.100.0.1:8080/metrics"
    pages = [{a: {"ok": 10 * i, "err": i, "fast": 10 * i, "all": 11 * i}} for i in range(40)]
    pods = Pods(pages)  # type: ignore[arg-type]
    p = pods.provider()  # reads every 30 s
    errors = {"track": "canary", "code": "~5.."}
    for _ in range(39):
        p.increase("modelship_requests_total", errors, 90)
        pods.advance()
    assert p.increase("modelship_requests_total", errors, 90) == 3
    # 90 s of reads (4, the window's ends included) and the one before as a base.
    assert len(p._history[a]) == 5


def test_scrape_forgets_the_series_of_an_old_version_once_its_reads_are_gone() -> None:
    a = "http://127.100.0.1:8080/metrics"
    clock = {"now": 0.0}

    def page(request: httpx.Request) -> httpx.Response:
        read = int(clock["now"] // 30)
        version = "1" if read < 5 else "2"  # the pod restarted with version 2 at read 5
        count = 10 * (read if read < 5 else read - 5)
        return httpx.Response(
            200, text=f'modelship_requests_total{{code="200",version="{version}"}} {count}\n'
        )

    client = httpx.Client(transport=httpx.MockTransport(page))
    p = ScrapeProvider(lambda: [a], client, clock=lambda: clock["now"])
    seen = []
    for _ in range(12):
        seen.append(p.increase("modelship_requests_total", {}, 60))
        clock["now"] += 30
    # 20 per 60 s on both sides of the switch; version 2's series counts from zero (what
    # the pod served between its last version-1 read and its first version-2 read is lost).
    assert seen == [None, 10, 20, 20, 20, 10, 10, 20, 20, 20, 20, 20]
    assert [key[1] for key in p._index] == [(("code", "200"), ("version", "2"))]


def test_scrape_with_every_pod_down_is_a_provider_error() -> None:
    a = "http://127.100.0.1:8080/metrics"
    p = Pods([{a: None}]).provider()
    with pytest.raises(ProviderError, match="no pod answered"):
        p.increase("modelship_requests_total", {}, 30)


def test_scrape_a_pod_serving_garbage_is_one_pod_not_answering() -> None:
    """A page that is not Prometheus text (a proxy's error page, another program on the
    port) used to raise the parser's ValueError out of the read: every other pod's
    read was lost with it. Now it counts like a refused pod (issue 12)."""
    good, bad = "http://127.100.0.1:8080/metrics", "http://127.100.0.2:8080/metrics"
    counts = iter(
        [
            {"ok": 100, "err": 0, "fast": 90, "all": 100},
            {"ok": 150, "err": 5, "fast": 130, "all": 155},
        ]
    )
    now = [1000.0]

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == bad:
            return httpx.Response(200, text="<html>oops</html>\n\x00{{{ 1 2\n")
        return httpx.Response(200, text=METRICS.format(**next(counts)))

    client = httpx.Client(transport=httpx.MockTransport(handle))
    p = ScrapeProvider(lambda: [good, bad], client, clock=lambda: now[0])
    assert p.increase("modelship_requests_total", {"track": "canary"}, 30) is None  # baseline
    now[0] += 30
    assert p.increase("modelship_requests_total", {"track": "canary", "code": "~5.."}, 30) == 5

    only_bad = ScrapeProvider(lambda: [bad], client, clock=lambda: now[0])
    with pytest.raises(ProviderError, match=r"no pod answered: .*not Prometheus text"):
        only_bad.increase("modelship_requests_total", {}, 30)


def test_the_pool_reads_the_pods_each_reconcile_observed_not_the_first_ones() -> None:
    from modelship.metrics.pool import ProviderPool
    from modelship.metrics.scrape import ScrapeProvider

    pool = ProviderPool()
    first = pool.get(("ns", "m"), None, "drift", "stable", lambda track: [])  # no pod up yet
    later = pool.get(("ns", "m"), None, "drift", "stable", lambda track: [f"http://{track}"])
    assert later is first, "one provider (its read history) per scope and track"
    assert isinstance(later, ScrapeProvider) and list(later.targets()) == ["http://stable"]
