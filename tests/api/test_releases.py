"""Releases over the API: the same plan edits and transitions as the pages, refused the same way."""

import pytest

from rollouts import transitions
from rollouts.models import Event, PhaseStatus, Release, ReleaseStatus, RollbackRun
from tests.api.test_auth import error_shape
from tests.factories import RollbackStepFactory, release_with_phases

pytestmark = pytest.mark.django_db


def started(release, manager):
    transitions.release_start(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    return release


def ready_to_advance(release, manager, approver):
    started(release, manager)
    transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
    release.refresh_from_db()
    return release


# --- Read -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "approver", "support", "viewer"])
def test_list_and_detail__every_role_reads(api_as, request, release, role):
    api = api_as(request.getfixturevalue(role), scopes=["read"])
    listed = api.get("/api/v1/releases")
    assert listed.status_code == 200
    assert [r["slug"] for r in listed.json()["results"]] == ["checkout"]
    detail = api.get(f"/api/v1/releases/{release.pk}").json()
    assert [p["name"] for p in detail["phases"]] == ["Phase 1", "Phase 2", "Phase 3"]
    assert detail["phases"][0]["gates"][0]["name"] == "Gate 1.1"


def test_list__filters_and_ordering(api, manager):
    a = release_with_phases(owner=manager, name="Alpha", slug="alpha")
    b = release_with_phases(owner=manager, name="Beta", slug="beta")
    started(b, manager)
    assert [r["slug"] for r in api.get("/api/v1/releases", {"status": "in_progress"}).json()["results"]] == ["beta"]
    assert [r["slug"] for r in api.get("/api/v1/releases", {"q": "alp"}).json()["results"]] == ["alpha"]
    ordered = api.get("/api/v1/releases", {"ordering": "name"}).json()["results"]
    assert [r["slug"] for r in ordered] == ["alpha", "beta"]
    assert api.get("/api/v1/releases", {"page_size": 1}).json()["next"]
    assert a.pk != b.pk


def test_list__in_progress_row__progress_exposure_and_next_gate(api, manager, release):
    started(release, manager)
    row = api.get("/api/v1/releases").json()["results"][0]
    assert row["status"] == "in_progress"
    assert row["exposure_percent"] == 1
    assert row["current_phase"]["name"] == "Phase 1"
    assert row["next_gate"]["name"] == "Gate 1.1"


# --- Create, edit, delete ---------------------------------------------------------------


def test_create__manager__planned_with_proposed_phases(api, manager):
    response = api.post("/api/v1/releases", {"name": "Search", "version": "3.1", "strategy": "canary"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "search-3-1"
    assert body["owner"]["username"] == "manager"
    assert [p["exposure_percent"] for p in body["phases"]] == [1, 10, 50, 100]
    assert Event.objects.filter(release_id=body["id"], verb="release.created").exists()


def test_create__without_proposed_phases(api):
    body = api.post(
        "/api/v1/releases", {"name": "Search", "version": "3.1", "strategy": "rolling", "propose_phases": False}
    ).json()
    assert body["phases"] == []


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_create__not_a_manager__403(api_as, request, role):
    response = api_as(request.getfixturevalue(role)).post(
        "/api/v1/releases", {"name": "X", "version": "1", "strategy": "canary"}
    )
    assert response.status_code == 403
    assert not Release.objects.exists()


def test_create__duplicate_slug__400_names_slug(api, release):
    response = api.post("/api/v1/releases", {"name": "X", "version": "1", "strategy": "canary", "slug": "checkout"})
    assert response.status_code == 400
    assert list(error_shape(response)["fields"]) == ["slug"]


def test_create__owner_not_a_manager__400_names_owner(api, support):
    response = api.post("/api/v1/releases", {"name": "X", "version": "1", "strategy": "canary", "owner": support.pk})
    assert response.status_code == 400
    assert "owner" in response.json()["fields"]


def test_create__missing_fields__400_names_each(api):
    response = api.post("/api/v1/releases", {})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"name", "version", "strategy"}


def test_update__strategy_that_would_make_exposure_go_down__400_names_strategy(api, manager):
    release = release_with_phases(owner=manager, exposures=(50, 10), strategy="blue_green", slug="bg")
    response = api.patch(f"/api/v1/releases/{release.pk}", {"strategy": "canary"})
    assert response.status_code == 400
    assert "strategy" in response.json()["fields"]


def test_update__put_all_fields(api, manager, release):
    body = {"name": "Checkout v2", "version": "2.0.1", "slug": "checkout", "strategy": "canary", "owner": manager.pk}
    response = api.put(f"/api/v1/releases/{release.pk}", body)
    assert response.status_code == 200, response.json()
    release.refresh_from_db()
    assert (release.name, release.version) == ("Checkout v2", "2.0.1")


def test_update__finished_release__403_as_the_page(api, manager, release):
    transitions.release_cancel(release_id=release.pk, actor=manager)
    response = api.patch(f"/api/v1/releases/{release.pk}", {"summary": "late"})
    assert response.status_code == 403


def test_update__support__403(api_as, support, release):
    assert api_as(support).patch(f"/api/v1/releases/{release.pk}", {"summary": "x"}).status_code == 403


def test_delete__draft__gone(api, release):
    assert api.delete(f"/api/v1/releases/{release.pk}").status_code == 204
    assert not Release.objects.filter(pk=release.pk).exists()


def test_delete__started__409(api, manager, release):
    started(release, manager)
    response = api.delete(f"/api/v1/releases/{release.pk}")
    assert response.status_code == 409
    assert error_shape(response)["code"] == "not_draft"


def test_delete__viewer__403(api_as, viewer, release):
    assert api_as(viewer).delete(f"/api/v1/releases/{release.pk}").status_code == 403
    assert Release.objects.filter(pk=release.pk).exists()


# --- Actions --------------------------------------------------------------------------


def test_start_pause_resume_complete__manager__each_answers_the_new_status(api, manager, approver):
    release = release_with_phases(owner=manager, exposures=(100,), slug="one")
    assert api.post(f"/api/v1/releases/{release.slug}/start").json()["release"]["status"] == "in_progress"
    paused = api.post(f"/api/v1/releases/{release.pk}/pause", {"reason": "Looking at errors"})
    assert paused.json()["release"]["status"] == "paused"
    assert Event.objects.get(release=release, verb="release.paused").reason == "Looking at errors"
    assert api.post(f"/api/v1/releases/{release.pk}/resume").json()["release"]["status"] == "in_progress"
    transitions.gate_approve(gate_id=release.phases.get().gates.get().pk, actor=approver)
    done = api.post(f"/api/v1/releases/{release.pk}/complete")
    assert done.status_code == 200
    assert done.json()["release"]["status"] == "completed"


def test_schedule_unschedule_cancel(api, release):
    assert api.post(f"/api/v1/releases/{release.pk}/schedule").json()["release"]["status"] == "scheduled"
    assert api.post(f"/api/v1/releases/{release.pk}/unschedule").json()["release"]["status"] == "draft"
    assert api.post(f"/api/v1/releases/{release.pk}/cancel").json()["release"]["status"] == "cancelled"


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
@pytest.mark.parametrize("verb", ["start", "pause", "cancel", "advance"])
def test_actions__not_a_manager__403_nothing_changes(api_as, request, manager, release, role, verb):
    started(release, manager) if verb in ("pause", "advance") else None
    before = release.status
    response = api_as(request.getfixturevalue(role)).post(f"/api/v1/releases/{release.pk}/{verb}")
    assert response.status_code == 403
    release.refresh_from_db()
    assert release.status == before


def test_start__twice__409_already_done_with_message(api, release):
    api.post(f"/api/v1/releases/{release.pk}/start")
    response = api.post(f"/api/v1/releases/{release.pk}/start")
    assert response.status_code == 409
    assert error_shape(response) == {
        "detail": "This release is already in progress.",
        "code": "already_done",
        "fields": {},
    }


def test_resume__draft__409_says_why(api, release):
    response = api.post(f"/api/v1/releases/{release.pk}/resume")
    assert response.status_code == 409
    assert response.json()["detail"] == "Only a paused release can resume; this one is draft."


def test_rollback__without_reason__400_names_reason(api, manager, release):
    started(release, manager)
    response = api.post(f"/api/v1/releases/{release.pk}/rollback", {})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["reason"]


def test_rollback__with_reason__run_opens(api, manager, release):
    RollbackStepFactory(release=release, title="Route to blue")
    started(release, manager)
    response = api.post(f"/api/v1/releases/{release.pk}/rollback", {"reason": "5xx spike"})
    assert response.status_code == 200
    assert response.json()["release"]["rollback"]["running"] is True
    assert RollbackRun.objects.get(release=release).reason == "5xx spike"


# --- Advance ----------------------------------------------------------------------------


def test_advance__gates_passed__next_phase_active(api, manager, approver, release):
    ready_to_advance(release, manager, approver)
    response = api.post(f"/api/v1/releases/{release.pk}/advance", {"phase": release.current_phase_id})
    assert response.status_code == 200
    assert response.json()["release"]["current_phase"]["name"] == "Phase 2"
    assert response.json()["detail"] == "Advanced: “Phase 2” is now active at 10%."


def test_advance__retried_with_the_phase_it_saw__409_already_advanced_not_twice(api, manager, approver, release):
    # Given the manager advanced from phase 1
    ready_to_advance(release, manager, approver)
    seen = release.current_phase_id
    assert api.post(f"/api/v1/releases/{release.pk}/advance", {"phase": seen}).status_code == 200
    transitions.gate_approve(gate_id=release.phases.get(position=1).gates.get().pk, actor=approver)
    # When the pipeline retries the same request (and phase 2's gate has passed meanwhile)
    retry = api.post(f"/api/v1/releases/{release.pk}/advance", {"phase": seen})
    # Then it is refused and the release advanced once
    assert retry.status_code == 409
    assert retry.json()["code"] == "already_done"
    assert "already advanced" in retry.json()["detail"]
    release.refresh_from_db()
    assert release.current_phase.position == 1
    assert Event.objects.filter(release=release, verb="phase.advanced").count() == 1


def test_advance__gate_open__409_not_ready_says_what_it_waits_for(api, manager, release):
    started(release, manager)
    response = api.post(f"/api/v1/releases/{release.pk}/advance")
    assert response.status_code == 409
    assert response.json()["code"] == "not_ready"
    assert "Gate 1.1" in response.json()["detail"]


def test_advance__phase_of_another_release__409(api, manager, approver, release):
    other = release_with_phases(owner=manager, slug="other")
    ready_to_advance(release, manager, approver)
    response = api.post(f"/api/v1/releases/{release.pk}/advance", {"phase": other.phases.first().pk})
    assert response.status_code == 409


def test_advance__bad_phase_type__400(api, manager, release):
    started(release, manager)
    response = api.post(f"/api/v1/releases/{release.pk}/advance", {"phase": "first"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phase"]


def test_advance__draft__409_no_active_phase(api, release):
    response = api.post(f"/api/v1/releases/{release.pk}/advance")
    assert response.status_code == 409


def test_advance__approver__403_though_they_approve(api_as, manager, approver, release):
    ready_to_advance(release, manager, approver)
    response = api_as(approver).post(f"/api/v1/releases/{release.pk}/advance")
    assert response.status_code == 403
    release.refresh_from_db()
    assert release.phases.get(position=0).status == PhaseStatus.ACTIVE


# --- Status -----------------------------------------------------------------------------


def test_status__waiting_for_gate__may_not_advance_and_says_why(api_as, support, manager, release):
    started(release, manager)
    body = api_as(support, scopes=["read"]).get(f"/api/v1/releases/{release.slug}/status").json()
    assert body["status"] == "in_progress"
    assert body["exposure_percent"] == 1
    assert body["current_phase"]["name"] == "Phase 1"
    assert body["gates"] == [
        {"id": body["gates"][0]["id"], "name": "Gate 1.1", "kind": "manual_approval", "required": True}
        | {"status": "pending", "passed": False}
    ]
    assert body["may_advance"] is False
    assert body["blockers"] == ["Waiting for required gate: Gate 1.1."]
    assert body["rollback"]["running"] is False


def test_status__ready__may_advance(api, manager, approver, release):
    ready_to_advance(release, manager, approver)
    body = api.get(f"/api/v1/releases/{release.pk}/status").json()
    assert body["may_advance"] is True and body["blockers"] == []
    assert body["next_phase"]["name"] == "Phase 2"


def test_status__draft__blocker_says_the_state(api, release):
    body = api.get(f"/api/v1/releases/{release.pk}/status").json()
    assert body["blockers"] == ["The release is draft."]
    assert body["current_phase"] is None


def test_status__rolling_back__running(api, manager, release):
    RollbackStepFactory(release=release)
    started(release, manager)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
    body = api.get(f"/api/v1/releases/{release.pk}/status").json()
    assert body["status"] == ReleaseStatus.ROLLING_BACK
    assert body["rollback"] == {"running": True, "run": body["rollback"]["run"], "steps_done": 0, "steps_total": 1}


def test_status__unknown__404(api):
    assert api.get("/api/v1/releases/no-such-release/status").status_code == 404
