"""Celery tasks for docs: thin, take ids, safe to run twice."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerUnreachable

from docs_portal import services
from rollouts.models import Event

log = logging.getLogger("docs_portal.tasks")

RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 8,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(ignore_result=True, **RETRY)
def publish_for_event(event_id: int) -> list[int]:
    """Publish the drafts whose publish rule this release Event fires (idempotent)."""
    return services.pages_publish_for_event(event_id=event_id)


def on_release_event(event_id: int) -> None:
    """rollouts hands us every committed Event; a phase start or a completion may publish docs.

    Should the broker be unreachable (Redis restarting), publish here and now: nothing else
    fires this event's publish rules again. Publishing is safe to run twice."""
    event = Event.objects.filter(pk=event_id).only("verb").first()
    if event is not None and event.verb in services.PUBLISH_TRIGGER_VERBS:
        try:
            publish_for_event.delay(event_id)
        except BrokerUnreachable as exc:
            log.warning("docs.publish_inline event=%s: %s", event_id, exc)
            services.pages_publish_for_event(event_id=event_id)
