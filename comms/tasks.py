"""Celery tasks for comms: thin, take ids, safe to run twice."""

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
    """Start enough send tasks for what is due; each claims its own batches as it goes."""
    due = outbox.due_count()
    drainers = min(-(-due // outbox.BATCH), outbox.MAX_DRAINERS)
    for _ in range(drainers):
        drain_notices.delay()
    return drainers


DRAIN_SECONDS = 20


@shared_task(ignore_result=True, **RETRY)
def drain_notices() -> dict:
    """Send due notices for up to DRAIN_SECONDS: a backlog drains at the speed of the
    workers, not of the beat tick. Safe to run many at once: claims never overlap."""
    return outbox.drain(seconds=DRAIN_SECONDS).__dict__


@shared_task(ignore_result=True, **RETRY)
def plan_release(release_id: int) -> dict:
    return planner.plan_release(release_id=release_id)


def on_release_event(event_id: int) -> None:
    """rollouts hands us every committed Event; replan when it can change the plan."""
    event = Event.objects.filter(pk=event_id).only("verb", "release_id").first()
    if event is not None and event.verb in REPLAN_VERBS:
        plan_release.delay(event.release_id)
