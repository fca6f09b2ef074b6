"""The Celery broker as operations see it: can we reach it, and how many tasks wait in it.

Redis: PING, and LLEN of the task queue (with kombu's priority sub-queues). The embedded
filesystem broker: its folders exist and are writable, and the queue is the number of
message files. Reads CELERY_BROKER_URL at call time and never reports it (it may hold a
password).
"""

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings

from config.logs import redact

TIMEOUT_SECONDS = 1.0
# kombu's Redis transport keeps one list per priority step: "name", "name\x06\x163", …
_REDIS_PRIORITY_SEPARATOR = "\x06\x16"
_REDIS_PRIORITY_STEPS = (0, 3, 6, 9)


@dataclass(frozen=True)
class Result:
    ok: bool
    detail: str


def kind() -> str:
    """The broker's kind: redis, filesystem or memory."""
    scheme = settings.CELERY_BROKER_URL.split("://", 1)[0]
    return "redis" if scheme in ("redis", "rediss") else scheme


def queue_name() -> str:
    return settings.CELERY_TASK_DEFAULT_QUEUE


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # One client (and connection pool) per process, as django-redis does for the cache.
    return redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)


def _folders() -> list[Path]:
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    names = ("data_folder_in", "data_folder_out", "control_folder")
    return [Path(options[name]) for name in names if options.get(name)]


def ping() -> Result:
    broker = kind()
    if broker == "redis":
        try:
            _redis(settings.CELERY_BROKER_URL).ping()
        except redis.RedisError as exc:
            return Result(False, redact(f"Redis did not answer PING: {exc.__class__.__name__}: {exc}"))
        return Result(True, "Redis answered PING.")
    if broker == "filesystem":
        for folder in _folders():
            if not folder.is_dir():
                return Result(False, f"The filesystem broker folder {folder} is missing.")
            if not os.access(folder, os.W_OK | os.X_OK):
                return Result(False, f"The filesystem broker folder {folder} is not writable.")
        return Result(True, "The filesystem broker's folders exist and are writable.")
    return Result(True, "The in-memory broker needs no server.")


def queue_depth() -> int | None:
    """Tasks waiting in the queue; None when it cannot be told (broker down, memory broker)."""
    broker = kind()
    name = queue_name()
    if broker == "redis":
        keys = [name] + [f"{name}{_REDIS_PRIORITY_SEPARATOR}{step}" for step in _REDIS_PRIORITY_STEPS[1:]]
        try:
            with _redis(settings.CELERY_BROKER_URL).pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.llen(key)
                return sum(pipe.execute())
        except redis.RedisError:
            return None
    if broker == "filesystem":
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        wanted = f"{name}.msg"  # kombu names each message <stamp>_<uuid>.<queue>.msg
        try:
            with os.scandir(options["data_folder_in"]) as entries:
                return sum(1 for entry in entries if entry.name.partition(".")[2] == wanted)
        except OSError:
            return None
    return None
