"""Writes for the support briefing: known issues (anyone with a role) and FAQ entries
(release managers; the views ask the permissions).

Each function locks the release row, validates what it was given, writes, touches the
release (so open release pages refresh) and records an Event on the release timeline in
the same transaction. Validation errors are ValidationError keyed by field, so forms
show them next to the input that caused them. Saving what is already there changes
nothing and records nothing.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from docs_portal.models import FaqEntry, KnownIssue, KnownIssueStatus
from rollouts import events
from rollouts.models import Release

TITLE_MAX = 200
QUESTION_MAX = 300
TEXT_MAX = 20_000
KNOWN_ISSUE_FIELDS = ("title", "description", "workaround", "status")
FAQ_FIELDS = ("question", "answer")


def _lock(release_id: int) -> Release:
    return Release.objects.select_for_update().get(pk=release_id)


def _touch(release: Release) -> None:
    release.save(update_fields=["updated_at"])


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError({name: ValidationError(text) for name, text in errors.items()})


def _clean_text(value) -> str:
    # Line endings as browsers send them (\r\n) would make an unchanged text look changed.
    return (value or "").replace("\r\n", "\n").strip()


def clean_known_issue(fields: dict) -> tuple[dict, dict[str, str]]:
    data = {
        "title": " ".join((fields.get("title") or "").split()),
        "description": _clean_text(fields.get("description")),
        "workaround": _clean_text(fields.get("workaround")),
        "status": fields.get("status") or KnownIssueStatus.INVESTIGATING,
    }
    errors = {}
    if not data["title"]:
        errors["title"] = "Give the issue a short title, e.g. “Saved cards missing at checkout”."
    elif len(data["title"]) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters; put the details in the description."
    for name in ("description", "workaround"):
        if len(data[name]) > TEXT_MAX:
            errors[name] = f"Keep this under {TEXT_MAX:,} characters."
    if data["status"] not in KnownIssueStatus.values:
        errors["status"] = "Choose one of the statuses listed."
    elif data["status"] == KnownIssueStatus.WORKAROUND and not data["workaround"] and "workaround" not in errors:
        errors["workaround"] = "Describe the workaround support can offer, or choose another status."
    return data, errors


@transaction.atomic
def known_issue_create(*, actor, release_id: int, **fields) -> KnownIssue:
    release = _lock(release_id)
    data, errors = clean_known_issue(fields)
    _raise(errors)
    issue = KnownIssue.objects.create(release=release, created_by=actor, updated_by=actor, **data)
    _touch(release)
    events.record(
        release=release,
        verb="known_issue.added",
        actor=actor,
        issue=issue.pk,
        title=issue.title,
        status=issue.status,
        status_label=issue.get_status_display(),
    )
    return issue


@transaction.atomic
def known_issue_update(*, actor, issue_id: int, **fields) -> KnownIssue:
    """Fields left out stay as they are."""
    release = _lock(KnownIssue.objects.values_list("release_id", flat=True).get(pk=issue_id))
    issue = KnownIssue.objects.get(pk=issue_id)
    current = {name: getattr(issue, name) for name in KNOWN_ISSUE_FIELDS}
    data, errors = clean_known_issue({**current, **{k: v for k, v in fields.items() if k in KNOWN_ISSUE_FIELDS}})
    _raise(errors)
    changed = [name for name in KNOWN_ISSUE_FIELDS if data[name] != current[name]]
    if not changed:
        return issue
    for name in changed:
        setattr(issue, name, data[name])
    issue.updated_by = actor
    issue.save(update_fields=[*changed, "updated_by", "updated_at"])
    _touch(release)
    events.record(
        release=release,
        verb="known_issue.updated",
        actor=actor,
        issue=issue.pk,
        title=issue.title,
        status=issue.status,
        status_label=issue.get_status_display(),
        changed=changed,
        previous_status=current["status"] if "status" in changed else None,
    )
    return issue


def clean_faq(fields: dict) -> tuple[dict, dict[str, str]]:
    data = {
        "question": " ".join((fields.get("question") or "").split()),
        "answer": _clean_text(fields.get("answer")),
    }
    errors = {}
    if not data["question"]:
        errors["question"] = "Write the question as support hears it, e.g. “Why did my saved card disappear?”."
    elif len(data["question"]) > QUESTION_MAX:
        errors["question"] = f"Keep the question under {QUESTION_MAX} characters."
    if not data["answer"]:
        errors["answer"] = "Write the answer support can give."
    elif len(data["answer"]) > TEXT_MAX:
        errors["answer"] = f"Keep the answer under {TEXT_MAX:,} characters."
    return data, errors


@transaction.atomic
def faq_create(*, actor, release_id: int, **fields) -> FaqEntry:
    release = _lock(release_id)
    data, errors = clean_faq(fields)
    _raise(errors)
    last = FaqEntry.objects.filter(release=release).aggregate(m=Max("position"))["m"]
    entry = FaqEntry.objects.create(release=release, position=0 if last is None else last + 1, updated_by=actor, **data)
    _touch(release)
    events.record(release=release, verb="faq.added", actor=actor, entry=entry.pk, question=entry.question)
    return entry


@transaction.atomic
def faq_update(*, actor, entry_id: int, **fields) -> FaqEntry:
    release = _lock(FaqEntry.objects.values_list("release_id", flat=True).get(pk=entry_id))
    entry = FaqEntry.objects.get(pk=entry_id)
    current = {name: getattr(entry, name) for name in FAQ_FIELDS}
    data, errors = clean_faq({**current, **{k: v for k, v in fields.items() if k in FAQ_FIELDS}})
    _raise(errors)
    changed = [name for name in FAQ_FIELDS if data[name] != current[name]]
    if not changed:
        return entry
    for name in changed:
        setattr(entry, name, data[name])
    entry.updated_by = actor
    entry.save(update_fields=[*changed, "updated_by", "updated_at"])
    _touch(release)
    events.record(release=release, verb="faq.updated", actor=actor, entry=entry.pk, question=entry.question)
    return entry


@transaction.atomic
def faq_delete(*, actor, entry_id: int) -> None:
    release_id = FaqEntry.objects.filter(pk=entry_id).values_list("release_id", flat=True).first()
    if release_id is None:
        return  # removed already: running it twice is harmless
    release = _lock(release_id)
    entry = FaqEntry.objects.filter(pk=entry_id).first()
    if entry is None:
        return
    question = entry.question
    entry.delete()
    _touch(release)
    events.record(release=release, verb="faq.removed", actor=actor, question=question)
