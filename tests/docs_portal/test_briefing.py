"""The support briefing of a release and the briefing index: who may read them, what they
say, how they refresh themselves, and what they cost in queries."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from docs_portal.models import KnownIssueStatus, Visibility
from flags import snapshot as flags_snapshot
from rollouts import transitions
from rollouts.models import Environment, GateKind, Phase, Release, RollbackStep
from rollouts.roles import SUPPORT
from tests.docs_portal.briefing_factories import FaqEntryFactory, KnownIssueFactory, add_known_issue
from tests.docs_portal.factories import link, make_page
from tests.factories import EventFactory, GateFactory, ReleaseFactory, UserFactory, release_with_phases

pytestmark = pytest.mark.django_db

URL = "/briefings/checkout/"


def start(release, manager):
    transitions.release_start(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    return release


def advance(release, manager, approver):
    release.refresh_from_db()
    transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
    transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
    release.refresh_from_db()
    return release


def version_of(response) -> str:
    return re.search(r'data-version="([^"]+)"', response.content.decode()).group(1)


def poll(client, version, url=URL):
    return client.get(url, {"since": version}, HTTP_HX_REQUEST="true")


# --- Who may read it ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "approver", "support", "viewer"])
def test_briefing__any_flightdeck_role__reads_it(client, release, role, request):
    # Given a user with one of the roles
    client.force_login(request.getfixturevalue(role))
    # When they open the briefing
    response = client.get(URL)
    # Then they read it
    assert response.status_code == 200
    assert "Support briefing: Checkout" in response.content.decode()


def test_briefing__signed_in_without_role__403(client, release, outsider):
    client.force_login(outsider)
    assert client.get(URL).status_code == 403
    assert client.get("/briefings/").status_code == 403


def test_briefing__anonymous__sent_to_login(client, release):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/briefings/checkout/")
    assert client.get("/briefings/")["Location"].startswith("/accounts/login/")


def test_briefing__unknown_release__404(client, support):
    client.force_login(support)
    assert client.get("/briefings/nope/").status_code == 404


# --- What it says ---------------------------------------------------------------------------


def test_briefing__running_release__says_who_has_it_now(client, release, manager, approver, support):
    # Given a running release with a summary, a passed first phase and a rollback plan
    Release.objects.filter(pk=release.pk).update(summary="Saved cards **move** to the new vault.")
    Phase.objects.filter(release=release, position=1).update(environment=Environment.BETA)
    RollbackStep.objects.create(release=release, title="Switch the vault back", owner=manager, expected_minutes=7)
    start(release, manager)
    advance(release, manager, approver)
    client.force_login(support)
    # When support reads the briefing
    html = client.get(URL).content.decode()
    # Then it says what changes, who has it, where, the gates, the timeline and whom to ask
    assert "Saved cards <strong>move</strong> to the new vault." in html
    assert "Live for 10% in Beta, Production, phase “Phase 2”." in html
    assert 'id="exposure">Exposure <strong>10%</strong>' in html
    assert 'id="environments">Beta, Production<' in html  # staging → beta → production
    assert "Gate 1.1" in html and "1/1 approval" in html
    assert "advanced the release" in html and "from “Phase 1” to “Phase 2” (10%)" in html
    assert "No rollback is running." in html
    assert "Switch the vault back" in html and "about 7 min" in html
    assert "mailto:manager@example.com" in html and "Release owner" in html
    assert "mailto:approver@example.com" in html and "Approved “Gate 1.1”" in html
    assert 'id="briefing-flags"' not in html  # nothing to show until releases have flags


def test_briefing__rollback_running__shows_progress(client, release, manager, support):
    # Given a rollback with two steps, one done
    RollbackStep.objects.create(release=release, title="Drain traffic", position=0)
    RollbackStep.objects.create(release=release, title="Restore database", position=1)
    start(release, manager)
    run = transitions.release_rollback(release_id=release.pk, actor=manager, reason="Error rate doubled")
    transitions.rollback_step_done(run_step_id=run.steps.order_by("position").first().pk, actor=manager)
    client.force_login(support)
    # When support reads the briefing
    html = client.get(URL).content.decode()
    # Then it says a rollback is running, why, and how far it got
    assert "A rollback is running." in html
    assert "“Error rate doubled”" in html
    assert 'aria-valuenow="50"' in html
    assert "1 of 2 steps done" in html
    assert "Being rolled back" in html


def test_briefing__draft__nobody_has_it(client, release, support):
    Release.objects.filter(pk=release.pk).update(planned_start=timezone.now() + timedelta(days=2))
    client.force_login(support)
    html = client.get(URL).content.decode()
    assert "Not started: nobody has it yet. Planned to start" in html
    assert 'id="exposure">Exposure <strong>0%</strong>' in html


def test_briefing__linked_docs__internal_hidden_from_support_shown_to_manager(
    client, release, manager, support, approver
):
    # Given published public, support and internal pages and a draft, all linked to the release
    pages = {
        v: make_page(author=manager, title=f"{v.title()} guide", visibility=v, published=True)
        for v in (Visibility.PUBLIC, Visibility.SUPPORT, Visibility.INTERNAL)
    }
    draft = make_page(author=manager, title="Draft guide", visibility=Visibility.SUPPORT)
    for page in [*pages.values(), draft]:
        link(page, release, actor=manager)
    # When support reads the briefing
    client.force_login(support)
    html = client.get(URL).content.decode()
    # Then they see the public and support pages only
    assert "Public guide" in html and "Support guide" in html
    assert "Internal guide" not in html and "Draft guide" not in html
    assert f"http://testserver/docs/{pages[Visibility.SUPPORT].slug}/" in html
    # And release managers and approvers see the internal one too
    for user in (manager, approver):
        client.force_login(user)
        docs = client.get(URL).content.decode().split('id="docs"')[1].split("</section>")[0]
        assert "Internal guide" in docs and "Draft guide" not in docs


def test_briefing__doc_events__titles_of_unreadable_pages_kept_from_support(client, release, manager, support):
    # Given an internal page linked to the release (the link is on the timeline, titled)
    secret = make_page(author=manager, title="Incident 42 postmortem", visibility=Visibility.INTERNAL, published=True)
    link(secret, release, actor=manager)
    # When support reads the briefing, Then the timeline says a page was linked, not which
    client.force_login(support)
    html = client.get(URL).content.decode()
    assert "linked the doc page" in html
    assert "Incident 42 postmortem" not in html
    # While a release manager sees the title
    client.force_login(manager)
    assert "Incident 42 postmortem" in client.get(URL).content.decode()


def test_briefing__known_issues__open_first_with_workaround(client, release, support):
    KnownIssueFactory(release=release, title="Old glitch", status=KnownIssueStatus.FIXED)
    KnownIssueFactory(
        release=release, title="Cards missing", status=KnownIssueStatus.WORKAROUND, workaround="Log out and *in*."
    )
    client.force_login(support)
    html = client.get(URL).content.decode()
    assert html.index("Cards missing") < html.index("Old glitch")
    assert "Log out and <em>in</em>." in html
    assert "1 open" in html


def test_briefing__faq__support_reads_without_edit_buttons(client, release, support, manager):
    FaqEntryFactory(release=release, question="Where did my card go?", answer="Into the **vault**.")
    client.force_login(support)
    html = client.get(URL).content.decode()
    assert "Where did my card go?" in html and "Into the <strong>vault</strong>." in html
    assert "/faq/add/" not in html and "/edit/" not in html.split('id="faq"')[1].split("</section>")[0]
    client.force_login(manager)
    assert "/briefings/checkout/faq/add/" in client.get(URL).content.decode()


def test_briefing__print__stylesheet_hides_controls_and_shows_urls(client, release, support):
    from django.conf import settings

    css = (settings.BASE_DIR / "static" / "css" / "app.css").read_text()
    section = css.split("/* briefings */", 1)[1]
    printing = section.split("@media print", 1)[1]
    for rule in (".briefing-tools", ".briefing form", "break-inside: avoid", "attr(href)", ".topbar"):
        assert rule in printing
    client.force_login(support)
    html = client.get(URL).content.decode()
    assert 'class="briefing-tools"' in html  # what print hides is marked so


# --- Live region ---------------------------------------------------------------------------


def test_briefing_poll__nothing_changed__204_in_four_queries(
    client, release, manager, support, django_assert_num_queries
):
    start(release, manager)
    client.force_login(support)
    version = version_of(client.get(URL))
    # session, user, roles, the version
    with django_assert_num_queries(4):
        response = poll(client, version)
    assert response.status_code == 204
    assert "HX-Request" in response["Vary"]


def test_briefing_poll__after_a_transition__new_content(client, release, manager, approver, support):
    # Given support looking at the briefing of a release at 1%
    start(release, manager)
    client.force_login(support)
    first = client.get(URL)
    assert 'id="exposure">Exposure <strong>1%</strong>' in first.content.decode()
    # When the manager advances it
    advance(release, manager, approver)
    # Then the next poll answers the fresh region (the partial, not the page) at 10%
    response = poll(client, version_of(first))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="briefing-body"')
    assert "<html" not in html
    assert 'id="exposure">Exposure <strong>10%</strong>' in html
    assert version_of(response) != version_of(first)


def test_briefing_poll__known_issue_added_elsewhere__new_content(client, release, manager, support):
    client.force_login(support)
    version = version_of(client.get(URL))
    add_known_issue(release, manager, title="Receipts arrive twice")
    response = poll(client, version)
    assert response.status_code == 200
    assert "Receipts arrive twice" in response.content.decode()


def test_briefing_poll__unknown_release__404(client, support):
    client.force_login(support)
    assert poll(client, "b:whatever", url="/briefings/nope/").status_code == 404


# --- Query counts ----------------------------------------------------------------------------

# session, user, roles, release (with its change markers), phases, gates, gate decisions,
# rollback steps, latest rollback run, timeline events, known issues, FAQ, linked docs
BRIEFING_QUERIES = 13
# + the rollback run's steps
BRIEFING_QUERIES_WITH_RUN = 14


@pytest.mark.parametrize("size", [2, 25])
def test_briefing__few_or_many_events_issues_gates__same_query_count(
    client, manager, approver, support, size, django_assert_num_queries, monkeypatch
):
    # The flags snapshot checks its version once a second: on a busy machine that check would
    # land inside the counted request, so the check waits longer here.
    monkeypatch.setattr(flags_snapshot, "CHECK_SECONDS_DB", 600.0)
    monkeypatch.setattr(flags_snapshot, "CHECK_SECONDS_SHARED", 600.0)
    # Given a running release with `size` gates per phase, events, known issues, FAQ entries and docs
    release = release_with_phases(owner=manager, slug="sized", exposures=[5, 50, 100], gates_per_phase=size)
    start(release, manager)
    for gate in release.current_phase.gates.all():
        transitions.gate_approve(gate_id=gate.pk, actor=approver)
    EventFactory.create_batch(size * 3, release=release, verb="plan.phase_edited")
    KnownIssueFactory.create_batch(size, release=release, created_by=support, updated_by=support)
    FaqEntryFactory.create_batch(size, release=release)
    for i in range(min(size, 5)):
        link(make_page(author=manager, title=f"Guide {size}-{i}", published=True), release, actor=manager)
    client.force_login(support)
    # (feature flags come from the in-process snapshot; it is rebuilt once after a change)
    flags_snapshot.current()
    # When support reads it, Then the count does not depend on the size
    with django_assert_num_queries(BRIEFING_QUERIES):
        response = client.get("/briefings/sized/")
    assert response.status_code == 200
    # And with a rollback running, one query more whatever its size
    for i in range(size):
        RollbackStep.objects.create(release=release, title=f"Step {i}", position=i, owner=manager)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
    flags_snapshot.current()
    with django_assert_num_queries(BRIEFING_QUERIES_WITH_RUN):
        response = client.get("/briefings/sized/")
    assert response.status_code == 200


def test_briefing__timeline__limited_with_link_to_the_whole(client, release, manager, support):
    EventFactory.create_batch(40, release=release, verb="plan.phase_edited")
    client.force_login(support)
    html = client.get(URL).content.decode()
    assert html.count('class="event verb-') == 30
    assert "The whole timeline is on the release page." in html


# --- The release page links to it --------------------------------------------------------------


def test_release_page__links_to_the_briefing(client, release, support):
    client.force_login(support)
    html = client.get("/releases/checkout/").content.decode()
    assert 'href="/briefings/checkout/" id="briefing-link"' in html


def test_nav__briefings_link(client, release, support):
    client.force_login(support)
    assert '<a href="/briefings/">Briefings</a>' in client.get("/").content.decode()


# --- Index -----------------------------------------------------------------------------------


def make_index_world(manager, approver, n):
    """n running, n paused, n rolling back, n planned this week, and ones that must not show."""
    now = timezone.now()
    made = {"running": [], "paused": [], "rolling": [], "planned": []}
    for i in range(n):
        r = start(release_with_phases(owner=manager, slug=f"run-{n}-{i}", exposures=(5, 50)), manager)
        KnownIssueFactory.create_batch(2, release=r)
        KnownIssueFactory(release=r, status=KnownIssueStatus.FIXED)
        made["running"].append(r)
        p = start(release_with_phases(owner=manager, slug=f"paused-{n}-{i}", exposures=(20, 50)), manager)
        transitions.release_pause(release_id=p.pk, actor=manager)
        made["paused"].append(p)
        b = start(release_with_phases(owner=manager, slug=f"back-{n}-{i}", exposures=(30, 50)), manager)
        RollbackStep.objects.create(release=b, title="Undo")
        transitions.release_rollback(release_id=b.pk, actor=manager, reason="x")
        made["rolling"].append(b)
        made["planned"].append(ReleaseFactory(owner=manager, slug=f"soon-{n}-{i}", planned_start=now))
        ReleaseFactory(owner=manager, slug=f"later-{n}-{i}", planned_start=now + timedelta(days=30))
        ReleaseFactory(owner=manager, slug=f"unplanned-{n}-{i}")
    return made


@pytest.mark.parametrize("n", [1, 8])
def test_briefing_index__in_flight_and_this_week__constant_queries(
    client, manager, approver, support, n, django_assert_num_queries
):
    made = make_index_world(manager, approver, n)
    client.force_login(support)
    # session, user, roles, releases with their open known issues
    with django_assert_num_queries(4):
        response = client.get("/briefings/")
    html = response.content.decode()
    assert response.status_code == 200
    for group in made.values():
        for r in group:
            assert f'href="/briefings/{r.slug}/"' in html
    assert "later-" not in html and "unplanned-" not in html
    running = html.split(f'id="briefing-{made["running"][0].slug}"')[1].split("</li>")[0]
    assert "exposure 5%" in running and "2 open known issues" in running
    paused = html.split(f'id="briefing-{made["paused"][0].slug}"')[1].split("</li>")[0]
    assert "exposure 20%" in paused and "No open known issues" in paused
    assert html.index("Planned to start this week") < html.index(f"/briefings/{made['planned'][0].slug}/")


def test_briefing_index__nothing_in_flight__says_so(client, support):
    client.force_login(support)
    html = client.get("/briefings/").content.decode()
    assert "Nothing is rolling out right now." in html
    assert "No release is planned to start this week." in html


def test_briefing__support_user_from_factory_role(client, release):
    # A freshly made support user (role added after creation) reads it too.
    user = UserFactory(username="fresh-support", roles=[SUPPORT])
    client.force_login(user)
    assert client.get(URL).status_code == 200


def test_briefing__checklist_and_automated_gates__listed_with_state(client, release, manager, support):
    GateFactory(phase=release.phases.get(position=0), name="Smoke checklist", kind=GateKind.CHECKLIST)
    client.force_login(support)
    html = client.get(URL).content.decode()
    assert "Smoke checklist" in html and "Checklist" in html and "Pending" in html
