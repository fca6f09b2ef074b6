"""Tell other apps what happened to a release, after the transaction commits.

comms and docs_portal import rollouts, never the reverse: each registers a handler in
its AppConfig.ready(), and every Event that a transition writes reaches the handlers
once the transaction that wrote it has committed. A handler should only enqueue its
own app's task, taking the event id.
"""

import logging
from collections.abc import Callable

from django.db import transaction

from rollouts import freshness
from rollouts.models import Event, Release

log = logging.getLogger("rollouts.events")

Handler = Callable[[int], None]
_handlers: list[Handler] = []


def register(handler: Handler) -> Handler:
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def unregister(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def _dispatch(event_id: int, verb: str, release_id: int) -> None:
    log.info("%s release=%s event=%s", verb, release_id, event_id)
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
    transaction.on_commit(lambda: _dispatch(event.pk, verb, release.pk))
    return event
