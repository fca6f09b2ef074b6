"""The calendar's Gantt chart as plain geometry: releases and their phases in, rows, bars,
freeze bands, ticks and a today line with coordinates and labels out. No Django, no
queries; templates/rollouts/calendar.html draws what this returns.

A phase's bar runs from when it started (or its planned start, or the end of the phase
before it) to when it finished; a phase still running or not started yet ends at its
estimated end, the start plus its minimum soak. Bars outside the window are left out and
bars crossing its edges are clipped (the tooltip still gives the real dates).
"""

import calendar as _calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

LABEL_WIDTH = 200  # the column of release names on the left
HEADER_HEIGHT = 44  # tick labels and freeze labels above the rows
ROW_HEIGHT = 30
BAR_HEIGHT = 18
MIN_BAR_WIDTH = 3  # a zero-length phase still shows as a sliver
DAY_WIDTH = {"week": 120, "month": 28}
ZOOMS = ("week", "month")


@dataclass
class PhaseSpan:
    """What the chart needs of one phase, with times already worked out by `phase_span`."""

    name: str
    status: str
    status_label: str
    start: datetime
    end: datetime
    estimated: bool  # the end is start + soak, not a recorded finish


@dataclass
class ReleaseInput:
    name: str
    version: str
    url: str
    status_label: str
    phases: list[PhaseSpan]
    freezes: list[tuple[str, datetime, datetime]] = field(default_factory=list)


@dataclass
class Bar:
    release: str
    phase: str
    status: str
    status_label: str
    url: str
    x: float
    y: float
    width: float
    height: float
    start: datetime
    end: datetime
    estimated: bool
    label: str  # drawn inside the bar when it fits
    fits: bool

    @property
    def text_x(self) -> float:
        return round(self.x + 4, 2)

    @property
    def title(self) -> str:
        fmt = "%a %d %b %Y %H:%M"
        until = "estimated end" if self.estimated else "until"
        return (
            f"{self.release} · {self.phase} · {self.status_label} · "
            f"{self.start.strftime(fmt)} UTC, {until} {self.end.strftime(fmt)} UTC"
        )


@dataclass
class Row:
    release: str
    url: str
    status_label: str
    y: float
    label_y: float
    bars: list[Bar]


@dataclass
class Band:
    name: str
    x: float
    y: float
    width: float
    height: float
    start: datetime
    end: datetime
    scope: str  # "every release" or the release's name

    @property
    def is_global(self) -> bool:
        return self.scope == "every release"

    @property
    def label_y(self) -> float:
        return self.y - 4

    @property
    def title(self) -> str:
        fmt = "%a %d %b %Y %H:%M"
        return f"Freeze “{self.name}” ({self.scope}): {self.start.strftime(fmt)} – {self.end.strftime(fmt)} UTC"


@dataclass
class Tick:
    x: float
    label: str
    day: date

    @property
    def text_x(self) -> float:
        return self.x + 4


@dataclass
class Chart:
    zoom: str
    start: date
    end: date  # exclusive
    width: float
    height: float
    plot_left: float
    plot_right: float
    rows: list[Row]
    bands: list[Band]
    ticks: list[Tick]
    today_x: float | None
    title: str
    prev_start: date
    next_start: date

    @property
    def bars(self) -> list[Bar]:
        return [bar for row in self.rows for bar in row.bars]


def window(zoom: str, around: date) -> tuple[date, date]:
    """[start, end) of the week (from Monday) or the calendar month holding `around`."""
    if zoom == "month":
        start = around.replace(day=1)
        days = _calendar.monthrange(start.year, start.month)[1]
        return start, start + timedelta(days=days)
    start = around - timedelta(days=around.weekday())
    return start, start + timedelta(days=7)


def _shift(zoom: str, start: date, step: int) -> date:
    if zoom == "month":
        month = start.month - 1 + step
        return date(start.year + month // 12, month % 12 + 1, 1)
    return start + timedelta(days=7 * step)


def phase_spans(phases, *, release_start: datetime | None, now: datetime, labels: dict[str, str]) -> list[PhaseSpan]:
    """Times for the phases of one release, in order. `phases` are objects with name, status,
    started_at, finished_at, planned_start and min_soak_minutes. A phase with no time of
    its own follows the one before it; the first falls back to the release's planned start.
    Phases that cannot be placed at all (a draft with no dates) are left out."""
    spans = []
    previous_end = release_start
    for phase in phases:
        soak = timedelta(minutes=phase.min_soak_minutes or 0)
        start = phase.started_at or phase.planned_start or previous_end
        if start is None:
            continue
        if phase.finished_at is not None:
            end, estimated = phase.finished_at, False
        elif phase.started_at is not None:
            end, estimated = max(start + soak, now), True
        else:
            end, estimated = start + soak, True
        end = max(end, start)
        spans.append(PhaseSpan(phase.name, phase.status, labels.get(phase.status, phase.status), start, end, estimated))
        previous_end = end
    return spans


def build(
    releases: list[ReleaseInput],
    *,
    zoom: str,
    around: date,
    now: datetime,
    global_freezes: list[tuple[str, datetime, datetime]] = (),
) -> Chart:
    if zoom not in ZOOMS:
        zoom = "week"
    start, end = window(zoom, around)
    day_width = DAY_WIDTH[zoom]
    days = (end - start).days
    left = LABEL_WIDTH
    right = left + days * day_width
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    t1 = datetime(end.year, end.month, end.day, tzinfo=UTC)

    def x_of(moment: datetime) -> float:
        offset = (moment - t0).total_seconds() / 86400 * day_width
        return round(min(max(left + offset, left), right), 2)

    def overlaps(a: datetime, b: datetime) -> bool:
        return a < t1 and b >= t0

    rows: list[Row] = []
    bands: list[Band] = []
    for release in releases:
        visible = [span for span in release.phases if overlaps(span.start, span.end)]
        own_freezes = [f for f in release.freezes if overlaps(f[1], f[2])]
        if not visible and not own_freezes:
            continue
        y = HEADER_HEIGHT + len(rows) * ROW_HEIGHT
        bars = []
        for span in visible:
            x = x_of(span.start)
            width = max(x_of(span.end) - x, MIN_BAR_WIDTH)
            label = f"{span.name} ({span.status_label.lower()})"
            bars.append(
                Bar(
                    release=f"{release.name} {release.version}",
                    phase=span.name,
                    status=span.status,
                    status_label=span.status_label,
                    url=release.url,
                    x=x,
                    y=y + (ROW_HEIGHT - BAR_HEIGHT) / 2,
                    width=round(width, 2),
                    height=BAR_HEIGHT,
                    start=span.start,
                    end=span.end,
                    estimated=span.estimated,
                    label=label,
                    fits=width >= 7 * len(label),
                )
            )
        for name, f_start, f_end in own_freezes:
            x = x_of(f_start)
            bands.append(
                Band(
                    name,
                    x,
                    y,
                    round(x_of(f_end) - x, 2),
                    ROW_HEIGHT,
                    f_start,
                    f_end,
                    f"{release.name} {release.version}",
                )
            )
        rows.append(
            Row(
                release=f"{release.name} {release.version}",
                url=release.url,
                status_label=release.status_label,
                y=y,
                label_y=y + ROW_HEIGHT / 2 + 4,
                bars=bars,
            )
        )
    height = HEADER_HEIGHT + max(len(rows), 1) * ROW_HEIGHT + 4
    for name, f_start, f_end in global_freezes:
        if overlaps(f_start, f_end):
            x = x_of(f_start)
            bands.insert(
                0,
                Band(
                    name,
                    x,
                    HEADER_HEIGHT,
                    round(x_of(f_end) - x, 2),
                    height - HEADER_HEIGHT,
                    f_start,
                    f_end,
                    "every release",
                ),
            )

    ticks = []
    for i in range(days):
        day = start + timedelta(days=i)
        if zoom == "week":
            ticks.append(Tick(left + i * day_width, day.strftime("%a %d %b"), day))
        elif day.weekday() == 0 or (i == 0 and day.weekday() <= 3):  # the 1st, unless a Monday is too close
            ticks.append(Tick(left + i * day_width, f"W{day.isocalendar()[1]} · {day.strftime('%d %b')}", day))
    today_x = x_of(now) if t0 <= now < t1 else None
    title = f"Week of {start.strftime('%d %b %Y')}" if zoom == "week" else start.strftime("%B %Y")
    return Chart(
        zoom=zoom,
        start=start,
        end=end,
        width=right + 90,  # room for the last tick's label
        height=height,
        plot_left=left,
        plot_right=right,
        rows=rows,
        bands=bands,
        ticks=ticks,
        today_x=today_x,
        title=title,
        prev_start=_shift(zoom, start, -1),
        next_start=_shift(zoom, start, 1),
    )
