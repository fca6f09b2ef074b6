"""The communication plan's picture: notices per message, checked for its data."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from comms import plan_services
from comms.models import Audience, Membership, Notice, Stakeholder, Trigger
from rollouts import charts
from tests.comms.test_plan_pages import PLAN_QUERIES

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def people():
    audience = Audience.objects.create(name="Customers")
    for i in range(6):
        stakeholder = Stakeholder.objects.create(email=f"p{i}@example.com", name=f"Person {i}")
        Membership.objects.create(stakeholder=stakeholder, audience=audience)
    return audience


def message_with_notices(release, actor, audience, name, statuses):
    message = plan_services.message_create(
        actor=actor,
        release_id=release.pk,
        name=name,
        audiences=[audience],
        subject="{{ release.name }} is coming",
        body="Hello",
        trigger=Trigger.AT_TIME,
        send_at=timezone.now() + timedelta(days=2),
    )
    # the outbox rows are the data under test: one per recipient, in the given states
    for i, status in enumerate(statuses):
        Notice.objects.create(
            message=message,
            recipient=f"p{i}@example.com",
            occurrence="at",
            due_at=timezone.now() + timedelta(hours=1),
            status=status,
            sent_at=timezone.now() if status == Notice.Status.SENT else None,
        )
    return message


def notices_figure(html: str) -> ET.Element:
    match = re.search(r'<figure class="chart chart-notices".*?</figure>', html, re.S)
    assert match, "no notices chart"
    return ET.fromstring(match.group(0))


def test_notices_chart__counts__segments_proportional_and_stacked():
    chart = charts.notices_chart(
        [("Heads-up", {"sent": 4, "failed": 1, "pending": 1}), ("Done", {"sent": 2}), ("Nothing", {})]
    )
    # messages without notices get no bar; bars share one scale, the longest filling the width
    assert [b.label for b in chart.bars] == ["Heads-up", "Done"]
    assert chart.most == 6
    unit = chart.plot.inner_width / 6
    [sent, failed, pending] = chart.bars[0].segments
    assert [(s.key, s.count, s.width) for s in (sent, failed, pending)] == [
        ("sent", 4, round(4 * unit, 1)),
        ("failed", 1, round(unit, 1)),
        ("pending", 1, round(unit, 1)),
    ]
    # stacked: each segment starts where the one before ends
    assert sent.x == chart.plot.left
    assert failed.x == round(sent.x + sent.width, 1) and pending.x == round(failed.x + failed.width, 1)
    assert chart.bars[1].segments[0].width == round(2 * unit, 1)
    assert chart.bars[0].summary == "4 sent, 1 failed, 1 pending"
    assert chart.bars[1].counts == {"sent": 2, "failed": 0, "pending": 0}
    assert charts.notices_chart([("Nothing", {})]) is None


def test_plan_fragment__notices__bar_chart_svg_and_table(manager_client, manager, release, people):
    # Given two messages: one with 3 sent, 1 failed, 2 pending (one of them sending); one with 2 sent
    S = Notice.Status
    message_with_notices(release, manager, people, "Heads-up", [S.SENT, S.SENT, S.SENT, S.FAILED, S.PENDING, S.SENDING])
    message_with_notices(release, manager, people, "All done", [S.SENT, S.SENT, S.CANCELLED])
    # When the plan is read
    html = manager_client.get(f"/comms/releases/{release.slug}/plan/", **HTMX).content.decode()
    fig = notices_figure(html)
    svg = fig.find("svg")
    # Then it is an image with a title and description
    assert svg.get("role") == "img"
    title_id, desc_id = svg.get("aria-labelledby").split()
    assert svg.find(f"title[@id='{title_id}']").text == "Notices per message"
    assert "hatched" in svg.find(f"desc[@id='{desc_id}']").text
    bars = svg.findall("g[@class='bar']")
    assert [b.get("data-message") for b in bars] == ["Heads-up", "All done"]
    assert [b.find("text[@class='bar-label']").text for b in bars] == ["Heads-up", "All done"]
    segments = [
        [
            (r.get("data-key"), int(r.get("data-count")), float(r.get("x")), float(r.get("width")))
            for r in b.findall("rect")
        ]
        for b in bars
    ]
    assert [[(k, n) for k, n, _, _ in row] for row in segments] == [
        [("sent", 3), ("failed", 1), ("pending", 2)],
        [("sent", 2)],
    ]
    # lengths proportional to counts on one scale (cancelled notices are not drawn)
    unit = segments[0][0][3] / 3
    for row in segments:
        for _key, count, _x, width in row:
            assert abs(width - count * unit) < 0.2
    assert abs(sum(w for *_, w in segments[0]) - 6 * unit) < 0.3
    # the failed segment is hatched, not only a colour; every segment says its count
    assert segments[0][1][0] == "failed" and bars[0].findall("rect")[1].get("fill") == "url(#notices-hatch)"
    assert [r.find("title").text for r in bars[0].findall("rect")] == [
        "Heads-up: 3 sent",
        "Heads-up: 1 failed",
        "Heads-up: 2 pending",
    ]
    assert [b.find("text[@class='bar-summary']").text for b in bars] == ["3 sent, 1 failed, 2 pending", "2 sent"]
    legend = "".join(fig.find("figcaption").itertext())
    assert "Sent (solid)" in legend and "Failed (hatched)" in legend and "Pending (outlined)" in legend
    # the fallback table has the same counts
    table = fig.find("table")
    assert "chart-sr-only" in table.get("class")
    rows = [["".join(c.itertext()) for c in tr] for tr in table.find("tbody")]
    assert rows == [["Heads-up", "3", "1", "2"], ["All done", "2", "0", "0"]]


def test_plan_fragment__no_notices_yet__no_chart(manager_client, manager, release, people):
    message_with_notices(release, manager, people, "Heads-up", [])
    html = manager_client.get(f"/comms/releases/{release.slug}/plan/", **HTMX).content.decode()
    assert "chart-notices" not in html


@pytest.mark.parametrize("count", [1, 8])
def test_plan_fragment__chart_with_few_or_many_messages__same_query_count(
    manager_client, manager, release, people, count, django_assert_num_queries
):
    S = Notice.Status
    for i in range(count):
        message_with_notices(release, manager, people, f"Message {i}", [S.SENT, S.FAILED, S.PENDING][: 1 + i % 3])
    with django_assert_num_queries(PLAN_QUERIES):
        html = manager_client.get(f"/comms/releases/{release.slug}/plan/", **HTMX).content.decode()
    assert len(notices_figure(html).findall("svg/g[@class='bar']")) == count
