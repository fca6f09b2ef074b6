"""Outgoing webhooks, signed per the Standard Webhooks scheme (https://www.standardwebhooks.com).

A published Event becomes one WebhookDelivery (the outbox row) per subscription that
wants it. Deliveries are sent by a task, or claimed by the engine tick when they are due
again; every HTTP attempt leaves a WebhookAttempt row for the delivery log.

- webhook-id is the delivery's message_id: the same on every retry, so receivers dedupe.
- webhook-timestamp is the time of this attempt; the signature covers id, timestamp and body.
- After a secret rotation the previous secret signs too (a second signature in
  webhook-signature) for WEBHOOK_SECRET_GRACE_HOURS, so receivers switch without a gap.
- 2xx delivered; 410 Gone disables the subscription; redirects and other 4xx fail for
  good; 5xx, 408, 429, timeouts and connection errors are retried with backoff, a finite
  number of times.
- Two tasks delivering one row at once send it once: each attempt first wins a
  compare-and-set on the attempt counter that also moves the row's due time past the
  send, so no one else finds it due while it is in flight.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Count, F, Prefetch, Q
from django.utils import timezone

from config.logs import log_event
from rollouts import http
from rollouts.models import Event, Release, WebhookAttempt, WebhookDelivery, WebhookSubscription

log = logging.getLogger("rollouts.webhooks")

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)

# The event verbs Flightdeck publishes. A subscription with no events gets all of these;
# internal verbs (plan edits, checklist ticks, single approvals) are never sent.
EVENT_TYPES: dict[str, str] = {
    "release.created": "A release was planned",
    "release.scheduled": "A release was scheduled",
    "release.started": "A release started its first phase",
    "release.paused": "A release was paused",
    "release.resumed": "A release was resumed",
    "release.completed": "A release completed",
    "release.cancelled": "A release was cancelled",
    "release.degraded": "A phase ran past its progress deadline",
    "phase.advanced": "A release advanced to its next phase",
    "gate.passed": "A test gate passed",
    "gate.failed": "An automated test gate failed",
    "gate.rejected": "A manual gate was rejected",
    "rollback.started": "A rollback started",
    "rollback.completed": "A rollback completed",
}

# Seconds to wait after failed attempt n (1-based); MAX_ATTEMPTS ends it.
BACKOFF_SECONDS = (5, 30, 2 * 60, 10 * 60, 30 * 60, 60 * 60, 2 * 60 * 60)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# Answers a retry can fix besides 5xx: request timeout and rate limiting.
RETRYABLE_4XX = {408, 429}
CLAIM_LEASE_SECONDS = 30
DELIVERY_LOG_LIMIT = 50
ERROR_LIMIT = 2000
BODY_SNIPPET = 200


class Outcome:
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    GONE = "gone"
    SKIPPED = "skipped"
    NOT_DUE = "not_due"


# --- Signing -------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value: "v1," + base64 HMAC-SHA256 of "id.timestamp.body"."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def encode_body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


# --- Subscriptions -------------------------------------------------------------------


def url_problem(url: str) -> str | None:
    """What is wrong with a receiver URL, in words for the form; None when it will do."""
    if not url:
        return "Enter the URL that receives the webhooks."
    if len(url) > 500:
        return "Keep the URL to 500 characters or fewer."
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "Enter a full http:// or https:// URL, such as https://ci.example.com/hooks/flightdeck."
    return None


def _validated(*, name: str, url: str, events, release) -> tuple[str, str, list[str]]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the subscription a name, such as “Deploy bot”."]
    elif len(name) > 120:
        errors["name"] = ["Keep the name to 120 characters or fewer."]
    url = (url or "").strip()
    problem = url_problem(url)
    if problem:
        errors["url"] = [problem]
    chosen: list[str] = []
    unknown: list[str] = []
    for verb in events or []:
        if not isinstance(verb, str) or verb not in EVENT_TYPES:
            unknown.append(str(verb))
        elif verb not in chosen:
            chosen.append(verb)
    if unknown:
        errors["events"] = [f"Unknown event type: {', '.join(unknown)}. Choose from the list."]
    if release is not None and release.is_finished:
        errors["release"] = [f"“{release}” is finished and sends no more events."]
    if errors:
        raise ValidationError(errors)
    return name, url, chosen


def subscription_create(*, actor, name: str, url: str, events, release: Release | None = None) -> WebhookSubscription:
    """Create an active subscription with a fresh secret. Show `secret` to the person once."""
    name, url, chosen = _validated(name=name, url=url, events=events, release=release)
    subscription = WebhookSubscription.objects.create(
        name=name, url=url, events=chosen, release=release, secret=new_secret(), created_by=actor
    )
    log.info("webhook.subscription_created subscription=%s actor=%s", subscription.pk, getattr(actor, "pk", None))
    return subscription


def subscription_disable(*, subscription_id: int, actor=None, reason: str = "") -> WebhookSubscription:
    """Stop sending. Disabling twice keeps the first reason."""
    if not reason:
        who = actor.get_username() if actor is not None else "Flightdeck"
        reason = f"Disabled by {who}."
    changed = WebhookSubscription.objects.filter(pk=subscription_id, is_active=True).update(
        is_active=False, disabled_reason=reason[:300]
    )
    if changed:
        log.info("webhook.subscription_disabled subscription=%s reason=%r", subscription_id, reason)
    return WebhookSubscription.objects.get(pk=subscription_id)


def subscription_enable(*, subscription_id: int, actor) -> WebhookSubscription:
    """Send again; deliveries still pending go out at the next engine tick."""
    changed = WebhookSubscription.objects.filter(pk=subscription_id, is_active=False).update(
        is_active=True, disabled_reason=""
    )
    if changed:
        log.info("webhook.subscription_enabled subscription=%s actor=%s", subscription_id, actor.pk)
    return WebhookSubscription.objects.get(pk=subscription_id)


@transaction.atomic
def subscription_rotate_secret(*, subscription_id: int, actor, now: datetime | None = None) -> WebhookSubscription:
    """A new secret that signs every delivery from now on, with a grace for receivers.

    For settings.WEBHOOK_SECRET_GRACE_HOURS the secret it replaces still signs deliveries
    too (two signatures in webhook-signature, the new one first), so a receiver that still
    holds it keeps verifying until it is redeployed with the new one; after that the old
    one is dropped. Only the immediately previous secret is kept: rotating again within the
    grace drops the one before it at once and starts a new grace for the one just replaced.
    With a grace of 0 the old secret stops verifying at once.
    """
    now = now or timezone.now()
    subscription = WebhookSubscription.objects.select_for_update().filter(pk=subscription_id).first()
    if subscription is None:
        raise WebhookSubscription.DoesNotExist(f"No webhook subscription {subscription_id}.")
    grace = timedelta(hours=settings.WEBHOOK_SECRET_GRACE_HOURS)
    if grace:
        subscription.previous_secret, subscription.previous_secret_until = subscription.secret, now + grace
    else:
        subscription.previous_secret, subscription.previous_secret_until = "", None
    subscription.secret = new_secret()
    subscription.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    log.info(
        "webhook.secret_rotated subscription=%s actor=%s previous_until=%s",
        subscription_id,
        getattr(actor, "pk", None),
        _iso(subscription.previous_secret_until) if subscription.previous_secret_until else None,
    )
    return subscription


def signing_secrets(subscription: WebhookSubscription, *, now: datetime) -> list[str]:
    """The secrets a delivery made at `now` is signed with: the current one, then the
    previous one while its grace lasts."""
    if subscription.previous_secret_signs_at(now):
        return [subscription.secret, subscription.previous_secret]
    return [subscription.secret]


def _forget_previous_secret(subscription: WebhookSubscription, *, now: datetime) -> None:
    """Blank a previous secret whose grace is over, unless a rotation replaced it meanwhile."""
    if not subscription.previous_secret or subscription.previous_secret_signs_at(now):
        return
    WebhookSubscription.objects.filter(
        pk=subscription.pk, previous_secret_until=subscription.previous_secret_until, previous_secret_until__lte=now
    ).update(previous_secret="", previous_secret_until=None)


@transaction.atomic
def subscription_update(
    *, subscription_id: int, actor, name: str, url: str, events, release: Release | None
) -> WebhookSubscription:
    """Change the name, URL, events or release, checked as on create; the secret stays.

    Deliveries already written keep their payload and go to the new URL; `events` and
    `release` decide only which later events make deliveries. A release that finished
    since it was chosen may be kept, not chosen anew.
    """
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    release_changed = (release.pk if release is not None else None) != subscription.release_id
    name, url, chosen = _validated(name=name, url=url, events=events, release=release if release_changed else None)
    before = (subscription.name, subscription.url, subscription.events, subscription.release_id)
    if before == (name, url, chosen, release.pk if release is not None else None):
        return subscription
    subscription.name, subscription.url, subscription.events, subscription.release = name, url, chosen, release
    subscription.save(update_fields=["name", "url", "events", "release"])
    log.info("webhook.subscription_updated subscription=%s actor=%s", subscription.pk, getattr(actor, "pk", None))
    return subscription


def subscription_delete(*, subscription_id: int, actor) -> bool:
    """Remove a subscription for good, with its deliveries and their attempts (the foreign
    keys cascade: no delivery log is kept). False when it was gone already."""
    deleted, _ = WebhookSubscription.objects.filter(pk=subscription_id).delete()
    if deleted:
        log.info("webhook.subscription_deleted subscription=%s actor=%s", subscription_id, getattr(actor, "pk", None))
    return bool(deleted)


# --- The outbox ----------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_payload(event: Event) -> dict:
    release = event.release
    phase = event.phase
    gate = event.gate
    return {
        "type": event.verb,
        "timestamp": _iso(event.created_at),
        "data": {
            "event_id": event.pk,
            "release": {
                "id": release.pk,
                "slug": release.slug,
                "name": release.name,
                "version": release.version,
                "status": release.status,
                "url": settings.SITE_URL + release.get_absolute_url(),
            },
            "phase": (
                {
                    "id": phase.pk,
                    "name": phase.name,
                    "environment": phase.environment,
                    "exposure_percent": phase.exposure_percent,
                    "status": phase.status,
                }
                if phase is not None
                else None
            ),
            "gate": (
                {"id": gate.pk, "name": gate.name, "kind": gate.kind, "status": gate.status}
                if gate is not None
                else None
            ),
            "actor": event.actor.get_username() if event.actor is not None else None,
            "reason": event.reason,
            "details": event.data,
        },
    }


def deliveries_for_event(event_id: int) -> list[int]:
    """One delivery per active subscription that wants this event; running it twice adds none."""
    event = Event.objects.select_related("release", "phase", "gate", "actor").filter(pk=event_id).first()
    if event is None or event.verb not in EVENT_TYPES:
        return []
    candidates = WebhookSubscription.objects.filter(is_active=True).filter(
        Q(release__isnull=True) | Q(release_id=event.release_id)
    )
    wanted = [s.pk for s in candidates if s.wants(event.verb, event.release_id)]
    if not wanted:
        return []
    payload = build_payload(event)
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(subscription_id=sid, event=event, message_id=f"msg_{uuid.uuid4().hex}", payload=payload)
            for sid in wanted
        ],
        ignore_conflicts=True,  # the (subscription, event) constraint keeps the first row and its message_id
    )
    return list(
        WebhookDelivery.objects.filter(event=event, subscription_id__in=wanted)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _enqueue_task(delivery_id: int) -> None:
    from rollouts import tasks  # tasks imports this module

    tasks.deliver_webhook.delay(delivery_id)


def on_event(event_id: int, *, enqueue=None) -> None:
    """events handler: write the deliveries, then hand each to a task.

    A lost enqueue costs nothing but time: the engine tick claims pending deliveries.
    """
    send = enqueue or _enqueue_task
    for delivery_id in deliveries_for_event(event_id):
        send(delivery_id)


def claim_due(*, now: datetime, limit: int = 50, lease_seconds: int = CLAIM_LEASE_SECONDS) -> list[int]:
    """Pending deliveries that are due and not leased, each claimed by one caller only."""
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, subscription__is_active=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(claimed_until=now + timedelta(seconds=lease_seconds))
    return ids


def backoff(attempt: int) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1-based)."""
    return timedelta(seconds=BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])


@dataclass
class _Result:
    outcome: str
    status_code: int | None = None
    error: str = ""


def _snippet(content: bytes) -> str:
    text = content[:BODY_SNIPPET].decode("utf-8", errors="replace").strip()
    return f": {text}" if text else ""


def _classify(response: http.Response) -> _Result:
    code = response.status_code
    if 200 <= code < 300:
        return _Result(Outcome.DELIVERED, code)
    if code == 410:
        return _Result(Outcome.GONE, code, "The receiver answered 410 Gone: it wants no more webhooks.")
    if 300 <= code < 400:
        location = response.headers.get("location", "nowhere")
        return _Result(
            Outcome.FAILED,
            code,
            f"The receiver answered {code} redirecting to {location}; redirects are not followed. "
            "Point the subscription at the final URL.",
        )
    if code >= 500 or code in RETRYABLE_4XX:
        return _Result(Outcome.RETRY, code, f"HTTP {code}{_snippet(response.content)}")
    return _Result(Outcome.FAILED, code, f"HTTP {code}{_snippet(response.content)}")


def deliver(delivery_id: int, *, now: datetime | None = None) -> str:
    """Make one attempt at a delivery and record it. Returns the outcome."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return Outcome.SKIPPED
    subscription = delivery.subscription
    if not subscription.is_active:
        return Outcome.SKIPPED
    if delivery.next_attempt_at > now:
        return Outcome.NOT_DUE
    timeout = settings.OUTBOUND_TIMEOUT_SECONDS
    attempt = delivery.attempts + 1
    # Win this attempt number, or someone else is sending it right now. While it is in
    # flight the row is not due (so no one else sends it); if this worker dies, it is
    # due again when the lease ends and the engine tick claims it.
    lease = now + timedelta(seconds=max(CLAIM_LEASE_SECONDS, timeout + 30))
    if not WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=lease, claimed_until=lease):
        return Outcome.SKIPPED

    body = encode_body(delivery.payload)
    timestamp = int(now.timestamp())
    # Space-separated signatures, any one of which verifies (Standard Webhooks): the
    # previous secret's as well while a rotation's grace lasts.
    signature = " ".join(
        sign(secret, delivery.message_id, timestamp, body) for secret in signing_secrets(subscription, now=now)
    )
    _forget_previous_secret(subscription, now=now)
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    started = time.monotonic()
    try:
        response = http.request("POST", subscription.url, content=body, headers=headers, timeout=timeout)
    except http.OutboundError as exc:  # TargetRefused included: it is permanent
        result = _Result(Outcome.FAILED if exc.permanent else Outcome.RETRY, None, exc.message)
    else:
        result = _classify(response)
    duration_ms = int((time.monotonic() - started) * 1000)

    if result.outcome == Outcome.RETRY and attempt >= MAX_ATTEMPTS:
        result = _Result(Outcome.FAILED, result.status_code, f"Gave up after {attempt} attempts. {result.error}")
    _record(delivery, attempt=attempt, result=result, now=now, duration_ms=duration_ms)
    log_event(
        log,
        logging.WARNING if result.outcome in (Outcome.FAILED, Outcome.GONE) else logging.INFO,
        f"webhook.{result.outcome}",
        delivery_id=delivery.pk,
        subscription_id=subscription.pk,
        event_id=delivery.event_id,
        attempt=attempt,
        status_code=result.status_code,
    )
    return result.outcome


@transaction.atomic
def _record(delivery: WebhookDelivery, *, attempt: int, result: _Result, now: datetime, duration_ms: int) -> None:
    error = result.error[:ERROR_LIMIT]
    WebhookAttempt.objects.create(
        delivery=delivery, attempted_at=now, status_code=result.status_code, error=error, duration_ms=duration_ms
    )
    fields = {"last_status_code": result.status_code, "last_error": error, "claimed_until": None}
    if result.outcome == Outcome.DELIVERED:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now)
    elif result.outcome == Outcome.RETRY:
        # Counted from when the attempt ended: a 5 s timeout must not eat a 5 s backoff.
        fields.update(next_attempt_at=now + timedelta(milliseconds=duration_ms) + backoff(attempt))
    else:
        fields.update(status=WebhookDelivery.Status.FAILED)
    # Only the holder of this attempt number changes the row.
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=attempt).update(
        **fields
    )
    if result.outcome == Outcome.GONE:
        subscription_disable(
            subscription_id=delivery.subscription_id,
            reason=f"The receiver answered 410 Gone on {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC; "
            "enable it again once it wants webhooks.",
        )


# --- Reads for the pages -------------------------------------------------------------


def _with_counts(queryset):
    return queryset.annotate(
        delivered_count=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.DELIVERED)),
        failed_count=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.FAILED)),
        pending_count=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.PENDING)),
    )


def subscription_list():
    """Every subscription with its release and delivery counts, in one query."""
    return _with_counts(WebhookSubscription.objects.select_related("release")).order_by("name", "pk")


@dataclass
class SubscriptionPage:
    subscription: WebhookSubscription
    deliveries: list[WebhookDelivery]
    previous_secret_until: datetime | None = None  # set while the previous secret still signs


def subscription_page(subscription_id: int, *, limit: int = DELIVERY_LOG_LIMIT) -> SubscriptionPage | None:
    """The subscription with counts, and its latest deliveries with their attempts: three queries."""
    subscription = (
        _with_counts(WebhookSubscription.objects.select_related("release", "created_by"))
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None:
        return None
    deliveries = list(
        subscription.deliveries.order_by("-created_at", "-pk").prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-attempted_at", "-pk"))
        )[:limit]
    )
    grace_end = subscription.previous_secret_until if subscription.previous_secret_signs_at(timezone.now()) else None
    return SubscriptionPage(subscription=subscription, deliveries=deliveries, previous_secret_until=grace_end)
