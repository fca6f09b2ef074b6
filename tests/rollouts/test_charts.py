"""The release page's pictures: exposure over time and gate measurements, checked for their data."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine

from rollouts import charts, services, transitions
from rollouts.models import GateKind, GateMeasurement, Phase, Release
from tests.factories import RollbackStepFactory, release_with_phases

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def phase(name, exposure, *, soak=30, planned=None, started=None, finished=None, status="pending"):
    return SimpleNamespace(
        name=name,
        exposure_percent=exposure,
        min_soak_minutes=soak,
        planned_start=planned,
        started_at=started,
        finished_at=finished,
        status=status,
    )


def release(status="in_progress", planned=None, finished=None):
    return SimpleNamespace(status=status, planned_start=planned, finished_at=finished)


def figure(html: str, css: str) -> ET.Element:
    """The chart's <figure> out of a page, parsed as XML."""
    match = re.search(rf'<figure class="chart {css}".*?</figure>', html, re.S)
    assert match, f"no {css} figure on the page"
    return ET.fromstring(match.group(0))


def path_steps(d: str) -> list[tuple[str, float]]:
    """(command, value) pairs of an H/V path after its M."""
    return [(cmd, float(val)) for cmd, val in re.findall(r"([HV])(-?[\d.]+)", d)]


def scale_x(when: datetime, start: datetime, end: datetime, plot: charts.Plot) -> float:
    return round(plot.left + (when - start) / (end - start) * plot.inner_width, 1)


def scale_y(percent: float, plot: charts.Plot) -> float:
    return round(plot.y_end - percent / 100 * plot.inner_height, 1)


# --- exposure chart, pure --------------------------------------------------------------------


def test_exposure_chart__running_release__planned_and_actual_steps_at_their_times():
    # Given a release planned for 09:00 with 30 min soaks, started 15 min late, now 10:30
    phases = [
        phase("Canary", 10, started=at(15), finished=at(50), status="passed"),
        phase("Half", 50, started=at(50), status="active"),
        phase("All", 100),
    ]
    now = at(90)
    # When
    chart = charts.exposure_chart(release(planned=T0), phases, now=now)
    # Then planned follows the soaks from the planned start: 09:00, 09:30, 10:00, ending 10:30
    plot = chart.plot
    start, end = T0, now
    assert [(p.when, p.value) for p in chart.planned.points] == [(at(0), 10), (at(30), 50), (at(60), 100)]
    assert [(p.x, p.y) for p in chart.planned.points] == [
        (scale_x(at(m), start, end, plot), scale_y(e, plot)) for m, e in ((0, 10), (30, 50), (60, 100))
    ]
    # and actual steps at the real starts, running on to now
    assert [(p.x, p.y) for p in chart.actual.points] == [
        (scale_x(at(15), start, end, plot), scale_y(10, plot)),
        (scale_x(at(50), start, end, plot), scale_y(50, plot)),
    ]
    assert chart.actual.path.startswith(f"M{scale_x(at(15), start, end, plot)} {scale_y(0, plot)} ")
    assert path_steps(chart.actual.path) == [
        ("V", scale_y(10, plot)),
        ("H", scale_x(at(50), start, end, plot)),
        ("V", scale_y(50, plot)),
        ("H", scale_x(now, start, end, plot)),
    ]
    assert chart.planned.dash and not chart.actual.dash
    assert chart.now.pos == plot.x_end and "now" in chart.now.label
    assert chart.actual.points[1].label == "Actual: Half at 50% from Mar 2, 09:50"


def test_exposure_chart__axis_ticks__round_times_and_percent_labels():
    phases = [phase("Canary", 10, started=at(0), status="active")]
    chart = charts.exposure_chart(release(), phases, now=at(120))
    assert [t.label for t in chart.y_ticks] == ["0%", "25%", "50%", "75%", "100%"]
    assert [t.label for t in chart.x_ticks] == ["09:00", "09:30", "10:00", "10:30", "11:00"]
    assert [t.pos for t in chart.x_ticks] == [scale_x(at(m), at(0), at(120), chart.plot) for m in (0, 30, 60, 90, 120)]


def test_exposure_chart__months_long__few_whole_day_ticks():
    phases = [phase("Canary", 10, started=at(0), status="active")]
    chart = charts.exposure_chart(release(), phases, now=at(0) + timedelta(days=200))
    assert 2 <= len(chart.x_ticks) <= 6
    assert all(":" not in t.label for t in chart.x_ticks)


def test_exposure_chart__rolled_back__drops_to_zero_at_rollback():
    phases = [
        phase("Canary", 10, started=at(0), finished=at(30), status="passed"),
        phase("Half", 50, started=at(30), finished=at(45), status="rolled_back"),
        phase("All", 100, status="skipped"),
    ]
    chart = charts.exposure_chart(release("rolled_back", finished=at(60)), phases, now=at(200), rollback_at=at(45))
    assert [(p.when, p.value) for p in chart.actual.points] == [(at(0), 10), (at(30), 50), (at(45), 0)]
    assert chart.actual.points[-1].label.startswith("Actual: Rolled back at 0%")
    # a finished release: the line stops at its end and there is no "now" inside the picture
    assert path_steps(chart.actual.path)[-1] == ("H", chart.plot.x_end)
    assert chart.now is None and chart.planned is None


def test_exposure_chart__planned_starts_win_over_soak__and_nothing_to_place__none():
    phases = [phase("A", 5, planned=at(0)), phase("B", 20, planned=at(240)), phase("C", 60)]
    chart = charts.exposure_chart(release("scheduled"), phases, now=at(-60))
    assert [p.when for p in chart.planned.points] == [at(0), at(240), at(270)]
    assert chart.actual is None
    assert charts.exposure_chart(release("draft"), [phase("A", 5)], now=T0) is None


# --- measurement chart, pure -----------------------------------------------------------------


def measurement(minutes, value, verdict):
    return SimpleNamespace(taken_at=at(minutes), value=value, verdict=verdict, pk=minutes)


def test_measurement_chart__verdicts__shapes_thresholds_and_positions():
    ms = [
        measurement(2, 0.09, "failure"),
        measurement(0, 0.005, "success"),
        measurement(1, 0.03, "inconclusive"),
        measurement(3, None, "error"),
    ]
    chart = charts.measurement_chart(
        ms, thresholds=charts.gate_thresholds({"success_condition": {"op": "<=", "value": 0.01}})
    )
    # oldest first, each shaped by its verdict
    assert [(p.when, p.shape) for p in chart.points] == [
        (at(0), "circle"),
        (at(1), "triangle"),
        (at(2), "square"),
        (at(3), "diamond"),
    ]
    plot = chart.plot
    assert [p.x for p in chart.points] == [scale_x(at(m), at(0), at(3), plot) for m in range(4)]
    # values map linearly: higher value, smaller y; the no-value point sits below the axis
    ys = [p.y for p in chart.points]
    assert ys[2] < ys[1] < ys[0] and ys[3] > plot.y_end
    [line] = chart.thresholds
    assert line.label == "success ≤ 0.01"
    assert ys[1] < line.y < ys[0]
    low = chart.y_ticks[0]
    share = (0.01 - float(low.label)) / (float(chart.y_ticks[-1].label) - float(low.label))
    assert abs(line.y - (plot.y_end - share * plot.inner_height)) < 0.2
    assert chart.points[2].label == "Mar 2, 09:02: 0.09, Failure"
    assert [p.label for p in chart.legend] == ["Success", "Failure", "Inconclusive", "Provider error"]
    # the line joins only measurements with a value
    assert chart.line.count(",") == 3


# --- on the release page ---------------------------------------------------------------------


@pytest.mark.django_db
def test_release_page__started_and_advanced__exposure_svg_and_table_show_the_steps(manager_client, manager):
    # Given a release planned for 09:00, started at 09:10 and advanced at 09:40
    rel = release_with_phases(owner=manager, exposures=(10, 50, 100), gates_per_phase=0, soak=0, slug="pics")
    Release.objects.filter(pk=rel.pk).update(planned_start=T0)
    Phase.objects.filter(release=rel).update(min_soak_minutes=20)
    with time_machine.travel(at(10), tick=False):
        transitions.release_start(release_id=rel.pk, actor=manager)
    first = rel.phases.get(position=0)
    with time_machine.travel(at(40), tick=False):
        transitions.phase_advance(release_id=rel.pk, phase_id=first.pk, actor=manager)
    # When the page is read at 10:00
    with time_machine.travel(at(60), tick=False):
        html = manager_client.get("/releases/pics/").content.decode()
    fig = figure(html, "chart-exposure")
    svg = fig.find("svg")
    # Then it is an image named by its title and description
    assert svg.get("role") == "img"
    title_id, desc_id = svg.get("aria-labelledby").split()
    assert svg.find(f"title[@id='{title_id}']").text == "Exposure over time, planned against actual"
    assert "dashed" in svg.find(f"desc[@id='{desc_id}']").text
    # planned (dashed, squares) at 09:00, 09:20, 09:40; actual (solid, dots) at 09:10 and 09:40
    planned = svg.find("g[@data-series='planned']")
    actual = svg.find("g[@data-series='actual']")
    assert planned.find("path").get("stroke-dasharray") and actual.find("path").get("stroke-dasharray") is None
    width, height = int(svg.get("width")), int(svg.get("height"))
    plot = charts.Plot(width=width, height=height, left=44, top=12, right=16, bottom=34)
    start, end = at(0), at(60)
    planned_points = [(float(r.get("data-x")), float(r.get("data-y"))) for r in planned.findall("rect")]
    assert planned_points == [
        (scale_x(at(m), start, end, plot), scale_y(e, plot)) for m, e in ((0, 10), (20, 50), (40, 100))
    ]
    actual_points = [(float(c.get("cx")), float(c.get("cy"))) for c in actual.findall("circle")]
    assert actual_points == [
        (scale_x(at(10), start, end, plot), scale_y(10, plot)),
        (scale_x(at(40), start, end, plot), scale_y(50, plot)),
    ]
    assert [c.find("title").text for c in actual.findall("circle")] == [
        "Actual: Phase 1 at 10% from Mar 2, 09:10",
        "Actual: Phase 2 at 50% from Mar 2, 09:40",
    ]
    # a step: alternately across and up, ending at now
    commands = [cmd for cmd, _ in path_steps(actual.find("path").get("d"))]
    assert commands == ["V", "H", "V", "H"]
    now = svg.find("g[@class='now-marker']")
    assert float(now.find("line").get("x1")) == plot.x_end and now.find("text").text == "now"
    # axis labels and the legend say it in words
    assert [t.text for t in svg.findall("g[@class='axis y-axis']/text")] == ["0%", "25%", "50%", "75%", "100%"]
    assert [t.text for t in svg.findall("g[@class='axis x-axis']/text")][:2] == ["09:00", "09:15"]
    legend = "".join(fig.find("figcaption").itertext())
    assert "Planned (dashed, squares)" in legend and "Actual (solid, dots)" in legend
    # the fallback table lists the same steps
    table = fig.find("table")
    assert "chart-sr-only" in table.get("class")
    rows = [[("".join(td.itertext())).strip() for td in tr] for tr in table.find("tbody")]
    assert rows == [
        ["Planned", "Phase 1", "10%", "Mar 2, 09:00"],
        ["Planned", "Phase 2", "50%", "Mar 2, 09:20"],
        ["Planned", "Phase 3", "100%", "Mar 2, 09:40"],
        ["Actual", "Phase 1", "10%", "Mar 2, 09:10"],
        ["Actual", "Phase 2", "50%", "Mar 2, 09:40"],
    ]


@pytest.mark.django_db
def test_release_page__rolled_back__actual_line_back_to_zero(manager_client, manager):
    rel = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="rb")
    RollbackStepFactory(release=rel, title="Undo")
    with time_machine.travel(at(0), tick=False):
        transitions.release_start(release_id=rel.pk, actor=manager)
    with time_machine.travel(at(30), tick=False):
        transitions.release_rollback(release_id=rel.pk, actor=manager, reason="errors")
    with time_machine.travel(at(60), tick=False):
        html = manager_client.get("/releases/rb/").content.decode()
    actual = figure(html, "chart-exposure").find("svg/g[@data-series='actual']")
    titles = [c.find("title").text for c in actual.findall("circle")]
    assert titles == ["Actual: Phase 1 at 10% from Mar 2, 09:00", "Actual: Rolled back at 0% from Mar 2, 09:30"]
    assert [cmd for cmd, _ in path_steps(actual.find("path").get("d"))] == ["V", "H", "V", "H"]


@pytest.mark.django_db
def test_release_page__draft_without_times__no_exposure_chart(manager_client, release):
    assert "chart-exposure" not in manager_client.get(f"/releases/{release.slug}/").content.decode()


@pytest.mark.django_db
def test_release_page__metric_gate__measurement_svg_shapes_threshold_and_table(manager_client, manager):
    rel = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="gm")
    gate = services.gate_add(
        phase_id=rel.phases.get(position=0).pk,
        actor=manager,
        name="Error rate",
        kind=GateKind.METRIC_THRESHOLD,
        config={
            "address": "http://prometheus.example",
            "query": "sum(rate(errors[5m]))",
            "success_condition": {"op": "<=", "value": 0.01},
            "failure_condition": {"op": ">", "value": 0.05},
        },
    )
    # measurements are the data under test here: written as the engine writes them
    for minutes, value, verdict in ((0, 0.004, "success"), (1, 0.03, "inconclusive"), (2, 0.08, "failure")):
        GateMeasurement.objects.create(gate=gate, taken_at=at(minutes), value=value, verdict=verdict)
    html = manager_client.get("/releases/gm/").content.decode()
    fig = figure(html, "chart-measurements")
    svg = fig.find("svg")
    assert svg.get("role") == "img" and svg.find("title").text == "Last measurements of Error rate"
    points = svg.findall("g[@class='points']/*")
    assert [p.tag for p in points] == ["circle", "polygon", "rect"]
    assert [p.find("title").text for p in points] == [
        "Mar 2, 09:00: 0.004, Success",
        "Mar 2, 09:01: 0.03, Inconclusive",
        "Mar 2, 09:02: 0.08, Failure",
    ]
    ys = [float(p.get("cy") or p.get("data-y")) for p in points]
    assert ys[0] > ys[1] > ys[2]  # larger values higher up
    thresholds = {g.get("class"): g for g in svg.findall("g") if "threshold" in (g.get("class") or "")}
    success = thresholds["threshold threshold-success"]
    failure = thresholds["threshold threshold-failure"]
    assert success.find("text").text == "success ≤ 0.01" and failure.find("text").text == "failure > 0.05"
    y_ok, y_fail = float(success.find("line").get("y1")), float(failure.find("line").get("y1"))
    assert ys[0] > y_ok > ys[1] > y_fail > ys[2]
    # the same values, linearly: 0.01 sits between 0.004 and 0.03 in proportion
    assert abs((ys[0] - y_ok) / (ys[0] - ys[1]) - (0.01 - 0.004) / (0.03 - 0.004)) < 0.01
    legend = "".join(fig.find("figcaption").itertext())
    assert "Success (circle)" in legend and "Failure (square)" in legend and "Inconclusive (triangle)" in legend
    rows = [[("".join(td.itertext())).strip() for td in tr] for tr in fig.find("table/tbody")]
    assert rows == [
        ["Mar 2, 09:00:00", "0.004", "Success"],
        ["Mar 2, 09:01:00", "0.03", "Inconclusive"],
        ["Mar 2, 09:02:00", "0.08", "Failure"],
    ]
