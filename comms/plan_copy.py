"""The communication plan's part of release templates and of the release dossier.

Registered in comms/apps.py with rollouts/plan_registry.py (rollouts never imports comms).
A template keeps each written message (never the built-in support digest, never notices;
a stored template drops chat webhook URLs, so those messages are left out when applied),
its audiences by name, its phase by index in the plan and a fixed send time as minutes
from the release's planned start; and the comms-readiness gates that wait for it.
"""

from collections import defaultdict
from datetime import timedelta

from django.core.exceptions import ValidationError

from comms import plan_services
from comms.models import Audience, Channel, Message, MessageKind, Notice, Trigger
from rollouts import services as rollout_services
from rollouts.models import Gate, GateKind, Release


def _minutes_from(base, when):
    if base is None or when is None:
        return None
    return int((when - base).total_seconds() // 60)


def capture(release: Release) -> dict:
    phase_index = {pk: i for i, pk in enumerate(release.phases.order_by("position", "id").values_list("pk", flat=True))}
    messages = list(
        Message.objects.filter(plan__release=release, kind=MessageKind.CUSTOM)
        .prefetch_related("audiences")
        .order_by("created_at", "id")
    )
    waits = defaultdict(list)
    gates = Gate.objects.filter(phase__release=release, kind=GateKind.COMMS_READY).order_by("phase__position", "id")
    for gate in gates:
        waits[(gate.config or {}).get("message")].append(
            {"phase": phase_index.get(gate.phase_id), "name": gate.name, "required": gate.required}
        )
    return {
        "messages": [
            {
                "name": m.name,
                "audiences": sorted(a.name for a in m.audiences.all()),
                "channel": m.channel,
                "webhook_url": m.webhook_url,
                "subject": m.subject,
                "body": m.body,
                "trigger": m.trigger,
                "send_at_offset_minutes": _minutes_from(release.planned_start, m.send_at),
                "phase": phase_index.get(m.phase_id),
                "offset_minutes": m.offset_minutes,
                "waited_for_by": waits.get(m.pk, []),
            }
            for m in messages
        ]
    }


def _fail(text: str):
    raise ValidationError({"template": [text]})


def apply(release: Release, data: dict, actor) -> list[str]:
    messages = data.get("messages", [])
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        _fail("The communication plan in this template is not a list of messages.")
    phases = list(release.phases.order_by("position", "id"))
    names = {n for m in messages for n in (m.get("audiences") or []) if isinstance(n, str)}
    audiences = dict(Audience.objects.filter(name__in=names).values_list("name", "pk"))

    def phase_at(index):
        if index is None:
            return None
        if not isinstance(index, int) or not 0 <= index < len(phases):
            _fail("A message in this template names a phase the plan does not have.")
        return phases[index]

    notes = []
    for m in messages:
        label = f"Message “{m.get('name', '')}”"
        if m.get("channel") == Channel.WEBHOOK and not m.get("webhook_url"):
            notes.append(
                f"Chat message “{m.get('name', '')}” was not copied: templates do not keep webhook URLs, which hold "
                "a secret. Add it again on the communication plan."
            )
            continue
        send_at = None
        if m.get("trigger") == Trigger.AT_TIME:
            offset = m.get("send_at_offset_minutes")
            if release.planned_start is None or offset is None:
                _fail(f"{label} goes out at a time relative to the planned start: give the release a planned start.")
            send_at = release.planned_start + timedelta(minutes=offset)
        phase = phase_at(m.get("phase"))
        try:
            message = plan_services.message_create(
                actor=actor,
                release_id=release.pk,
                name=m.get("name"),
                audiences=[audiences[n] for n in m.get("audiences") or [] if n in audiences],
                channel=m.get("channel"),
                webhook_url=m.get("webhook_url", ""),
                subject=m.get("subject"),
                body=m.get("body"),
                trigger=m.get("trigger"),
                send_at=send_at,
                phase=phase.pk if phase else None,
                offset_minutes=m.get("offset_minutes", 0),
            )
        except ValidationError as exc:
            _fail(f"{label}: {' '.join(exc.messages)}")
        for wait in m.get("waited_for_by") or []:
            gate_phase = phase_at(wait.get("phase"))
            if gate_phase is None:
                continue
            rollout_services.gate_add(
                phase_id=gate_phase.pk,
                actor=actor,
                name=wait.get("name") or f"“{message.name}” sent",
                kind=GateKind.COMMS_READY,
                required=bool(wait.get("required", True)),
                config={"message": message.pk},
            )
    return notes


def dossier_section(release: Release) -> dict:
    """Every message with its notice counts and recipients (three queries)."""
    messages = list(
        Message.objects.filter(plan__release=release)
        .select_related("phase")
        .prefetch_related("audiences")
        .order_by("created_at", "id")
    )
    notices = defaultdict(list)
    rows = Notice.objects.filter(message__plan__release=release).order_by("sent_at", "due_at", "id")
    for n in rows.values("message_id", "recipient", "occurrence", "status", "due_at", "sent_at", "attempts"):
        notices[n["message_id"]].append(n)
    out = []
    for m in messages:
        rows = notices.get(m.pk, [])
        counts = dict.fromkeys(Notice.Status.values, 0)
        for n in rows:
            counts[n["status"]] += 1
        out.append(
            {
                "name": m.name,
                "kind": m.kind,
                "channel": m.channel,
                "audiences": sorted(a.name for a in m.audiences.all()),
                "subject": m.subject,
                "trigger": m.get_trigger_display(),
                "phase": m.phase.name if m.phase else None,
                "offset_minutes": m.offset_minutes,
                "send_at": m.send_at.isoformat() if m.send_at else None,
                "counts": counts,
                "recipients": [
                    {
                        "recipient": n["recipient"],
                        "occurrence": n["occurrence"],
                        "status": n["status"],
                        "attempts": n["attempts"],
                        "due_at": n["due_at"].isoformat() if n["due_at"] else None,
                        "sent_at": n["sent_at"].isoformat() if n["sent_at"] else None,
                    }
                    for n in rows
                ],
            }
        )
    return {"messages": out}


def register() -> None:
    from rollouts import plan_registry

    plan_registry.register(
        "comms", capture=capture, apply=apply, gate_kinds=[GateKind.COMMS_READY], dossier=dossier_section
    )
