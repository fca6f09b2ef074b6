"""Webhook subscriptions and deliveries over the API: release managers only; the secret once."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from rollouts import transitions
from rollouts.models import WebhookDelivery, WebhookSubscription
from tests.api.test_auth import error_shape
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
    answer = api.post(f"/api/v1/webhooks/{subscription.pk}/rotate-secret").json()
    rotated = answer["secret"]
    assert rotated != old
    subscription.refresh_from_db()
    assert subscription.secret == rotated and subscription.previous_secret == old
    # The answer says until when the old secret still signs (WEBHOOK_SECRET_GRACE_HOURS, 24 by default)
    until = datetime.fromisoformat(answer["previous_secret_until"].replace("Z", "+00:00"))
    assert until == subscription.previous_secret_until
    assert timedelta(hours=23, minutes=59) < until - timezone.now() <= timedelta(hours=24)


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


# --- Edit and delete ----------------------------------------------------------------------


def test_edit__url_events_and_release__changed_secret_kept(api, release):
    # Given
    subscription = WebhookSubscriptionFactory(events=["phase.advanced"])
    # When
    response = api.patch(
        f"/api/v1/webhooks/{subscription.pk}",
        {"url": " https://ci.example.com/hooks/v2 ", "events": ["release.paused"], "release": release.pk},
    )
    # Then
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["url"], body["events"], body["release"]) == (
        "https://ci.example.com/hooks/v2",
        ["release.paused"],
        release.pk,
    )
    assert body["name"] == subscription.name
    assert "secret" not in body
    stored = WebhookSubscription.objects.get(pk=subscription.pk)
    assert (stored.url, stored.events, stored.release_id) == (
        "https://ci.example.com/hooks/v2",
        ["release.paused"],
        release.pk,
    )
    assert stored.secret == subscription.secret


def test_edit__release_null_and_no_events__every_release_every_event(api, release):
    subscription = WebhookSubscriptionFactory(events=["phase.advanced"], release=release)
    response = api.patch(f"/api/v1/webhooks/{subscription.pk}", {"events": [], "release": None})
    assert response.status_code == 200, response.json()
    subscription.refresh_from_db()
    assert (subscription.events, subscription.release_id) == ([], None)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"url": "ftp://nope", "events": ["release.exploded"]}, {"url", "events.0"}),
        ({"name": ""}, {"name"}),
        ({"url": "https://" + "a" * 500 + ".example.com"}, {"url"}),
        ({"release": 999999}, {"release"}),
    ],
)
def test_edit__bad_input__400_names_fields_nothing_changed(api, body, fields):
    # Given
    subscription = WebhookSubscriptionFactory(events=["phase.advanced"])
    before = WebhookSubscription.objects.filter(pk=subscription.pk).values().get()
    # When
    response = api.patch(f"/api/v1/webhooks/{subscription.pk}", body)
    # Then
    assert response.status_code == 400
    assert set(error_shape(response)["fields"]) == fields
    assert WebhookSubscription.objects.filter(pk=subscription.pk).values().get() == before


def test_edit__finished_release__400_unless_kept(api, manager, release):
    # Given a subscription to a release that finished since
    subscription = WebhookSubscriptionFactory(release=release)
    transitions.release_cancel(release_id=release.pk, actor=manager)
    # When it is chosen anew on another subscription, it is refused
    other = WebhookSubscriptionFactory()
    refused = api.patch(f"/api/v1/webhooks/{other.pk}", {"release": release.pk})
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["release"]
    # But the subscription that has it may still be renamed
    renamed = api.patch(f"/api/v1/webhooks/{subscription.pk}", {"name": "Old bot"})
    assert renamed.status_code == 200, renamed.json()
    assert renamed.json()["release"] == release.pk


def test_delete__subscription_and_its_deliveries_gone(api):
    # Given
    delivery = WebhookDeliveryFactory()
    kept = WebhookDeliveryFactory()
    # When
    response = api.delete(f"/api/v1/webhooks/{delivery.subscription_id}")
    # Then
    assert response.status_code == 204
    assert not WebhookSubscription.objects.filter(pk=delivery.subscription_id).exists()
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [kept.pk]
    assert api.get(f"/api/v1/webhooks/{delivery.subscription_id}").status_code == 404


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_edit_delete__not_a_manager__403_nothing_changed(api_as, request, role):
    subscription = WebhookSubscriptionFactory()
    api = api_as(request.getfixturevalue(role))
    assert (
        error_shape(api.patch(f"/api/v1/webhooks/{subscription.pk}", {"name": "Mine"}))["code"] == "permission_denied"
    )
    assert api.delete(f"/api/v1/webhooks/{subscription.pk}").status_code == 403
    assert WebhookSubscription.objects.get(pk=subscription.pk).name == subscription.name


def test_edit_delete__read_only_token__403_missing_scope(api_as, manager):
    subscription = WebhookSubscriptionFactory()
    api = api_as(manager, scopes=["read"])
    patched = api.patch(f"/api/v1/webhooks/{subscription.pk}", {"name": "Mine"})
    deleted = api.delete(f"/api/v1/webhooks/{subscription.pk}")
    assert (patched.status_code, deleted.status_code) == (403, 403)
    assert error_shape(deleted)["code"] == "missing_scope"
    assert WebhookSubscription.objects.get(pk=subscription.pk).name == subscription.name


def test_edit_delete__unknown_id__404(api):
    assert error_shape(api.patch("/api/v1/webhooks/999999", {"name": "x"}))["code"] == "not_found"
    assert api.delete("/api/v1/webhooks/999999").status_code == 404


def test_put__not_offered__405(api):
    subscription = WebhookSubscriptionFactory()
    assert (
        api.put(f"/api/v1/webhooks/{subscription.pk}", {"name": "x", "url": "https://a.example.com"}).status_code == 405
    )
