from django import template

register = template.Library()

EVENT_LABELS = {
    "release.created": "planned the release",
    "release.scheduled": "scheduled the release",
    "release.unscheduled": "moved the release back to draft",
    "release.started": "started the release",
    "release.paused": "paused the release",
    "release.resumed": "resumed the release",
    "release.completed": "completed the release",
    "release.cancelled": "cancelled the release",
    "phase.advanced": "advanced the release",
    "gate.approved": "approved",
    "gate.rejected": "rejected",
    "gate.passed": "cleared the gate",
    "gate.reopened": "reopened",
    "gate.failed": "saw a gate fail:",
    "gate.token_issued": "issued a new pipeline token for",
    "gate.token_revoked": "revoked the pipeline token of",
    "release.degraded": "marked the release degraded",
    "rollback.step_failed": "could not run rollback step",
    "plan.freeze_added": "added a freeze window",
    "plan.freeze_removed": "removed a freeze window",
    "plan.hours_added": "added allowed hours",
    "plan.message_saved": "saved the message",
    "plan.message_removed": "removed the message",
    "comms.notice_retried": "asked to send again",
    "plan.hours_removed": "removed allowed hours",
    "checklist.ticked": "ticked",
    "checklist.unticked": "unticked",
    "rollback.started": "started a rollback",
    "rollback.step_done": "finished rollback step",
    "rollback.completed": "finished the rollback",
    "plan.release_edited": "edited the release details",
    "plan.phase_added": "added a phase",
    "plan.phase_edited": "edited a phase",
    "plan.phase_removed": "removed a phase",
    "plan.phase_moved": "reordered phases",
    "plan.gate_added": "added a gate",
    "plan.gate_removed": "removed a gate",
    "plan.rollback_step_added": "added a rollback step",
    "plan.rollback_step_edited": "edited a rollback step",
    "plan.rollback_step_removed": "removed a rollback step",
    "plan.rollback_step_moved": "reordered the rollback plan",
    "flag.created": "created a feature flag that follows this release",
    "flag.edited": "edited a feature flag of this release",
    "flag.linked": "linked a feature flag to this release",
    "flag.unlinked": "unlinked a feature flag from this release",
    "flag.killed": "turned a feature flag off with its kill switch",
    "flag.restored": "turned a feature flag's kill switch off",
    "flag.targeting_changed": "changed the segments a phase targets",
    "flag.segment_edited": "edited a segment a phase targets",
    "flag.segment_removed": "removed a segment a phase targeted",
    "doc.published": "published the doc page",
    "doc.unpublished": "unpublished the doc page",
    "doc.linked": "linked the doc page",
    "doc.unlinked": "unlinked the doc page",
    "doc.deleted": "deleted the doc page",
    "doc.release_notes_saved": "edited the release notes",
    "known_issue.added": "added a known issue",
    "known_issue.updated": "updated a known issue",
    "faq.added": "added a briefing question",
    "faq.updated": "edited a briefing question",
    "faq.removed": "removed a briefing question",
}


@register.filter
def event_label(verb: str) -> str:
    return EVENT_LABELS.get(verb, verb.replace(".", " ").replace("_", " "))


@register.filter
def event_detail(event) -> str:
    data = event.data or {}
    if event.verb == "phase.advanced":
        return f"from “{data.get('from_phase')}” to “{data.get('to_phase')}” ({data.get('exposure')}%)"
    if event.verb == "release.started":
        return f"“{event.phase.name}” at {data.get('exposure')}%" if event.phase else ""
    if event.verb in ("gate.approved",):
        return f"“{event.gate.name if event.gate else '?'}” ({data.get('approvals')}/{data.get('required')} approvals)"
    if event.verb.startswith("gate.") and event.gate:
        return f"“{event.gate.name}”"
    if event.verb in ("plan.freeze_added", "plan.freeze_removed"):
        return f"“{data.get('name')}”"
    if event.verb in ("plan.message_saved", "plan.message_removed"):
        return f"“{data.get('name')}”"
    if event.verb.startswith("flag.") and data.get("flag"):
        return f"“{data['flag']}”"
    if event.verb.startswith("flag.segment_") and data.get("segment"):
        return f"“{data['segment']}”"
    if event.verb == "comms.notice_retried":
        return f"“{data.get('name')}” to {data.get('recipient')}"
    if event.verb in ("plan.hours_added", "plan.hours_removed"):
        return data.get("hours", "")
    if event.verb == "gate.passed" and data.get("verdict"):
        value = data.get("value")
        return f"“{event.gate.name if event.gate else '?'}” (last measurement {value})"
    if event.verb.startswith("checklist."):
        return f"“{data.get('item')}”"
    if event.verb in ("plan.phase_added", "plan.phase_removed"):
        return f"“{data.get('name')}”"
    if event.verb in ("plan.phase_edited", "plan.phase_moved") and event.phase:
        return f"“{event.phase.name}”"
    if event.verb == "plan.gate_removed":
        return f"“{data.get('name')}”"
    if event.verb == "plan.gate_added" and event.gate:
        return f"“{event.gate.name}”"
    if event.verb.startswith("plan.rollback_step") or event.verb in ("rollback.step_done", "rollback.step_failed"):
        return f"“{data.get('title') or data.get('step')}”"
    return ""


@register.filter(name="markdown")
def markdown_filter(text: str):
    from django.utils.safestring import mark_safe

    from rollouts.markdown import render_markdown

    return mark_safe(render_markdown(text))  # noqa: S308 - sanitised by nh3 in render_markdown


@register.filter
def hours_label(rule) -> str:
    from rollouts.schedule import describe_hours

    return describe_hours(rule)
