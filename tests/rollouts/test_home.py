"""Home (`/`): releases in flight (polled, 304 when unchanged), the sections around them
(upcoming phases, notices due, gates waiting for you, recent rollbacks), search and filters."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from rollouts import selectors, transitions
from rollouts.models import GateKind, RollbackStep, Strategy
from tests.factories import GateFactory, MessageFactory, NoticeFactory, PhaseFactory, release_with_phases
from tests.rollouts.test_queries import make_releases
from tests.rollouts.test_shared_cache import redis_cache  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _started(owner, slug, **kw):
    release = release_with_phases(owner=owner, slug=slug, **kw)
    transitions.release_start(release_id=release.pk, actor=owner)
    release.refresh_from_db()
    return release


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</section>", start)]


# --- Waiting for you --------------------------------------------------------------------


def test_waiting__approver__sees_gate_of_current_phase_with_link(client, manager, approver):
    # Given a running release owned by the manager, its first phase's gate open
    release = _started(manager, "wait")
    gate = release.current_phase.gates.get()
    release_with_phases(owner=manager, slug="draft-one")  # a draft's gates are not waiting
    # When the approver opens home
    client.force_login(approver)
    waiting = _section(client.get("/").content.decode(), "waiting")
    # Then the gate is listed with a link to it on the release page
    assert f'href="/releases/wait/#gate-{gate.pk}"' in waiting
    assert "Gate 1.1" in waiting and "0 of 1 approvals" in waiting
    assert "Gate 2.1" not in waiting  # the next phase has not started


def test_waiting__owner_support_or_decided__not_listed(client, manager, approver, support, other_manager):
    release = _started(manager, "own", gates_per_phase=1)
    gate = release.current_phase.gates.get()
    gate.required_approvals = 2
    gate.save()
    for user in (manager, support, other_manager):
        client.force_login(user)
        assert "Nothing is waiting for you." in _section(client.get("/").content.decode(), "waiting")
    client.force_login(approver)
    assert "Gate 1.1" in _section(client.get("/").content.decode(), "waiting")
    transitions.gate_approve(gate_id=gate.pk, actor=approver)  # 1 of 2: still open, but decided by them
    assert "Nothing is waiting for you." in _section(client.get("/").content.decode(), "waiting")


def test_waiting__checklist__listed_for_people_who_tick(client, manager, support):
    release = _started(manager, "check", gates_per_phase=0)
    GateFactory(phase=release.current_phase, name="Runbook read", kind=GateKind.CHECKLIST)
    client.force_login(manager)
    assert "Runbook read" in _section(client.get("/").content.decode(), "waiting")
    client.force_login(support)
    assert "Runbook read" not in _section(client.get("/").content.decode(), "waiting")


# --- Upcoming phases, notices, rollbacks --------------------------------------------------


def test_upcoming_phases__next_seven_days_only(client, manager, support):
    now = timezone.now()
    release = release_with_phases(owner=manager, slug="soon", exposures=[])
    PhaseFactory(release=release, name="Beta soon", planned_start=now + timedelta(days=2), position=0)
    PhaseFactory(release=release, name="Far away", planned_start=now + timedelta(days=9), position=1)
    PhaseFactory(release=release, name="Already past", planned_start=now - timedelta(hours=1), position=2)
    client.force_login(support)
    section = _section(client.get("/").content.decode(), "upcoming-phases")
    assert "Beta soon" in section and 'href="/releases/soon/"' in section
    assert "Far away" not in section and "Already past" not in section


def test_notices__next_24_hours__counted_per_message_with_outbox_link(client, manager, viewer):
    release = release_with_phases(owner=manager, slug="news", name="News", version="3.0")
    now = timezone.now()
    first = NoticeFactory(message__plan__release=release, message__name="Heads-up", due_at=now + timedelta(hours=2))
    NoticeFactory(message=first.message, due_at=now + timedelta(hours=3))
    NoticeFactory(message=first.message, due_at=now + timedelta(hours=30))  # too late
    NoticeFactory(
        message=MessageFactory(plan=first.message.plan, name="Cancelled one"),
        due_at=now + timedelta(hours=1),
        status="cancelled",
    )
    client.force_login(viewer)
    section = _section(client.get("/").content.decode(), "notices-due")
    assert "Heads-up" in section and "News 3.0" in section
    assert "2 pending" in section and "/comms/outbox/?release=news&amp;state=pending" in section
    assert "Cancelled one" not in section


def test_notices__window_moves__cached_page_does_not_go_stale(client, manager, viewer):
    # Given a notice due in 25 hours and a cached home page
    release = release_with_phases(owner=manager, slug="later")
    NoticeFactory(message__plan__release=release, message__name="Tomorrow", due_at=timezone.now() + timedelta(hours=25))
    client.force_login(viewer)
    client.get("/")
    assert "Tomorrow" not in _section(client.get("/").content.decode(), "notices-due")
    # When two hours pass with no change to any release
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        page = client.get("/").content.decode()
    # Then the notice is in the next 24 hours
    assert "Tomorrow" in _section(page, "notices-due")


def test_recent_rollbacks__status_and_progress(client, manager, support):
    release = _started(manager, "back", name="Payments", version="9.1")
    RollbackStep.objects.create(release=release, title="Undo", position=0)
    RollbackStep.objects.create(release=release, title="Tell", position=1)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="errors")
    client.force_login(support)
    section = _section(client.get("/").content.decode(), "recent-rollbacks")
    assert "Payments 9.1" in section and "Running" in section
    assert "0 of 2 steps done" in section and 'aria-valuenow="0"' in section


def test_home__no_role__forbidden_and_anonymous_redirected(client, outsider):
    assert client.get("/").status_code == 302
    client.force_login(outsider)
    assert client.get("/").status_code == 403
    assert client.get("/?q=x").status_code == 403
    assert client.get("/home/in-flight/").status_code == 403


def test_home__in_flight_first__then_sections(client, manager, support):
    _started(manager, "fly")
    release_with_phases(owner=manager, slug="parked")
    client.force_login(support)
    page = client.get("/").content.decode()
    order = [
        page.index(f'id="{s}"')
        for s in ("in-flight", "waiting", "upcoming-phases", "notices-due", "recent-rollbacks", "other-releases")
    ]
    assert order == sorted(order)
    assert 'id="group-in_progress"' in _section(page, "in-flight")
    assert 'hx-get="/home/in-flight/"' in page and 'hx-trigger="every 10s"' in page


# --- Search and filters -----------------------------------------------------------------


def test_filters__form__every_control_labelled(manager_client):
    page = manager_client.get("/").content.decode()
    for name in ("q", "state", "strategy", "owner", "from", "to"):
        assert f'<label for="home-{name}">' in page
        assert f'id="home-{name}" name="{name}"' in page


def test_filters__search_state_strategy_owner_date__narrow_the_groups(manager_client, manager, other_manager):
    a = _started(manager, "alpha-search", name="Alpha", version="1.0", strategy=Strategy.CANARY)
    release_with_phases(owner=other_manager, slug="beta-rel", name="Beta", version="2.0", strategy=Strategy.ROLLING)

    def shown(query):
        page = manager_client.get("/" + query).content.decode()
        return {
            slug
            for slug in ("alpha-search", "beta-rel")
            if f"/releases/{slug}/" in _section(page, "in-flight") + _section(page, "other-releases")
        }

    assert shown("") == {"alpha-search", "beta-rel"}
    assert shown("?q=alpha") == {"alpha-search"}
    assert shown("?q=2.0") == {"beta-rel"}
    assert shown("?state=in_progress") == {"alpha-search"}
    assert shown("?strategy=rolling") == {"beta-rel"}
    assert shown("?owner=manager2") == {"beta-rel"}  # a username
    assert shown("?owner=tom") == {"beta-rel"}  # part of a first name, any case
    assert shown("?owner=nobody-here") == set()
    today = a.started_at.date()
    assert shown(f"?from={today.isoformat()}") == {"alpha-search"}
    assert shown(f"?to={(today - timedelta(days=1)).isoformat()}") == set()
    assert "No releases match this search." in manager_client.get("/?q=nothing-like-it").content.decode()


def test_filters__bad_values__ignored(manager_client, manager):
    release_with_phases(owner=manager, slug="fine")
    response = manager_client.get("/?state=exploded&strategy=%00&owner=abc&from=2024-13-45&to=yesterday&q=" + "x" * 500)
    assert response.status_code == 200
    assert "No releases match this search." in response.content.decode()  # the search itself still applies
    response = manager_client.get("/?state=exploded&strategy=bogus&from=nope&owner=%20")
    assert response.status_code == 200 and "/releases/fine/" in response.content.decode()


def test_filters__selected_values_kept_in_the_form(manager_client, manager):
    release_with_phases(owner=manager, slug="owned")
    response = manager_client.get("/?q=abc&state=paused&strategy=shadow&owner=maria&from=2026-01-02")
    page = response.content.decode()
    assert 'value="abc"' in page and '<option value="paused" selected>' in page
    assert '<option value="shadow" selected>' in page and 'name="owner" value="maria"' in page
    assert 'value="2026-01-02"' in page
    assert 'hx-get="/home/in-flight/?q=abc&amp;state=paused' in page


# --- Query counts -------------------------------------------------------------------------

# session, user, roles, ranked ids with state counts, releases, gates of current phases,
# upcoming phases, notices due, recent rollbacks, gates waiting for this reader
HOME_FILTERED_QUERIES = 10


def _sections_data(owner, count):
    """`count` upcoming phases and `count` messages with notices due tomorrow morning."""
    now = timezone.now()
    release = release_with_phases(owner=owner, slug=f"sections-{count}", exposures=[])
    plan = NoticeFactory(message__plan__release=release, due_at=now + timedelta(hours=1)).message.plan
    for i in range(count):
        PhaseFactory(release=release, position=i, planned_start=now + timedelta(days=1, minutes=i))
        NoticeFactory(message=MessageFactory(plan=plan), due_at=now + timedelta(hours=2))


@pytest.mark.parametrize("count", [3, 30])
def test_home__filtered__same_query_count(manager_client, manager, approver, count, django_assert_num_queries):
    make_releases(manager, approver, count)
    _sections_data(manager, count)
    with django_assert_num_queries(HOME_FILTERED_QUERIES):
        response = manager_client.get("/?q=q-&strategy=canary&from=2000-01-01")
    assert response.status_code == 200


@pytest.mark.parametrize("count", [3, 30])
def test_home__approver__same_query_count(client, manager, approver, count, django_assert_num_queries):
    make_releases(manager, approver, count)
    _sections_data(manager, count)
    client.force_login(approver)
    with django_assert_num_queries(11):  # as tests/rollouts/test_queries.py DASHBOARD_QUERIES
        page = client.get("/").content.decode()
    assert "Waiting for you" in page
    shown = selectors.HOME_UPCOMING_SHOWN
    assert _section(page, "upcoming-phases").count("<tr>") == min(count, shown) + 1  # with the head row
    assert _section(page, "notices-due").count("<tr>") == min(count + 1, shown) + 1
    assert ("see the calendar" in page) == (count >= shown)


# --- Live "in flight" with ETag ------------------------------------------------------------


def test_in_flight__etag__200_then_304_then_200_after_a_transition(client, manager, approver):
    release = _started(manager, "live")
    client.force_login(approver)
    first = client.get("/home/in-flight/")
    assert first.status_code == 200 and "/releases/live/" in first.content.decode()
    etag = first["ETag"]
    assert etag.startswith('"') and first["Cache-Control"] == "private, no-cache"
    again = client.get("/home/in-flight/", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    transitions.release_pause(release_id=release.pk, actor=manager)
    moved = client.get("/home/in-flight/", headers={"if-none-match": etag})
    assert moved.status_code == 200 and moved["ETag"] != etag
    assert 'id="group-paused"' in moved.content.decode()


def test_in_flight__etag__depends_on_reader_and_filters(client, manager, approver, support):
    _started(manager, "tagged")
    client.force_login(approver)
    mine = client.get("/home/in-flight/")["ETag"]
    filtered = client.get("/home/in-flight/?q=zzz")
    assert filtered["ETag"] != mine and "/releases/tagged/" not in filtered.content.decode()
    client.force_login(support)
    assert client.get("/home/in-flight/", headers={"if-none-match": mine}).status_code == 200


@pytest.mark.parametrize("count", [3, 30])
def test_in_flight__same_query_count__and_304_costs_only_the_version(
    client, manager, approver, count, django_assert_num_queries
):
    make_releases(manager, approver, count)
    client.force_login(approver)
    # session, user, roles, data version, ranked ids with state counts, releases, gates
    with django_assert_num_queries(7):
        etag = client.get("/home/in-flight/")["ETag"]
    with django_assert_num_queries(4):
        assert client.get("/home/in-flight/", headers={"if-none-match": etag}).status_code == 304


# --- With Redis as the cache (production) -------------------------------------------------


@pytest.mark.usefixtures("redis_cache")
def test_home__shared_cache__filters_not_served_from_the_page_cache(client, manager, django_assert_num_queries):
    release_with_phases(owner=manager, slug="cached-one")
    client.force_login(manager)
    client.get("/")
    assert "/releases/cached-one/" in client.get("/").content.decode()  # now from the page cache
    filtered = client.get("/?q=nothing-like-it").content.decode()
    assert "/releases/cached-one/" not in filtered and "No releases match this search." in filtered
    with django_assert_num_queries(0):  # the unfiltered page is still the cached one
        assert "/releases/cached-one/" in client.get("/").content.decode()


@pytest.mark.usefixtures("redis_cache")
def test_in_flight__shared_cache__304_costs_no_query(client, manager, approver, django_assert_num_queries):
    _started(manager, "poll")
    client.force_login(approver)
    etag = client.get("/home/in-flight/")["ETag"]
    with django_assert_num_queries(0):
        assert client.get("/home/in-flight/", headers={"if-none-match": etag}).status_code == 304
