"""A metrics backend that answers badly: Error verdicts, never a wedged reconcile.

A Prometheus stand-in on loopback answers the operator's real queries the way broken
or unusual servers do (a histogram sample without ``le``, a JSON list, a value that is
not a number, HTTP 500, a hang past the provider's 5 s timeout, several series for a
user query). The canary must stay Paused on Error, record each round, act on manual
commands at once, and never pass on a series picked silently.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelship_testenv.cluster import free_port
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.manifests import dump, model_deployment
from tests.integration.test_canary import GATEWAY, canary_of, ctl, set_version, version
from tests.integration.test_serving import md, wait_ready

pytestmark = pytest.mark.cluster

Answer = tuple[int, bytes, float]  # HTTP code, body, seconds to wait before answering
HANG_SECONDS = 8.0  # past the provider's 5 s timeout, bounded


def vector(*samples: tuple[dict[str, str], Any]) -> bytes:
    result = [{"metric": labels, "value": [time.time(), value]} for labels, value in samples]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


class FakePrometheus:
    """Answers /api/v1/query with ``self.answer(promql)``; records every query asked."""

    def __init__(self, answer: Callable[[str], Answer]) -> None:
        self.answer = answer
        self.queries: list[str] = []
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                promql = (query.get("query") or [""])[0]
                fake.queries.append(promql)
                code, body, delay = fake.answer(promql)
                time.sleep(delay)
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (the hang case)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_prometheus() -> Iterator[Callable[[Callable[[str], Answer]], FakePrometheus]]:
    started: list[FakePrometheus] = []

    def make(answer: Callable[[str], Answer]) -> FakePrometheus:
        started.append(FakePrometheus(answer))
        return started[-1]

    yield make
    for fake in started:
        fake.close()


LATENCY = {"name": "p90-latency", "latency": {"quantile": 0.9, "max": "80ms"}}
ERRORS = {"name": "errors", "errorRate": {"max": 0.01}}
CUSTOM = {"name": "custom", "query": {"promql": "max(my_custom_metric)", "max": 10}}
STEPS = [{"setWeight": 50}, {"pause": {"duration": "5s"}}]


def start(kubectl: Kubectl, ns: str, name: str, address: str, checks: list[Any]) -> None:
    # One inconclusive or erring round pauses the canary (the default waits for 3).
    analysis = {
        "interval": "3s",
        "inconclusiveLimit": 1,
        "provider": {"prometheus": {"address": address}},
        "checks": checks,
    }
    rollout = {"steps": STEPS, "trafficRouting": GATEWAY}
    manifest = model_deployment(name, model=version("1.0.0"), rollout=rollout, analysis=analysis)
    assert kubectl.apply(dump(manifest), ns).returncode == 0
    wait_ready(kubectl, ns, name)
    set_version(kubectl, ns, name, "2.0.0")


def analysis_of(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return md(kubectl, ns, name).get("status", {}).get("analysis") or {}


def verdicts(
    kubectl: Kubectl, ns: str, name: str, rounds: int = 1
) -> dict[str, dict[str, Any]] | None:
    """The checks of the latest round, once ``rounds`` rounds are recorded."""
    st = analysis_of(kubectl, ns, name)
    if st.get("rounds", 0) < rounds:
        return None
    return {c["name"]: c for c in st.get("checks") or []} or None


def bucket_answer(samples: bytes) -> Callable[[str], Answer]:
    """``samples`` for the latency histogram's query, healthy counts for the rest."""

    def answer(promql: str) -> Answer:
        if "_bucket" in promql:
            return 200, samples, 0.0
        return 200, vector(({}, "0" if "5.." in promql else "100")), 0.0

    return answer


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (vector(({"instance": "x"}, "3")), "no numeric 'le' label"),
        (b"[]", "not an object"),
        (vector(({"le": "0.1"}, "many")), "not [time, number]"),
    ],
    ids=["sample-without-le", "json-list", "value-not-a-number"],
)
def test_a_malformed_answer_is_an_error_and_abort_is_acted_on_at_once(
    kubectl: Kubectl,
    running_operator: Any,
    namespace: str,
    fake_prometheus: Callable[[Callable[[str], Answer]], FakePrometheus],
    body: bytes,
    words: str,
) -> None:
    fake = fake_prometheus(bucket_answer(body))
    start(kubectl, namespace, "bad", fake.url, [LATENCY, ERRORS])
    checks = wait_for("a round recorded", lambda: verdicts(kubectl, namespace, "bad"), 90)
    assert checks["p90-latency"]["verdict"] == "Error", checks
    assert words in checks["p90-latency"]["message"], checks
    assert checks["errors"]["verdict"] == "Pass", checks  # the rest of the round stands
    wait_for(
        "the canary paused by analysis",
        lambda: canary_of(kubectl, namespace, "bad").get("pauseReason") == "Analysis",
        30,
    )
    asked = time.monotonic()
    assert ctl(kubectl, namespace, "abort", "bad").returncode == 0
    wait_for(
        "the abort acted on",
        lambda: canary_of(kubectl, namespace, "bad").get("phase") == "Aborted",
        20,
    )
    print(f"abort acted on {time.monotonic() - asked:.1f}s after the command")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda q: (500, b'{"status":"error","error":"query processing failed"}', 0.0), "refused"),
        (lambda q: (200, vector(), HANG_SECONDS), "unreachable"),
    ],
    ids=["http-500", "hangs-past-timeout"],
)
def test_a_failing_backend_is_an_error_not_no_data_and_user_queries_are_still_sent(
    kubectl: Kubectl,
    running_operator: Any,
    namespace: str,
    fake_prometheus: Callable[[Callable[[str], Answer]], FakePrometheus],
    answer: Callable[[str], Answer],
    words: str,
) -> None:
    fake = fake_prometheus(answer)
    start(kubectl, namespace, "down", fake.url, [LATENCY, CUSTOM])
    checks = wait_for("a round recorded", lambda: verdicts(kubectl, namespace, "down"), 120)
    for name in ("p90-latency", "custom"):
        assert checks[name]["verdict"] == "Error", checks  # not Inconclusive "no data"
        assert words in checks[name]["message"] and "no data" not in checks[name]["message"]
    assert any("my_custom_metric" in q for q in fake.queries), fake.queries[-5:]
    wait_for(
        "the canary paused by analysis",
        lambda: canary_of(kubectl, namespace, "down").get("pauseReason") == "Analysis",
        30,
    )


def test_a_query_returning_several_series_never_passes(
    kubectl: Kubectl,
    running_operator: Any,
    namespace: str,
    fake_prometheus: Callable[[Callable[[str], Answer]], FakePrometheus],
) -> None:
    two = vector(({"pod": "a"}, "1"), ({"pod": "b"}, "500"))
    fake = fake_prometheus(lambda q: (200, two, 0.0))
    start(kubectl, namespace, "multi", fake.url, [CUSTOM])
    checks = wait_for(
        "two rounds recorded", lambda: verdicts(kubectl, namespace, "multi", rounds=2), 90
    )
    assert checks["custom"]["verdict"] == "Error", checks
    assert "2 series" in checks["custom"]["message"]
    st = md(kubectl, namespace, "multi")["status"]
    # The 5 s pause is long over: a silently picked first series (1 < 10) would have promoted.
    assert st["stableRevision"]["modelVersion"] == "1.0.0" and st["canary"]["phase"] == "Paused", st


def test_an_error_rate_message_never_exceeds_100_percent(
    kubectl: Kubectl,
    running_operator: Any,
    namespace: str,
    fake_prometheus: Callable[[Callable[[str], Answer]], FakePrometheus],
) -> None:
    # increase() extrapolates each series on its own: errors can come out above requests.
    def answer(promql: str) -> Answer:
        return 200, vector(({}, "89.33" if "5.." in promql else "89")), 0.0

    fake = fake_prometheus(answer)
    start(kubectl, namespace, "all-fail", fake.url, [ERRORS])
    checks = wait_for("a round recorded", lambda: verdicts(kubectl, namespace, "all-fail"), 90)
    assert checks["errors"]["verdict"] == "Fail"
    assert "error rate 100.00% (89 of 89 requests)" in checks["errors"]["message"], checks


def test_resume_with_nothing_paused_exits_1_with_a_reason(
    kubectl: Kubectl, running_operator: Any, namespace: str
) -> None:
    kubectl.apply(dump(model_deployment("calm")), namespace)
    wait_ready(kubectl, namespace, "calm")
    done = ctl(kubectl, namespace, "resume", "calm")
    assert done.returncode == 1, done
    assert "nothing to resume" in (done.stderr + done.stdout).lower(), done


def test_an_empty_env_list_is_the_same_revision_as_none(
    kubectl: Kubectl, running_operator: Any, namespace: str
) -> None:
    kubectl.apply(dump(model_deployment("env")), namespace)
    wait_ready(kubectl, namespace, "env")
    before = md(kubectl, namespace, "env")["status"]["stableRevision"]["name"]
    runtime = {"image": "registry.example.com/modelship-runtime:0.1", "env": []}
    kubectl.apply(dump(model_deployment("env", runtime=runtime)), namespace)
    wait_for(
        "the new generation observed",
        lambda: (
            (st := md(kubectl, namespace, "env"))["status"].get("observedGeneration")
            == st["metadata"]["generation"]
            and st["metadata"]["generation"] >= 2
        ),
        30,
    )
    st = md(kubectl, namespace, "env")["status"]
    assert st["stableRevision"]["name"] == before and st.get("canary") is None, st


def test_a_40_kb_error_body_still_lets_status_be_written(
    kubectl: Kubectl,
    running_operator: Any,
    namespace: str,
    fake_prometheus: Callable[[Callable[[str], Answer]], FakePrometheus],
) -> None:
    """A backend's huge error text once went whole into a condition message, over the
    CRD's 32,768 limit, so no status write succeeded and the canary never paused
    (issue 16, item 4)."""
    body = json.dumps({"status": "error", "error": "E" * 40_000}).encode()
    fake = fake_prometheus(lambda q: (500, body, 0.0))
    start(kubectl, namespace, "loud", fake.url, [LATENCY])
    wait_for(
        "the canary paused by analysis",
        lambda: canary_of(kubectl, namespace, "loud").get("pauseReason") == "Analysis",
        90,
    )
    st = md(kubectl, namespace, "loud")["status"]
    assert all(len(c["message"]) <= 32768 for c in st["conditions"])
    check = st["analysis"]["checks"][0]
    assert check["verdict"] == "Error" and "[truncated: " in check["message"], check
    assert len(check["message"]) <= 1024
