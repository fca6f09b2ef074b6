"""The iCalendar feed behind per-user secret URLs, and the page that makes and revokes them."""

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone
from icalendar import Calendar

from docs_portal import calendar
from docs_portal.models import CalendarFeed, Visibility
from rollouts import services, transitions
from rollouts.models import Phase, Release, ReleaseStatus
from rollouts.roles import SUPPORT
from tests.docs_portal.briefing_factories import CalendarFeedFactory, add_known_issue, new_feed
from tests.docs_portal.factories import link, make_page
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def feed_path(token: str) -> str:
    return f"/feeds/calendar/{token}.ics"


def events_of(response) -> dict[str, object]:
    parsed = Calendar.from_ical(response.content)
    return {str(e["UID"]): e for e in parsed.walk("VEVENT")}


@pytest.fixture
def planned(manager):
    """A scheduled canary with planned starts on two phases and none on the last."""
    release = release_with_phases(owner=manager, name="Checkout", version="2.0.0", slug="checkout", soak=60)
    Release.objects.filter(pk=release.pk).update(planned_start=NOW + timedelta(days=1))
    Phase.objects.filter(release=release, position=0).update(planned_start=NOW + timedelta(days=1))
    Phase.objects.filter(release=release, position=1).update(planned_start=NOW + timedelta(days=2))
    return release


# --- The feed ---------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_feed__phase_starts_and_freezes__parse_as_vevents_in_utc(client, planned, manager, support):
    # Given a planned release, a freeze of its own in Berlin time and a global one
    services.freeze_add(
        actor=manager,
        release_id=planned.pk,
        name="Black Friday",
        timezone_name="Europe/Berlin",
        starts_local=datetime(2026, 12, 4, 0, 0),
        ends_local=datetime(2026, 12, 5, 6, 0),
        reason="Peak traffic",
    )
    services.freeze_add(
        actor=manager,
        release_id=None,
        name="Holidays",
        timezone_name="UTC",
        starts_local=datetime(2026, 12, 24, 0, 0),
        ends_local=datetime(2027, 1, 2, 0, 0),
    )
    _, token = new_feed(support)
    # When support's calendar fetches the feed, without a session
    response = client.get(feed_path(token))
    # Then it is an iCalendar with a name, not cacheable by shared caches
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in response["Cache-Control"] and "public" not in response["Cache-Control"]
    parsed = Calendar.from_ical(response.content)
    assert str(parsed["X-WR-CALNAME"]) == "Flightdeck rollouts"
    assert str(parsed["VERSION"]) == "2.0"
    events = events_of(response)
    phases = list(planned.phases.order_by("position"))
    # And one VEVENT per phase start, planned ones at their time and the last one estimated
    first = events[f"phase-{phases[0].pk}@127.0.0.1"]
    assert first.decoded("DTSTART") == NOW + timedelta(days=1)
    assert first.decoded("DTEND") == NOW + timedelta(days=1, hours=1)  # the soak time
    assert str(first["SUMMARY"]) == "Checkout 2.0.0: Phase 1 (1%, Production)"
    assert str(first["URL"]) == "http://127.0.0.1:8000/releases/checkout/"
    assert "http://127.0.0.1:8000/briefings/checkout/" in str(first["DESCRIPTION"])
    planned.refresh_from_db()
    assert first.decoded("LAST-MODIFIED") == planned.updated_at.replace(microsecond=0)
    assert first.decoded("DTSTAMP") == NOW
    last = events[f"phase-{phases[2].pk}@127.0.0.1"]
    assert last.decoded("DTSTART") == NOW + timedelta(days=2, hours=1)  # phase 2's start + its soak
    assert str(last["SUMMARY"]).endswith("(estimated)")
    # And the freezes in UTC: midnight in Berlin is 23:00 UTC the day before
    own = next(e for uid, e in events.items() if uid.startswith("freeze-") and "Black Friday" in str(e["SUMMARY"]))
    assert own.decoded("DTSTART") == datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    assert own.decoded("DTEND") == datetime(2026, 12, 5, 5, 0, tzinfo=UTC)
    assert str(own["SUMMARY"]) == "Freeze: Black Friday (Checkout 2.0.0)"
    assert "Peak traffic" in str(own["DESCRIPTION"])
    glob = next(e for e in events.values() if "Holidays" in str(e["SUMMARY"]))
    assert str(glob["SUMMARY"]) == "Freeze: Holidays (all releases)"
    assert str(glob["URL"]) == "http://127.0.0.1:8000/schedule/"
    assert len(events) == 5
    # And every time is written in UTC
    text = response.content.decode().replace("\r\n", "\n")
    stamps = re.findall(r"^(?:DTSTART|DTEND|DTSTAMP|LAST-MODIFIED)[:;].*$", text, re.M)
    assert len(stamps) == 5 * 3 + 4  # the global freeze has no last-modified
    assert all(line.endswith("Z") for line in stamps)


@time_machine.travel(NOW, tick=False)
def test_feed__running_release__started_phase_at_its_real_start(client, planned, manager, support):
    Release.objects.filter(pk=planned.pk).update(status=ReleaseStatus.SCHEDULED)
    transitions.release_start(release_id=planned.pk, actor=manager)
    _, token = new_feed(support)
    events = events_of(client.get(feed_path(token)))
    first = planned.phases.get(position=0)
    assert events[f"phase-{first.pk}@127.0.0.1"].decoded("DTSTART") == NOW


@time_machine.travel(NOW, tick=False)
def test_feed__cancelled_release__left_out(client, planned, manager, support):
    transitions.release_cancel(release_id=planned.pk, actor=manager, reason="Not needed")
    _, token = new_feed(support)
    assert events_of(client.get(feed_path(token))) == {}


@time_machine.travel(NOW, tick=False)
def test_feed__no_other_data__no_summaries_issues_docs_or_tokens(client, planned, manager, support):
    # Given a release with a summary, a known issue, an internal doc page and other users' feeds
    Release.objects.filter(pk=planned.pk).update(summary="Secret migration plan")
    add_known_issue(planned, support, title="Cards vanish for VIPs")
    link(
        make_page(author=manager, title="Internal runbook", visibility=Visibility.INTERNAL, published=True),
        planned,
        actor=manager,
    )
    _, other_token = new_feed(manager)
    feed, token = new_feed(support)
    # When the feed is read
    text = client.get(feed_path(token)).content.decode()
    # Then none of it is in there
    for secret in ("Secret migration plan", "Cards vanish", "Internal runbook", other_token, token, feed.token_hash):
        assert secret not in text


def test_feed__unknown_or_revoked_token__404(client, support):
    assert client.get(feed_path("x" * 43)).status_code == 404
    feed, token = new_feed(support)
    assert client.get(feed_path(token)).status_code == 200
    assert calendar.feed_revoke(user=support, feed_id=feed.pk)
    assert client.get(feed_path(token)).status_code == 404


def test_feed__user_lost_role_or_deactivated__404(client, support):
    _, token = new_feed(support)
    support.groups.remove(Group.objects.get(name=SUPPORT))
    assert client.get(feed_path(token)).status_code == 404
    support.groups.add(Group.objects.get(name=SUPPORT))
    assert client.get(feed_path(token)).status_code == 200
    support.is_active = False
    support.save()
    assert client.get(feed_path(token)).status_code == 404


def test_feed__token_stored_as_sha256_digest_only(support):
    feed, token = new_feed(support)
    assert len(token) >= 43
    feed.refresh_from_db()
    assert feed.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert feed.token_hint == token[-4:]
    row = CalendarFeed.objects.filter(pk=feed.pk).values().get()
    assert token not in [str(v) for v in row.values()]


def test_feed__last_used_at__written_at_most_once_a_minute(client, planned, support, django_assert_num_queries):
    feed, token = new_feed(support)
    with time_machine.travel(NOW, tick=False):
        client.get(feed_path(token))
        feed.refresh_from_db()
        assert feed.last_used_at == NOW
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        # feed, roles, releases, phases, freezes: no write within the minute
        with django_assert_num_queries(5):
            client.get(feed_path(token))
        feed.refresh_from_db()
        assert feed.last_used_at == NOW
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        client.get(feed_path(token))
        feed.refresh_from_db()
        assert feed.last_used_at == NOW + timedelta(seconds=61)


@pytest.mark.parametrize("count", [1, 12])
def test_feed__few_or_many_releases__same_query_count(client, manager, support, count, django_assert_num_queries):
    for i in range(count):
        release = release_with_phases(owner=manager, slug=f"r-{count}-{i}")
        Release.objects.filter(pk=release.pk).update(planned_start=timezone.now() + timedelta(days=i + 1))
        services.freeze_add(
            actor=manager,
            release_id=release.pk,
            name=f"Freeze {i}",
            timezone_name="UTC",
            starts_local=datetime(2026, 12, 10),
            ends_local=datetime(2026, 12, 11),
        )
    feed, token = new_feed(support)
    calendar.feed_touch(feed, timezone.now())
    # feed, roles, releases, phases, freezes
    with django_assert_num_queries(5):
        response = client.get(feed_path(token))
    assert len(events_of(response)) == count * 4


def test_feed__unchanged__304_on_if_none_match(client, planned, support):
    _, token = new_feed(support)
    first = client.get(feed_path(token))
    again = client.get(feed_path(token), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert "private" in again["Cache-Control"]


def test_feed__needs_no_session(client, support):
    _, token = new_feed(support)
    response = client.get(feed_path(token))
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


# --- The page of secret URLs ----------------------------------------------------------


def test_calendar_page__create__url_shown_once(client, support):
    client.force_login(support)
    response = client.post("/feeds/calendar/")
    html = response.content.decode()
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    url = re.search(r'<code class="token">(http://127\.0\.0\.1:8000/feeds/calendar/[\w-]+\.ics)</code>', html).group(1)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    feed = CalendarFeed.objects.get(user=support)
    assert feed.token_hash == calendar.token_digest(token)
    # And it is not shown again
    listing = client.get("/feeds/calendar/").content.decode()
    assert token not in listing
    assert f"…{token[-4:]}.ics" in listing
    assert "Google Calendar" in listing and "Outlook" in listing and "Apple Calendar" in listing


def test_calendar_page__revoke__own_only(client, support, manager):
    mine, _ = new_feed(support)
    theirs, their_token = new_feed(manager)
    client.force_login(support)
    response = client.post(f"/feeds/calendar/{theirs.pk}/revoke/")
    assert response.status_code == 303
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert client.get(feed_path(their_token)).status_code == 200
    client.post(f"/feeds/calendar/{mine.pk}/revoke/")
    mine.refresh_from_db()
    assert mine.revoked_at is not None
    assert "Revoked" in client.get("/feeds/calendar/").content.decode()


def test_calendar_page__lists_only_own_feeds(client, support, manager):
    CalendarFeedFactory(user=manager, token_hint="zzzz")
    CalendarFeedFactory(user=support, token_hint="mine")
    client.force_login(support)
    html = client.get("/feeds/calendar/").content.decode()
    assert "…mine.ics" in html and "zzzz" not in html


def test_calendar_page__too_many__refused(client, support):
    for _ in range(calendar.MAX_ACTIVE_FEEDS):
        new_feed(support)
    client.force_login(support)
    response = client.post("/feeds/calendar/")
    assert response.status_code == 409
    assert "Revoke one" in response.content.decode()
    assert CalendarFeed.objects.filter(user=support).count() == calendar.MAX_ACTIVE_FEEDS


def test_calendar_page__outsider_403_anonymous_login(client, outsider):
    assert client.get("/feeds/calendar/").status_code == 302
    client.force_login(outsider)
    assert client.get("/feeds/calendar/").status_code == 403
    assert client.post("/feeds/calendar/").status_code == 403
    assert not CalendarFeed.objects.exists()
