"""The communication plan follows the rollout.

`plan_release` works out, for every message of a release's plan, which trigger
occurrences exist now and when each is due, and brings the outbox in line: new Notice
rows for new (message, recipient, occurrence) triples, new due times for pending ones
whose moment moved, and cancellation of pending ones that no longer apply. Sent,
failed and cancelled notices are never touched. It runs after every release event and
every plan edit, under the release's row lock, so two runs cannot interleave.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from comms.models import Channel, Message, Notice, Stakeholder, Trigger
from rollouts.models import Event, Phase, PhaseStatus, Release, ReleaseStatus

log = logging.getLogger("comms.planner")

HELD = None  # due_at of a notice on hold: not claimable until re-planned


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
    for key, notice in existing.items():
        if key not in wanted_keys and notice.status == Notice.Status.PENDING:
            cancelled += _cancel(notice.pk, _no_longer_applies(release, key[2]) or "No longer in the plan.")
    Notice.objects.bulk_create(to_create, ignore_conflicts=True)  # a racing run made it: fine
    result = {"created": len(to_create), "retimed": retimed, "cancelled": cancelled}
    if any(result.values()):
        log.info("comms.planned release=%s %s", release_id, result)
    return result


def _cancel(notice_id: int, reason: str) -> int:
    return Notice.objects.filter(pk=notice_id, status=Notice.Status.PENDING).update(
        status=Notice.Status.CANCELLED, cancelled_reason=reason[:200], claimed_until=None
    )


def releases_to_replan_for_audiences(audience_ids) -> list[int]:
    return list(
        Release.objects.filter(comms_plan__messages__audiences__in=audience_ids)
        .exclude(status__in=[ReleaseStatus.COMPLETED, ReleaseStatus.ROLLED_BACK, ReleaseStatus.CANCELLED])
        .values_list("pk", flat=True)
        .distinct()
    )
