"""`Idempotency-Key`: a retried action or create gets the first answer again, and runs once.

- The first request with a key inserts its IdempotencyRecord before it runs, in a
  transaction of its own: the unique (user, key) constraint makes a concurrent duplicate
  fail that insert, and it is answered 409 while the first is still in flight.
- The request then runs in one transaction with the write of its answer (status and
  body): either both are kept or neither is. A 5xx or a crash keeps neither, and frees
  the key so that a retry runs afresh.
- A retry with the same key, method, path and body replays the stored answer with
  `Idempotent-Replayed: true`; the same key with another request is refused with 422.
- Records are kept 24 hours; expired ones are deleted whenever a new key is used. A record
  left in flight by a process that died is taken over after a minute.
- Secrets in an answer (a ci_result gate's token) are not stored: the replay carries null.
"""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from rollouts.api.errors import Conflict, Unprocessable
from rollouts.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
TTL = timedelta(hours=24)
IN_FLIGHT_TIMEOUT = timedelta(seconds=60)

PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string up to 255 characters (a UUID, or your pipeline's run id plus the step). A retry "
        "with the same key and body gets the first answer again, with `Idempotent-Replayed: true`, instead "
        "of running twice. The same key with a different request is refused with 422; while the first "
        "request is still running, 409. Keys are kept 24 hours."
    ),
)


def fingerprint(request) -> str:
    try:
        data = json.dumps(request.data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        data = repr(request.data)
    raw = f"{request.method} {request.get_full_path()}\n{data}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _claim(request, key: str, print_: str, *, retry: bool = True):
    """(record to complete, None) when this request runs; (None, response) to replay."""
    now = timezone.now()
    IdempotencyRecord.objects.filter(created_at__lt=now - TTL).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=request.user,
                key=key,
                method=request.method,
                path=request.get_full_path()[:500],
                fingerprint=print_,
                created_at=now,
            )
        return record, None
    except IntegrityError:
        pass
    existing = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
    if existing is None:  # it expired, or its request failed, just now
        if retry:
            return _claim(request, key, print_, retry=False)
        raise Conflict(
            "Another request with this Idempotency-Key is running; retry shortly.", "idempotency_in_progress"
        )
    if existing.fingerprint != print_:
        raise Unprocessable(
            f"This Idempotency-Key was used for another request ({existing.method} {existing.path}) "
            "in the last 24 hours. Use a new key for a new request.",
            "idempotency_key_reused",
        )
    if existing.status_code is None:
        stale = existing.created_at < now - IN_FLIGHT_TIMEOUT
        if stale and IdempotencyRecord.objects.filter(
            pk=existing.pk, status_code__isnull=True, created_at=existing.created_at
        ).update(created_at=now):
            return existing, None  # its first request died mid-way (its transaction rolled back)
        raise Conflict(
            "A request with this Idempotency-Key is still running; retry shortly to get its answer.",
            "idempotency_in_progress",
        )
    return None, Response(existing.response_body, status=existing.status_code, headers={REPLAYED_HEADER: "true"})


def _storable(data, redact: tuple[str, ...]):
    stored = json.loads(JSONRenderer().render(data)) if data is not None else None
    if isinstance(stored, dict):
        for name in redact:
            if name in stored:
                stored[name] = None
    return stored


def idempotent(handler=None, *, redact: tuple[str, ...] = ()):
    """Decorate a viewset handler (create or an action) to honour Idempotency-Key."""

    def decorate(func):
        @wraps(func)
        def wrapper(view, request, *args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None:
                return func(view, request, *args, **kwargs)
            key = key.strip()
            if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable():
                raise exceptions.ValidationError(
                    {HEADER: [f"Send 1 to {KEY_MAX_LENGTH} printable characters, such as a UUID."]}
                )
            record, replay = _claim(request, key, fingerprint(request))
            if replay is not None:
                return replay
            try:
                with transaction.atomic():
                    try:
                        response = func(view, request, *args, **kwargs)
                    except Exception as exc:
                        response = view.handle_exception(exc)
                    if response.status_code >= 500:
                        transaction.set_rollback(True)
                    else:
                        IdempotencyRecord.objects.filter(pk=record.pk).update(
                            status_code=response.status_code, response_body=_storable(response.data, redact)
                        )
            except BaseException:
                IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
                raise
            if response.status_code >= 500:
                IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
            return response

        wrapper.idempotent = True
        return wrapper

    return decorate(handler) if handler is not None else decorate
