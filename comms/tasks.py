"""Celery tasks for comms: thin, take ids, safe to run twice."""

import logging
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError

from comms import outbox, planner
from config.logs import log_event
from rollouts import events, heartbeat
from rollouts.models import Event, Heartbeat

log = logging.getLogger("comms.tasks")

RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 8,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def outbox_tick() -> int:
    """Start enough send tasks for what is due; each claims its own batches as it goes."""
    started = time.monotonic()
    for release_id in planner.overlooked_releases():
        # Its Event's own hand-off never arrived: plan it now (safe to run twice).
        log_event(log, logging.WARNING, "comms.replan_overlooked", release_id=release_id)
        plan_release.delay(release_id)
    due = outbox.due_count()
    drainers = min(-(-due // outbox.BATCH), outbox.MAX_DRAINERS)
    for _ in range(drainers):
        drain_notices.delay()
    heartbeat.beat(Heartbeat.Kind.OUTBOX, took_ms=(time.monotonic() - started) * 1000)
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
    if event is not None and event.verb in planner.REPLAN_VERBS:
        events.enqueue(plan_release, event.release_id)
