"""The calendar (`/calendar/`): a server-rendered SVG Gantt of every release's phases,
tested for its data: bar positions against phase dates, labels, links, freeze bands,
the today line and the ticks of each zoom."""

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine

from rollouts import calendar_chart as cc
from rollouts import services, transitions
from rollouts.models import FreezeWindow
from tests.factories import PhaseFactory, ReleaseFactory, release_with_phases

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
LABELS = {"pending": "Pending", "active": "Active", "passed": "Passed"}


def _span(name, start, end, status="passed", estimated=False):
    return cc.PhaseSpan(name, status, LABELS[status], start, end, estimated)


def _release(name="Checkout", phases=(), freezes=()):
    return cc.ReleaseInput(name, "2.0", f"/releases/{name.lower()}/", "In progress", list(phases), list(freezes))


# --- The pure geometry ------------------------------------------------------------------


def test_chart__week_zoom__bar_x_and_width_follow_the_dates():
    # Given a phase from Tuesday 12:00 to Wednesday 00:00 in the week of Monday 23 November
    phase = _span("Beta", datetime(2026, 11, 24, 12, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
    # When the chart is built for that week
    chart = cc.build([_release(phases=[phase])], zoom="week", around=date(2026, 11, 26), now=NOW)
    # Then the window starts on Monday and a day is 120 px after the 200 px label column
    assert (chart.start, chart.end) == (date(2026, 11, 23), date(2026, 11, 30))
    (bar,) = chart.bars
    assert bar.x == 200 + 1.5 * 120 and bar.width == 0.5 * 120
    assert bar.url == "/releases/checkout/" and "Checkout 2.0 · Beta · Passed" in bar.title
    assert [t.label for t in chart.ticks] == [
        "Mon 23 Nov", "Tue 24 Nov", "Wed 25 Nov", "Thu 26 Nov", "Fri 27 Nov", "Sat 28 Nov", "Sun 29 Nov"
    ]  # fmt: skip
    assert [t.x for t in chart.ticks] == [200 + i * 120 for i in range(7)]
    assert chart.today_x == 200 + 2.5 * 120
    assert (chart.prev_start, chart.next_start) == (date(2026, 11, 16), date(2026, 11, 30))


def test_chart__month_zoom__same_phase_at_month_scale_with_weekly_ticks():
    phase = _span("Beta", datetime(2026, 11, 24, 12, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
    chart = cc.build([_release(phases=[phase])], zoom="month", around=date(2026, 11, 26), now=NOW)
    assert (chart.start, chart.end) == (date(2026, 11, 1), date(2026, 12, 1))
    (bar,) = chart.bars
    assert bar.x == 200 + 23.5 * 28 and bar.width == 0.5 * 28
    # every Monday, with its ISO week (1 November is a Sunday: too close to Monday for a tick)
    assert [t.label for t in chart.ticks] == [
        "W45 · 02 Nov", "W46 · 09 Nov", "W47 · 16 Nov", "W48 · 23 Nov", "W49 · 30 Nov"
    ]  # fmt: skip
    assert [t.x for t in chart.ticks] == [200 + d * 28 for d in (1, 8, 15, 22, 29)]
    # a month starting on a Thursday gets a tick on the 1st as well
    october = cc.build([], zoom="month", around=date(2026, 10, 9), now=NOW)
    assert [t.label for t in october.ticks][:2] == ["W40 · 01 Oct", "W41 · 05 Oct"]
    assert chart.plot_right == 200 + 30 * 28
    assert chart.today_x == 200 + 24.5 * 28
    assert (chart.prev_start, chart.next_start) == (date(2026, 10, 1), date(2026, 12, 1))
    december = cc.build([], zoom="month", around=date(2026, 12, 31), now=NOW)
    assert december.next_start == date(2027, 1, 1) and december.today_x is None


def test_chart__bars_crossing_the_edges__clipped_and_outside__left_out():
    inside_out = [
        _span("Before", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)),
        _span("Across", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)),
        _span("Tail", datetime(2026, 11, 29, 12, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)),
    ]
    chart = cc.build([_release(phases=inside_out), _release("Empty")], zoom="week", around=NOW.date(), now=NOW)
    assert [b.phase for b in chart.bars] == ["Across", "Tail"]
    across, tail = chart.bars
    assert (across.x, across.width) == (200, 120)
    assert (tail.x, tail.width) == (200 + 6.5 * 120, 60)
    assert len(chart.rows) == 1  # a release with nothing in the window has no row


def test_chart__freeze_bands__global_spans_all_rows_own_spans_its_row():
    berlin_start = datetime(2026, 11, 26, 1, tzinfo=UTC)  # 02:00 in Berlin
    chart = cc.build(
        [
            _release("A", phases=[_span("P", NOW, NOW + timedelta(hours=6))]),
            _release("B", phases=[_span("Q", NOW, NOW + timedelta(hours=6))],
                     freezes=[("B freeze", NOW, NOW + timedelta(days=1))]),
        ],
        zoom="week",
        around=NOW.date(),
        now=NOW,
        global_freezes=[("Holidays", berlin_start, berlin_start + timedelta(hours=12))],
    )  # fmt: skip
    holidays, own = chart.bands
    assert (holidays.x, holidays.width) == (200 + (3 + 1 / 24) * 120, 60)
    assert holidays.y == cc.HEADER_HEIGHT and holidays.height == 2 * cc.ROW_HEIGHT + 4
    assert holidays.scope == "every release" and "Holidays" in holidays.title
    assert (own.x, own.width) == (200 + 2.5 * 120, 120)
    assert own.y == chart.rows[1].y and own.height == cc.ROW_HEIGHT and own.scope == "B 2.0"


def test_phase_spans__times_chain__started_finished_estimated():
    p = SimpleNamespace
    release_start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    phases = [
        p(name="One", status="passed", started_at=release_start, finished_at=release_start + timedelta(hours=2),
          planned_start=None, min_soak_minutes=60),
        p(name="Two", status="active", started_at=release_start + timedelta(hours=2), finished_at=None,
          planned_start=None, min_soak_minutes=24 * 60),
        p(name="Three", status="pending", started_at=None, finished_at=None, planned_start=None,
          min_soak_minutes=30),
        p(name="Four", status="pending", started_at=None, finished_at=None,
          planned_start=datetime(2026, 11, 27, tzinfo=UTC), min_soak_minutes=0),
    ]  # fmt: skip
    spans = cc.phase_spans(phases, release_start=release_start, now=NOW, labels=LABELS)
    assert [(s.start, s.end, s.estimated) for s in spans] == [
        (release_start, release_start + timedelta(hours=2), False),
        (release_start + timedelta(hours=2), NOW, True),  # soak ended: the running phase ends now
        (NOW, NOW + timedelta(minutes=30), True),
        (datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC), True),
    ]
    assert cc.phase_spans(phases[2:3], release_start=None, now=NOW, labels=LABELS) == []


# --- The page -----------------------------------------------------------------------------


def _svg(response):
    page = response.content.decode()
    return ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])


@pytest.mark.django_db
def test_calendar_page__svg__bars_links_labels_today_and_freeze(client, manager, support):
    # Given a release started on Wednesday at noon with a 1-day soak, and a global freeze
    with time_machine.travel(NOW, tick=False):
        release = release_with_phases(owner=manager, slug="checkout", name="Checkout", version="2.0", soak=24 * 60)
        transitions.release_start(release_id=release.pk, actor=manager)
        services.freeze_add(
            actor=manager,
            release_id=None,
            name="Black Friday",
            timezone_name="UTC",
            starts_local=datetime(2026, 11, 27),
            ends_local=datetime(2026, 11, 28),
            reason="",
        )
        client.force_login(support)
        response = client.get("/calendar/?zoom=week&start=2026-11-25")
    assert response.status_code == 200
    svg = _svg(response)
    # Then the chart is a named group (not role=img: its bars are links) with a description
    assert svg.get("role") == "group" and "Week of 23 Nov 2026" in svg.get("aria-label")
    assert "1 release with 3 phases" in svg.find(f"{SVG}desc").text
    bars = svg.findall(f".//{SVG}a[@class='bar-link']")
    geometry = [(float(r.get("x")), float(r.get("width"))) for r in (a.find(f"{SVG}rect") for a in bars)]
    # phase 1 runs Wed 12:00 → Thu 12:00 (estimated), phase 2 Thu 12:00 → Fri 12:00, phase 3 → Sat 12:00
    assert geometry == [(200 + 2.5 * 120, 120), (200 + 3.5 * 120, 120), (200 + 4.5 * 120, 120)]
    assert [a.get("href") for a in bars] == ["/releases/checkout/"] * 3
    assert [a.get("data-status") for a in bars] == ["active", "pending", "pending"]
    titles = [a.find(f"{SVG}title").text for a in bars]
    assert titles[0] == (
        "Checkout 2.0 · Phase 1 · Active · Wed 25 Nov 2026 12:00 UTC, estimated end Thu 26 Nov 2026 12:00 UTC"
    )
    row_label = svg.find(f".//{SVG}a[@class='row-label']")
    assert row_label.get("href") == "/releases/checkout/" and row_label.find(f"{SVG}text").text == "Checkout 2.0"
    today = svg.find(f".//{SVG}g[@class='today']")
    assert float(today.find(f"{SVG}line").get("x1")) == 200 + 2.5 * 120 and today.find(f"{SVG}text").text == "Today"
    band = svg.find(f".//{SVG}g[@class='band']")
    rect = band.find(f"{SVG}rect")
    assert (float(rect.get("x")), float(rect.get("width"))) == (200 + 4 * 120, 120)
    assert band.find(f"{SVG}text").text == "Freeze: Black Friday"
    ticks = [t.text for t in svg.findall(f".//{SVG}g[@class='tick']/{SVG}text")]
    assert ticks[0] == "Mon 23 Nov" and len(ticks) == 7
    # And the hidden table says the same in words
    page = response.content.decode()
    table = page[page.index('id="calendar-table"') :]
    assert "<td>Phase 1</td><td>Active</td><td>Wed 25 Nov 2026, 12:00</td>" in table
    assert "Freeze: Black Friday" in table
    assert 'href="?zoom=week&amp;start=2026-11-16" rel="prev"' in page
    assert 'href="?zoom=month&amp;start=2026-11-23"' in page


@pytest.mark.django_db
def test_calendar_page__month_zoom__ticks_and_positions(client, manager, support):
    with time_machine.travel(NOW, tick=False):
        release = release_with_phases(owner=manager, slug="m", soak=24 * 60)
        transitions.release_start(release_id=release.pk, actor=manager)
        client.force_login(support)
        svg = _svg(client.get("/calendar/?zoom=month&start=2026-11-25"))
    ticks = [t.text for t in svg.findall(f".//{SVG}g[@class='tick']/{SVG}text")]
    assert ticks == ["W45 · 02 Nov", "W46 · 09 Nov", "W47 · 16 Nov", "W48 · 23 Nov", "W49 · 30 Nov"]
    first = svg.find(f".//{SVG}a[@class='bar-link']/{SVG}rect")
    assert (float(first.get("x")), float(first.get("width"))) == (200 + 24.5 * 28, 28)


@pytest.mark.django_db
def test_calendar_page__bad_zoom_or_date__falls_back_to_this_week(client, support):
    client.force_login(support)
    with time_machine.travel(NOW, tick=False):
        for query in ("?zoom=year", "?start=2026-02-30", "?zoom=month&start=nope", "?start=" + "9" * 300):
            response = client.get("/calendar/" + query)
            assert response.status_code == 200
    assert "Calendar: Week of 23 Nov 2026" in client.get("/calendar/?zoom=x&start=2026-11-25").content.decode()


@pytest.mark.django_db
def test_calendar_page__roles(client, outsider, viewer):
    assert client.get("/calendar/").status_code == 302
    client.force_login(outsider)
    assert client.get("/calendar/").status_code == 403
    client.force_login(viewer)
    page = client.get("/calendar/").content.decode()
    assert 'href="/calendar/"' in page  # the nav line
    assert "No release has a phase in this week." in page


@pytest.mark.django_db
@pytest.mark.parametrize("count", [2, 20])
def test_calendar_page__same_query_count(client, manager, support, count, django_assert_num_queries):
    with time_machine.travel(NOW, tick=False):
        for i in range(count):
            release = release_with_phases(owner=manager, slug=f"c{i}")
            transitions.release_start(release_id=release.pk, actor=manager)
            FreezeWindow.objects.create(
                release=release, name=f"F{i}", starts_local=NOW, ends_local=NOW + timedelta(hours=3)
            )
        planned = ReleaseFactory(owner=manager, planned_start=NOW + timedelta(days=1))
        PhaseFactory(release=planned, name="Planned", min_soak_minutes=60)
        client.force_login(support)
        # session, user, roles, releases, their phases, freeze windows
        with django_assert_num_queries(6):
            response = client.get("/calendar/")
    svg = _svg(response)
    assert len(svg.findall(f".//{SVG}g[@class='row']")) == count + 1
    assert len(svg.findall(f".//{SVG}g[@class='band']")) == count
