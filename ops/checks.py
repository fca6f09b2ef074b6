"""Readiness: can this process serve? The database answers, the broker answers, beat ticks.

Each check says what it found in words an operator can act on, and never repeats a URL or
password from the settings.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from config.logs import redact
from ops import broker, selectors
from rollouts.models import Heartbeat


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: float = 0.0


def database() -> Check:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        detail = redact(f"The database did not answer: {exc.__class__.__name__}: {exc}".strip())
        return Check("database", False, detail[:300], _ms(started))
    return Check("database", True, "The database answered SELECT 1.", _ms(started))


def broker_check() -> Check:
    started = time.monotonic()
    result = broker.ping()
    return Check("broker", result.ok, result.detail, _ms(started))


def tick_age(beat: Heartbeat | None, now: datetime) -> float | None:
    """Seconds since the beat, or None when it never ran."""
    return None if beat is None else max((now - beat.beat_at).total_seconds(), 0.0)


def beat(*, now: datetime, beats: dict[str, Heartbeat] | None = None, database_ok: bool = True) -> Check:
    """The rollout engine ticked within READY_MAX_TICK_AGE seconds (0 leaves this out)."""
    limit = settings.READY_MAX_TICK_AGE
    if not limit:
        return Check("beat", True, "Not checked: READY_MAX_TICK_AGE is 0.")
    started = time.monotonic()
    unreadable = Check("beat", False, "Cannot read the last engine tick: the database did not answer.")
    if beats is None and not database_ok:
        return unreadable
    if beats is None:
        try:
            beats = selectors.heartbeats()
        except DatabaseError:
            return unreadable
    age = tick_age(beats.get(Heartbeat.Kind.ENGINE), now)
    if age is None:
        return Check("beat", False, "The rollout engine has never ticked: is Celery beat running?", _ms(started))
    if age > limit:
        return Check(
            "beat",
            False,
            f"The rollout engine last ticked {age:.0f} s ago (limit {limit} s): are Celery beat and a worker running?",
            _ms(started),
        )
    return Check("beat", True, f"The rollout engine ticked {age:.1f} s ago.", _ms(started))


def readiness(*, now: datetime | None = None, beats: dict[str, Heartbeat] | None = None) -> list[Check]:
    """The database, the broker and beat, in that order."""
    db = database()
    return [db, broker_check(), beat(now=now or timezone.now(), beats=beats, database_ok=db.ok)]


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
