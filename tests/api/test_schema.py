"""The OpenAPI schema: valid, warning-free, every endpoint described with examples."""

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        # Raises (and fails the test) on any warning or an invalid schema.
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def has_example(operation) -> bool:
    for response in operation.get("responses", {}).values():
        for content in response.get("content", {}).values():
            if content.get("examples"):
                return True
    return any(c.get("examples") for c in operation.get("requestBody", {}).get("content", {}).values())


def test_schema__validates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Flightdeck API"


def test_schema__every_operation_has_a_summary_and_examples(schema):
    missing = [
        (method.upper(), path)
        for path, method, operation in operations(schema)
        if not operation.get("summary") or not has_example(operation)
    ]
    assert missing == []


def test_schema__every_error_response_is_the_one_error_shape(schema):
    for path, method, operation in operations(schema):
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")) and not (code == "403" and "flagger" in path):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/Error"), (method, path, code)


def test_schema__documents_the_resources_of_the_issue(schema):
    paths = set(schema["paths"])
    for expected in (
        "/api/v1/releases",
        "/api/v1/releases/{id}/advance",
        "/api/v1/releases/{id}/status",
        "/api/v1/releases/{id}/flagger/rollback",
        "/api/v1/gates/{id}/argo",
        "/api/v1/gates/{id}/flagger",
        "/api/v1/gates/{id}/approve",
        "/api/v1/rollback-runs/{id}/steps/{step_id}/done",
        "/api/v1/events",
        "/api/v1/communication-plans",
        "/api/v1/messages",
        "/api/v1/notices",
        "/api/v1/audiences",
        "/api/v1/stakeholders",
        "/api/v1/webhooks",
        "/api/v1/webhook-deliveries",
        "/api/v1/docs",
        "/api/v1/docs/{id}/publish",
        "/api/v1/flags",
        "/api/v1/flags/{id}/kill",
        "/api/v1/segments",
        "/api/v1/me",
    ):
        assert expected in paths, expected
    assert {"ApiToken", "cookieAuth", "FlaggerToken", "GateToken"} <= set(schema["components"]["securitySchemes"])


def test_schema__actions_take_an_idempotency_key(schema):
    advance = schema["paths"]["/api/v1/releases/{id}/advance"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in advance["parameters"]]
    assert "422" in advance["responses"]
