"""Rollback runs people work through, and the read-only timeline."""

import pytest

from rollouts import transitions
from rollouts.models import ReleaseStatus
from tests.api.test_releases import started
from tests.factories import RollbackStepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(manager, release):
    RollbackStepFactory(release=release, title="Route to blue", position=0)
    RollbackStepFactory(release=release, title="Purge caches", position=1)
    started(release, manager)
    return transitions.release_rollback(release_id=release.pk, actor=manager, reason="5xx spike")


def test_runs__list_and_detail(api_as, viewer, run):
    api = api_as(viewer)
    listed = api.get("/api/v1/rollback-runs", {"status": "running"}).json()["results"]
    assert [r["id"] for r in listed] == [run.pk]
    detail = api.get(f"/api/v1/rollback-runs/{run.pk}").json()
    assert [s["title"] for s in detail["steps"]] == ["Route to blue", "Purge caches"]
    assert (detail["steps_done"], detail["steps_total"]) == (0, 2)


def test_step_done__every_step__release_rolled_back(api, release, run):
    first, second = run.steps.order_by("position")
    response = api.post(f"/api/v1/rollback-runs/{run.pk}/steps/{first.pk}/done", {"note": "on blue"})
    assert response.status_code == 200
    assert response.json()["run"]["steps_done"] == 1
    assert api.post(f"/api/v1/rollback-runs/{run.pk}/steps/{second.pk}/done").json()["run"]["status"] == "completed"
    release.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLED_BACK


def test_step_done__twice__409(api, run):
    first = run.steps.order_by("position").first()
    api.post(f"/api/v1/rollback-runs/{run.pk}/steps/{first.pk}/done")
    response = api.post(f"/api/v1/rollback-runs/{run.pk}/steps/{first.pk}/done")
    assert response.status_code == 409
    assert response.json()["code"] == "already_done"


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_step_done__not_a_manager__403(api_as, request, run, role):
    first = run.steps.order_by("position").first()
    response = api_as(request.getfixturevalue(role)).post(f"/api/v1/rollback-runs/{run.pk}/steps/{first.pk}/done")
    assert response.status_code == 403


def test_step_done__step_of_another_run__404(api, run, manager):
    from tests.factories import release_with_phases

    other = release_with_phases(owner=manager, slug="other")
    RollbackStepFactory(release=other)
    started(other, manager)
    other_run = transitions.release_rollback(release_id=other.pk, actor=manager, reason="x")
    step = other_run.steps.get()
    assert api.post(f"/api/v1/rollback-runs/{run.pk}/steps/{step.pk}/done").status_code == 404


def test_step_done__bad_note__400(api, run):
    first = run.steps.order_by("position").first()
    response = api.post(f"/api/v1/rollback-runs/{run.pk}/steps/{first.pk}/done", {"note": "x" * 2001})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["note"]


def test_events__filters_by_release_verb_and_prefix(api_as, support, manager, release, run):
    api = api_as(support)
    verbs = [e["verb"] for e in api.get("/api/v1/events", {"release": release.pk}).json()["results"]]
    assert verbs[0] == "rollback.started" and "release.started" in verbs
    only = api.get("/api/v1/events", {"verb": "release.started"}).json()["results"]
    assert [e["verb"] for e in only] == ["release.started"]
    assert only[0]["actor"]["username"] == "manager"
    assert only[0]["phase"]["name"] == "Phase 1"
    prefixed = api.get("/api/v1/events", {"verb_prefix": "rollback."}).json()["results"]
    assert {e["verb"] for e in prefixed} == {"rollback.started"}


def test_events__read_only(api, release, run):
    event_id = api.get("/api/v1/events").json()["results"][0]["id"]
    assert api.post("/api/v1/events", {"verb": "x"}).status_code == 405
    assert api.delete(f"/api/v1/events/{event_id}").status_code == 405


def test_events__time_window(api, release, run):
    assert api.get("/api/v1/events", {"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    assert api.get("/api/v1/events", {"until": "2999-01-01T00:00:00Z"}).json()["count"] > 0
