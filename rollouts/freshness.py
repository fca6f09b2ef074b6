"""Cheap answers to "has anything changed?", for caching pages that many people reload.

Every change to a release writes an Event; once it commits, `bump()` moves the version.
With a shared cache (Redis) the version is a token in the cache, so reading it costs no
database query; with a per-process cache (locmem) other processes could not see a bump,
so the version is read from the database instead (one indexed query).
"""

import hashlib
import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection

VERSION_KEY = "flightdeck:version"

log = logging.getLogger("rollouts.freshness")


def shared_cache() -> bool:
    backend = settings.CACHES["default"]["BACKEND"]
    return backend.endswith("RedisCache")


def bump() -> None:
    if shared_cache():
        # A fresh random token, not a counter: after an eviction a counter could come back
        # to an old value and serve an old page.
        try:
            cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        except Exception as exc:  # the cache is away (Redis restarting)
            # bump runs after commit, before the event handlers: raising here would cost the
            # change its notices and webhooks and answer an error for a change that was made.
            # Cached pages then live until their own expiry (a restarted Redis holds none).
            log.warning("freshness.bump_failed: %s", exc)


def current_and(*keys: str) -> tuple[str, dict]:
    """(version, {key: cached value}) in one cache round trip when the cache is shared."""
    if shared_cache():
        found = cache.get_many([VERSION_KEY, *keys])
        version = found.pop(VERSION_KEY, None)
        if version is None:
            cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
            version = cache.get(VERSION_KEY)
        return f"s:{version}", found
    return current(), cache.get_many(list(keys))


def current() -> str:
    if shared_cache():
        return current_and()[0]
    from rollouts.models import Event, Release

    # One query of three index lookups: the newest event, the latest change to a release
    # (admin edits write no event) and the number of releases (a deletion changes it).
    events, releases = Event._meta.db_table, Release._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT max(id) FROM {events}), (SELECT max(updated_at) FROM {releases}), "  # noqa: S608
            f"(SELECT count(*) FROM {releases})"
        )
        event_id, updated, count = cursor.fetchone()
    return "d:" + hashlib.sha1(f"{event_id}|{updated}|{count}".encode()).hexdigest()[:16]  # noqa: S324 - a key
