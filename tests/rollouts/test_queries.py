"""Pages read through selectors in a fixed number of queries, whatever the data size."""

import pytest

from rollouts import transitions
from rollouts.models import GateKind, RollbackStep
from tests.factories import ChecklistItemFactory, GateFactory, release_with_phases

pytestmark = pytest.mark.django_db

# session, user, user's roles, data version, ranked ids with state counts, releases, gates of
# current phases; home's sections: upcoming phases, notices due, recent rollbacks, gates waiting
# for this reader
DASHBOARD_QUERIES = 11
# the same version again: the shared parts and this reader's "waiting for you" come from the cache
DASHBOARD_QUERIES_CACHED = 4
# session, user, roles, release, phases, gates, decisions, checklist items, gate measurements,
# rollback steps, the release's freezes and allowed hours, global freezes, global allowed hours,
# latest rollback run, timeline events, linked doc pages (docs_portal's section)
RELEASE_PAGE_QUERIES = 17
# + the rollback run's steps
RELEASE_PAGE_QUERIES_WITH_ROLLBACK_RUN = 18


def make_releases(owner, approver, count, phases=3, gates=2):
    """A mix of states: draft, in progress (one gate passed), paused, rolled back with a run."""
    made = []
    for i in range(count):
        release = release_with_phases(
            owner=owner, slug=f"q-{count}-{i}", exposures=[10 * (p + 1) for p in range(phases)], gates_per_phase=gates
        )
        kind = i % 4
        if kind:
            transitions.release_start(release_id=release.pk, actor=owner)
            release.refresh_from_db()
            transitions.gate_approve(gate_id=release.current_phase.gates.first().pk, actor=approver)
        if kind == 2:
            transitions.release_pause(release_id=release.pk, actor=owner)
        if kind == 3:
            RollbackStep.objects.create(release=release, title="Undo")
            transitions.release_rollback(release_id=release.pk, actor=owner, reason="x")
        made.append(release)
    return made


@pytest.mark.parametrize("count", [3, 30])
def test_dashboard__few_or_many_releases__same_query_count(
    manager_client, manager, approver, count, django_assert_num_queries
):
    make_releases(manager, approver, count)
    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = manager_client.get("/")
    assert response.status_code == 200
    with django_assert_num_queries(DASHBOARD_QUERIES_CACHED):
        again = manager_client.get("/")
    main = response.content.decode().split("<main>")[1]
    assert again.content.decode().split("<main>")[1] == main


@pytest.mark.parametrize("count", [3, 30])
def test_release_list__few_or_many__same_query_count(
    manager_client, manager, approver, count, django_assert_num_queries
):
    make_releases(manager, approver, count)
    # session, user, roles, page count, releases, gates of current phases
    with django_assert_num_queries(6):
        response = manager_client.get("/releases/")
    assert response.status_code == 200


@pytest.mark.parametrize(("phases", "gates"), [(2, 1), (8, 4)])
def test_release_page__few_or_many_phases_and_gates__same_query_count(
    manager_client, manager, approver, phases, gates, django_assert_num_queries
):
    release = make_releases(manager, approver, 4, phases=phases, gates=gates)[3]  # rolled back: has a run
    active = release_with_phases(owner=manager, slug="active", exposures=[10] * phases, gates_per_phase=gates)
    transitions.release_start(release_id=active.pk, actor=manager)
    active.refresh_from_db()
    checklist = GateFactory(phase=active.current_phase, kind=GateKind.CHECKLIST)
    for _ in range(gates):
        ChecklistItemFactory(gate=checklist)
    for slug, queries in ((release.slug, RELEASE_PAGE_QUERIES_WITH_ROLLBACK_RUN), ("active", RELEASE_PAGE_QUERIES)):
        with django_assert_num_queries(queries):
            response = manager_client.get(f"/releases/{slug}/")
        assert response.status_code == 200


def test_release_page__htmx_partial__same_queries_as_page(manager_client, manager, approver, django_assert_num_queries):
    release = make_releases(manager, approver, 2)[1]
    with django_assert_num_queries(RELEASE_PAGE_QUERIES):
        response = manager_client.get(f"/releases/{release.slug}/", HTTP_HX_REQUEST="true")
    assert "<html" not in response.content.decode()


def test_dashboard__release_changes__next_load_shows_it(manager_client, manager, approver):
    release = make_releases(manager, approver, 1)[0]
    assert 'id="group-draft"' in manager_client.get("/").content.decode()
    transitions.release_start(release_id=release.pk, actor=manager)
    page = manager_client.get("/").content.decode()
    assert 'id="group-in_progress"' in page and 'id="group-draft"' not in page


def test_dashboard__reader_and_manager__each_sees_their_own_links(client, manager, support, approver):
    make_releases(manager, approver, 1)
    client.force_login(support)
    assert "Plan the first one" not in client.get("/").content.decode()
    client.force_login(manager)
    assert "Plan a release" in client.get("/").content.decode()
