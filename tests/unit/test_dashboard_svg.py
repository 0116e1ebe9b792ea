"""The dashboard's SVG charts: pure functions whose output says the numbers drawn."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from modelship.dashboard.views import svg

NS = "{http://www.w3.org/2000/svg}"


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text)  # well-formed XML, or this raises
    assert root.tag == f"{NS}svg"
    return root


def titles(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}title")]


def test_check_chart_marks_each_round_with_value_threshold_and_verdict() -> None:
    rounds = [
        svg.RoundValue(1, 0.120, 0.25, "Pass"),
        svg.RoundValue(2, None, 0.25, "Inconclusive"),
        svg.RoundValue(3, 0.412, 0.25, "Fail"),
    ]
    root = parse(svg.check_chart("p99-latency", rounds))
    assert root.get("data-check") == "p99-latency"
    dots = root.findall(f".//{NS}circle")
    assert [(d.get("data-round"), d.get("data-verdict")) for d in dots] == [
        ("1", "Pass"),
        ("2", "Inconclusive"),
        ("3", "Fail"),
    ]
    assert dots[2].get("fill") == svg.VERDICT_COLOURS["Fail"]
    texts = titles(root)
    assert "round 3: 0.412 vs 0.25 -> Fail" in texts
    assert "round 2: - vs 0.25 -> Inconclusive" in texts  # no data is not drawn as 0
    assert "threshold 0.25" in texts
    # A higher value is drawn higher (smaller y).
    assert float(dots[2].get("cy", "0")) < float(dots[0].get("cy", "0"))


def test_check_chart_threshold_line_above_passing_values() -> None:
    root = parse(svg.check_chart("errors", [svg.RoundValue(1, 0.001, 0.01, "Pass")]))
    path = root.find(f".//{NS}path[@class='threshold']")
    assert path is not None
    ys = [float(y) for y in re.findall(r",([\d.]+)", path.get("d", ""))]
    dot = root.find(f".//{NS}circle")
    assert dot is not None and all(y < float(dot.get("cy", "0")) for y in ys)


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("check without rounds", lambda: svg.check_chart("x", [])),
        ("empty timeline", lambda: svg.timeline([], [], 100.0)),
        ("histogram without bins", lambda: svg.histogram("f", [], [], None)),
        ("no windows", lambda: svg.score_chart([], 0.1)),
    ],
)
def test_empty_charts_say_why(name: str, render: object) -> None:
    assert callable(render)
    root = parse(render())
    text = root.find(f"{NS}text")
    assert text is not None and text.get("class") == "empty" and text.text, name


def test_timeline_steps_through_weights_and_marks_events() -> None:
    points = [svg.WeightPoint(100.0, 0), svg.WeightPoint(110.0, 20), svg.WeightPoint(150.0, 50)]
    markers = [svg.Marker(130.0, "pause", "CanaryPaused: step 1"), svg.Marker(170.0, "abort", "x")]
    root = parse(svg.timeline(points, markers, 200.0))
    assert root.get("data-chart") == "timeline"
    weights = [c.get("data-weight") for c in root.iter(f"{NS}circle")]
    assert weights == ["0", "20", "50"]
    kinds = [g.get("data-kind") for g in root.iter(f"{NS}g")]
    assert kinds == ["pause", "abort"]
    d = root.find(f".//{NS}path[@class='weight']")
    assert d is not None
    # A step line: horizontal then vertical moves only, ending at the right edge (now).
    assert re.fullmatch(r"M[\d.]+,[\d.]+(H[\d.]+V[\d.]+)+H[\d.]+", d.get("d", ""))
    assert d.get("d", "").endswith(f"H{svg.WIDTH - svg.PAD_RIGHT}")


def test_histogram_normalises_each_series() -> None:
    root = parse(svg.histogram("age", ["a", "b"], [10, 30], [3, 1], score=0.2))
    assert root.get("data-feature") == "age"
    texts = titles(root)
    assert "a: reference 25.0%" in texts and "b: reference 75.0%" in texts
    assert "a: live 75.0%" in texts and "b: live 25.0%" in texts
    assert len(root.findall(f".//{NS}rect[@class='live']")) == 2


def test_histogram_without_live_counts_draws_the_reference_only() -> None:
    root = parse(svg.histogram("age", ["a", "b"], [1, 1], None))
    assert root.findall(f".//{NS}rect[@class='live']") == []
    assert len(root.findall(f".//{NS}rect[@class='reference']")) == 2


def test_score_chart_marks_windows_that_counted() -> None:
    windows = [
        svg.WindowScore(1.0, 0.02, "NotDrifted", False),
        svg.WindowScore(2.0, 0.3, "Drifted", True),
        svg.WindowScore(3.0, None, "Inconclusive", False),
    ]
    root = parse(svg.score_chart(windows, 0.1))
    bars = root.findall(f".//{NS}rect")
    assert [b.get("data-counted") for b in bars] == ["false", "true", "false"]
    assert bars[1].get("class") == "window counted"
    assert "window 2: score 0.3 -> Drifted (counted toward retraining)" in titles(root)
    assert "threshold 0.1" in titles(root)


def test_names_are_escaped() -> None:
    hostile = '"><script>alert(1)</script>'
    for text in (
        svg.check_chart(hostile, [svg.RoundValue(1, 1.0, 2.0, "Pass")]),
        svg.histogram(hostile, [hostile], [1.0], [1.0]),
        svg.timeline([svg.WeightPoint(1.0, 10)], [svg.Marker(2.0, "undo", hostile)], 3.0),
    ):
        assert "<script>" not in text
        parse(text)


def test_same_input_same_picture() -> None:
    rounds = [svg.RoundValue(i, i * 0.1, 0.5, "Pass") for i in range(1, 30)]
    assert svg.check_chart("c", rounds) == svg.check_chart("c", rounds)


def tick_labels(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text") if t.get("class") == "tick"]


def test_rounds_without_any_value_get_a_readable_axis() -> None:
    # All Inconclusive (no data) and no threshold: the axis is 0-1, not 0 to 1e-09.
    rounds = [svg.RoundValue(n, None, None, "Inconclusive") for n in (1, 2, 3)]
    labels = tick_labels(parse(svg.check_chart("judge", rounds)))
    assert labels and not any("e-" in label for label in labels), labels
    windows = [svg.WindowScore(t, 0.0, "NotDrifted", False) for t in (0.0, 1.0)]
    labels = tick_labels(parse(svg.score_chart(windows, None)))
    assert labels and not any("e-" in label for label in labels), labels
