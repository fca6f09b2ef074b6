"""Tell other apps what happened to a release, after the transaction commits.

comms and docs_portal import rollouts, never the reverse: each registers a handler in
its AppConfig.ready(), and every Event that a transition writes reaches the handlers
once the transaction that wrote it has committed. A handler should only enqueue its
own app's task, taking the event id, through `enqueue` below.
"""

import logging
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnreachable

from config.logs import log_event
from rollouts import freshness
from rollouts.models import Event, Release

log = logging.getLogger("rollouts.events")

Handler = Callable[[int], None]
_handlers: list[Handler] = []


def register(handler: Handler) -> Handler:
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def enqueue(task, *args) -> None:
    """Hand `task(*args)` to a worker; should the broker be unreachable (Redis restarting),
    run it here and now instead. Nothing else would: an Event is handed over once, so a lost
    task would be a lost notice or an unpublished page. The tasks are safe to run twice."""
    try:
        task.delay(*args)
    except BrokerUnreachable as exc:
        log_event(log, logging.WARNING, "events.run_inline", task=task.name, task_args=args, error=str(exc))
        task(*args)


def unregister(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def _log(event: Event, *, actor, gate_kind: str | None) -> None:
    """One line per committed Event, with its ids as fields."""
    log_event(
        log,
        logging.INFO,
        event.verb,
        event_id=event.pk,
        release_id=event.release_id,
        phase_id=event.phase_id,
        gate_id=event.gate_id,
        gate_kind=gate_kind,
        actor=actor.get_username() if actor is not None else "system",
    )


def _dispatch(event_id: int, verb: str, release_id: int) -> None:
    freshness.bump()
    for handler in list(_handlers):
        try:
            handler(event_id)
        except Exception:  # one app's failure must not stop the others
            log.exception("event handler %r failed for event %s", handler, event_id)


def record(*, release: Release, verb: str, actor=None, phase=None, gate=None, reason: str = "", **data) -> Event:
    """Write one timeline Event and hand it to the handlers once the transaction commits."""
    event = Event.objects.create(
        release=release, verb=verb, actor=actor, phase=phase, gate=gate, reason=reason, data=data
    )
    gate_kind = gate.kind if gate is not None else None

    def committed() -> None:
        _log(event, actor=actor, gate_kind=gate_kind)
        _dispatch(event.pk, verb, release.pk)

    transaction.on_commit(committed)
    return event
