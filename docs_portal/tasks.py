"""Celery tasks for docs: thin, take ids, safe to run twice."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from docs_portal import services
from rollouts import events
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


@shared_task(ignore_result=True, **RETRY)
def publish_for_event(event_id: int) -> list[int]:
    """Publish the drafts whose publish rule this release Event fires (idempotent)."""
    return services.pages_publish_for_event(event_id=event_id)


def on_release_event(event_id: int) -> None:
    """rollouts hands us every committed Event; a phase start or a completion may publish docs."""
    event = Event.objects.filter(pk=event_id).only("verb").first()
    if event is not None and event.verb in services.PUBLISH_TRIGGER_VERBS:
        events.enqueue(publish_for_event, event_id)
