"""The dashboard's pages from objects: the DOM contract, escaping, history, pipelines."""

from __future__ import annotations

import re
from typing import Any

import pytest

from modelship.dashboard.views import deployment, drift, fleet, promotions
from modelship.dashboard.views.history import History, observe
from modelship.drift.reference import CategoricalFeature, NumericFeature

T0 = "2026-01-01T00:00:00Z"


def md(name: str = "m", ns: str = "prod", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "model": {"name": "fraud", "version": "1.1.0", "uri": "s3://m/1.1.0/"},
            "runtime": {"image": "r:1"},
            "rollout": {"steps": [{"setWeight": 20}, {"pause": {}}]},
            "analysis": {
                "checks": [
                    {"name": "p99", "latency": {"max": "250ms"}},
                    {"name": "judge", "compare": {"metric": "latency"}},
                ]
            },
        },
        "status": status,
    }


def canary(weight: int = 20, phase: str = "Paused", at: str = T0, **extra: Any) -> dict[str, Any]:
    return {
        "revision": {"name": "rev2", "modelVersion": "1.1.0"},
        "phase": phase,
        "step": 1,
        "weight": weight,
        "actualWeight": weight,
        "startedAt": T0,
        "stepStartedAt": at,
        "lastProgressAt": at,
        **extra,
    }


def analysis(rounds: int, value: float, verdict: str = "Pass") -> dict[str, Any]:
    return {
        "revision": "rev2",
        "since": T0,
        "rounds": rounds,
        "verdict": verdict,
        "lastRoundAt": f"2026-01-01T00:0{rounds}:00Z",
        "checks": [
            {"name": "p99", "verdict": verdict, "value": value, "threshold": 0.25},
            {"name": "judge", "verdict": "Inconclusive", "message": "too few requests"},
        ],
    }


PAUSED: dict[str, Any] = {
    "phase": "Paused",
    "stableRevision": {"name": "rev1", "modelVersion": "1.0.0"},
    "canary": canary(),
    "analysis": analysis(1, 0.1),
    "drift": {
        "verdict": "Drifted",
        "method": "jensenshannon",
        "threshold": 0.1,
        "window": "1h",
        "evaluatedAt": T0,
        "consecutiveDrifted": 2,
        "features": [{"name": "age", "score": 0.3, "pValue": 0.001, "drifted": True}],
    },
    "retraining": {
        "count": 1,
        "active": {"name": "m-retrain-1", "startedAt": T0, "outcome": "Running", "reason": "drift"},
    },
    "history": [
        {"revision": "rev1", "number": 1, "modelVersion": "1.0.0", "digest": "sha256:" + "a" * 64}
    ],
}


def test_fleet_row_fields() -> None:
    f = fleet.fields(md(**PAUSED))
    assert f == {
        "phase": "Paused",
        "stable": "1.0.0",
        "canary": "1.1.0",
        "weight": "set 20% / actual 20%",
        "verdict": "Pass",
        "drift": "Drifted",
        "retraining": "running m-retrain-1",
        "ready": "",
    }


def test_fleet_row_of_an_object_without_status() -> None:
    f = fleet.fields(md())
    assert (f["phase"], f["canary"], f["weight"], f["drift"], f["retraining"]) == (
        "Unknown",
        "",
        "-",
        "-",
        "-",
    )


def test_fleet_page_dom_contract_and_filter() -> None:
    objs = [md("a", "dev", **PAUSED), md("b", "prod", phase="Healthy")]
    html = fleet.render(objs, None, ["dev", "prod"], "tok", "")
    assert '<table id="fleet">' in html and '<select id="namespace"' in html
    assert 'tr data-md="dev/a"' in html and 'href="/md/dev/a"' in html
    assert '<td data-field="weight">set 20% / actual 20%</td>' in html
    assert '<meta name="modelship-csrf" content="tok">' in html
    only = fleet.fragments(objs, "prod")["fleet-body"]
    assert 'data-md="prod/b"' in only and 'data-md="dev/a"' not in only


def test_fleet_of_a_hundred_renders_in_one_pass() -> None:
    objs = [md(f"m{i:03}", "ns", **PAUSED) for i in range(100)]
    html = fleet.render(objs, None, ["ns"], "t", "")
    assert html.count("<tr data-md=") == 100
    assert re.findall(r'data-md="ns/(m\d+)"', html)[:3] == ["m000", "m001", "m002"]


HOSTILE = '"><script>alert(1)</script>'


def test_cluster_text_is_escaped_everywhere() -> None:
    st = {**PAUSED, "canary": canary(message=HOSTILE), "analysis": analysis(1, 0.1)}
    st["analysis"]["message"] = HOSTILE
    st["analysis"]["checks"][0]["message"] = HOSTILE
    obj = md(**st)
    events = [{"reason": HOSTILE, "message": HOSTILE, "lastTimestamp": T0, "type": "Warning"}]
    pages = [
        fleet.render([obj], HOSTILE, [HOSTILE], HOSTILE, HOSTILE),
        deployment.render(obj, events, History(), 0.0, "t", HOSTILE),
        drift.render(obj, drift.fragments(obj, HOSTILE, None, HOSTILE, [], History()), "t"),
    ]
    for html in pages:
        assert "<script>alert" not in html


def test_deployment_page_dom_contract() -> None:
    obj = md(**PAUSED)
    html = deployment.render(obj, [], History(), 1e9, "t", "")
    assert re.search(r'<span class="badge" id="phase">Paused</span>', html)
    assert '<div id="timeline"><svg' in html
    assert 'svg[data-check="p99"]' not in html and 'data-check="p99"' in html
    assert 'data-check="judge"' in html and "judge (judge)" in html
    assert "sha256:" + "a" * 64 in html
    for action in ("promote", "promote-full", "abort", "retry", "pause", "resume", "undo"):
        assert f'<button type="button" data-action="{action}"' in html
    assert 'data-kind="ModelDeployment" data-namespace="prod" data-name="m"' in html
    for id_ in ("confirm", "confirm-yes", "confirm-no", "action-result", "events", "verdicts"):
        assert f'id="{id_}"' in html


def test_history_adds_one_round_per_new_round_and_resets_per_canary() -> None:
    h = History()
    for rounds, value in ((1, 0.1), (1, 0.1), (2, 0.2), (3, 0.3)):
        h = observe(h, md(**{**PAUSED, "analysis": analysis(rounds, value)}))
    assert [(r.round, r.value) for r in h.checks["p99"]] == [(1, 0.1), (2, 0.2), (3, 0.3)]
    other = {**analysis(1, 0.9), "revision": "rev3"}
    h = observe(h, md(**{**PAUSED, "analysis": other}))
    assert [(r.revision, r.round) for r in h.checks["p99"]] == [("rev3", 1)]


def test_history_unchanged_status_returns_the_same_history() -> None:
    h = observe(History(), md(**PAUSED))
    assert observe(h, md(**PAUSED)) is h


def test_history_timeline_ends_when_the_canary_is_promoted() -> None:
    h = observe(History(), md(**PAUSED))
    h = observe(h, md(**{**PAUSED, "canary": canary(50, "Progressing", "2026-01-01T00:05:00Z")}))
    done = {
        **PAUSED,
        "canary": None,
        "history": [{"revision": "rev2", "modelVersion": "1.1.0", "deployedAt": T0}],
    }
    h = observe(h, md(**done))
    assert [(w.weight, w.phase) for w in h.weights] == [
        (20, "Paused"),
        (50, "Progressing"),
        (100, "Done"),
    ]


def test_timeline_from_events_and_status() -> None:
    events = [
        {"reason": "CanaryStarted", "message": "canary 1.1.0", "lastTimestamp": T0},
        {"reason": "CanaryWeight", "message": "canary at 20% (step 1)", "lastTimestamp": T0},
        {"reason": "CanaryPaused", "message": "paused", "lastTimestamp": "2026-01-01T00:01:00Z"},
        {"reason": "Aborted", "message": "by hand", "lastTimestamp": "2026-01-01T00:02:00Z"},
    ]
    st = fleet.status_of(md(**PAUSED))
    points, markers = deployment.timeline_data(st, events, History())
    assert [m.kind for m in markers] == ["start", "pause", "abort"]
    assert [p.weight for p in points] == [20, 0]


def test_numeric_and_categorical_bins() -> None:
    labels, counts = drift.reference_bins(NumericFeature((1.0, 2.0), (5, 10, 5)))
    assert labels == ["<1", "1-2", ">=2"] and counts == [5.0, 10.0, 5.0]
    labels, counts = drift.reference_bins(CategoricalFeature({"b": 2, "a": 1}))
    assert labels == ["a", "b"] and counts == [1.0, 2.0]


def test_drift_page_scores_features_and_jobs() -> None:
    obj = md(**PAUSED)
    job = {
        "metadata": {"name": "m-retrain-1", "creationTimestamp": T0},
        "status": {"active": 1, "startTime": T0},
    }
    f = drift.fragments(obj, "ConfigMap ref not found", None, "", [job], History())
    assert 'data-counted="true"' in f["drift-scores"]
    assert 'data-feature="age"' in f["features"]
    assert 'data-job="m-retrain-1"' in f["retraining-jobs"] and "Running" in f["retraining-jobs"]


def promo(name: str, src: str, dst: str, phase: str = "WaitingForApproval") -> dict[str, Any]:
    (sn, sm), (dn, dm) = src.split("/"), dst.split("/")
    return {
        "metadata": {"name": name, "namespace": dn},
        "spec": {"from": {"name": sm, "namespace": sn}, "to": {"name": dm}},
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("name", "edges", "expected"),
    [
        ("one", [("dev/m", "staging/m")], [["dev/m", "staging/m"]]),
        (
            "chain given out of order",
            [("staging/m", "prod/m"), ("dev/m", "staging/m")],
            [["dev/m", "staging/m", "prod/m"]],
        ),
        (
            "fan out",
            [("staging/m", "eu/m"), ("staging/m", "us/m")],
            [["staging/m", "eu/m", "us/m"]],
        ),
        ("two pipelines", [("a/x", "b/x"), ("c/y", "d/y")], [["a/x", "b/x"], ["c/y", "d/y"]]),
        # A cycle has no start: it begins where the first promotion (by namespace) does.
        ("a cycle still shows", [("a/x", "b/x"), ("b/x", "a/x")], [["b/x", "a/x"]]),
    ],
)
def test_chains(name: str, edges: list[tuple[str, str]], expected: list[list[str]]) -> None:
    ps = [promo(f"p{i}", a, b) for i, (a, b) in enumerate(edges)]
    assert promotions.chains(ps) == expected, name


def test_promotion_page_dom_contract() -> None:
    ps = [promo("to-staging", "dev/m", "staging/m"), promo("to-prod", "staging/m", "prod/m")]
    ps[1]["status"]["evidence"] = {
        "run": 1,
        "promotion": "prod/to-prod",
        "model": {"name": "fraud", "version": "1.4.0", "uri": "s3://x"},
        "source": {"namespace": "staging", "name": "m"},
        "target": {"namespace": "prod", "name": "m"},
        "outcome": "Running",
        "startedAt": T0,
        "gates": [
            {"name": "soakTime", "verdict": "Pass", "measuredAt": T0, "value": 3600},
            {"name": "approval", "verdict": "Waiting", "measuredAt": T0},
        ],
        "soak": {"since": T0, "remaining": "0s"},
        "approvals": [{"user": "alice", "seenAt": T0}],
    }
    deployments = {"staging/m": md("m", "staging", **PAUSED)}
    html = promotions.render(ps[1], ps, deployments, "t")
    envs = re.findall(r'data-env="([^"]+)"', html)
    assert envs == ["dev", "staging", "prod"]
    assert re.search(r'data-env="staging".*?data-field="version">1.0.0<', html, re.S)
    assert 'data-gate="soakTime"' in html and 'data-gate="approval"' in html
    assert 'data-approver="alice"' in html and "remaining 0s" in html
    assert 'data-action="approve"' in html and 'data-action="reject"' in html
    listing = promotions.render_list(ps, deployments, "t", "")
    assert 'data-promotion="prod/to-prod"' in listing and 'id="pipeline"' in listing
