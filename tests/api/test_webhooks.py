"""Webhook subscriptions and deliveries over the API: release managers only; the secret once."""

import pytest

from rollouts.models import WebhookSubscription
from tests.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db


def test_create__secret_in_the_answer_once(api):
    response = api.post(
        "/api/v1/webhooks",
        {"name": "Deploy bot", "url": "https://ci.example.com/hooks", "events": ["phase.advanced"]},
    )
    assert response.status_code == 201, response.json()
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    assert WebhookSubscription.objects.get().secret == secret
    listed = api.get("/api/v1/webhooks").json()["results"][0]
    assert "secret" not in listed
    assert secret not in str(api.get(f"/api/v1/webhooks/{listed['id']}").json())


def test_create__bad_url_and_event__400_names_fields(api):
    response = api.post("/api/v1/webhooks", {"name": "x", "url": "ftp://nope", "events": ["release.exploded"]})
    assert response.status_code == 400
    assert {"url", "events.0"} <= set(response.json()["fields"])


def test_create__finished_release__400_names_release(api, manager, release):
    from rollouts import transitions

    transitions.release_cancel(release_id=release.pk, actor=manager)
    response = api.post("/api/v1/webhooks", {"name": "x", "url": "https://a.example.com", "release": release.pk})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["release"]


def test_disable_enable_rotate(api):
    subscription = WebhookSubscriptionFactory()
    disabled = api.post(f"/api/v1/webhooks/{subscription.pk}/disable", {"reason": "receiver down"})
    assert disabled.json()["is_active"] is False
    assert "receiver down" in disabled.json()["disabled_reason"]
    assert api.post(f"/api/v1/webhooks/{subscription.pk}/enable").json()["is_active"] is True
    old = subscription.secret
    rotated = api.post(f"/api/v1/webhooks/{subscription.pk}/rotate-secret").json()["secret"]
    assert rotated != old
    subscription.refresh_from_db()
    assert subscription.secret == rotated


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_webhooks__not_a_manager__403_even_to_read(api_as, request, role):
    api = api_as(request.getfixturevalue(role))
    assert api.get("/api/v1/webhooks").status_code == 403
    assert api.get("/api/v1/webhook-deliveries").status_code == 403
    assert api.post("/api/v1/webhooks", {"name": "x", "url": "https://a.example.com"}).status_code == 403


def test_deliveries__filtered_by_subscription_and_status(api):
    mine = WebhookDeliveryFactory(status="failed", last_status_code=500)
    WebhookDeliveryFactory()
    body = api.get("/api/v1/webhook-deliveries", {"subscription": mine.subscription_id, "status": "failed"}).json()
    assert [d["id"] for d in body["results"]] == [mine.pk]
    assert body["results"][0]["verb"] == "release.started"
