"""Celery tasks for comms: thin, take ids, safe to run twice."""

import time

from celery import shared_task
from django.db import InterfaceError, OperationalError

from comms import outbox, planner
from rollouts.models import Event

RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 8,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
    "reject_on_worker_lost": True,
}

# Verbs after which the plan may need new, moved or cancelled notices.
REPLAN_VERBS = {
    "release.started",
    "release.paused",
    "release.resumed",
    "release.completed",
    "release.cancelled",
    "phase.advanced",
    "rollback.started",
    "rollback.completed",
    "plan.phase_edited",
    "plan.phase_added",
    "plan.phase_removed",
    "plan.phase_moved",
    "plan.release_edited",
    "plan.message_saved",
    "plan.message_removed",
}


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def outbox_tick() -> int:
    """Claim due notices and hand them out in batches, each sent over one SMTP connection."""
    token, ids = outbox.claim_due()
    for start in range(0, len(ids), outbox.BATCH):
        send_notices.delay(token, ids[start : start + outbox.BATCH])
    return len(ids)


DRAIN_SECONDS = 20


@shared_task(ignore_result=True, **RETRY)
def send_notices(claim_token: str, notice_ids: list[int]) -> dict:
    """Send a claimed batch, then keep taking due notices for a while: a backlog drains
    at the speed of the workers, not of the beat tick."""
    started = time.monotonic()
    report = outbox.send_batch(claim_token, notice_ids)
    totals = dict(report.__dict__)
    while time.monotonic() - started < DRAIN_SECONDS:
        token, ids = outbox.claim_due(limit=outbox.BATCH)
        if not ids:
            break
        for key, value in outbox.send_batch(token, ids).__dict__.items():
            totals[key] += value
    return totals


@shared_task(ignore_result=True, **RETRY)
def plan_release(release_id: int) -> dict:
    return planner.plan_release(release_id=release_id)


def on_release_event(event_id: int) -> None:
    """rollouts hands us every committed Event; replan when it can change the plan."""
    event = Event.objects.filter(pk=event_id).only("verb", "release_id").first()
    if event is not None and event.verb in REPLAN_VERBS:
        plan_release.delay(event.release_id)
