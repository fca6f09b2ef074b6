"""Server-drawn SVG charts: the data of each picture, which a template renders.

Pure functions of objects already loaded (no queries here): a step chart of exposure over
time (planned against actual), a chart of a gate's measurements with its thresholds, and
stacked bars of notices per message. Each returns coordinates *and* labels, so a template
draws the SVG and a data table of the same rows, and tests check the data itself.

Series never differ by colour alone: planned is dashed and actual solid, verdicts have their
own point shapes, bar segments carry their count as text and a pattern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

# Release and phase states, as strings, so this module needs nothing from models.
_ROLLBACK_RELEASE = {"rolling_back", "rolled_back"}
_LIVE_RELEASE = {"in_progress", "paused", "rolling_back"}


@dataclass
class Tick:
    pos: float  # x for time ticks, y for value ticks
    label: str


@dataclass
class Point:
    x: float
    y: float
    label: str  # the whole point in words: the <title> and the table row
    when: datetime | None = None
    value: float | None = None
    shape: str = "circle"  # circle | square | triangle | diamond
    css: str = ""
    points: str = ""  # polygon corners for triangle and diamond
    verdict: str = ""  # a measurement's verdict, in words
    shown: str = ""  # the value as the chart writes it

    @property
    def left(self) -> float:  # squares are drawn from their corner
        return round(self.x - SHAPE_RADIUS, 1)

    @property
    def top(self) -> float:
        return round(self.y - SHAPE_RADIUS, 1)


@dataclass
class Series:
    key: str
    label: str
    dash: str  # stroke-dasharray, "" for a solid line
    path: str  # SVG path: M, then H/V steps (step chart) or L segments
    points: list[Point] = field(default_factory=list)


@dataclass
class Plot:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    x_label_gap: int = 16  # time labels sit this far below the axis

    @property
    def x_label_y(self) -> int:
        return self.height - self.bottom + self.x_label_gap

    @property
    def x_end(self) -> int:
        return self.width - self.right

    @property
    def y_end(self) -> int:
        return self.height - self.bottom

    @property
    def inner_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> int:
        return self.height - self.top - self.bottom


SHAPE_RADIUS = 4


def _fmt_time(value: datetime, fmt: str = "{b} {d}, {t}") -> str:
    local = timezone.localtime(value)
    return fmt.format(b=local.strftime("%b"), d=local.day, t=local.strftime("%H:%M"))


def _fmt_num(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class _TimeScale:
    def __init__(self, start: datetime, end: datetime, plot: Plot):
        if end <= start:
            start, end = start - timedelta(minutes=30), start + timedelta(minutes=30)
        self.start, self.end, self.plot = start, end, plot
        self.span = (end - start).total_seconds()

    def x(self, value: datetime) -> float:
        share = (value - self.start).total_seconds() / self.span
        return round(self.plot.left + share * self.plot.inner_width, 1)

    def ticks(self, most: int = 6) -> list[Tick]:
        steps = [60, 300, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400]
        step = next((s for s in steps if self.span / s <= most), None)
        if step is None:  # months: whole days
            step = math.ceil(self.span / most / 86400) * 86400
        local_start = timezone.localtime(self.start)
        # Ticks fall on round local times: whole hours, whole days.
        midnight = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = (local_start - midnight).total_seconds()
        first = midnight + timedelta(seconds=-(-offset // step) * step)
        days = self.span > 86400 or timezone.localtime(self.end).date() != local_start.date()
        fmt = ("{b} {d}" if step >= 86400 else "{b} {d} {t}") if days else "{t}"
        ticks = []
        t = first
        while t <= self.end:
            ticks.append(Tick(self.x(t), _fmt_time(t, fmt)))
            t += timedelta(seconds=step)
        return ticks


class _ValueScale:
    def __init__(self, low: float, high: float, plot: Plot):
        if high <= low:
            low, high = low - 1, high + 1
        self.low, self.high, self.plot = low, high, plot

    def y(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return round(self.plot.y_end - share * self.plot.inner_height, 1)

    def ticks(self, count: int = 4, unit: str = "") -> list[Tick]:
        step = (self.high - self.low) / count
        return [Tick(self.y(self.low + i * step), _fmt_num(self.low + i * step) + unit) for i in range(count + 1)]


def nice_range(low: float, high: float, count: int = 4) -> tuple[float, float, int]:
    """Widen [low, high] to round numbers: a step of 1, 2, 2.5 or 5 times a power of ten."""
    if high <= low:
        low, high = low - (abs(low) or 1) * 0.5, high + (abs(high) or 1) * 0.5
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    nice_low = math.floor(low / step) * step
    nice_high = math.ceil(high / step) * step
    return nice_low, nice_high, max(1, round((nice_high - nice_low) / step))


# --- Exposure over time ---------------------------------------------------------------------


@dataclass
class Step:
    when: datetime
    exposure: int
    what: str  # the phase name, or what dropped the exposure to 0


@dataclass
class ExposureChart:
    plot: Plot
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    planned: Series | None
    actual: Series | None
    now: Tick | None
    rows: list[dict]  # the fallback table: series, what, exposure, time

    @property
    def series(self) -> list[Series]:
        return [s for s in (self.planned, self.actual) if s is not None]


def planned_steps(release, phases) -> tuple[list[Step], datetime | None]:
    """When each phase was planned to start, and when the last one's soak would end.

    A phase without a planned start follows the one before it once that one's soak is over;
    the first falls back to the release's planned start.
    """
    steps: list[Step] = []
    at: datetime | None = None
    for i, phase in enumerate(phases):
        if phase.planned_start is not None:
            at = phase.planned_start
        elif i == 0:
            at = release.planned_start
        elif at is not None:
            at = at + timedelta(minutes=phases[i - 1].min_soak_minutes)
        if at is not None:
            steps.append(Step(at, phase.exposure_percent, phase.name))
    end = None
    if steps and phases:
        end = steps[-1].when + timedelta(minutes=phases[-1].min_soak_minutes)
    return steps, end


def actual_steps(release, phases, *, rollback_at: datetime | None = None) -> tuple[list[Step], datetime | None]:
    """What exposure the release had from when: each started phase, then 0 after a rollback or
    a cancel. Also the time where the line stops (None: it runs on to now)."""
    steps = [Step(p.started_at, p.exposure_percent, p.name) for p in phases if p.started_at is not None]
    steps.sort(key=lambda s: s.when)
    if not steps:
        return [], None
    if release.status in _ROLLBACK_RELEASE:
        rolled = [p.finished_at for p in phases if p.status == "rolled_back" and p.finished_at]
        at = rollback_at or (max(rolled) if rolled else None) or release.finished_at
        if at is not None:
            steps.append(Step(at, 0, "Rolled back"))
    elif release.status == "cancelled" and release.finished_at is not None:
        steps.append(Step(release.finished_at, 0, "Cancelled"))
    end = None if release.status in _LIVE_RELEASE else release.finished_at
    return steps, end


def _step_series(key: str, label: str, dash: str, steps: list[Step], end: datetime, xs, ys) -> Series:
    """A step line: from 0 up to the first exposure, then across (H) and up or down (V)."""
    first = steps[0]
    parts = [f"M{xs.x(first.when)} {ys.y(0)}", f"V{ys.y(first.exposure)}"]
    for step in steps[1:]:
        parts.append(f"H{xs.x(step.when)}")
        parts.append(f"V{ys.y(step.exposure)}")
    if end > steps[-1].when:
        parts.append(f"H{xs.x(end)}")
    points = [
        Point(
            x=xs.x(s.when),
            y=ys.y(s.exposure),
            when=s.when,
            value=s.exposure,
            label=f"{label}: {s.what} at {s.exposure}% from {_fmt_time(s.when)}",
        )
        for s in steps
    ]
    return Series(key=key, label=label, dash=dash, path=" ".join(parts), points=points)


def exposure_chart(
    release, phases, *, now: datetime, rollback_at: datetime | None = None, width: int = 640, height: int = 220
) -> ExposureChart | None:
    """Exposure over time, planned (dashed) against actual (solid). None: nothing to place in time."""
    planned, planned_end = planned_steps(release, phases)
    actual, actual_end = actual_steps(release, phases, rollback_at=rollback_at)
    if not planned and not actual:
        return None
    times = [s.when for s in planned + actual]
    if planned_end:
        times.append(planned_end)
    if actual:
        times.append(actual_end or now)
    live = release.status in _LIVE_RELEASE
    if live:
        times.append(now)
    plot = Plot(width=width, height=height, left=44, top=12, right=16, bottom=34)
    xs = _TimeScale(min(times), max(times), plot)
    ys = _ValueScale(0, 100, plot)
    planned_series = (
        _step_series("planned", "Planned", "6 4", planned, planned_end or planned[-1].when, xs, ys) if planned else None
    )
    actual_series = _step_series("actual", "Actual", "", actual, actual_end or now, xs, ys) if actual else None
    now_tick = None
    if xs.start <= now <= xs.end:
        now_tick = Tick(xs.x(now), f"now, {_fmt_time(now)}")
    rows = [
        {"series": s.label, "what": step.what, "exposure": step.exposure, "when": step.when}
        for s, steps in ((planned_series, planned), (actual_series, actual))
        if s is not None
        for step in steps
    ]
    return ExposureChart(
        plot=plot,
        x_ticks=xs.ticks(),
        y_ticks=ys.ticks(4, "%"),
        planned=planned_series,
        actual=actual_series,
        now=now_tick,
        rows=rows,
    )


# --- Gate measurements ----------------------------------------------------------------------

VERDICT_SHAPES = {"success": "circle", "failure": "square", "inconclusive": "triangle", "error": "diamond"}
VERDICT_LABELS = {"success": "Success", "failure": "Failure", "inconclusive": "Inconclusive", "error": "Provider error"}
OPERATOR_SYMBOLS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}


@dataclass
class Threshold:
    key: str  # success | failure
    label: str
    value: float
    y: float
    dash: str


@dataclass
class MeasurementChart:
    plot: Plot
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    points: list[Point]
    line: str  # polyline through the measurements that have a value
    thresholds: list[Threshold]
    legend: list[Point]  # one sample point per verdict shown
    no_value_y: float | None  # where measurements without a value sit, if any


def _shape_corners(shape: str, x: float, y: float, r: float = SHAPE_RADIUS) -> str:
    if shape == "triangle":
        corners = [(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)]
    elif shape == "diamond":
        corners = [(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)]
    else:
        return ""
    return " ".join(f"{round(a, 1)},{round(b, 1)}" for a, b in corners)


def _verdict_point(verdict: str, x: float, y: float, label: str, **kw) -> Point:
    shape = VERDICT_SHAPES.get(verdict, "diamond")
    return Point(
        x=x,
        y=y,
        label=label,
        shape=shape,
        css=f"verdict-{verdict}",
        points=_shape_corners(shape, x, y),
        verdict=VERDICT_LABELS.get(verdict, verdict),
        **kw,
    )


def gate_thresholds(config: dict | None) -> list[tuple[str, str, float]]:
    """(key, label, value) of a metric gate's success and failure conditions."""
    found = []
    for key, words in (("success_condition", "success"), ("failure_condition", "failure")):
        condition = (config or {}).get(key)
        if isinstance(condition, dict) and isinstance(condition.get("value"), int | float):
            op = OPERATOR_SYMBOLS.get(condition.get("op"), condition.get("op"))
            found.append((words, f"{words} {op} {_fmt_num(condition['value'])}", float(condition["value"])))
    return found


def measurement_chart(
    measurements, *, thresholds: list[tuple[str, str, float]] = (), width: int = 360, height: int = 140
) -> MeasurementChart | None:
    """Measurements over time (any order in, oldest first out), thresholds as lines,
    each point shaped by its verdict."""
    if not measurements:
        return None
    ms = sorted(measurements, key=lambda m: (m.taken_at, m.pk or 0))
    values = [m.value for m in ms if m.value is not None] + [t[2] for t in thresholds]
    low, high, steps = nice_range(*((min(values), max(values)) if values else (0.0, 1.0)))
    missing = any(m.value is None for m in ms)
    plot = Plot(
        width=width,
        height=height,
        left=48,
        top=10,
        right=12,
        bottom=34 + (12 if missing else 0),
        x_label_gap=28 if missing else 16,
    )
    xs = _TimeScale(ms[0].taken_at, ms[-1].taken_at, plot)
    ys = _ValueScale(low, high, plot)
    no_value_y = round(plot.y_end + 12, 1) if missing else None
    points = []
    for m in ms:
        shown = "no value" if m.value is None else _fmt_num(m.value)
        verdict_label = VERDICT_LABELS.get(m.verdict, m.verdict)
        label = f"{_fmt_time(m.taken_at)}: {shown}, {verdict_label}"
        y = no_value_y if m.value is None else ys.y(m.value)
        points.append(
            _verdict_point(m.verdict, xs.x(m.taken_at), y, label, when=m.taken_at, value=m.value, shown=shown)
        )
    line = " ".join(f"{p.x},{p.y}" for p in points if p.value is not None)
    lines = [
        Threshold(key=key, label=label, value=value, y=ys.y(value), dash="6 3" if key == "success" else "2 3")
        for key, label, value in thresholds
    ]
    shown = {m.verdict for m in ms}
    legend = [_verdict_point(v, 0, 0, VERDICT_LABELS[v]) for v in VERDICT_SHAPES if v in shown]
    return MeasurementChart(
        plot=plot,
        x_ticks=xs.ticks(4),
        y_ticks=ys.ticks(steps),
        points=points,
        line=line,
        thresholds=lines,
        legend=legend,
        no_value_y=no_value_y,
    )


# --- Notices per message --------------------------------------------------------------------


@dataclass
class Segment:
    key: str  # sent | failed | pending
    count: int
    x: float
    width: float
    label: str


@dataclass
class Bar:
    label: str
    y: float
    segments: list[Segment]
    total: int
    summary: str
    counts: dict[str, int] = field(default_factory=dict)  # every key, zeros too: the table row


@dataclass
class BarChart:
    plot: Plot
    bars: list[Bar]
    bar_height: int
    most: int
    keys: list[tuple[str, str]]  # (key, legend text), in segment order


NOTICE_SEGMENTS = [("sent", "sent"), ("failed", "failed"), ("pending", "pending")]


def notices_chart(rows: list[tuple[str, dict[str, int]]], *, width: int = 560) -> BarChart | None:
    """One horizontal bar per message: sent, failed and pending notices stacked, lengths
    proportional to counts on a scale shared by all bars."""
    rows = [(name, counts) for name, counts in rows if sum(counts.get(k, 0) for k, _ in NOTICE_SEGMENTS)]
    if not rows:
        return None
    bar_height, gap = 18, 12
    plot = Plot(width=width, height=len(rows) * (bar_height + gap) + 8, left=160, top=4, right=150, bottom=4)
    most = max(sum(c.get(k, 0) for k, _ in NOTICE_SEGMENTS) for _, c in rows)
    bars = []
    for i, (name, counts) in enumerate(rows):
        x = float(plot.left)
        segments = []
        for key, words in NOTICE_SEGMENTS:
            n = counts.get(key, 0)
            if not n:
                continue
            w = round(n / most * plot.inner_width, 1)
            segments.append(Segment(key=key, count=n, x=round(x, 1), width=w, label=f"{name}: {n} {words}"))
            x += w
        total = sum(s.count for s in segments)
        summary = ", ".join(f"{s.count} {dict(NOTICE_SEGMENTS)[s.key]}" for s in segments)
        bars.append(
            Bar(
                label=name,
                y=plot.top + i * (bar_height + gap),
                segments=segments,
                total=total,
                summary=summary,
                counts={key: counts.get(key, 0) for key, _ in NOTICE_SEGMENTS},
            )
        )
    return BarChart(plot=plot, bars=bars, bar_height=bar_height, most=most, keys=NOTICE_SEGMENTS)
