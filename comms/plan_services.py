"""Writes to a release's communication plan: add, edit and remove messages, make a phase
wait for one, and try a failed notice again.

Each function locks the release row (the planner takes the same lock, so an edit and a
re-plan never interleave), validates against what it finds, writes, and records an Event
on the release inside the transaction. After commit that Event reaches comms.tasks, which
re-plans the release's notices (see comms.planner.REPLAN_VERBS). Validation errors are
ValidationError keyed by field, so forms show them next to the input that caused them.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from comms import outbox, planner
from comms.models import Audience, Channel, CommunicationPlan, Message, MessageKind, Notice, Trigger
from comms.render import unknown_variables
from rollouts import events
from rollouts import services as rollout_services
from rollouts.models import Gate, GateKind, Phase, PhaseStatus, Release

MAX_OFFSET_MINUTES = 30 * 24 * 60
PHASE_TRIGGERS = {Trigger.PHASE_START, Trigger.PHASE_END}
EVENT_TRIGGERS = {Trigger.ON_PAUSE, Trigger.ON_ROLLBACK, Trigger.ON_COMPLETION}
FIELDS = (
    "name",
    "audiences",
    "channel",
    "webhook_url",
    "subject",
    "body",
    "trigger",
    "send_at",
    "phase",
    "offset_minutes",
)
_url = URLValidator(schemes=["http", "https"])


def _lock(release_id: int) -> Release:
    return Release.objects.select_for_update().get(pk=release_id)


def _require_plannable(release: Release) -> None:
    if not release.is_plannable:
        raise ValidationError(
            f"You cannot change the communication plan of a release that is {release.get_status_display().lower()}.",
            code="finished",
        )


BUILT_IN = (
    "The support digest is built in: it goes to the audiences marked “support digest” whenever a phase "
    "starts. Choose those audiences on the Audiences page, or write a message of your own."
)


def _require_custom(message: Message) -> None:
    if message.kind != MessageKind.CUSTOM:
        raise ValidationError(BUILT_IN, code="built_in")


def _variables_error(text: str) -> str:
    unknown = unknown_variables(text)
    if not unknown:
        return ""
    names = ", ".join("{{ " + name + " }}" for name in unknown)
    noun = "variable" if len(unknown) == 1 else "variables"
    return f"Unknown {noun} {names}: use the variables listed under the body, such as {{{{ release.name }}}}."


def _phase_of(release: Release, value) -> Phase | None:
    if value in (None, ""):
        return None
    phase_id = value.pk if isinstance(value, Phase) else value
    try:
        return Phase.objects.filter(release=release, pk=int(phase_id)).first()
    except (TypeError, ValueError):
        return None


def _audiences_of(value) -> list[Audience]:
    ids = [a.pk if isinstance(a, Audience) else a for a in (value or [])]
    try:
        ids = [int(i) for i in ids]
    except (TypeError, ValueError):
        return []
    return list(Audience.objects.filter(pk__in=ids).order_by("name"))


def clean_message(release: Release, fields: dict, *, current: Message | None = None) -> tuple[dict, dict]:
    """The fields of a message as they will be stored, and the errors keyed by field.

    Pure apart from reading phases and audiences: the preview calls it too, to say what
    would stop the message from being saved.
    """
    errors: dict[str, list[str]] = {}

    def error(field: str, text: str) -> None:
        errors.setdefault(field, []).append(text)

    data = {
        "name": (fields.get("name") or "").strip(),
        "channel": fields.get("channel") or Channel.EMAIL,
        "webhook_url": (fields.get("webhook_url") or "").strip(),
        "subject": (fields.get("subject") or "").strip(),
        "body": fields.get("body") or "",
        "trigger": fields.get("trigger") or Trigger.AT_TIME,
        "send_at": fields.get("send_at"),
        "phase": _phase_of(release, fields.get("phase")),
        "offset_minutes": fields.get("offset_minutes") or 0,
    }
    audiences = _audiences_of(fields.get("audiences"))

    if not data["name"]:
        error("name", "Name the message, e.g. “Heads-up to support”.")
    elif len(data["name"]) > 120:
        error("name", "Keep the name under 120 characters.")
    if not data["subject"]:
        error("subject", "Write a subject.")
    elif len(data["subject"]) > 200:
        error("subject", "Keep the subject under 200 characters.")
    elif problem := _variables_error(data["subject"]):
        error("subject", problem)
    if not data["body"].strip():
        error("body", "Write the message.")
    elif problem := _variables_error(data["body"]):
        error("body", problem)

    if data["channel"] not in Channel.values:
        error("channel", "Choose email or chat webhook.")
    elif data["channel"] == Channel.EMAIL:
        data["webhook_url"] = ""
        if not audiences:
            error("audiences", "Choose at least one audience to email.")
    else:
        audiences = []  # a chat webhook posts to one channel, whoever is in it
        if not data["webhook_url"]:
            error("webhook_url", "Give the chat webhook's URL.")
        else:
            try:
                _url(data["webhook_url"])
            except ValidationError:
                error("webhook_url", "Give an http:// or https:// URL.")
            if len(data["webhook_url"]) > 500:
                error("webhook_url", "Keep the URL under 500 characters.")

    trigger = data["trigger"]
    offset = data["offset_minutes"]
    if trigger not in Trigger.values:
        error("trigger", "Choose when the message goes out.")
    elif trigger != Trigger.AT_TIME:
        if not isinstance(offset, int) or isinstance(offset, bool):
            error("offset_minutes", "Give the offset in whole minutes.")
            offset = 0
        elif abs(offset) > MAX_OFFSET_MINUTES:
            error("offset_minutes", "Keep the offset within 30 days (43200 minutes) either way.")

    if trigger == Trigger.AT_TIME:
        data["phase"], data["offset_minutes"] = None, 0
        send_at = data["send_at"]
        if not isinstance(send_at, datetime):
            error("send_at", "Choose when to send it.")
        elif send_at < timezone.now() and (current is None or current.send_at != send_at):
            # A time in the past would go out the moment it is saved; that is rarely meant.
            error("send_at", "That time has passed. Choose a later one.")
    elif trigger in PHASE_TRIGGERS:
        data["send_at"] = None
        if current is not None and current.kind == MessageKind.SUPPORT_DIGEST:
            pass  # the built-in digest is about whichever phase starts
        elif fields.get("phase") in (None, ""):
            error("phase", "Choose the phase the message is about.")
        elif data["phase"] is None:
            error("phase", "Choose one of this release's phases.")
    elif trigger in EVENT_TRIGGERS:
        data["send_at"], data["phase"] = None, None
        if isinstance(offset, int) and offset < 0:
            error("offset_minutes", "This message cannot go out before the moment it announces; use 0 or a delay.")
    return {**data, "audiences": audiences}, errors


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError({field: [ValidationError(t) for t in texts] for field, texts in errors.items()})


def _apply(message: Message, data: dict) -> None:
    for field in FIELDS:
        if field != "audiences":
            setattr(message, field, data[field])


@transaction.atomic
def message_create(*, actor, release_id: int, **fields) -> Message:
    release = _lock(release_id)
    _require_plannable(release)
    data, errors = clean_message(release, fields)
    _raise(errors)
    plan, _ = CommunicationPlan.objects.get_or_create(release=release)
    message = Message(plan=plan)
    _apply(message, data)
    message.save()
    message.audiences.set(data["audiences"])
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.message_saved", actor=actor, name=message.name, message=message.pk)
    return message


@transaction.atomic
def message_update(*, actor, message_id: int, **fields) -> Message:
    release = _lock(Message.objects.values_list("plan__release_id", flat=True).get(pk=message_id))
    _require_plannable(release)
    message = Message.objects.get(pk=message_id)
    _require_custom(message)
    data, errors = clean_message(release, {**_current_fields(message), **fields}, current=message)
    _raise(errors)
    _apply(message, data)
    message.save()
    message.audiences.set(data["audiences"])
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.message_saved", actor=actor, name=message.name, message=message.pk)
    return message


def _current_fields(message: Message) -> dict:
    """What a partial update leaves as it is."""
    values = {field: getattr(message, field) for field in FIELDS if field != "audiences"}
    values["audiences"] = list(message.audiences.values_list("pk", flat=True))
    return values


def _gates_waiting_for(message: Message):
    return Gate.objects.filter(
        kind=GateKind.COMMS_READY,
        config__message=message.pk,
        phase__status__in=[PhaseStatus.PENDING, PhaseStatus.ACTIVE],
    ).select_related("phase")


@transaction.atomic
def message_delete(*, actor, message_id: int) -> None:
    release = _lock(Message.objects.values_list("plan__release_id", flat=True).get(pk=message_id))
    _require_plannable(release)
    message = Message.objects.get(pk=message_id)
    # Removed, the planner would make it again with new notices: the same digest twice.
    _require_custom(message)
    waiting = list(_gates_waiting_for(message))
    if waiting:
        names = ", ".join(f"“{g.phase.name}”" for g in waiting)
        raise ValidationError(
            f"Phase {names} waits for “{message.name}” before it can advance. Remove that gate first.",
            code="required_by_gate",
        )
    if message.notices.filter(status=Notice.Status.SENDING).exists():
        raise ValidationError(f"“{message.name}” is being sent right now. Try again in a minute.", code="sending")
    sent = message.notices.filter(status=Notice.Status.SENT).count()
    name = message.name
    message.delete()  # its notices go with it; the Event keeps the name and how many had gone out
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.message_removed", actor=actor, name=name, sent=sent)


def _holds_back_forever(message: Message, phase: Phase, phases: list[Phase]) -> str:
    """Why a gate on `phase` waiting for `message` could never open, or ""."""
    if message.trigger in EVENT_TRIGGERS:
        when = message.get_trigger_display().lower()
        return f"“{message.name}” goes out only {when}, which may never happen."
    if message.trigger in PHASE_TRIGGERS and message.phase_id is not None:
        about = next((p for p in phases if p.pk == message.phase_id), None)
        if about is None:
            return ""
        if message.trigger == Trigger.PHASE_END and about.position >= phase.position:
            return f"“{message.name}” goes out when “{about.name}” finishes, so it cannot hold back “{phase.name}”."
        if message.trigger == Trigger.PHASE_START and about.position > phase.position:
            return f"“{message.name}” goes out when “{about.name}” starts, after “{phase.name}”."
    return ""


@transaction.atomic
def message_require_before_phase(*, actor, message_id: int, phase_id) -> Gate:
    """Make a phase wait, through a comms-readiness gate, until the message reached everyone."""
    release = _lock(Message.objects.values_list("plan__release_id", flat=True).get(pk=message_id))
    _require_plannable(release)
    message = Message.objects.get(pk=message_id)
    _require_custom(message)
    phases = list(release.phases.order_by("position", "id"))
    phase = _phase_of(release, phase_id)
    if phase is None:
        raise ValidationError({"phase": "Choose one of this release's phases."})
    if phase.status not in (PhaseStatus.PENDING, PhaseStatus.ACTIVE):
        raise ValidationError({"phase": f"Phase “{phase.name}” is over; choose a phase still to come."})
    if problem := _holds_back_forever(message, phase, phases):
        raise ValidationError({"phase": problem})
    if Gate.objects.filter(phase=phase, kind=GateKind.COMMS_READY, config__message=message.pk).exists():
        raise ValidationError({"phase": f"“{phase.name}” already waits for “{message.name}”."})
    return rollout_services.gate_add(
        phase_id=phase.pk,
        actor=actor,
        name=f"“{message.name}” sent",
        kind=GateKind.COMMS_READY,
        config={"message": message.pk},
    )


@transaction.atomic
def notice_retry(*, actor, notice_id: int) -> Notice:
    """Try a failed notice again, now, unless the release moved on so it no longer applies."""
    notice = Notice.objects.select_related("message__plan__release").get(pk=notice_id)
    release = _lock(notice.message.plan.release_id)
    if notice.status != Notice.Status.FAILED:
        raise ValidationError(f"Only failed notices can be retried; this one is {notice.get_status_display().lower()}.")
    reason = planner._no_longer_applies(release, notice.occurrence)
    if reason:
        raise ValidationError(f"{reason} This notice no longer applies.")
    if not outbox.retry_failed(notice.pk):
        raise ValidationError("Someone else retried this notice already.")
    events.record(
        release=release,
        verb="comms.notice_retried",
        actor=actor,
        name=notice.message.name,
        notice=notice.pk,
        recipient=notice.recipient,
    )
    notice.refresh_from_db()
    return notice
