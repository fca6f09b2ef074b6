"""Rotating a webhook signing secret with a grace period (Standard Webhooks' zero-downtime rotation).

While the grace lasts each delivery carries two signatures, new secret first; the loopback
receiver (tests/fakes.py) verifies with the `standardwebhooks` package, holding whichever
secret the test gives it.
"""

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from rollouts import events, webhooks
from rollouts.models import WebhookDelivery, WebhookSubscription
from tests.factories import WebhookSubscriptionFactory

ROTATED_AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def grace_24h(settings):
    settings.WEBHOOK_SECRET_GRACE_HOURS = 24


@pytest.fixture
def no_grace(settings):
    settings.WEBHOOK_SECRET_GRACE_HOURS = 0


def rotate(subscription, actor, at: datetime = ROTATED_AT) -> WebhookSubscription:
    with time_machine.travel(at, tick=False):
        return webhooks.subscription_rotate_secret(subscription_id=subscription.pk, actor=actor)


def deliver_at(at: datetime, subscription, release) -> tuple[str, WebhookDelivery]:
    """Record an event at `at` and make the one delivery attempt for `subscription` then."""
    with time_machine.travel(at, tick=False):
        event = events.record(release=release, verb="phase.advanced")
        [delivery_id] = [
            pk
            for pk in webhooks.deliveries_for_event(event.pk)
            if WebhookDelivery.objects.get(pk=pk).subscription == subscription
        ]
        outcome = webhooks.deliver(delivery_id)
    return outcome, WebhookDelivery.objects.get(pk=delivery_id)


def signatures(request) -> list[str]:
    return request["headers"]["webhook-signature"].split(" ")


def verifies(secret: str, request, at: datetime) -> bool:
    """Whether a receiver holding `secret` accepts this request, checked at the time it was sent."""
    with time_machine.travel(at, tick=False):
        try:
            Webhook(secret).verify(request["body"], request["headers"])
        except WebhookVerificationError:
            return False
    return True


# --- Rotation --------------------------------------------------------------------------


@pytest.mark.django_db
def test_subscription_rotate_secret__grace__previous_secret_kept_until_grace_end(grace_24h, manager):
    subscription = WebhookSubscriptionFactory()
    old = subscription.secret
    rotated = rotate(subscription, manager)
    rotated.refresh_from_db()
    assert rotated.secret.startswith("whsec_") and rotated.secret != old
    assert rotated.previous_secret == old
    assert rotated.previous_secret_until == ROTATED_AT + timedelta(hours=24)


@pytest.mark.django_db
def test_subscription_rotate_secret__twice_within_grace__only_the_immediately_previous_kept(grace_24h, manager):
    # Given a subscription rotated once
    subscription = WebhookSubscriptionFactory()
    original = subscription.secret
    first = rotate(subscription, manager).secret
    # When it is rotated again an hour later
    second = rotate(subscription, manager, at=ROTATED_AT + timedelta(hours=1))
    second.refresh_from_db()
    # Then the original secret is gone and the first rotation's has a fresh grace
    assert second.previous_secret == first
    assert second.previous_secret_until == ROTATED_AT + timedelta(hours=25)
    assert original not in {second.secret, second.previous_secret}
    assert webhooks.signing_secrets(second, now=ROTATED_AT + timedelta(hours=2)) == [second.secret, first]


@pytest.mark.django_db
def test_subscription_rotate_secret__grace_0__old_secret_dropped_at_once(no_grace, manager):
    subscription = WebhookSubscriptionFactory()
    rotated = rotate(subscription, manager)
    rotated.refresh_from_db()
    assert (rotated.previous_secret, rotated.previous_secret_until) == ("", None)
    assert webhooks.signing_secrets(rotated, now=ROTATED_AT) == [rotated.secret]


@pytest.mark.django_db
def test_subscription_rotate_secret__unknown__does_not_exist(manager):
    with pytest.raises(WebhookSubscription.DoesNotExist):
        webhooks.subscription_rotate_secret(subscription_id=999, actor=manager)


@pytest.mark.django_db
def test_subscription_rotate_secret__logged__without_either_secret(grace_24h, manager, caplog):
    subscription = WebhookSubscriptionFactory()
    with caplog.at_level(logging.INFO, logger="rollouts.webhooks"):
        rotated = rotate(subscription, manager)
    assert "webhook.secret_rotated" in caplog.text and "2026-12-04T09:00:00Z" in caplog.text
    assert subscription.secret not in caplog.text and rotated.secret not in caplog.text


# --- Delivery against the receiver -----------------------------------------------------


@pytest.mark.django_db
def test_deliver__receiver_keeps_old_secret__verifies_during_grace_not_after(grace_24h, receiver, manager, release):
    # Given a receiver that still holds the secret from before the rotation
    subscription = receiver.subscribe(actor=manager)
    old = subscription.secret
    new = rotate(subscription, manager).secret
    # When a delivery goes out within the grace
    during = ROTATED_AT + timedelta(hours=23, minutes=59)
    outcome, delivery = deliver_at(during, subscription, release)
    # Then it verifies with the old secret, and carries two signatures, the new one first
    assert outcome == "delivered" and delivery.status == "delivered"
    [request] = receiver.requests
    assert request["error"] is None
    assert len(signatures(request)) == 2
    assert signatures(request)[0] == webhooks.sign(
        new, request["headers"]["webhook-id"], int(request["headers"]["webhook-timestamp"]), request["body"]
    )
    # When the next one goes out once the grace is over
    outcome, delivery = deliver_at(ROTATED_AT + timedelta(hours=24), subscription, release)
    # Then the old secret no longer verifies it: one signature, and the receiver refuses it
    assert outcome == "failed" and delivery.last_status_code == 401
    after = receiver.requests[1]
    assert after["error"] and "No matching signature" in after["error"]
    assert len(signatures(after)) == 1
    # and the old secret is forgotten
    subscription.refresh_from_db()
    assert (subscription.previous_secret, subscription.previous_secret_until) == ("", None)
    assert old not in WebhookSubscription.objects.values_list("previous_secret", flat=True)
    receiver.requests.remove(after)  # refused on purpose: the fixture fails a test on any other


@pytest.mark.django_db
def test_deliver__receiver_switched_to_new_secret__verifies_during_and_after_grace(
    grace_24h, receiver, manager, release
):
    # Given a receiver that switched to the new secret right after the rotation
    subscription = receiver.subscribe(actor=manager)
    old = subscription.secret
    rotated = rotate(subscription, manager)
    receiver.secrets["/hook"] = rotated.secret
    # When deliveries go out during the grace and after it
    times = [ROTATED_AT + timedelta(minutes=1), ROTATED_AT + timedelta(hours=25), ROTATED_AT + timedelta(days=3)]
    outcomes = [deliver_at(at, subscription, release)[0] for at in times]
    # Then every one verifies, and only the one within the grace also verifies with the old secret
    assert outcomes == ["delivered"] * 3
    assert [r["error"] for r in receiver.requests] == [None] * 3
    assert [len(signatures(r)) for r in receiver.requests] == [2, 1, 1]
    assert [verifies(old, r, at) for r, at in zip(receiver.requests, times, strict=True)] == [True, False, False]


@pytest.mark.django_db
def test_deliver__grace_0__one_signature_and_old_secret_refused_at_once(no_grace, receiver, manager, release):
    # Given a rotation without grace and a receiver that kept the old secret
    subscription = receiver.subscribe(actor=manager)
    old = subscription.secret
    new = rotate(subscription, manager).secret
    # When the next delivery goes out a minute later
    at = ROTATED_AT + timedelta(minutes=1)
    outcome, delivery = deliver_at(at, subscription, release)
    # Then it is signed once, with the new secret only: as before grace periods existed
    assert outcome == "failed" and delivery.last_status_code == 401
    [request] = receiver.requests
    assert len(signatures(request)) == 1
    assert verifies(new, request, at) and not verifies(old, request, at)
    receiver.requests.clear()  # refused on purpose: the fixture fails a test on any other


@pytest.mark.django_db
def test_deliver__never_rotated__one_signature(receiver, manager, release):
    subscription = receiver.subscribe(actor=manager)
    outcome, _ = deliver_at(ROTATED_AT, subscription, release)
    assert outcome == "delivered"
    [request] = receiver.requests
    assert len(signatures(request)) == 1


@pytest.mark.django_db
def test_deliver__rotated_during_grace__logs_no_secret(grace_24h, receiver, manager, release, caplog):
    subscription = receiver.subscribe(actor=manager)
    rotated = rotate(subscription, manager)
    with caplog.at_level(logging.DEBUG):
        outcome, _ = deliver_at(ROTATED_AT + timedelta(hours=1), subscription, release)
    assert outcome == "delivered"
    assert "webhook.delivered" in caplog.text
    assert subscription.secret not in caplog.text and rotated.secret not in caplog.text


# --- The page --------------------------------------------------------------------------


def text(response) -> str:
    return response.content.decode()


@pytest.mark.django_db
def test_webhook_rotate_secret__grace__page_shows_grace_end_until_it_passes(grace_24h, manager_client):
    subscription = WebhookSubscriptionFactory()
    url = f"/webhooks/{subscription.pk}/"
    with time_machine.travel(ROTATED_AT, tick=False):
        # Given the page before any rotation explains the grace
        before = text(manager_client.get(url))
        assert "the old secret is still accepted for 24 hours" in before
        assert 'hx-confirm="Make a new secret? Deliveries are signed with the old one too for 24 hours' in before
        assert 'id="previous-secret"' not in before
        # When a manager rotates the secret
        response = manager_client.post(f"{url}rotate-secret/")
        assert response.status_code == 303
        landing = text(manager_client.get(url))
    # Then the page says until when the previous secret is accepted
    assert "The previous secret is still accepted until" in landing
    assert '<time datetime="2026-12-04T09:00:00+00:00">Dec 4, 2026 09:00 UTC</time>' in landing
    assert "New secret made. The previous secret is still accepted until Dec 4, 2026 09:00 UTC" in landing
    subscription.refresh_from_db()
    assert subscription.secret in landing and subscription.previous_secret not in landing
    # and says so on every visit while the grace lasts, but not after
    with time_machine.travel(ROTATED_AT + timedelta(hours=23), tick=False):
        assert "still accepted until" in text(manager_client.get(url))
    with time_machine.travel(ROTATED_AT + timedelta(hours=24), tick=False):
        assert "still accepted until" not in text(manager_client.get(url))


@pytest.mark.django_db
def test_webhook_rotate_secret__htmx_with_grace__partial_shows_grace_end(grace_24h, manager_client):
    subscription = WebhookSubscriptionFactory()
    with time_machine.travel(ROTATED_AT, tick=False):
        response = manager_client.post(f"/webhooks/{subscription.pk}/rotate-secret/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = text(response)
    assert "<html" not in page
    assert 'id="previous-secret"' in page and "Dec 4, 2026 09:00 UTC" in page


@pytest.mark.django_db
def test_webhook_rotate_secret__grace_0__page_says_old_secret_stops_at_once(no_grace, manager_client):
    subscription = WebhookSubscriptionFactory()
    url = f"/webhooks/{subscription.pk}/"
    assert "Make a new secret? The old one stops working at once." in text(manager_client.get(url))
    manager_client.post(f"{url}rotate-secret/")
    page = text(manager_client.get(url))
    assert "The old one no longer verifies: update the receiver now." in page
    assert 'id="previous-secret"' not in page
