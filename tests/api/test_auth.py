"""API authentication: personal tokens with scopes, the browser session, and the tokens page."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from rollouts.api import tokens
from rollouts.models import ApiToken, ReleaseStatus
from tests.api.conftest import Api, make_token

pytestmark = pytest.mark.django_db


def error_shape(response) -> dict:
    body = response.json()
    assert set(body) == {"detail", "code", "fields"}, body
    return body


# --- Tokens ---------------------------------------------------------------------------


def test_list__no_credentials__401_in_the_error_format(anonymous):
    response = anonymous.get("/api/v1/releases")
    assert response.status_code == 401
    assert error_shape(response)["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_action__no_credentials__401(anonymous, release):
    response = anonymous.post(f"/api/v1/releases/{release.pk}/start")
    assert response.status_code == 401
    release.refresh_from_db()
    assert release.status == ReleaseStatus.DRAFT


def test_token__unknown__401(client):
    response = Api(client, "fd_not-a-real-token").get("/api/v1/releases")
    assert response.status_code == 401
    assert error_shape(response)["code"] == "invalid_token"


def test_token__revoked__401(client, manager):
    # Given a token its owner revoked
    raw = make_token(manager)
    row = ApiToken.objects.get(user=manager)
    assert tokens.api_token_revoke(token_id=row.pk, user=manager)
    # When it is used
    response = Api(client, raw).get("/api/v1/releases")
    # Then it is refused
    assert response.status_code == 401
    assert error_shape(response)["detail"] == "Unknown, expired or revoked API token."


def test_token__expired__401(client, manager):
    raw = make_token(manager, expires_at=timezone.now() + timedelta(days=1))
    ApiToken.objects.filter(user=manager).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Api(client, raw).get("/api/v1/releases").status_code == 401


def test_token__inactive_user__401(client, manager):
    raw = make_token(manager)
    manager.is_active = False
    manager.save()
    assert Api(client, raw).get("/api/v1/releases").status_code == 401


def test_token__token_keyword_works_too(client, manager):
    raw = make_token(manager)
    response = client.get("/api/v1/releases", headers={"Authorization": f"Token {raw}"})
    assert response.status_code == 200


def test_token__stored_as_digest_only__hint_kept(manager):
    row, raw = tokens.api_token_create(user=manager, name="Pipeline", scopes=["read"])
    assert raw.startswith("fd_") and len(raw) > 40
    assert row.token_hash == tokens.digest(raw)
    assert raw not in (row.token_hash, row.hint) and raw.startswith(row.hint)
    assert not ApiToken.objects.filter(token_hash=raw).exists()


def test_token__used__last_used_at_written_at_most_once_a_minute(client, manager):
    raw = make_token(manager)
    Api(client, raw).get("/api/v1/me")
    first = ApiToken.objects.get(user=manager).last_used_at
    assert first is not None
    Api(client, raw).get("/api/v1/me")
    assert ApiToken.objects.get(user=manager).last_used_at == first


def test_token_create__bad_scopes_or_name__errors_name_the_field(manager):
    with pytest.raises(Exception) as caught:
        tokens.api_token_create(user=manager, name="", scopes=["root"])
    assert set(caught.value.message_dict) == {"name", "scopes"}


# --- Scopes ---------------------------------------------------------------------------


def test_read_only_token__cannot_post__403_missing_scope(api_as, manager, release):
    api = api_as(manager, scopes=["read"])
    assert api.get("/api/v1/releases").status_code == 200
    response = api.post(f"/api/v1/releases/{release.pk}/start")
    assert response.status_code == 403
    assert error_shape(response)["code"] == "missing_scope"
    assert "act" in response.json()["detail"]
    release.refresh_from_db()
    assert release.status == ReleaseStatus.DRAFT


def test_write_token__cannot_act_but_can_plan(api_as, manager, release):
    api = api_as(manager, scopes=["write"])
    assert api.post(f"/api/v1/releases/{release.pk}/start").status_code == 403
    assert api.get("/api/v1/releases").status_code == 403
    response = api.patch(f"/api/v1/releases/{release.pk}", {"summary": "Now with notes."})
    assert response.status_code == 200, response.json()
    assert response.json()["summary"] == "Now with notes."


def test_act_only_token__cannot_read(api_as, manager):
    assert api_as(manager, scopes=["act"]).get("/api/v1/releases").status_code == 403


def test_token_of_support_user__all_scopes__still_cannot_act(api_as, support, release):
    # A token never grants more than its user's role.
    response = api_as(support).post(f"/api/v1/releases/{release.pk}/start")
    assert response.status_code == 403
    assert error_shape(response)["detail"] == "Only release managers can run releases."


def test_user_without_role__403_no_role(api_as, outsider):
    response = api_as(outsider).get("/api/v1/releases")
    assert response.status_code == 403
    assert error_shape(response)["code"] == "no_role"


# --- The browser session ----------------------------------------------------------------


def test_session__reads_and_acts_as_the_pages_do(manager_client, release):
    api = Api(manager_client, None)
    assert api.get("/api/v1/releases").status_code == 200
    assert api.post(f"/api/v1/releases/{release.pk}/start").status_code == 200
    assert api.get("/api/v1/me").json()["auth"] == "session"


def test_session__post_without_csrf_token__403(manager, release):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post(f"/api/v1/releases/{release.pk}/start", {}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in error_shape(response)["detail"]


def test_me__token__says_who_and_what(api_as, approver):
    body = api_as(approver, scopes=["read"]).get("/api/v1/me").json()
    assert body["username"] == "approver"
    assert body["roles"] == ["Approvers"]
    assert body["scopes"] == ["read"]
    assert body["may"]["decide_gates"] is True and body["may"]["act"] is False


# --- The tokens page ------------------------------------------------------------------


def test_tokens_page__make_token__shown_once_then_listed_by_hint(manager_client, manager):
    # When the manager makes a token
    response = manager_client.post("/api-tokens/", {"name": "Deploy pipeline", "scopes": ["read", "act"]})
    # Then the page shows it once, not cached
    assert response.status_code == 200
    row = ApiToken.objects.get(user=manager)
    page = response.content.decode()
    shown = page.split('id="token-value" type="text" value="')[1].split('"')[0]
    assert tokens.digest(shown) == row.token_hash
    assert "no-store" in response.headers["Cache-Control"]
    assert row.scopes == ["read", "act"]
    # And afterwards the list shows its name, scopes and hint, never the token
    again = manager_client.get("/api-tokens/").content.decode()
    assert "Deploy pipeline" in again and row.hint in again and shown not in again
    # And the token works
    assert Api(Client(), shown).get("/api/v1/me").json()["token"]["name"] == "Deploy pipeline"


def test_tokens_page__bad_input__422_with_field_errors(manager_client):
    response = manager_client.post("/api-tokens/", {"name": "", "scopes": []})
    assert response.status_code == 422
    assert not ApiToken.objects.exists()


def test_tokens_page__revoke__token_stops_working(manager_client, manager):
    raw = make_token(manager)
    row = ApiToken.objects.get(user=manager)
    response = manager_client.post(f"/api-tokens/{row.pk}/revoke/")
    assert response.status_code == 303
    assert Api(Client(), raw).get("/api/v1/me").status_code == 401


def test_tokens_page__revoke_someone_elses__nothing_happens(client, manager, other_manager):
    raw = make_token(other_manager)
    row = ApiToken.objects.get(user=other_manager)
    client.force_login(manager)
    client.post(f"/api-tokens/{row.pk}/revoke/")
    assert Api(Client(), raw).get("/api/v1/me").status_code == 200


def test_tokens_page__lists_only_own_tokens(manager_client, other_manager):
    make_token(other_manager, name="Tom's secret pipeline")
    assert "Tom's secret pipeline" not in manager_client.get("/api-tokens/").content.decode()


def test_tokens_page__anonymous__redirected_to_login(client):
    assert client.get("/api-tokens/").status_code == 302


def test_nav__signed_in__links_the_tokens_page(manager_client):
    assert 'href="/api-tokens/"' in manager_client.get("/releases/").content.decode()
