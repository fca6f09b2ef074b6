"""The communication plan follows the rollout.

`plan_release` works out, for every message of a release's plan, which trigger
occurrences exist now and when each is due, and brings the outbox in line: new Notice
rows for new (message, recipient, occurrence) triples, new due times for pending ones
whose moment moved, and cancellation of pending ones that no longer apply. Sent,
failed and cancelled notices are never touched. It runs after every release event and
every plan edit, under the release's row lock, so two runs cannot interleave.

The support digest is a built-in message: while a release runs and some audiences are
marked "support digest", the plan holds one digest message (made here, idempotently, under
the same lock) that goes to those audiences when a phase starts. It is keyed like any other
message, (message, recipient, "phase:<id>:start"), so a replayed event or a second run
finds the notice already there. It says what is live now, so a digest still pending when
the next phase starts is superseded by that phase's digest rather than sent late.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from comms.models import Audience, Channel, CommunicationPlan, Message, MessageKind, Notice, Stakeholder, Trigger
from rollouts.models import Event, Phase, PhaseStatus, Release, ReleaseStatus

log = logging.getLogger("comms.planner")

HELD = None  # due_at of a notice on hold: not claimable until re-planned

# Verbs after which the plan may need new, moved or cancelled notices.
REPLAN_VERBS = frozenset(
    {
        "release.started",
        "release.paused",
        "release.resumed",
        "release.completed",
        "release.cancelled",
        "phase.advanced",
        "rollback.started",
        "rollback.completed",
        "plan.phase_edited",
        "plan.phase_added",
        "plan.phase_removed",
        "plan.phase_moved",
        "plan.release_edited",
        "plan.message_saved",
        "plan.message_removed",
    }
)
# How long an Event's own hand-off (rollouts/events.py → comms.tasks.on_release_event) has
# before the outbox tick treats it as lost and re-plans the release itself.
HANDOFF_GRACE = timedelta(seconds=30)

# Releases a support digest is made for and announces phases of.
DIGEST_STATUSES = (ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED)
DIGEST_NAME = "Support digest"
DIGEST_SUBJECT = "{{ release.name }} {{ release.version }}: “{{ phase.name }}” started, {{ release.exposure }} have it"
DIGEST_BODY = """Hello {{ recipient.name }},

**{{ release.name }} {{ release.version }}** moved on: phase **{{ phase.name }}** started
{{ phase.started_at }} and {{ release.exposure }} of users have the change now.

What changes and for whom, who has it, known issues with workarounds and the rollback
status are in the support briefing, kept up to date as the rollout goes on:

<{{ release.briefing_url }}>

User docs: <{{ release.docs_url }}>
"""
DIGEST_SUPERSEDED = "A later phase started before this digest went out; its digest says what is live now."


@dataclass(frozen=True)
class Occurrence:
    key: str
    due_at: datetime | None  # None: on hold
    phase: Phase | None = None


def _phase_end_estimate(phase: Phase, phases: list[Phase]) -> datetime | None:
    if phase.finished_at is not None:
        return phase.finished_at
    start = phase.started_at or phase.planned_start
    if start is None:
        return None
    later = [p for p in phases if p.position > phase.position and p.planned_start]
    soak_end = start + timedelta(minutes=phase.min_soak_minutes)
    return max(soak_end, later[0].planned_start) if later else soak_end


def occurrences(message: Message, release: Release, phases: list[Phase], events: list[Event]) -> list[Occurrence]:
    """The trigger firings this message has, given the release as it is now."""
    if message.kind == MessageKind.SUPPORT_DIGEST:
        return _digest_occurrences(release, phases)
    offset = timedelta(minutes=message.offset_minutes)
    paused = release.status == ReleaseStatus.PAUSED
    if message.trigger == Trigger.AT_TIME:
        return [Occurrence("at", message.send_at)] if message.send_at else []
    if message.trigger in (Trigger.PHASE_START, Trigger.PHASE_END):
        phase = next((p for p in phases if p.pk == message.phase_id), None)
        if phase is None or phase.status in (PhaseStatus.SKIPPED,):
            return []
        if message.trigger == Trigger.PHASE_START:
            key = f"phase:{phase.pk}:start"
            if phase.started_at is not None:
                return [Occurrence(key, phase.started_at + offset, phase)]
            # Not started yet: on hold while the release is paused, else at the planned start.
            if paused or phase.planned_start is None:
                return [Occurrence(key, HELD, phase)]
            return [Occurrence(key, phase.planned_start + offset, phase)]
        key = f"phase:{phase.pk}:end"
        if phase.finished_at is None and paused:
            return [Occurrence(key, HELD, phase)]
        end = _phase_end_estimate(phase, phases)
        return [Occurrence(key, end + offset if end else HELD, phase)]
    wanted = {
        Trigger.ON_PAUSE: "release.paused",
        Trigger.ON_ROLLBACK: "rollback.started",
        Trigger.ON_COMPLETION: "release.completed",
    }[message.trigger]
    # Only firings after the message was written: adding an "on pause" message must not
    # announce last week's pause.
    return [
        Occurrence(f"{wanted}:{e.pk}", e.created_at + offset)
        for e in events
        if e.verb == wanted and e.created_at >= message.created_at
    ]


def _digest_occurrences(release: Release, phases: list[Phase]) -> list[Occurrence]:
    """The start of the phase that is live now, if any: the digest describes the present."""
    if release.status not in DIGEST_STATUSES:
        return []
    phase = next((p for p in phases if p.pk == release.current_phase_id), None)
    if phase is None or phase.status != PhaseStatus.ACTIVE or phase.started_at is None:
        return []
    return [Occurrence(f"phase:{phase.pk}:start", phase.started_at, phase)]


def sync_support_digest(release: Release) -> Message | None:
    """Make the release's digest message if it needs one, and point it at the audiences
    marked "support digest" now. Call under the release's row lock.

    Only a running release gets one (there is a phase to announce); a finished release's
    digest is left as it was, with its history.
    """
    if release.status not in DIGEST_STATUSES:
        return None
    audiences = list(Audience.objects.filter(support_digest=True).order_by("pk"))
    digest = (
        Message.objects.filter(plan__release=release, kind=MessageKind.SUPPORT_DIGEST).prefetch_related("audiences")
    ).first()
    if digest is None:
        if not audiences:
            return None
        plan, _ = CommunicationPlan.objects.get_or_create(release=release)
        # The partial unique constraint backs this up should anything bypass the lock.
        digest, _ = Message.objects.get_or_create(
            plan=plan,
            kind=MessageKind.SUPPORT_DIGEST,
            defaults={
                "name": DIGEST_NAME,
                "channel": Channel.EMAIL,
                "trigger": Trigger.PHASE_START,
                "subject": DIGEST_SUBJECT,
                "body": DIGEST_BODY,
            },
        )
        current = set()
    else:
        current = {a.pk for a in digest.audiences.all()}
    if current != {a.pk for a in audiences}:
        digest.audiences.set(audiences)
    return digest


def recipients(message: Message) -> list[tuple[str, Stakeholder | None]]:
    if message.channel == Channel.WEBHOOK:
        return [("webhook", None)] if message.webhook_url else []
    stakeholders = (
        Stakeholder.objects.filter(
            opted_out_at__isnull=True,
            memberships__audience__in=message.audiences.all(),
            memberships__unsubscribed_at__isnull=True,
        )
        .distinct()
        .order_by("id")
    )
    return [(s.email.lower(), s) for s in stakeholders]


def _no_longer_applies(release: Release, occurrence_key: str) -> str:
    """Why a pending notice of this occurrence should not go any more, or ""."""
    rolled_back = release.status in (ReleaseStatus.ROLLING_BACK, ReleaseStatus.ROLLED_BACK)
    if rolled_back and not occurrence_key.startswith("rollback.started:"):
        return "The release was rolled back."
    if release.status == ReleaseStatus.CANCELLED:
        return "The release was cancelled."
    return ""


@transaction.atomic
def plan_release(*, release_id: int, now=None) -> dict:
    """Bring the release's notices in line with its plan and its state. Safe to run again."""
    now = now or timezone.now()
    release = Release.objects.select_for_update().filter(pk=release_id).first()
    if release is None:
        return {}
    release = Release.objects.select_related("current_phase").get(pk=release_id)
    # Under the release lock no plan-changing Event can be written meanwhile: this run covers
    # every Event up to here, so the overlooked-hand-off sweep can leave the release alone.
    seen = release.events.aggregate(latest=Max("id"))["latest"] or 0
    CommunicationPlan.objects.filter(release=release, planned_through_event__lt=seen).update(planned_through_event=seen)
    sync_support_digest(release)
    messages = list(Message.objects.filter(plan__release=release).prefetch_related("audiences").select_related("phase"))
    if not messages:
        return {"created": 0, "retimed": 0, "cancelled": 0}
    phases = list(release.phases.order_by("position", "id"))
    events = list(
        release.events.filter(verb__in=["release.paused", "rollback.started", "release.completed"]).order_by("id")
    )
    existing = {
        (n.message_id, n.recipient, n.occurrence): n
        for n in Notice.objects.filter(message__in=messages).only(
            "id", "message_id", "recipient", "occurrence", "status", "due_at"
        )
    }
    to_create, retimed, cancelled = [], 0, 0
    wanted_keys = set()
    for message in messages:
        people = recipients(message)
        for occ in occurrences(message, release, phases, events):
            reason = _no_longer_applies(release, occ.key)
            for recipient, stakeholder in people:
                key = (message.pk, recipient, occ.key)
                wanted_keys.add(key)
                notice = existing.get(key)
                if notice is None:
                    if reason:
                        continue
                    to_create.append(
                        Notice(
                            message=message,
                            stakeholder=stakeholder,
                            recipient=recipient,
                            occurrence=occ.key,
                            due_at=occ.due_at,
                        )
                    )
                elif notice.status == Notice.Status.PENDING:
                    if reason:
                        cancelled += _cancel(notice.pk, reason)
                    elif notice.due_at != occ.due_at:
                        retimed += Notice.objects.filter(pk=notice.pk, status=Notice.Status.PENDING).update(
                            due_at=occ.due_at
                        )
    # Pending notices whose occurrence or recipient is gone (phase removed, person left the audience).
    digests = {m.pk for m in messages if m.kind == MessageKind.SUPPORT_DIGEST}
    still_wanted = {(k[0], k[1]) for k in wanted_keys if k[0] in digests}
    for key, notice in existing.items():
        if key not in wanted_keys and notice.status == Notice.Status.PENDING:
            gone = DIGEST_SUPERSEDED if (key[0], key[1]) in still_wanted else ""
            reason = _no_longer_applies(release, key[2]) or gone or "No longer in the plan."
            cancelled += _cancel(notice.pk, reason)
    Notice.objects.bulk_create(to_create, ignore_conflicts=True)  # a racing run made it: fine
    result = {"created": len(to_create), "retimed": retimed, "cancelled": cancelled}
    if any(result.values()):
        log.info("comms.planned release=%s %s", release_id, result)
    return result


def _cancel(notice_id: int, reason: str) -> int:
    return Notice.objects.filter(pk=notice_id, status=Notice.Status.PENDING).update(
        status=Notice.Status.CANCELLED, cancelled_reason=reason[:200], claimed_until=None
    )


def releases_in_flight() -> list[int]:
    """Releases whose support digest follows the audiences marked "support digest"."""
    return list(Release.objects.filter(status__in=DIGEST_STATUSES).values_list("pk", flat=True))


def releases_to_replan_for_audiences(audience_ids) -> list[int]:
    return list(
        Release.objects.filter(comms_plan__messages__audiences__in=audience_ids)
        .exclude(status__in=[ReleaseStatus.COMPLETED, ReleaseStatus.ROLLED_BACK, ReleaseStatus.CANCELLED])
        .values_list("pk", flat=True)
        .distinct()
    )


def overlooked_releases(*, now=None, limit: int = 50) -> list[int]:
    """Releases with a plan-changing Event older than HANDOFF_GRACE that no planning run has
    seen: its hand-off to comms was lost. One query; the outbox tick re-plans them."""
    now = now or timezone.now()
    unseen = Event.objects.filter(
        release_id=OuterRef("release_id"),
        pk__gt=OuterRef("planned_through_event"),
        verb__in=REPLAN_VERBS,
        created_at__lt=now - HANDOFF_GRACE,
    )
    return list(
        CommunicationPlan.objects.filter(Exists(unseen))
        .order_by("release_id")
        .values_list("release_id", flat=True)[:limit]
    )
