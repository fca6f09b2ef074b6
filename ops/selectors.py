"""Reads for /readyz, /metrics and the operations page, each in a fixed number of queries.

Everything is counted from the database at the moment it is asked: transitions and sends
happen in many processes on many machines, and the rows they leave are the one place that
sees them all.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, OuterRef, Q, Subquery

from comms.models import Notice
from rollouts import engine
from rollouts.models import (
    AllowedHours,
    Event,
    FreezeWindow,
    GateKind,
    Heartbeat,
    Phase,
    Release,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from rollouts.schedule import automation_block, rules_for

# Verbs of Events that change a release's state (rollouts/transitions.py writes them).
TRANSITION_VERBS = (
    "release.scheduled",
    "release.unscheduled",
    "release.started",
    "phase.advanced",
    "release.paused",
    "release.resumed",
    "release.completed",
    "release.cancelled",
    "release.degraded",
    "rollback.started",
    "rollback.completed",
)
# A gate's verdict, by the verb of the Event that recorded it.
GATE_VERDICT_VERBS = {"gate.passed": "passed", "gate.failed": "failed", "gate.rejected": "failed"}
GATE_VERDICTS = ("passed", "failed")
UNKNOWN_KIND = "unknown"  # the gate was removed since
NOTICE_WAITING = (Notice.Status.PENDING, Notice.Status.SENDING)
OVERDUE_AFTER = timedelta(minutes=1)
# A delivery given up on counts as failing for this long (its retries span about 4 hours).
FAILED_DELIVERY_WINDOW = timedelta(hours=24)


def transition_counts() -> dict[str, int]:
    """Events of each transition verb ever written (every verb present, 0 when none): one query."""
    counts = dict.fromkeys(TRANSITION_VERBS, 0)
    rows = Event.objects.filter(verb__in=TRANSITION_VERBS).order_by().values_list("verb").annotate(n=Count("pk"))
    counts.update(dict(rows))
    return counts


def gate_verdict_counts() -> dict[tuple[str, str], int]:
    """Gate verdicts by (gate kind, "passed"/"failed"), every known pair present: one query."""
    counts = {(kind, verdict): 0 for kind in GateKind.values for verdict in GATE_VERDICTS}
    rows = (
        Event.objects.filter(verb__in=GATE_VERDICT_VERBS)
        .order_by()
        .values_list("verb", "gate__kind")
        .annotate(n=Count("pk"))
    )
    for verb, kind, n in rows:
        key = (kind or UNKNOWN_KIND, GATE_VERDICT_VERBS[verb])
        counts[key] = counts.get(key, 0) + n
    return counts


def notice_status_counts() -> dict[str, int]:
    """Notices by status, every status present: one query."""
    counts = dict.fromkeys(Notice.Status.values, 0)
    counts.update(dict(Notice.objects.order_by().values_list("status").annotate(n=Count("pk"))))
    return counts


@dataclass(frozen=True)
class NoticesDue:
    due: int  # pending or sending, due now or earlier
    overdue: int  # of those, due more than OVERDUE_AFTER ago
    oldest_due_at: datetime | None


def notices_due(*, now: datetime) -> NoticesDue:
    """Due and overdue notices and the oldest due time: one query. Notices on hold (no due
    time) and notices waiting out a retry backoff (due later) are not due."""
    row = Notice.objects.filter(status__in=NOTICE_WAITING, due_at__lte=now).aggregate(
        due=Count("pk"),
        overdue=Count("pk", filter=Q(due_at__lt=now - OVERDUE_AFTER)),
        oldest=Min("due_at"),
    )
    return NoticesDue(due=row["due"], overdue=row["overdue"], oldest_due_at=row["oldest"])


def oldest_due_notice(*, now: datetime) -> Notice | None:
    """The due notice that has waited longest, with its message and release: one query."""
    return (
        Notice.objects.filter(status__in=NOTICE_WAITING, due_at__lte=now)
        .select_related("message__plan__release")
        .order_by("due_at", "pk")
        .first()
    )


def heartbeats() -> dict[str, Heartbeat]:
    """Each periodic task's last run (missing when it never ran): one query."""
    return {hb.kind: hb for hb in Heartbeat.objects.all()}


@dataclass(frozen=True)
class WaitingPhase:
    release: Release
    phase: Phase
    since: datetime  # when its soak ended


def phases_waiting(*, now: datetime) -> list[WaitingPhase]:
    """Auto-advancing phases the engine should have moved on: soak over, required gates
    cleared, and no freeze window or allowed-hours rule holding automation back.

    The engine's own candidate query; one query, plus two (freezes, allowed hours) only
    when some phase's soak is over.
    """
    ready = [
        release
        for release in engine.advance_candidates()
        if release.current_phase.soak_ends_at is not None and release.current_phase.soak_ends_at <= now
    ]
    if not ready:
        return []
    # Stored as local wall-clock times: a day either side covers every time zone.
    windows = list(FreezeWindow.objects.filter(ends_local__gte=now - timedelta(days=1)))
    rules = list(AllowedHours.objects.all())
    waiting = []
    for release in ready:
        applicable_windows = [w for w in windows if w.release_id in (None, release.pk)]
        if automation_block(release, now, windows=applicable_windows, rules=rules_for(release, rules)) is None:
            phase = release.current_phase
            waiting.append(WaitingPhase(release=release, phase=phase, since=phase.soak_ends_at))
    return sorted(waiting, key=lambda w: w.since)


def engine_lag_seconds(*, now: datetime, notices: NoticesDue, waiting: list[WaitingPhase]) -> float:
    """How long the oldest due-and-undone work has waited: the oldest due notice, or the
    phase whose soak ended longest ago without an advance. 0 when nothing waits."""
    oldest = [t for t in (notices.oldest_due_at, waiting[0].since if waiting else None) if t is not None]
    if not oldest:
        return 0.0
    return max((now - min(oldest)).total_seconds(), 0.0)


def failing_deliveries(*, now: datetime) -> dict[str, int]:
    """Webhook deliveries being retried after a failed attempt, and those given up on in
    the last FAILED_DELIVERY_WINDOW: one query."""
    return WebhookDelivery.objects.aggregate(
        retrying=Count("pk", filter=Q(status=WebhookDelivery.Status.PENDING, attempts__gt=0)),
        failed=Count(
            "pk", filter=Q(status=WebhookDelivery.Status.FAILED, created_at__gte=now - FAILED_DELIVERY_WINDOW)
        ),
    )


def failing_webhooks(*, limit: int = 50) -> list[WebhookSubscription]:
    """Subscriptions whose latest attempt failed, with that attempt's time, status code and
    error and their retrying and failed delivery counts, most recent first: one query."""
    latest = WebhookAttempt.objects.filter(delivery__subscription=OuterRef("pk")).order_by("-attempted_at", "-pk")
    return list(
        WebhookSubscription.objects.annotate(
            last_attempt_at=Subquery(latest.values("attempted_at")[:1]),
            last_status_code=Subquery(latest.values("status_code")[:1]),
            last_error=Subquery(latest.values("error")[:1]),
            retrying_count=Count(
                "deliveries",
                filter=Q(deliveries__status=WebhookDelivery.Status.PENDING, deliveries__attempts__gt=0),
            ),
            failed_count=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.FAILED)),
        )
        .filter(last_attempt_at__isnull=False)
        .filter(Q(last_status_code__isnull=True) | Q(last_status_code__lt=200) | Q(last_status_code__gte=300))
        .order_by("-last_attempt_at", "pk")[:limit]
    )
