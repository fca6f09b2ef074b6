"""The comms-readiness gate: a phase waits until a named message went to all its recipients."""

from comms.models import Message, Notice


def message_sent_to_all(gate) -> tuple[bool, dict]:
    message_id = (gate.config or {}).get("message")
    message = Message.objects.filter(pk=message_id).first() if message_id else None
    if message is None:
        return False, {"waiting": "The gate names no message of this release's plan."}
    counts = dict.fromkeys(Notice.Status.values, 0)
    for status in Notice.objects.filter(message=message).values_list("status", flat=True):
        counts[status] += 1
    outstanding = counts["pending"] + counts["sending"] + counts["failed"]
    if counts["sent"] and not outstanding:
        return True, {"message": message.pk, "sent": counts["sent"]}
    return False, {"message": message.pk, **counts}
