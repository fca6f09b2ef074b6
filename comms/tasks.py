"""Celery tasks for comms: thin, take ids, safe to run twice."""

import logging
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerUnreachable

from comms import outbox, planner
from rollouts import heartbeat
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

REPLAN_VERBS = planner.REPLAN_VERBS


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def outbox_tick() -> int:
    """Start enough send tasks for what is due; each claims its own batches as it goes."""
    started = time.monotonic()
    for release_id in planner.overlooked_releases():
        # Its Event's own hand-off never arrived: plan it now (safe to run twice).
        log.warning("comms.replan_overlooked release=%s", release_id, extra={"release_id": release_id})
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
    """rollouts hands us every committed Event; replan when it can change the plan.

    Should the broker be unreachable (Redis restarting), plan here and now: nothing else
    replans for this event, and a notice on hold for it (a phase that started) would wait
    forever. plan_release is safe to run twice."""
    event = Event.objects.filter(pk=event_id).only("verb", "release_id").first()
    if event is not None and event.verb in REPLAN_VERBS:
        try:
            plan_release.delay(event.release_id)
        except BrokerUnreachable as exc:
            log.warning("comms.replan_inline release=%s event=%s: %s", event.release_id, event_id, exc)
            planner.plan_release(release_id=event.release_id)
