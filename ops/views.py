"""Operations endpoints: /healthz, /readyz, /metrics (for machines) and /ops/status/ (for admins).

The three machine endpoints need no login and never touch the session (no session read, no
cookie, no Vary: Cookie), so probes and scrapers cost nothing beyond their own work.
"""

import hmac
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops import broker, checks, metrics, selectors
from rollouts.models import Heartbeat

log = logging.getLogger("ops")


@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Nothing else is asked, the database included."""
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, the broker and beat are all fine, else 503 naming them."""
    results = checks.readiness()
    failing = [c.name for c in results if not c.ok]
    body = {
        "status": "fail" if failing else "ok",
        "failing": failing,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail, "ms": c.ms} for c in results},
    }
    if failing:
        log.warning("ops.not_ready failing=%s", ",".join(failing), extra={"event": "ops.not_ready", "failing": failing})
    return JsonResponse(body, status=503 if failing else 200)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@login_not_required
@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    if not _metrics_allowed(request):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        payload = generate_latest(metrics.REGISTRY)
    except DatabaseError as exc:
        log.warning("ops.metrics_unavailable %s", exc.__class__.__name__, extra={"event": "ops.metrics_unavailable"})
        return HttpResponse("The database did not answer.\n", status=503, content_type="text/plain")
    return HttpResponse(payload, content_type=CONTENT_TYPE_LATEST)


def tick_limits() -> tuple[float, float]:
    """Ages (seconds) past which a tick is late (five periods missed), then stopped (what
    /readyz allows, or 30 s when its beat check is off)."""
    return 5 * settings.ENGINE_TICK_SECONDS, float(settings.READY_MAX_TICK_AGE or 30)


def age_text(seconds: float | None) -> str:
    """12 s, 4 min, 3 h 5 min, 2 days: how long ago, for people."""
    if seconds is None:
        return "never"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


def _tick_state(age: float | None) -> tuple[str, str]:
    """(css class, word) for a tick's age; the word carries the meaning, the colour repeats it."""
    late, stopped = tick_limits()
    if age is None:
        return "bad", "Never ran"
    if age > stopped:
        return "bad", "Stopped"
    if age > late:
        return "warn", "Late"
    return "good", "Running"


@login_required
@never_cache
@require_safe
def status_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("The operations page is for administrators (staff accounts).")
    now = timezone.now()
    beats = selectors.heartbeats()
    ticks = []
    for kind, label in Heartbeat.Kind.choices:
        beat = beats.get(kind)
        age = checks.tick_age(beat, now)
        css, word = _tick_state(age)
        ticks.append({"kind": kind, "label": label, "beat": beat, "age_text": age_text(age), "css": css, "word": word})
    notices = selectors.notices_due(now=now)
    waiting = selectors.phases_waiting(now=now)
    lag = selectors.engine_lag_seconds(now=now, notices=notices, waiting=waiting)
    context = {
        "now": now,
        "checks": checks.readiness(now=now, beats=beats),
        "broker_kind": broker.kind(),
        "queue_name": broker.queue_name(),
        "queue_depth": broker.queue_depth(),
        "ticks": ticks,
        "notices": notices,
        "oldest_notice": selectors.oldest_due_notice(now=now) if notices.due else None,
        "waiting_phases": waiting,
        "lag_seconds": lag,
        "lag_text": age_text(lag),
        "failing_webhooks": selectors.failing_webhooks(),
        "tick_limits": tick_limits(),
        "tick_seconds": settings.ENGINE_TICK_SECONDS,
    }
    return render(request, "ops/status.html", context)
