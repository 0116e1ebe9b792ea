"""Server-rendered SVG charts: pure functions, data in, an SVG string out.

No clock, no I/O: each chart is a function of the numbers it is given, so the same
status draws the same picture and a unit test can read the result. SVG rather than a
JavaScript chart library because it needs no vendored asset (the dashboard works
offline), it arrives already drawn (no flash of an empty chart, nothing to re-run on
a live update: the server sends the new SVG), and it is testable without a browser.

Every mark carries a <title> (the browser's tooltip) saying the exact number, so the
chart is readable and the numbers are there for a test or a screen reader.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 180
PAD_LEFT = 44
PAD_RIGHT = 12
PAD_TOP = 14
PAD_BOTTOM = 26

VERDICT_COLOURS = {
    "Pass": "#2e7d32",
    "Fail": "#c62828",
    "Inconclusive": "#f9a825",
    "Error": "#6a1b9a",
}
MARKER_COLOURS = {
    "start": "#1565c0",
    "weight": "#1565c0",
    "pause": "#f9a825",
    "resume": "#2e7d32",
    "promote": "#2e7d32",
    "abort": "#c62828",
    "undo": "#6a1b9a",
    "retry": "#1565c0",
}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    """Coordinates with two decimals at most: short, and stable across platforms."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt(value: float | None) -> str:
    """A measured value as people read it: 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"


def _frame(body: list[str], label: str, attrs: str = "") -> str:
    extra = f" {attrs}" if attrs else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{_e(label)}"{extra}>'
        f"<title>{_e(label)}</title>" + "".join(body) + "</svg>"
    )


def _empty(label: str, why: str, attrs: str = "") -> str:
    return _frame(
        [
            f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" '
            f'class="empty">{_e(why)}</text>'
        ],
        label,
        attrs,
    )


@dataclass(frozen=True)
class Scale:
    """Linear map from data [lo, hi] to pixels [a, b] (b < a for a y axis)."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.a + self.b) / 2
        return self.a + (value - self.lo) * (self.b - self.a) / (self.hi - self.lo)


def _y_axis(y: Scale, ticks: Sequence[float], unit: str = "") -> list[str]:
    out = []
    for t in ticks:
        py = _num(y(t))
        out.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{py}" y2="{py}"/>'
            f'<text class="tick" x="{PAD_LEFT - 4}" y="{py}" text-anchor="end" '
            f'dominant-baseline="middle">{_e(fmt(t) + unit)}</text>'
        )
    return out


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / n for i in range(n + 1)]


# ----- rollout timeline ---------------------------------------------------------------------


@dataclass(frozen=True)
class WeightPoint:
    """The canary's set weight from ``at`` (seconds since the epoch) on."""

    at: float
    weight: int


@dataclass(frozen=True)
class Marker:
    """Something that happened: kind is a key of MARKER_COLOURS; text its Event message."""

    at: float
    kind: str
    text: str


def timeline(points: Sequence[WeightPoint], markers: Sequence[Marker], end: float) -> str:
    """The canary's weight over time as a step line (0-100 %), with a vertical mark per
    step change, pause, resume, promote, abort, undo; ``end`` is the right edge (now)."""
    label = "rollout timeline: canary weight over time"
    times = [p.at for p in points] + [m.at for m in markers]
    if not times:
        return _empty(label, "no rollout recorded yet", 'data-chart="timeline"')
    start = min(times)
    end = max(end, max(times), start + 1)
    x = Scale(start, end, PAD_LEFT, WIDTH - PAD_RIGHT)
    y = Scale(0, 100, HEIGHT - PAD_BOTTOM, PAD_TOP)
    body = _y_axis(y, [0, 25, 50, 75, 100], "%")
    ordered = sorted(points, key=lambda p: p.at)
    if ordered:
        path = [f"M{_num(x(ordered[0].at))},{_num(y(ordered[0].weight))}"]
        for cur in ordered[1:]:
            path.append(f"H{_num(x(cur.at))}V{_num(y(cur.weight))}")
        path.append(f"H{_num(x(end))}")
        body.append(f'<path class="weight" d="{"".join(path)}" fill="none"/>')
        for p in ordered:
            body.append(
                f'<circle class="point" cx="{_num(x(p.at))}" cy="{_num(y(p.weight))}" r="3" '
                f'data-weight="{p.weight}"><title>weight {p.weight}%</title></circle>'
            )
    for m in sorted(markers, key=lambda m: m.at):
        px = _num(x(m.at))
        colour = MARKER_COLOURS.get(m.kind, "#555")
        body.append(
            f'<g class="marker" data-kind="{_e(m.kind)}"><line x1="{px}" x2="{px}" '
            f'y1="{PAD_TOP}" y2="{HEIGHT - PAD_BOTTOM}" stroke="{colour}" '
            f'stroke-dasharray="3,2"/><text x="{px}" y="{HEIGHT - 8}" text-anchor="middle" '
            f'fill="{colour}" class="tick">{_e(m.kind)}</text><title>{_e(m.text)}</title></g>'
        )
    body.append(
        f'<text class="tick" x="{PAD_LEFT}" y="{HEIGHT - 2}">{_e(_span(end - start))} shown</text>'
    )
    return _frame(body, label, 'data-chart="timeline"')


def _span(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


# ----- one analysis check: value per round against its threshold ---------------------------


@dataclass(frozen=True)
class RoundValue:
    round: int
    value: float | None
    threshold: float | None
    verdict: str


def check_chart(name: str, rounds: Sequence[RoundValue]) -> str:
    """A check's measured value per analysis round (dots coloured by verdict, joined by
    a line) against its threshold (dashed); a round with no value (no data) is an
    Inconclusive/Error mark on the axis, not a zero."""
    attrs = f'data-check="{_e(name)}"'
    label = f"check {name}: value per analysis round against threshold"
    if not rounds:
        return _empty(label, f"{name}: no rounds yet", attrs)
    values = [r.value for r in rounds if r.value is not None]
    values += [r.threshold for r in rounds if r.threshold is not None]
    lo = min([0.0, *values])
    top = max(values, default=lo)
    # Headroom above the highest point; rounds without any value still get a readable 0-1.
    hi = top + 0.15 * (top - lo) if top > lo else lo + 1.0
    first, last = rounds[0].round, rounds[-1].round
    x = Scale(first - 0.5, last + 0.5, PAD_LEFT, WIDTH - PAD_RIGHT)
    y = Scale(lo, hi, HEIGHT - PAD_BOTTOM, PAD_TOP)
    body = _y_axis(y, _ticks(lo, hi))
    th = [(r.round, r.threshold) for r in rounds if r.threshold is not None]
    if th:
        d = "".join(
            f"{'M' if i == 0 else 'L'}{_num(x(rn))},{_num(y(t))}" for i, (rn, t) in enumerate(th)
        )
        body.append(
            f'<path class="threshold" d="{d}" fill="none" stroke-dasharray="6,3">'
            f"<title>threshold {_e(fmt(th[-1][1]))}</title></path>"
        )
    measured = [(r.round, r.value) for r in rounds if r.value is not None]
    if len(measured) > 1:
        d = "".join(
            f"{'M' if i == 0 else 'L'}{_num(x(rn))},{_num(y(v))}"
            for i, (rn, v) in enumerate(measured)
        )
        body.append(f'<path class="value" d="{d}" fill="none"/>')
    for r in rounds:
        colour = VERDICT_COLOURS.get(r.verdict, "#555")
        tip = f"round {r.round}: {fmt(r.value)} vs {fmt(r.threshold)} -> {r.verdict}"
        cy = y(r.value) if r.value is not None else y(lo)
        body.append(
            f'<circle cx="{_num(x(r.round))}" cy="{_num(cy)}" r="4" fill="{colour}" '
            f'data-round="{r.round}" data-verdict="{_e(r.verdict)}"><title>{_e(tip)}</title>'
            "</circle>"
        )
    body.append(f'<text class="tick" x="{PAD_LEFT}" y="{HEIGHT - 4}">rounds {first}-{last}</text>')
    return _frame(body, label, attrs)


# ----- drift: one feature's live histogram against the reference ----------------------------


def histogram(
    feature: str,
    bins: Sequence[str],
    reference: Sequence[float],
    live: Sequence[float] | None,
    score: float | None = None,
) -> str:
    """Shares per bin (each series normalised to sum 1): reference as outlined bars,
    live as filled bars beside them; ``live`` None when no live counts were read."""
    attrs = f'data-feature="{_e(feature)}"'
    label = f"feature {feature}: live distribution against the reference"
    if not bins:
        return _empty(label, f"{feature}: no reference bins", attrs)
    ref = _shares(reference)
    cur = _shares(live) if live is not None else None
    hi = max([*ref, *(cur or []), 1e-9]) * 1.1
    y = Scale(0, hi, HEIGHT - PAD_BOTTOM, PAD_TOP)
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / len(bins)
    body = _y_axis(y, _ticks(0, hi, 3))
    for i, name in enumerate(bins):
        x0 = PAD_LEFT + i * slot
        bar = slot * 0.4
        r = ref[i] if i < len(ref) else 0.0
        body.append(
            f'<rect class="reference" x="{_num(x0 + slot * 0.08)}" y="{_num(y(r))}" '
            f'width="{_num(bar)}" height="{_num(y(0) - y(r))}">'
            f"<title>{_e(f'{name}: reference {r:.1%}')}</title></rect>"
        )
        if cur is not None:
            c = cur[i] if i < len(cur) else 0.0
            body.append(
                f'<rect class="live" x="{_num(x0 + slot * 0.5)}" y="{_num(y(c))}" '
                f'width="{_num(bar)}" height="{_num(y(0) - y(c))}">'
                f"<title>{_e(f'{name}: live {c:.1%}')}</title></rect>"
            )
        if len(bins) <= 12:
            body.append(
                f'<text class="tick" x="{_num(x0 + slot / 2)}" y="{HEIGHT - 10}" '
                f'text-anchor="middle">{_e(name[:10])}</text>'
            )
    note = "reference (outline) vs live (filled)" if cur is not None else "reference only"
    if score is not None:
        note += f"; score {fmt(score)}"
    body.append(f'<text class="tick" x="{PAD_LEFT}" y="{HEIGHT - 1}">{_e(note)}</text>')
    return _frame(body, label, attrs)


def _shares(counts: Sequence[float]) -> list[float]:
    total = sum(c for c in counts if c > 0)
    return [max(c, 0.0) / total if total else 0.0 for c in counts]


# ----- drift: score per window against the threshold -----------------------------------------


@dataclass(frozen=True)
class WindowScore:
    """One evaluated drift window: its highest feature score, and whether it counted
    toward the retraining trigger (a Drifted window, one of a consecutive run)."""

    at: float
    score: float | None
    verdict: str
    counted: bool


def score_chart(windows: Sequence[WindowScore], threshold: float | None) -> str:
    label = "drift score per window against the threshold"
    attrs = 'data-chart="drift-scores"'
    if not windows:
        return _empty(label, "no drift window evaluated yet", attrs)
    scores = [w.score for w in windows if w.score is not None]
    top = max([*scores, threshold or 0.0])
    hi = top * 1.2 if top > 0 else 1.0
    n = len(windows)
    x = Scale(-0.5, n - 0.5, PAD_LEFT, WIDTH - PAD_RIGHT)
    y = Scale(0, hi, HEIGHT - PAD_BOTTOM, PAD_TOP)
    body = _y_axis(y, _ticks(0, hi))
    if threshold is not None:
        ty = _num(y(threshold))
        body.append(
            f'<line class="threshold" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{ty}" '
            f'y2="{ty}" stroke-dasharray="6,3"><title>threshold {_e(fmt(threshold))}</title>'
            "</line>"
        )
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / n
    for i, w in enumerate(windows):
        s = w.score or 0.0
        cls = "window counted" if w.counted else "window"
        tip = f"window {i + 1}: score {fmt(w.score)} -> {w.verdict}"
        if w.counted:
            tip += " (counted toward retraining)"
        body.append(
            f'<rect class="{cls}" x="{_num(x(i) - slot * 0.35)}" y="{_num(y(s))}" '
            f'width="{_num(slot * 0.7)}" height="{_num(y(0) - y(s))}" '
            f'data-verdict="{_e(w.verdict)}" data-counted="{str(w.counted).lower()}">'
            f"<title>{_e(tip)}</title></rect>"
        )
    body.append(f'<text class="tick" x="{PAD_LEFT}" y="{HEIGHT - 4}">{n} window(s)</text>')
    return _frame(body, label, attrs)
