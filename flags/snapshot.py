"""The compiled flag configuration that every evaluation reads: in memory, no query.

How a change reaches every process:
- In the process that commits it: flags/services.py calls `changed()` inside its
  transaction, and rollouts' Events (a rollback, a phase advance, a plan edit) reach
  `on_release_event` right after the transition commits. Both mark the snapshot stale
  on commit, so the very next evaluation here rebuilds: a rollback answers the off
  variant the moment it commits.
- In every other process: each change also moves a version, a random token in the shared
  cache (Redis) and a counter row in the database (ConfigVersion). A process compares its
  snapshot's version at most every CHECK_SECONDS: one Redis GET every 0.5 s, or, with a
  per-process cache (locmem), one indexed query every second. So every process sees a
  change within about a second (two at worst), and an evaluation costs no query.
- A snapshot older than MAX_AGE_SECONDS is rebuilt anyway, so edits that bypass the
  services and the timeline (a phase changed in the admin) are picked up too.
"""

import logging
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from flags import evaluation

log = logging.getLogger("flags.snapshot")

CACHE_KEY = "flightdeck:flags:version"
CHECK_SECONDS_SHARED = 0.5
CHECK_SECONDS_DB = 1.0
MAX_AGE_SECONDS = 60.0


class ApiKeyEntry(NamedTuple):
    id: int
    environment: str
    name: str


@dataclass(frozen=True)
class Snapshot:
    version: str
    digest: str  # of the flag configuration alone: the same in every process that built the same data
    flags: dict = field(repr=False)  # key → evaluation.CompiledFlag
    api_keys: dict = field(repr=False)  # SHA-256 hex digest of the token → ApiKeyEntry
    release_ids: frozenset = frozenset()
    built_at: float = 0.0


_lock = threading.Lock()
_current: Snapshot | None = None
_stale = True
_checked_at = 0.0


def _shared_cache() -> bool:
    from rollouts.freshness import shared_cache

    return shared_cache()


def _check_seconds() -> float:
    return CHECK_SECONDS_SHARED if _shared_cache() else CHECK_SECONDS_DB


# --- Reading ---------------------------------------------------------------------------


def current() -> Snapshot:
    """The snapshot to evaluate against; rebuilt when stale, checked at most every CHECK_SECONDS."""
    snap = _current
    if snap is not None and not _stale and time.monotonic() - _checked_at < _check_seconds():
        return snap
    return _refresh()


def _refresh() -> Snapshot:
    global _current, _stale, _checked_at
    snap = _current
    # While another thread checks or rebuilds, a snapshot that is merely due for a check
    # may still answer; one marked stale by a commit here may not.
    if not _lock.acquire(blocking=snap is None or _stale):
        return snap
    try:
        now = time.monotonic()
        snap = _current
        if snap is not None and not _stale and now - _checked_at < _check_seconds():
            return snap
        stale = _stale
        _stale = False  # a change committed while we build marks it stale again
        try:
            version = read_version()
            if snap is not None and not stale and version == snap.version and now - snap.built_at < MAX_AGE_SECONDS:
                _checked_at = now
                return snap
            snap = build(version)
        except Exception:
            _stale = _stale or stale
            raise
        _current = snap
        _checked_at = time.monotonic()
        return snap
    finally:
        _lock.release()


def read_version() -> str:
    if _shared_cache():
        try:
            token = cache.get(CACHE_KEY)
            if token is None:  # evicted or flushed: a new token makes every process rebuild once
                cache.add(CACHE_KEY, uuid.uuid4().hex, timeout=None)
                token = cache.get(CACHE_KEY)
            if token is not None:
                return f"c:{token}"
        except Exception:  # the cache is down: the database still knows
            log.warning("flags.version_cache_unavailable", exc_info=True)
    return _db_version()


def _db_version() -> str:
    from flags.models import ConfigVersion

    version = ConfigVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return f"d:{version or 0}"


def build(version: str = "") -> Snapshot:
    """Read the configuration (six queries) and compile it."""
    from flags.models import ApiKey, Flag, Segment
    from rollouts.models import Environment, Phase

    flag_rows = list(
        Flag.objects.order_by("key").values(
            "id",
            "key",
            "name",
            "type",
            "variants",
            "on_variant",
            "off_variant",
            "fixed_exposure",
            "killed_at",
            "release_id",
            "release__slug",
            "release__status",
        )
    )
    flag_segments = defaultdict(list)
    for flag_id, seg_key in Flag.segments.through.objects.order_by("segment__key").values_list(
        "flag_id", "segment__key"
    ):
        flag_segments[flag_id].append(seg_key)
    release_ids = {row["release_id"] for row in flag_rows if row["release_id"]}
    phases = defaultdict(list)
    phase_segments = defaultdict(list)
    if release_ids:
        for pid, seg_key in (
            Segment.phases.through.objects.filter(phase__release_id__in=release_ids)
            .order_by("segment__key")
            .values_list("phase_id", "segment__key")
        ):
            phase_segments[pid].append(seg_key)
        for row in (
            Phase.objects.filter(release_id__in=release_ids)
            .order_by("release_id", "position", "id")
            .values("id", "release_id", "name", "environment", "exposure_percent", "status")
        ):
            phases[row["release_id"]].append(
                {
                    "name": row["name"],
                    "environment": row["environment"],
                    "exposure": row["exposure_percent"],
                    "status": row["status"],
                    "segments": phase_segments[row["id"]],
                }
            )
    segment_specs = list(Segment.objects.order_by("key").values("key", "name", "targeting_keys", "rules"))
    flag_specs = [
        {
            "key": row["key"],
            "name": row["name"],
            "type": row["type"],
            "variants": row["variants"] if isinstance(row["variants"], dict) else {},
            "on_variant": row["on_variant"],
            "off_variant": row["off_variant"],
            "killed": row["killed_at"] is not None,
            "fixed_exposure": row["fixed_exposure"],
            "segments": flag_segments[row["id"]],
            "release": {
                "slug": row["release__slug"],
                "status": row["release__status"],
                "phases": phases[row["release_id"]],
            }
            if row["release_id"]
            else None,
        }
        for row in flag_rows
    ]
    api_keys = {
        h: ApiKeyEntry(pk, env, name)
        for pk, h, env, name in ApiKey.objects.filter(revoked_at__isnull=True).values_list(
            "pk", "token_hash", "environment", "name"
        )
    }
    segments = evaluation.compile_segments(segment_specs)
    return Snapshot(
        version=version,
        digest=evaluation.config_digest(flag_specs, segment_specs),
        flags=evaluation.compile_flags(flag_specs, segments, Environment.values),
        api_keys=api_keys,
        release_ids=frozenset(release_ids),
        built_at=time.monotonic(),
    )


# --- Change ----------------------------------------------------------------------------


def changed() -> None:
    """Call inside the transaction that changes the flag configuration."""
    _bump_database()
    transaction.on_commit(_publish)


def changed_after_commit() -> None:
    """The same, for a change that has already committed (a release's Event)."""
    _bump_database()
    _publish()


def _bump_database() -> None:
    from flags.models import ConfigVersion

    now = timezone.now()
    if not ConfigVersion.objects.filter(pk=1).update(version=F("version") + 1, changed_at=now):
        ConfigVersion.objects.get_or_create(pk=1, defaults={"version": 1, "changed_at": now})


def _publish() -> None:
    if _shared_cache():
        try:
            cache.set(CACHE_KEY, uuid.uuid4().hex, timeout=None)
        except Exception:  # other processes fall back to the database version
            log.warning("flags.version_publish_failed", exc_info=True)
    mark_stale()


def mark_stale() -> None:
    global _stale
    _stale = True


def on_release_event(event_id: int) -> None:
    """rollouts.events handler: a change to a release that a flag follows changes the flag."""
    from flags.models import Flag

    if Flag.objects.filter(release__events__pk=event_id).exists():
        changed_after_commit()


def reset() -> None:
    """Forget the snapshot (tests; a process that forked)."""
    global _current, _stale, _checked_at
    with _lock:
        _current = None
        _stale = True
        _checked_at = 0.0
