"""Outgoing webhooks: signing, the outbox, delivery against a real loopback receiver, the pages.

The receiver verifies every request with the `standardwebhooks` package, independently of
our own `sign`; a request it cannot verify fails the test that caused it.
"""

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.urls import include, path
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from rollouts import events, transitions, webhooks
from rollouts.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests.factories import (
    EventFactory,
    ReleaseFactory,
    WebhookDeliveryFactory,
    WebhookSubscriptionFactory,
)

# The pages until rollouts/urls.py includes rollouts.urls_webhooks; listed first, so they
# win over that include once it exists and these tests keep meaning the same thing.
urlpatterns = [path("webhooks/", include("rollouts.urls_webhooks")), path("", include("config.urls"))]
pages = pytest.mark.urls(__name__)


@pytest.fixture
def fast_timeout(settings):
    settings.OUTBOUND_TIMEOUT_SECONDS = 0.3


def delivery_for(subscription, release, verb="phase.advanced", **kwargs) -> WebhookDelivery:
    event = events.record(release=release, verb=verb, **kwargs)
    ids = webhooks.deliveries_for_event(event.pk)
    return WebhookDelivery.objects.get(pk__in=ids, subscription=subscription)


def fresh(delivery: WebhookDelivery) -> WebhookDelivery:
    delivery.refresh_from_db()
    return delivery


# --- Signing ---------------------------------------------------------------------------


def test_new_secret__made__whsec_prefix_and_32_random_bytes():
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_")
    import base64

    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert webhooks.new_secret() != secret


def test_sign__any_body__standardwebhooks_verifies_it():
    # Given a secret, a message and a timestamp within the tolerance
    secret = webhooks.new_secret()
    body = json.dumps({"type": "phase.advanced", "data": {"name": "Bêta 10 %"}}, ensure_ascii=False).encode()
    timestamp = int(timezone.now().timestamp())
    # When we sign it
    signature = webhooks.sign(secret, "msg_1", timestamp, body)
    # Then the reference implementation agrees, byte for byte
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    assert Webhook(secret).verify(body, headers)["data"]["name"] == "Bêta 10 %"
    assert signature.startswith("v1,")


def test_sign__other_secret_or_tampered_body__does_not_verify():
    from standardwebhooks.webhooks import WebhookVerificationError

    secret = webhooks.new_secret()
    timestamp = int(timezone.now().timestamp())
    signature = webhooks.sign(secret, "msg_1", timestamp, b'{"a":1}')
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(b'{"a":1}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)


# --- Subscriptions ---------------------------------------------------------------------


@pytest.mark.django_db
def test_subscription_create__valid__active_with_secret_and_chosen_events(manager, release):
    subscription = webhooks.subscription_create(
        actor=manager,
        name="  Deploy bot ",
        url="https://ci.example.com/hooks",
        events=["phase.advanced", "gate.passed", "phase.advanced"],
        release=release,
    )
    assert subscription.name == "Deploy bot"
    assert subscription.events == ["phase.advanced", "gate.passed"]
    assert subscription.is_active
    assert subscription.secret.startswith("whsec_")
    assert subscription.created_by == manager
    assert subscription.release == release


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "key", "message"),
    [
        ({"url": "ftp://ci.example.com/hooks"}, "url", "http:// or https://"),
        ({"url": "not a url"}, "url", "http:// or https://"),
        ({"url": ""}, "url", "Enter the URL"),
        ({"name": " "}, "name", "Give the subscription a name"),
        ({"events": ["phase.advanced", "release.exploded"]}, "events", "Unknown event type: release.exploded"),
        ({"events": ["plan.phase_added"]}, "events", "Unknown event type"),
    ],
)
def test_subscription_create__bad_input__validation_error_keyed_by_field(manager, fields, key, message):
    values = {"name": "Deploy bot", "url": "https://ci.example.com/hooks", "events": []} | fields
    with pytest.raises(ValidationError) as caught:
        webhooks.subscription_create(actor=manager, **values)
    assert message in " ".join(caught.value.message_dict[key])
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db
def test_subscription_create__finished_release__refused(manager, release):
    transitions.release_cancel(release_id=release.pk, actor=manager, reason="not needed")
    release.refresh_from_db()
    with pytest.raises(ValidationError) as caught:
        webhooks.subscription_create(actor=manager, name="x", url="https://a.example.com/", events=[], release=release)
    assert "finished" in caught.value.message_dict["release"][0]


@pytest.mark.django_db
def test_subscription_disable_then_enable__reason_kept_then_cleared(manager):
    subscription = WebhookSubscriptionFactory()
    webhooks.subscription_disable(subscription_id=subscription.pk, actor=manager, reason="Receiver moved")
    again = webhooks.subscription_disable(subscription_id=subscription.pk, actor=manager, reason="second")
    assert (again.is_active, again.disabled_reason) == (False, "Receiver moved")
    enabled = webhooks.subscription_enable(subscription_id=subscription.pk, actor=manager)
    assert (enabled.is_active, enabled.disabled_reason) == (True, "")


@pytest.mark.django_db
def test_subscription_rotate_secret__rotated__new_secret(manager):
    subscription = WebhookSubscriptionFactory()
    rotated = webhooks.subscription_rotate_secret(subscription_id=subscription.pk, actor=manager)
    assert rotated.secret.startswith("whsec_")
    assert rotated.secret != subscription.secret


# --- The outbox ------------------------------------------------------------------------


@pytest.mark.django_db
def test_deliveries_for_event__called_twice__one_delivery_per_subscription(manager, release):
    # Given two subscriptions that want everything
    first, second = WebhookSubscriptionFactory(), WebhookSubscriptionFactory()
    event = events.record(release=release, verb="release.started", actor=manager)
    # When the handler runs twice for one event (a retried task)
    ids = webhooks.deliveries_for_event(event.pk)
    again = webhooks.deliveries_for_event(event.pk)
    # Then each subscription has one delivery, and the second call created nothing
    assert ids == again
    assert WebhookDelivery.objects.count() == 2
    assert {d.subscription_id for d in WebhookDelivery.objects.all()} == {first.pk, second.pk}
    message_ids = set(WebhookDelivery.objects.values_list("message_id", flat=True))
    assert all(m.startswith("msg_") for m in message_ids) and len(message_ids) == 2


@pytest.mark.django_db
def test_deliveries_for_event__payload__describes_release_phase_and_actor(manager, release):
    WebhookSubscriptionFactory()
    phase = release.phases.first()
    event = events.record(release=release, verb="release.paused", actor=manager, phase=phase, reason="errors up")
    [delivery_id] = webhooks.deliveries_for_event(event.pk)
    payload = WebhookDelivery.objects.get(pk=delivery_id).payload
    assert payload["type"] == "release.paused"
    assert payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["event_id"] == event.pk
    assert data["release"] | {"url": None} == {
        "id": release.pk,
        "slug": "checkout",
        "name": "Checkout",
        "version": "2.0.0",
        "status": "draft",
        "url": None,
    }
    assert data["release"]["url"].endswith("/releases/checkout/")
    assert data["phase"]["name"] == phase.name and data["phase"]["exposure_percent"] == 1
    assert (data["actor"], data["reason"], data["gate"]) == ("manager", "errors up", None)


@pytest.mark.django_db
def test_deliveries_for_event__filters__only_subscriptions_that_want_it(manager, release):
    # Given subscriptions filtered by event type, by release, a disabled one and a catch-all
    other_release = ReleaseFactory()
    wants_phase = WebhookSubscriptionFactory(events=["phase.advanced"])
    wants_gates = WebhookSubscriptionFactory(events=["gate.passed"])
    this_release = WebhookSubscriptionFactory(release=release)
    that_release = WebhookSubscriptionFactory(release=other_release)
    catch_all = WebhookSubscriptionFactory()
    disabled = WebhookSubscriptionFactory()
    webhooks.subscription_disable(subscription_id=disabled.pk, actor=manager)
    # When a phase advances on `release`
    event = events.record(release=release, verb="phase.advanced", actor=manager)
    ids = webhooks.deliveries_for_event(event.pk)
    # Then only the ones that want it get a delivery
    wanted = set(WebhookDelivery.objects.filter(pk__in=ids).values_list("subscription_id", flat=True))
    assert wanted == {wants_phase.pk, this_release.pk, catch_all.pk}
    assert not {wants_gates.pk, that_release.pk, disabled.pk} & wanted


@pytest.mark.django_db
def test_deliveries_for_event__internal_verb_or_missing_event__nothing(manager, release):
    WebhookSubscriptionFactory()
    event = events.record(release=release, verb="plan.phase_added", actor=manager)
    assert webhooks.deliveries_for_event(event.pk) == []
    assert webhooks.deliveries_for_event(event.pk + 1000) == []
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_on_event__transition_commits__deliveries_made_and_enqueued(
    manager, release, monkeypatch, django_capture_on_commit_callbacks
):
    # Given a subscription, and the registered handler's task hand-off replaced by a list
    subscription = WebhookSubscriptionFactory(events=["release.started"])
    enqueued = []
    monkeypatch.setattr(webhooks, "_enqueue_task", enqueued.append)
    # When a release starts and its transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
    # Then the started event became one delivery, handed to the task
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    assert delivery.payload["type"] == "release.started"
    assert enqueued == [delivery.pk]


@pytest.mark.django_db
def test_claim_due__due_pending_unleased__claimed_once_with_lease():
    # Given deliveries that are due, not yet due, delivered, and of a disabled subscription
    now = timezone.now()
    due = WebhookDeliveryFactory(next_attempt_at=now - timedelta(seconds=1))
    WebhookDeliveryFactory(next_attempt_at=now + timedelta(minutes=1))
    WebhookDeliveryFactory(next_attempt_at=now, status=WebhookDelivery.Status.DELIVERED)
    WebhookDeliveryFactory(next_attempt_at=now, subscription=WebhookSubscriptionFactory(is_active=False))
    # When claimed twice in a row
    first = webhooks.claim_due(now=now)
    second = webhooks.claim_due(now=now)
    # Then only the due one, once, with a lease; after the lease it is claimable again
    assert first == [due.pk]
    assert second == []
    assert fresh(due).claimed_until == now + timedelta(seconds=webhooks.CLAIM_LEASE_SECONDS)
    assert webhooks.claim_due(now=now + timedelta(seconds=webhooks.CLAIM_LEASE_SECONDS + 1)) == [due.pk]


# --- Delivery against the receiver -------------------------------------------------------


@pytest.mark.django_db
def test_deliver__receiver_answers_200__delivered_with_valid_signature(receiver, manager, release):
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release, actor=manager, phase=release.phases.first())
    outcome = webhooks.deliver(delivery.pk)
    assert outcome == "delivered"
    [request] = receiver.requests
    assert request["error"] is None  # verified by standardwebhooks
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["webhook-id"] == delivery.message_id
    assert request["payload"]["type"] == "phase.advanced"
    assert request["payload"]["data"]["release"]["slug"] == "checkout"
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.claimed_until is None
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code == 200 and attempt.error == ""


@pytest.mark.django_db
def test_deliver__500_then_200__same_webhook_id_new_timestamp_each_attempt(receiver, manager, release):
    # Given a receiver that fails once
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    receiver.script = [500, 200]
    # When delivered, and delivered again once the retry is due
    now = timezone.now()
    assert webhooks.deliver(delivery.pk, now=now) == "retry"
    retry_at = fresh(delivery).next_attempt_at
    assert now + timedelta(seconds=5) <= retry_at < now + timedelta(seconds=6)
    assert webhooks.deliver(delivery.pk, now=retry_at - timedelta(seconds=1)) == "not_due"
    assert webhooks.deliver(delivery.pk, now=retry_at) == "delivered"
    # Then both requests carry one webhook-id, each its own timestamp, both verified
    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == delivery.message_id
    assert int(second["headers"]["webhook-timestamp"]) - int(first["headers"]["webhook-timestamp"]) in (5, 6)
    assert first["body"] == second["body"]
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [a.status_code for a in delivery.attempt_log.order_by("attempted_at")] == [500, 200]


@pytest.mark.django_db
def test_deliver__already_delivered_or_gone__skipped_without_request(receiver, manager, release):
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    webhooks.deliver(delivery.pk)
    assert webhooks.deliver(delivery.pk) == "skipped"
    assert webhooks.deliver(delivery.pk + 1000) == "skipped"
    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.count() == 1


@pytest.mark.django_db
def test_deliver__subscription_disabled__skipped_and_left_pending(receiver, manager, release):
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    webhooks.subscription_disable(subscription_id=subscription.pk, actor=manager)
    assert webhooks.deliver(delivery.pk) == "skipped"
    assert receiver.requests == []
    assert fresh(delivery).status == "pending"


@pytest.mark.django_db
def test_deliver__receiver_answers_410__subscription_disabled_delivery_failed(receiver, manager, release):
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    receiver.script = [410]
    assert webhooks.deliver(delivery.pk) == "gone"
    subscription.refresh_from_db()
    assert not subscription.is_active
    assert "410 Gone" in subscription.disabled_reason
    delivery = fresh(delivery)
    assert (delivery.status, delivery.last_status_code) == ("failed", 410)
    # and later events make no deliveries for it
    assert webhooks.deliveries_for_event(events.record(release=release, verb="release.started").pk) == []


@pytest.mark.django_db
def test_deliver__receiver_redirects__not_followed_and_failed(receiver, manager, release):
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    receiver.script = [("redirect", "/elsewhere")]
    assert webhooks.deliver(delivery.pk) == "failed"
    assert [r["path"] for r in receiver.requests] == ["/hook"]  # /elsewhere never hit
    delivery = fresh(delivery)
    assert (delivery.status, delivery.last_status_code, delivery.attempts) == ("failed", 302, 1)
    assert "redirects are not followed" in delivery.last_error
    assert receiver.url("/elsewhere") in delivery.last_error
    assert delivery.attempt_log.get().status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "outcome", "status"),
    [(400, "failed", "failed"), (404, "failed", "failed"), (429, "retry", "pending"), (503, "retry", "pending")],
)
def test_deliver__other_answers__4xx_permanent_5xx_and_429_retried(receiver, manager, release, code, outcome, status):
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    receiver.script = [code]
    assert webhooks.deliver(delivery.pk) == outcome
    delivery = fresh(delivery)
    assert (delivery.status, delivery.last_status_code) == (status, code)
    assert f"HTTP {code}" in delivery.last_error


@pytest.mark.django_db
def test_deliver__receiver_too_slow__retry_scheduled_with_backoff(receiver, fast_timeout, manager, release):
    # Given a receiver that takes longer than the outbound timeout
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    receiver.script = [("sleep", 5)]
    # When delivered
    now = timezone.now()
    outcome = webhooks.deliver(delivery.pk, now=now)
    # Then it is pending again, due 5 s after the attempt gave up, with the lease released
    assert outcome == "retry"
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert now + timedelta(seconds=5.3) <= delivery.next_attempt_at < now + timedelta(seconds=6)
    assert delivery.claimed_until is None
    assert "did not answer within 0.3 s" in delivery.last_error
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None and attempt.duration_ms >= 250
    # and the engine claims it again once it is due, not before
    assert webhooks.claim_due(now=now + timedelta(seconds=5)) == []
    assert webhooks.claim_due(now=now + timedelta(seconds=6)) == [delivery.pk]


@pytest.mark.django_db
def test_deliver__fails_every_time__gives_up_after_max_attempts(receiver, manager, release):
    # Given a receiver that always answers 500
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    receiver.script = [500] * webhooks.MAX_ATTEMPTS
    waits = []
    # When every retry is made as soon as it is due (the clock travels there)
    for _ in range(webhooks.MAX_ATTEMPTS):
        due = fresh(delivery).next_attempt_at
        with time_machine.travel(due, tick=False):
            outcome = webhooks.deliver(delivery.pk)
        waits.append(fresh(delivery).next_attempt_at - due)
    # Then the waits grew as scheduled and the last attempt gave up
    assert outcome == "failed"
    assert [round(w.total_seconds()) for w in waits[:-1]] == list(webhooks.BACKOFF_SECONDS)
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    assert delivery.last_error.startswith(f"Gave up after {webhooks.MAX_ATTEMPTS} attempts")
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS
    assert delivery.attempt_log.count() == webhooks.MAX_ATTEMPTS
    assert webhooks.deliver(delivery.pk) == "skipped"


@pytest.mark.django_db
def test_deliver__private_target_not_allowed__failed_permanently_without_request(receiver, settings, manager, release):
    # Given loopback is not allow-listed
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    # When delivered
    assert webhooks.deliver(delivery.pk) == "failed"
    # Then nothing reached the receiver and the reason is recorded
    assert receiver.requests == []
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "loopback" in delivery.last_error
    assert "loopback" in delivery.attempt_log.get().error


@pytest.mark.django_db
def test_deliver__nothing_listening__retried(manager, release):
    # Given a subscription on a loopback port where nothing listens
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subscription = webhooks.subscription_create(actor=manager, name="x", url=f"http://127.0.0.1:{port}/", events=[])
    delivery = delivery_for(subscription, release)
    assert webhooks.deliver(delivery.pk) == "retry"
    assert "Could not reach" in fresh(delivery).last_error


# --- Races on PostgreSQL ---------------------------------------------------------------


@pytest.fixture
def needs_postgres():
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the concurrency tests on PostgreSQL: set DATABASE_URL")
        pytest.skip("row-lock races need PostgreSQL (set DATABASE_URL=postgres://…)")


THREADS = 8


def race(fn, n):
    """Run fn(i) in n threads released at the same instant; return results or exceptions."""
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=10)
            return fn(i)
        except Exception as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("callers", [2, 8])
def test_claim_due__concurrent_callers__each_row_claimed_once(needs_postgres, callers):
    # Given 60 due deliveries
    now = timezone.now()
    subscription = WebhookSubscriptionFactory()
    made = {WebhookDeliveryFactory(subscription=subscription, next_attempt_at=now).pk for _ in range(60)}
    # When several engine ticks claim at the same instant, 20 each at most
    results = race(lambda i: webhooks.claim_due(now=now, limit=20), n=callers)
    # Then no row went to two callers, and every caller got what was free
    assert not [r for r in results if isinstance(r, Exception)], results
    claimed = [pk for r in results for pk in r]
    assert len(claimed) == len(set(claimed)) == min(60, 20 * callers)
    assert set(claimed) <= made


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_deliver__many_tasks_at_once_or_in_flight__one_request_one_attempt(needs_postgres, receiver, manager):
    # Given one pending delivery, handed to several tasks (the on-commit hand-off, ticks)
    release = ReleaseFactory(owner=manager)
    subscription = receiver.subscribe(actor=manager)
    delivery = WebhookDeliveryFactory(
        subscription=subscription, event=EventFactory(release=release), payload={"type": "release.started"}
    )
    # and a receiver slow enough that some tasks start while the first is still sending
    receiver.script = [("sleep", 0.4)]

    def task(i):
        time.sleep(0 if i % 2 else 0.04 * i)
        return webhooks.deliver(delivery.pk)

    # When several deliver it: half at the same instant, half while it is in flight
    results = race(task, n=THREADS)
    # Then the receiver heard it once
    assert results.count("delivered") == 1, results
    assert set(results) <= {"delivered", "skipped", "not_due"}, results
    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 1
    assert fresh(delivery).attempts == 1


# --- Pages -------------------------------------------------------------------------------


def text(response) -> str:
    return response.content.decode()


def make_deliveries(subscription, release, count: int, attempts: int = 2):
    """Page data in bulk: deliveries with attempts, every other one delivered (not via HTTP, for speed)."""
    now = timezone.now()
    for i in range(count):
        delivery = WebhookDeliveryFactory(subscription=subscription, event=EventFactory(release=release))
        for a in range(attempts):
            WebhookAttempt.objects.create(
                delivery=delivery, attempted_at=now, status_code=500 if a < attempts - 1 else 200, duration_ms=3
            )
        if i % 2:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(status="delivered", attempts=attempts)


@pages
@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/webhooks/", "/webhooks/new/", "/webhooks/{pk}/"])
def test_webhook_pages__anonymous__redirected_to_login(client, url):
    subscription = WebhookSubscriptionFactory()
    response = client.get(url.format(pk=subscription.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pages
@pytest.mark.django_db
@pytest.mark.parametrize("who", ["approver", "support", "viewer", "outsider"])
def test_webhook_pages__not_a_release_manager__403_and_nothing_changes(client, who, request):
    subscription = WebhookSubscriptionFactory()
    client.force_login(request.getfixturevalue(who))
    for url in ["/webhooks/", "/webhooks/new/", f"/webhooks/{subscription.pk}/"]:
        assert client.get(url).status_code == 403
    posted = {"name": "x", "url": "https://a.example.com/"}
    assert client.post("/webhooks/new/", posted).status_code == 403
    for action in ["disable", "enable", "rotate-secret"]:
        assert client.post(f"/webhooks/{subscription.pk}/{action}/").status_code == 403
    assert WebhookSubscription.objects.get() == subscription
    subscription.refresh_from_db()
    assert subscription.is_active
    assert WebhookSubscription.objects.get().secret == subscription.secret


@pages
@pytest.mark.django_db
def test_webhook_list__manager__names_states_and_counts(manager_client, manager, release):
    active = WebhookSubscriptionFactory(name="Deploy bot", events=["phase.advanced"])
    gone = WebhookSubscriptionFactory(name="Old chat", release=release)
    webhooks.subscription_disable(subscription_id=gone.pk, actor=None, reason="The receiver answered 410 Gone")
    make_deliveries(active, release, 3)
    response = manager_client.get("/webhooks/")
    assert response.status_code == 200
    page = text(response)
    assert "Deploy bot" in page and "phase.advanced" in page and active.url in page
    assert "Old chat" in page and "Disabled" in page and "The receiver answered 410 Gone" in page
    assert "1 delivered · 0 failed · 2 pending" in page
    assert "Only Checkout 2.0.0" in page
    assert active.secret not in page


@pages
@pytest.mark.django_db
def test_webhook_detail__unknown__404(manager_client):
    assert manager_client.get("/webhooks/999/").status_code == 404


@pages
@pytest.mark.django_db
def test_webhook_create__valid__redirect_and_secret_shown_once(manager_client, manager, release):
    # When a manager creates a subscription
    response = manager_client.post(
        "/webhooks/new/",
        {
            "name": "Deploy bot",
            "url": "https://ci.example.com/hooks",
            "events": ["phase.advanced", "gate.passed"],
            "release": release.pk,
        },
    )
    # Then it exists and the browser lands on its page, which shows the secret
    subscription = WebhookSubscription.objects.get()
    assert (subscription.name, subscription.events, subscription.release) == (
        "Deploy bot",
        ["phase.advanced", "gate.passed"],
        release,
    )
    assert subscription.created_by == manager
    assert response.status_code == 303
    assert response["Location"] == f"/webhooks/{subscription.pk}/"
    landing = manager_client.get(response["Location"])
    first = text(landing)
    assert subscription.secret in first
    assert "not shown again" in first
    assert "no-store" in landing["Cache-Control"]
    # and never again
    again = text(manager_client.get(response["Location"]))
    assert subscription.secret not in again
    assert subscription.secret not in text(manager_client.get("/webhooks/"))


@pages
@pytest.mark.django_db
def test_webhook_create__form__lists_event_types_and_open_releases(manager_client, manager, release):
    finished = ReleaseFactory(name="Finished one", owner=manager)
    transitions.release_cancel(release_id=finished.pk, actor=manager, reason="x")
    page = text(manager_client.get("/webhooks/new/"))
    for verb in webhooks.EVENT_TYPES:
        assert f'value="{verb}"' in page
    assert "Checkout" in page and "Finished one" not in page


@pages
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("ftp://ci.example.com/hooks", ["phase.advanced"], "Enter a full http:// or https:// URL"),
        ("ci.example.com/hooks", ["phase.advanced"], "Enter a full http:// or https:// URL"),
        (
            "https://ci.example.com/hooks",
            ["phase.advanced", "release.exploded"],
            "Unknown event type: release.exploded",
        ),
    ],
)
def test_webhook_create__bad_input__422_with_message_and_typed_values_kept(manager_client, url, events, message):
    response = manager_client.post("/webhooks/new/", {"name": "Deploy bot", "url": url, "events": events})
    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert 'value="Deploy bot"' in page
    assert f'value="{url}"' in page
    assert 'value="phase.advanced" id="id_events_' in page and "checked" in page
    assert not WebhookSubscription.objects.exists()


@pages
@pytest.mark.django_db
def test_webhook_create__bad_url_and_unknown_event__both_messages_at_once(manager_client):
    response = manager_client.post(
        "/webhooks/new/", {"name": "", "url": "ci.example.com", "events": ["release.exploded"]}
    )
    assert response.status_code == 422
    page = text(response)
    assert "This field is required." in page
    assert "Enter a full http:// or https:// URL" in page
    assert "Unknown event type: release.exploded" in page


@pages
@pytest.mark.django_db
def test_webhook_disable_and_enable__manager__state_and_reason_shown(manager_client):
    subscription = WebhookSubscriptionFactory(name="Deploy bot")
    response = manager_client.post(f"/webhooks/{subscription.pk}/disable/", {"reason": "Receiver is moving"})
    assert response.status_code == 303
    subscription.refresh_from_db()
    assert not subscription.is_active
    assert subscription.disabled_reason == "Disabled by manager: Receiver is moving"
    page = text(manager_client.get(f"/webhooks/{subscription.pk}/"))
    assert "Disabled by manager: Receiver is moving" in page and "Enable webhook" in page
    response = manager_client.post(f"/webhooks/{subscription.pk}/enable/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<html" not in text(response) and "Disable webhook" in text(response)
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.disabled_reason == ""


@pages
@pytest.mark.django_db
def test_webhook_rotate_secret__htmx__new_secret_shown_once_in_partial(manager_client):
    subscription = WebhookSubscriptionFactory()
    old = subscription.secret
    response = manager_client.post(f"/webhooks/{subscription.pk}/rotate-secret/", HTTP_HX_REQUEST="true")
    subscription.refresh_from_db()
    assert subscription.secret != old
    assert response.status_code == 200
    assert subscription.secret in text(response) and old not in text(response)
    assert subscription.secret not in text(manager_client.get(f"/webhooks/{subscription.pk}/"))


@pages
@pytest.mark.django_db
def test_webhook_pages__get_only_and_post_only__405(manager_client):
    subscription = WebhookSubscriptionFactory()
    assert manager_client.post("/webhooks/").status_code == 405
    assert manager_client.get(f"/webhooks/{subscription.pk}/disable/").status_code == 405


@pages
@pytest.mark.django_db
def test_webhook_detail__delivery_log__attempts_with_code_error_and_duration(
    receiver, fast_timeout, manager_client, manager, release
):
    subscription = receiver.subscribe(actor=manager)
    delivery = delivery_for(subscription, release)
    receiver.script = [("sleep", 5)]
    now = timezone.now()
    assert webhooks.deliver(delivery.pk, now=now) == "retry"
    assert webhooks.deliver(delivery.pk, now=fresh(delivery).next_attempt_at) == "delivered"
    page = text(manager_client.get(f"/webhooks/{subscription.pk}/"))
    assert delivery.message_id in page
    assert "phase.advanced" in page
    assert "no answer" in page and "did not answer within 0.3 s" in page
    assert "HTTP 200" in page and "Delivered" in page
    assert "2 attempts" in page


# session, user, roles, subscriptions with their release and counts
LIST_QUERIES = 4
# session, user, roles, subscription with counts, latest deliveries, their attempts
DETAIL_QUERIES = 6


@pages
@pytest.mark.django_db
@pytest.mark.parametrize("count", [2, 12])
def test_webhook_list__few_or_many__same_query_count(
    manager_client, manager, release, count, django_assert_num_queries
):
    for i in range(count):
        subscription = WebhookSubscriptionFactory(release=release if i % 2 else None)
        make_deliveries(subscription, release, 2)
    with django_assert_num_queries(LIST_QUERIES):
        response = manager_client.get("/webhooks/")
    assert response.status_code == 200


@pages
@pytest.mark.django_db
@pytest.mark.parametrize(("deliveries", "attempts"), [(1, 1), (60, 3)])
def test_webhook_detail__few_or_many_deliveries__same_query_count(
    manager_client, manager, release, deliveries, attempts, django_assert_num_queries
):
    subscription = WebhookSubscriptionFactory(release=release, created_by=manager)
    make_deliveries(subscription, release, deliveries, attempts)
    with django_assert_num_queries(DETAIL_QUERIES):
        response = manager_client.get(f"/webhooks/{subscription.pk}/")
    assert response.status_code == 200
    assert text(response).count('class="delivery ') == min(deliveries, webhooks.DELIVERY_LOG_LIMIT)


def test_event_types__each__a_verb_rollouts_records():
    # Guard against a typo in EVENT_TYPES: every type must be one rollouts actually writes.
    import pathlib
    import re

    folder = pathlib.Path(webhooks.__file__).parent
    source = "".join(p.read_text() for p in folder.glob("*.py") if p.name != "webhooks.py")
    recorded = set(re.findall(r'verb="([a-z_]+\.[a-z_]+)"', source))
    assert set(webhooks.EVENT_TYPES) <= recorded, set(webhooks.EVENT_TYPES) - recorded


def test_webhook_pages__mounted_in_the_app__reachable_from_the_nav(manager_client):
    page = manager_client.get("/").content.decode()
    assert 'href="/webhooks/"' in page
    assert manager_client.get("/webhooks/").status_code == 200
