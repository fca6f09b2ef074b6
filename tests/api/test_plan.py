"""Phases, gates, checklists, gate decisions and the rollback plan over the API."""

import pytest

from rollouts import transitions
from rollouts.models import Event, Gate, GateKind, GateStatus, Phase, RollbackStep
from tests.api.test_auth import error_shape
from tests.api.test_releases import started
from tests.factories import ChecklistItemFactory, GateFactory, release_with_phases

pytestmark = pytest.mark.django_db


# --- Phases -----------------------------------------------------------------------------


def test_phases__list_filtered_by_release(api_as, viewer, manager, release):
    release_with_phases(owner=manager, slug="other")
    body = api_as(viewer).get("/api/v1/phases", {"release": release.pk}).json()
    assert [p["name"] for p in body["results"]] == ["Phase 1", "Phase 2", "Phase 3"]
    assert body["results"][0]["gates"][0]["name"] == "Gate 1.1"


def test_phase_add__manager__appended_with_an_event(api, release):
    response = api.post(
        "/api/v1/phases", {"release": release.pk, "name": "Everyone", "exposure_percent": 100, "min_soak_minutes": 5}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["position"] == 3
    assert Event.objects.filter(release=release, verb="plan.phase_added").exists()


def test_phase_add__exposure_out_of_range__400_with_the_forms_message(api, release):
    response = api.post("/api/v1/phases", {"release": release.pk, "name": "Too much", "exposure_percent": 140})
    assert response.status_code == 400
    assert error_shape(response)["fields"] == {"exposure_percent": ["Exposure must be between 0 and 100%."]}


def test_phase_add__exposure_goes_down_in_canary__400_names_exposure(api, release):
    response = api.post("/api/v1/phases", {"release": release.pk, "name": "Less", "exposure_percent": 5})
    assert response.status_code == 400
    assert "exposure_percent" in response.json()["fields"]
    assert "cannot go down" in response.json()["detail"]


def test_phase_add__unknown_release__400_names_release(api):
    response = api.post("/api/v1/phases", {"release": 9999, "name": "X", "exposure_percent": 5})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["release"]


def test_phase_add__support__403(api_as, support, release):
    response = api_as(support).post("/api/v1/phases", {"release": release.pk, "name": "X", "exposure_percent": 100})
    assert response.status_code == 403


def test_phase_edit__pending__saved(api, release):
    phase = release.phases.get(position=2)
    response = api.patch(f"/api/v1/phases/{phase.pk}", {"min_soak_minutes": 90, "name": "All"})
    assert response.status_code == 200, response.json()
    phase.refresh_from_db()
    assert (phase.name, phase.min_soak_minutes) == ("All", 90)


def test_phase_edit__active__409_only_pending(api, manager, release):
    started(release, manager)
    response = api.patch(f"/api/v1/phases/{release.current_phase_id}", {"min_soak_minutes": 1})
    assert response.status_code == 409
    assert error_shape(response)["code"] == "phase_started"


def test_phase_remove_and_move(api, release):
    first, second, third = release.phases.order_by("position")
    moved = api.post(f"/api/v1/phases/{third.pk}/move", {"direction": "up"})
    assert moved.status_code == 409  # 100% before 10% would make exposure go down
    assert "cannot go down" in moved.json()["detail"]
    assert api.post(f"/api/v1/phases/{first.pk}/move", {"direction": "sideways"}).status_code == 400
    assert api.delete(f"/api/v1/phases/{second.pk}").status_code == 204
    assert list(release.phases.order_by("position").values_list("name", flat=True)) == ["Phase 1", "Phase 3"]


def test_phase_move__already_at_the_end__409(api, release):
    first = release.phases.get(position=0)
    response = api.post(f"/api/v1/phases/{first.pk}/move", {"direction": "up"})
    assert response.status_code == 409
    assert response.json()["code"] == "cannot_move"


# --- Gates ------------------------------------------------------------------------------


def test_gate_add__http_check__config_checked_and_stored(api, release):
    phase = release.phases.get(position=0)
    response = api.post(
        "/api/v1/gates",
        {
            "phase": phase.pk,
            "name": "Health",
            "kind": "http_check",
            "config": {"url": "https://checkout.example.com/healthz", "expected_status": 200},
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["config"]["url"] == "https://checkout.example.com/healthz"
    assert response.json()["token"] is None


def test_gate_add__bad_config__400_names_config_fields(api, release):
    phase = release.phases.get(position=0)
    response = api.post(
        "/api/v1/gates",
        {"phase": phase.pk, "name": "Latency", "kind": "metric_threshold", "config": {"address": "nope", "query": ""}},
    )
    assert response.status_code == 400
    fields = error_shape(response)["fields"]
    assert "config.address" in fields and "config.query" in fields


def test_gate_add__checklist_without_items__400_names_checklist(api, release):
    response = api.post("/api/v1/gates", {"phase": release.phases.first().pk, "name": "Go/no-go", "kind": "checklist"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["checklist"]


def test_gate_add__comms_ready_kind__400(api, release):
    response = api.post("/api/v1/gates", {"phase": release.phases.first().pk, "name": "x", "kind": "comms_ready"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["kind"]


def test_gate_add__ci_result__token_shown_once_and_works(api, client, manager, release):
    # Given a ci_result gate added over the API, on the active phase
    started(release, manager)
    response = api.post("/api/v1/gates", {"phase": release.current_phase_id, "name": "e2e", "kind": "ci_result"})
    assert response.status_code == 201
    token = response.json()["token"]
    gate_id = response.json()["id"]
    assert token.startswith("fdg_")
    # Then the gate shows only a hint afterwards
    assert api.get(f"/api/v1/gates/{gate_id}").json()["token_hint"] == token[:8]
    assert "token" not in api.get(f"/api/v1/gates/{gate_id}").json()
    # And a pipeline reports with it
    reported = client.post(
        f"/api/v1/gates/{gate_id}/result",
        {"status": "pass"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reported.status_code == 200
    assert Gate.objects.get(pk=gate_id).status == GateStatus.PASSED


def test_gate_token__rotate_then_revoke(api, client, manager, release):
    gate = GateFactory(phase=release.phases.first(), kind=GateKind.CI_RESULT, name="ci")
    rotated = api.post(f"/api/v1/gates/{gate.pk}/token")
    assert rotated.status_code == 201
    assert api.delete(f"/api/v1/gates/{gate.pk}/token").status_code == 204
    started(release, manager)
    refused = client.post(
        f"/api/v1/gates/{gate.pk}/result",
        {"status": "pass"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {rotated.json()['token']}"},
    )
    assert refused.status_code == 401


def test_gate_token__not_ci_gate__409(api, release):
    gate = release.phases.first().gates.first()
    assert api.post(f"/api/v1/gates/{gate.pk}/token").status_code == 409


def test_gate_remove__pending_phase__gone(api, release):
    gate = release.phases.get(position=2).gates.get()
    assert api.delete(f"/api/v1/gates/{gate.pk}").status_code == 204
    assert not Gate.objects.filter(pk=gate.pk).exists()


def test_gate_remove__viewer__403(api_as, viewer, release):
    gate = release.phases.get(position=2).gates.get()
    assert api_as(viewer).delete(f"/api/v1/gates/{gate.pk}").status_code == 403


# --- Gate decisions -----------------------------------------------------------------------


def test_approve__approver__gate_passes(api_as, approver, manager, release):
    started(release, manager)
    gate = release.current_phase.gates.get()
    response = api_as(approver).post(f"/api/v1/gates/{gate.pk}/approve", {"comment": "Green."})
    assert response.status_code == 200
    assert response.json()["gate"]["status"] == "passed"
    assert response.json()["gate"]["approvals"] == 1
    assert response.json()["gate"]["decisions"][0]["comment"] == "Green."


def test_approve__owner_who_is_also_approver__403_not_permitted(api_as, approver, release):
    # Given a release owned by someone who is also an approver
    release.owner = approver
    release.save()
    transitions.release_start(release_id=release.pk, actor=approver)
    gate = release.phases.get(position=0).gates.get()
    response = api_as(approver).post(f"/api/v1/gates/{gate.pk}/approve")
    assert response.status_code == 403
    assert error_shape(response)["code"] == "not_permitted"


@pytest.mark.parametrize("role", ["manager", "support", "viewer"])
def test_approve__not_an_approver__403(api_as, request, manager, release, role):
    started(release, manager)
    gate = release.current_phase.gates.get()
    assert api_as(request.getfixturevalue(role)).post(f"/api/v1/gates/{gate.pk}/approve").status_code == 403
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING


def test_approve__twice__409_already_done(api_as, approver, manager, release):
    started(release, manager)
    gate = release.current_phase.gates.get()
    api = api_as(approver)
    api.post(f"/api/v1/gates/{gate.pk}/approve")
    response = api.post(f"/api/v1/gates/{gate.pk}/approve")
    assert response.status_code == 409
    assert response.json()["code"] == "already_done"


def test_approve__phase_not_started__409_says_so(api_as, approver, manager, release):
    started(release, manager)
    gate = release.phases.get(position=1).gates.get()
    response = api_as(approver).post(f"/api/v1/gates/{gate.pk}/approve")
    assert response.status_code == 409
    assert "has not started yet" in response.json()["detail"]


def test_reject__needs_comment__then_pauses_release_and_manager_reopens(api, api_as, approver, manager, release):
    started(release, manager)
    gate = release.current_phase.gates.get()
    approver_api = api_as(approver)
    assert list(approver_api.post(f"/api/v1/gates/{gate.pk}/reject", {}).json()["fields"]) == ["comment"]
    rejected = approver_api.post(f"/api/v1/gates/{gate.pk}/reject", {"comment": "Latency doubled"})
    assert rejected.status_code == 200
    assert api.get(f"/api/v1/releases/{release.pk}/status").json()["status"] == "paused"
    assert approver_api.post(f"/api/v1/gates/{gate.pk}/reopen").status_code == 403
    assert api.post(f"/api/v1/gates/{gate.pk}/reopen").json()["gate"]["status"] == "pending"


def test_checklist__tick_every_item__gate_passes(api_as, approver, manager, release):
    gate = GateFactory(phase=release.phases.first(), kind=GateKind.CHECKLIST, name="Go/no-go")
    items = [ChecklistItemFactory(gate=gate, text=t) for t in ("Runbook read", "On-call told")]
    started(release, manager)
    api = api_as(approver)
    first = api.post(f"/api/v1/gates/{gate.pk}/items/{items[0].pk}", {"checked": True})
    assert first.status_code == 200
    assert first.json()["gate"]["items"][0]["checked"] is True
    last = api.post(f"/api/v1/gates/{gate.pk}/items/{items[1].pk}", {"checked": True})
    assert last.json()["gate"]["status"] == "passed"
    again = api.post(f"/api/v1/gates/{gate.pk}/items/{items[1].pk}", {"checked": True})
    assert again.status_code == 409


def test_checklist__support__403_and_item_of_other_gate__404(api_as, api, support, manager, release):
    gate = GateFactory(phase=release.phases.first(), kind=GateKind.CHECKLIST)
    item = ChecklistItemFactory(gate=gate)
    started(release, manager)
    assert api_as(support).post(f"/api/v1/gates/{gate.pk}/items/{item.pk}", {"checked": True}).status_code == 403
    other = release.phases.first().gates.exclude(pk=gate.pk).first()
    assert api.post(f"/api/v1/gates/{other.pk}/items/{item.pk}", {"checked": True}).status_code == 404
    assert api.post(f"/api/v1/gates/{gate.pk}/items/{item.pk}", {"checked": "maybe"}).status_code == 400


# --- Rollback plan ------------------------------------------------------------------------


def test_rollback_steps__add_edit_move_remove(api, manager, release):
    first = api.post("/api/v1/rollback-steps", {"release": release.pk, "title": "Route to blue"})
    assert first.status_code == 201, first.json()
    second = api.post(
        "/api/v1/rollback-steps",
        {
            "release": release.pk,
            "title": "Tell the load balancer",
            "action": "webhook",
            "action_url": "https://lb.example.com/rollback",
            "owner": manager.pk,
        },
    )
    assert second.status_code == 201, second.json()
    assert second.json()["action_url"] == "https://lb.example.com/rollback"
    assert second.json()["owner"]["username"] == "manager"
    edited = api.patch(f"/api/v1/rollback-steps/{first.json()['id']}", {"expected_minutes": 12})
    assert edited.json()["expected_minutes"] == 12
    moved = api.post(f"/api/v1/rollback-steps/{second.json()['id']}/move", {"direction": "up"})
    assert moved.json()["position"] == 0
    assert api.delete(f"/api/v1/rollback-steps/{first.json()['id']}").status_code == 204
    assert list(RollbackStep.objects.values_list("title", flat=True)) == ["Tell the load balancer"]


def test_rollback_step__webhook_without_url__400_names_action_url(api, release):
    response = api.post("/api/v1/rollback-steps", {"release": release.pk, "title": "Call", "action": "webhook"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["action_url"]


def test_rollback_step__support__403(api_as, support, release):
    assert api_as(support).post("/api/v1/rollback-steps", {"release": release.pk, "title": "x"}).status_code == 403


def test_phase_ids__unknown__404(api):
    assert api.get("/api/v1/phases/424242").status_code == 404
    assert not Phase.objects.filter(pk=424242).exists()
