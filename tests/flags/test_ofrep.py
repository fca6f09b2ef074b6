"""OFREP endpoints through Django's test client: shapes, errors, auth, ETags, no queries."""

import json

import pytest
from django.test import Client

from flags import evaluation, services, snapshot
from flags.models import ApiKey
from rollouts import transitions
from rollouts.models import Environment
from tests.flags.conftest import flag_release, make_flag, ofrep

pytestmark = pytest.mark.django_db


def test_evaluate__boolean_flag_without_release__200_static(client, api_token):
    make_flag(fixed_exposure=100)
    response = ofrep(client, "new-checkout", {"targetingKey": "user-1"}, api_token)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "key": "new-checkout",
        "value": True,
        "reason": "STATIC",
        "variant": "on",
        "metadata": {"environment": "production", "exposure": 100},
    }


def test_evaluate__bearer_token__accepted(client, api_token):
    make_flag(fixed_exposure=0)
    response = client.post(
        "/ofrep/v1/evaluate/flags/new-checkout",
        "{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_token}",
    )
    assert response.status_code == 200
    assert response.json()["variant"] == "off"


def test_evaluate__running_release__split_with_release_and_phase_metadata(client, api_token, manager):
    release = flag_release(manager)
    make_flag(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)  # Staging 100% in staging
    body = ofrep(client, "new-checkout", {"targetingKey": "user-1"}, api_token).json()
    # Production has not been reached: its phases are still pending.
    assert (body["variant"], body["reason"]) == ("off", "DEFAULT")
    assert body["metadata"]["release"] == "flagged"


def test_evaluate__float_flag__value_has_a_fraction(client, api_token):
    make_flag(key="discount", type="float", variants={"on": 3, "off": 0}, fixed_exposure=100)
    response = ofrep(client, "discount", {"targetingKey": "u"}, api_token)
    assert b'"value":3.0' in response.content
    assert response.json()["value"] == 3.0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{nope", "PARSE_ERROR"),
        ('{"context": []}', "INVALID_CONTEXT"),
        ('{"context": {"targetingKey": 1}}', "INVALID_CONTEXT"),
    ],
)
def test_evaluate__bad_body__400_with_error_code(client, api_token, body, code):
    make_flag(fixed_exposure=100)
    response = client.post(
        "/ofrep/v1/evaluate/flags/new-checkout", body, content_type="application/json", HTTP_X_API_KEY=api_token
    )
    assert response.status_code == 400
    assert response.json()["errorCode"] == code
    assert response.json()["key"] == "new-checkout"
    assert response.json()["errorDetails"]


def test_evaluate__percentage_without_targeting_key__400_targeting_key_missing(client, api_token):
    make_flag(fixed_exposure=30)
    response = ofrep(client, "new-checkout", {"plan": "pro"}, api_token)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "TARGETING_KEY_MISSING"


def test_evaluate__unknown_flag__404_flag_not_found(client, api_token):
    response = ofrep(client, "no-such-flag", {"targetingKey": "u"}, api_token)
    assert response.status_code == 404
    assert response.json() == {
        "key": "no-such-flag",
        "errorCode": "FLAG_NOT_FOUND",
        "errorDetails": "There is no flag “no-such-flag”.",
    }


@pytest.mark.parametrize("token", [None, "fdo_wrong", ""])
def test_evaluate__missing_or_wrong_key__401(client, api_token, token):
    make_flag(fixed_exposure=100)
    response = ofrep(client, "new-checkout", {"targetingKey": "u"}, token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["errorCode"] == "GENERAL"


def test_evaluate__signed_in_session_but_no_key__401(manager_client):
    response = manager_client.post("/ofrep/v1/evaluate/flags/x", "{}", content_type="application/json")
    assert response.status_code == 401


def test_evaluate__csrf_checks_on__no_csrf_needed_and_no_slash_redirect(api_token):
    make_flag(fixed_exposure=100)
    client = Client(enforce_csrf_checks=True)
    response = ofrep(client, "new-checkout", {"targetingKey": "u"}, api_token)
    assert response.status_code == 200  # not 403 (CSRF), not 301 (APPEND_SLASH)


def test_evaluate__get__405(client, api_token):
    response = client.get("/ofrep/v1/evaluate/flags/new-checkout", HTTP_X_API_KEY=api_token)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_evaluate__revoked_key__401_at_once_here(client, api_token, django_capture_on_commit_callbacks):
    make_flag(fixed_exposure=100)
    assert ofrep(client, "new-checkout", {"targetingKey": "u"}, api_token).status_code == 200
    key = ApiKey.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(key_id=key.pk, actor=None)
    assert ofrep(client, "new-checkout", {"targetingKey": "u"}, api_token).status_code == 401


def test_evaluate__revoked_key_in_another_process__401_within_the_check_interval(
    client, api_token, monkeypatch, django_capture_on_commit_callbacks
):
    # Given a process whose snapshot knows the key
    make_flag(fixed_exposure=100)
    assert ofrep(client, "new-checkout", {"targetingKey": "u"}, api_token).status_code == 200
    # When another process revokes it: it publishes the new version (database row, shared
    # cache token), but nothing marks this process's snapshot stale
    with django_capture_on_commit_callbacks() as callbacks:
        services.api_key_revoke(key_id=ApiKey.objects.get().pk, actor=None)
    with monkeypatch.context() as m:
        m.setattr(snapshot, "mark_stale", lambda: None)
        for callback in callbacks:
            callback()
    # Then this process answers from its snapshot until its next version check…
    assert ofrep(client, "new-checkout", {"targetingKey": "u"}, api_token).status_code == 200
    # …which comes at most CHECK_SECONDS later (0.5 s with Redis, 1 s without).
    monkeypatch.setattr(snapshot, "_checked_at", snapshot._checked_at - snapshot._check_seconds())
    assert ofrep(client, "new-checkout", {"targetingKey": "u"}, api_token).status_code == 401


def test_evaluate__key_of_an_environment__answers_as_that_environment(client, manager):
    release = flag_release(manager)
    make_flag(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    _key, staging = services.api_key_create(actor=None, environment=Environment.STAGING, name="staging app")
    body = ofrep(client, "new-checkout", {"targetingKey": "u"}, staging).json()
    assert (body["variant"], body["reason"], body["metadata"]["phase"]) == ("on", "SPLIT", "Staging")


def test_evaluate__warm__no_database_query(client, api_token, django_assert_num_queries):
    make_flag(fixed_exposure=40)
    assert ofrep(client, "new-checkout", {"targetingKey": "u"}, api_token).status_code == 200  # builds, touches key
    with django_assert_num_queries(0):
        for i in range(20):
            assert ofrep(client, "new-checkout", {"targetingKey": f"user-{i}"}, api_token).status_code == 200
        ofrep(client, "nope", {"targetingKey": "u"}, api_token)
        ofrep(client, "new-checkout", {"targetingKey": "u"}, "fdo_bad")


def test_evaluate__key_used__last_used_at_written_once_per_interval(client, api_token):
    make_flag(fixed_exposure=100)
    ofrep(client, "new-checkout", {}, api_token)
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    ofrep(client, "new-checkout", {}, api_token)
    assert ApiKey.objects.get().last_used_at == first


# --- Bulk ------------------------------------------------------------------------------


def bulk(client, token, context, **extra):
    return client.post(
        "/ofrep/v1/evaluate/flags",
        json.dumps({"context": context}),
        content_type="application/json",
        HTTP_X_API_KEY=token,
        **extra,
    )


def test_bulk__every_flag_with_per_flag_errors_and_an_etag(client, api_token):
    make_flag(key="a-static", fixed_exposure=100)
    make_flag(key="b-split", fixed_exposure=30)
    response = bulk(client, api_token, {"plan": "pro"})
    assert response.status_code == 200
    flags = response.json()["flags"]
    assert flags[0]["key"] == "a-static" and flags[0]["value"] is True
    assert flags[1] == {
        "key": "b-split",
        "errorCode": "TARGETING_KEY_MISSING",
        "errorDetails": flags[1]["errorDetails"],
    }
    assert response["ETag"].startswith('"')


def test_bulk__if_none_match_unchanged__304_then_200_after_a_change(
    client, api_token, django_capture_on_commit_callbacks
):
    flag = make_flag(fixed_exposure=100)
    etag = bulk(client, api_token, {"targetingKey": "u"})["ETag"]
    again = bulk(client, api_token, {"targetingKey": "u"}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and again.content == b""
    # Another context is another answer.
    assert bulk(client, api_token, {"targetingKey": "v"}, HTTP_IF_NONE_MATCH=etag).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.flag_kill(flag_id=flag.pk, actor=None)
    changed = bulk(client, api_token, {"targetingKey": "u"}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json()["flags"][0]["reason"] == "DISABLED"
    assert changed["ETag"] != etag


def test_bulk__bad_body__400_without_key(client, api_token):
    response = client.post("/ofrep/v1/evaluate/flags", "[]", content_type="application/json", HTTP_X_API_KEY=api_token)
    assert response.status_code == 400
    assert response.json() == {"errorCode": "PARSE_ERROR", "errorDetails": response.json()["errorDetails"]}


def test_bulk__no_key__401(client):
    assert client.post("/ofrep/v1/evaluate/flags", "{}", content_type="application/json").status_code == 401


# --- Configuration ---------------------------------------------------------------------


def test_configuration__polling_and_types__with_etag(client, api_token):
    response = client.get("/ofrep/v1/configuration", HTTP_X_API_KEY=api_token)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Flightdeck"
    assert body["capabilities"]["cacheInvalidation"]["polling"] == {"enabled": True, "minPollingIntervalMs": 2000}
    assert set(body["capabilities"]["flagEvaluation"]["supportedTypes"]) == {
        "boolean",
        "string",
        "int",
        "float",
        "object",
    }
    again = client.get("/ofrep/v1/configuration", HTTP_X_API_KEY=api_token, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert client.get("/ofrep/v1/configuration").status_code == 401


def test_error_body__shape_matches_the_spec():
    assert json.loads(evaluation.error_body("k", "GENERAL", "x")) == {
        "key": "k",
        "errorCode": "GENERAL",
        "errorDetails": "x",
    }


def test_evaluate__body_too_large__400_parse_error(client, api_token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    make_flag(fixed_exposure=100)
    response = ofrep(client, "new-checkout", {"targetingKey": "u", "blob": "x" * 2000}, api_token)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "PARSE_ERROR"
