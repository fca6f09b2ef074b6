"""Every error the API answers has one shape: {"detail", "code", "fields"}."""

import pytest
from django.core.cache import cache

from tests.api.test_auth import error_shape

pytestmark = pytest.mark.django_db


def test_unknown_path__404_json(api):
    response = api.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert error_shape(response)["code"] == "not_found"


def test_unknown_object__404_json(api):
    response = api.get("/api/v1/releases/999999")
    assert response.status_code == 404
    assert error_shape(response)["code"] == "not_found"


def test_release_by_slug__found(api, release):
    assert api.get("/api/v1/releases/checkout").json()["id"] == release.pk


def test_release_lookup__odd_characters__404_not_500(api):
    assert api.get("/api/v1/releases/%00%01").status_code == 404
    assert api.get("/api/v1/releases/99999999999999999999999").status_code == 404


def test_wrong_method__405_json(api, release):
    response = api.put(f"/api/v1/releases/{release.pk}/status", {})
    assert response.status_code == 405
    assert error_shape(response)["code"] == "method_not_allowed"


def test_bad_json__400_json(api, release):
    response = api.client.post(
        f"/api/v1/releases/{release.pk}/pause",
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 400
    assert error_shape(response)["code"] == "parse_error"


def test_form_body__415_json(api, release):
    response = api.client.post(
        f"/api/v1/releases/{release.pk}/pause", {"reason": "x"}, headers={"Authorization": f"Bearer {api.token}"}
    )
    assert response.status_code == 415
    assert error_shape(response)["code"] == "unsupported_media_type"


def test_trailing_slash__308_to_the_address_without(api):
    response = api.get("/api/v1/releases/", {"status": "draft"})
    assert response.status_code == 308
    assert response.headers["Location"] == "/api/v1/releases?status=draft"


def test_bad_filter_value__400_names_the_parameter(api):
    response = api.get("/api/v1/releases", {"status": "sideways", "owner": "x"})
    assert response.status_code == 400
    assert set(error_shape(response)["fields"]) == {"status", "owner"}


def test_bad_time_filter__out_of_range__400(api):
    response = api.get("/api/v1/events", {"since": "0001-01-01T00:00:00+23:59"})
    assert response.status_code == 400
    assert "since" in response.json()["fields"]


def test_bad_page__404_json(api):
    response = api.get("/api/v1/releases", {"page": 99})
    assert response.status_code == 404
    assert error_shape(response)["code"] == "not_found"


def test_throttled__429_json_with_retry_after(api, settings):
    # Given a rate of 2 requests a minute
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    original = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = {"user": "2/minute"}
    try:
        api.get("/api/v1/me")
        api.get("/api/v1/me")
        # When a third comes
        response = api.get("/api/v1/me")
    finally:
        UserRateThrottle.THROTTLE_RATES = original
    # Then it waits
    assert response.status_code == 429
    assert error_shape(response)["code"] == "throttled"
    assert int(response.headers["Retry-After"]) > 0


def test_nested_validation_error__dotted_field_names(api, manager, release):
    response = api.post(
        "/api/v1/gates",
        {"phase": release.phases.first().pk, "name": "Health", "kind": "http_check", "config": {"url": "ftp://x"}},
    )
    assert response.status_code == 400
    assert "config.url" in error_shape(response)["fields"]


def test_schema_and_docs__public_and_offline(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/v1/docs/").content.decode()
    # Swagger UI is served from this server (drf-spectacular-sidecar), not a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs
    assert "cdn.jsdelivr" not in docs and "unpkg.com" not in docs
    assert client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/v1/redoc/").status_code == 200


def test_schema_without_slash__308(client):
    response = client.get("/api/v1/schema")
    assert response.status_code == 308
    assert response.headers["Location"] == "/api/v1/schema/"


def test_settings__bad_throttle_rate__start_fails_naming_the_variable():
    from tests.config.test_settings import start_with

    result = start_with({"API_THROTTLE_RATE": "lots"})
    assert result.returncode != 0
    assert "API_THROTTLE_RATE must look like 1200/minute, got 'lots'" in result.stderr


def test_release_lookup__unicode_digit__404_not_500(api):
    # Found by schemathesis: "¹".isdigit() is true, int("¹") is not.
    assert api.get("/api/v1/releases/%C2%B9").status_code == 404
    assert api.get("/api/v1/docs/%C2%B9").status_code == 404
    assert api.get("/api/v1/flags/%C2%B9").status_code == 404


def test_time_filter__offset_postgresql_does_not_take__400_or_answers(api):
    # Found by schemathesis on PostgreSQL: offsets beyond ±15:59 reached the database.
    response = api.get("/api/v1/releases", {"updated_after": "0117-06-16T13:18:31-18:46"})
    assert response.status_code == 200


def test_nul_character_in_json__400_parse_error(api):
    response = api.post("/api/v1/segments", {"key": "x", "name": "X", "rules": [{"attribute": "a\x00"}]})
    assert response.status_code == 400
    assert error_shape(response)["code"] == "parse_error"
