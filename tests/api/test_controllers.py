"""Deployment controllers ask one gate: Argo Rollouts (web metric), Flagger (webhooks)."""

import re

import pytest

from rollouts import transitions
from tests.api.test_auth import error_shape
from tests.api.test_releases import started
from tests.factories import RollbackStepFactory

pytestmark = pytest.mark.django_db


def json_path(document, expression: str):
    """The subset of Kubernetes JSONPath an AnalysisTemplate's `jsonPath: "{$.a.b}"` uses."""
    match = re.fullmatch(r"\{\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\}", expression)
    assert match, expression
    for name in match.group(1).split(".")[1:]:
        document = document[name]
    return document


def flagger_payload(token=None, phase="Progressing"):
    payload = {"name": "podinfo", "namespace": "test", "phase": phase, "checksum": "6b2f3f9"}
    if token:
        payload["metadata"] = {"token": token, "type": "gate"}
    return payload


@pytest.fixture
def gate(manager, release):
    started(release, manager)
    return release.current_phase.gates.get()


# --- Argo Rollouts ----------------------------------------------------------------------


def test_argo__pending_gate__jsonpath_reads_false_and_pending(api_as, manager, gate):
    body = api_as(manager, scopes=["read"]).get(f"/api/v1/gates/{gate.pk}/argo").json()
    assert json_path(body, "{$.passed}") is False
    assert json_path(body, "{$.status}") == "pending"
    assert body["release"]["slug"] == "checkout"
    assert body["phase"]["name"] == "Phase 1"


def test_argo__approved_gate__success_condition_holds(api_as, manager, approver, gate):
    transitions.gate_approve(gate_id=gate.pk, actor=approver)
    body = api_as(manager, scopes=["read"]).get(f"/api/v1/gates/{gate.pk}/argo").json()
    result = json_path(body, "{$.passed}")
    assert result is True  # successCondition: result == true
    assert json_path(body, "{$.status}") == "passed"


def test_argo__rejected_gate__failed(api_as, manager, approver, gate):
    transitions.gate_reject(gate_id=gate.pk, actor=approver, comment="no")
    body = api_as(manager, scopes=["read"]).get(f"/api/v1/gates/{gate.pk}/argo").json()
    assert (body["passed"], body["status"]) == (False, "failed")


def test_argo__support_reader_token__allowed(api_as, support, gate):
    assert api_as(support, scopes=["read"]).get(f"/api/v1/gates/{gate.pk}/argo").status_code == 200


def test_argo__no_token__401(anonymous, gate):
    assert anonymous.get(f"/api/v1/gates/{gate.pk}/argo").status_code == 401


def test_argo__token_without_read__403(api_as, manager, gate):
    assert api_as(manager, scopes=["act"]).get(f"/api/v1/gates/{gate.pk}/argo").status_code == 403


def test_argo__unknown_gate__404(api):
    assert api.get("/api/v1/gates/987654/argo").status_code == 404


# --- Flagger confirm hooks ------------------------------------------------------------


def test_flagger__pending_gate__403_with_why(api_as, manager, gate):
    response = api_as(manager, scopes=["read"]).post(f"/api/v1/gates/{gate.pk}/flagger", flagger_payload())
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "gate_pending"
    assert body["detail"] == "Gate “Gate 1.1” is pending."
    assert body["passed"] is False


def test_flagger__passed_gate__200(api_as, manager, approver, gate):
    transitions.gate_approve(gate_id=gate.pk, actor=approver)
    response = api_as(manager, scopes=["read"]).post(f"/api/v1/gates/{gate.pk}/flagger", flagger_payload())
    assert response.status_code == 200
    assert response.json()["code"] == "gate_passed"


def test_flagger__token_in_metadata_without_header__200(client, manager, approver, gate):
    # Flagger cannot easily send headers: the token comes in the webhook's metadata.
    from tests.api.conftest import make_token

    transitions.gate_approve(gate_id=gate.pk, actor=approver)
    token = make_token(manager, scopes=["read"])
    response = client.post(f"/api/v1/gates/{gate.pk}/flagger", flagger_payload(token), content_type="application/json")
    assert response.status_code == 200


def test_flagger__bad_token_in_metadata__401(client, gate):
    response = client.post(
        f"/api/v1/gates/{gate.pk}/flagger", flagger_payload("fd_wrong"), content_type="application/json"
    )
    assert response.status_code == 401
    assert error_shape(response)["code"] == "invalid_token"


def test_flagger__no_token__401_not_403(client, gate):
    # A 401 must not look like "gate not passed yet" (403) to an operator reading Flagger's events.
    response = client.post(f"/api/v1/gates/{gate.pk}/flagger", flagger_payload(), content_type="application/json")
    assert response.status_code == 401


def test_flagger__bad_payload__400(api, gate):
    response = api.post(f"/api/v1/gates/{gate.pk}/flagger", {"metadata": "not an object"})
    assert response.status_code == 400
    assert "metadata" in response.json()["fields"]


# --- Flagger rollback hook --------------------------------------------------------------


def test_flagger_rollback__running__403_until_rollback_started_then_200(client, manager, release):
    from tests.api.conftest import make_token

    RollbackStepFactory(release=release)
    started(release, manager)
    token = make_token(manager, scopes=["read"])
    url = f"/api/v1/releases/{release.pk}/flagger/rollback"
    before = client.post(url, flagger_payload(token), content_type="application/json")
    assert before.status_code == 403
    assert before.json()["code"] == "no_rollback"
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="errors")
    after = client.post(url, flagger_payload(token), content_type="application/json")
    assert after.status_code == 200
    assert after.json()["release_status"] == "rolling_back"


def test_flagger_rollback__by_slug_with_header(api, manager, release):
    started(release, manager)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="errors")  # no steps: rolled back
    response = api.post(f"/api/v1/releases/{release.slug}/flagger/rollback", flagger_payload())
    assert response.status_code == 200
    assert response.json()["release_status"] == "rolled_back"
