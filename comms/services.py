"""Writes for comms: audiences, stakeholders and what they chose to receive.

Validation errors are ValidationError keyed by field, so forms show them next to the
input that caused them. A stakeholder's opt-out belongs to the stakeholder: release
managers add and remove memberships, but only the stakeholder (through their signed
link) turns a subscription back on.
"""

import csv
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from comms.models import Audience, Membership, Message, MessageKind, Notice, Stakeholder
from rollouts.models import FINISHED_STATUSES

log = logging.getLogger("comms.services")

# --- Audiences and stakeholders ---------------------------------------------------------

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 200
AUDIENCE_NAME_MAX_LENGTH = 120
IMPORT_MAX_BYTES = 2 * 1024 * 1024
IMPORT_MAX_ROWS = 20_000
IMPORT_CHUNK = 500


def normalize_email(email: str) -> str:
    """Trimmed, with the domain lower-cased; the local part is kept as typed."""
    email = (email or "").strip()
    local, at, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}" if at else email


def _text_problem(value: str, label: str, max_length: int) -> str:
    if len(value) > max_length:
        return f"{label} is longer than {max_length} characters."
    if CONTROL_CHARACTERS.search(value):
        return f"{label} contains a line break or another control character."
    return ""


def _email_problem(email: str) -> str:
    if not email:
        return "Missing email."
    if len(email) > EMAIL_MAX_LENGTH:
        return f"Email is longer than {EMAIL_MAX_LENGTH} characters."
    try:
        validate_email(email)
    except ValidationError:
        return f"Not a valid email address: “{email}”."
    return ""


def _check_audience(name: str, description: str, *, exclude_id: int | None = None) -> None:
    errors = {}
    problem = "Give the audience a name." if not name else _text_problem(name, "Name", AUDIENCE_NAME_MAX_LENGTH)
    if not problem:
        same = Audience.objects.filter(name__iexact=name)
        if exclude_id is not None:
            same = same.exclude(pk=exclude_id)
        if same.exists():
            problem = "An audience with this name exists."
    if problem:
        errors["name"] = problem
    problem = _text_problem(description, "Description", 300)
    if problem:
        errors["description"] = problem
    if errors:
        raise ValidationError(errors, code="invalid")


def _check_stakeholder(email: str, name: str, organisation: str, *, exclude_id: int | None = None) -> None:
    errors = {}
    problem = _email_problem(email)
    if not problem:
        same = Stakeholder.objects.filter(email__iexact=email)
        if exclude_id is not None:
            same = same.exclude(pk=exclude_id)
        if same.exists():
            problem = "A stakeholder with this email exists."
    if problem:
        errors["email"] = problem
    for key, value, label in (("name", name, "Name"), ("organisation", organisation, "Organisation")):
        problem = _text_problem(value, label, NAME_MAX_LENGTH)
        if problem:
            errors[key] = problem
    if errors:
        raise ValidationError(errors, code="invalid")


def _replan_for(audience_ids) -> None:
    """Who is in an audience changed: the releases that write to it plan their notices again
    (a new member gets what is still to come; one who left or opted out, nothing more)."""
    ids = list(audience_ids)
    if not ids:
        return

    def replan():
        from comms import planner, tasks

        for release_id in planner.releases_to_replan_for_audiences(ids):
            tasks.plan_release.delay(release_id)

    transaction.on_commit(replan)


def _audience_ids(audiences: Iterable) -> set[int]:
    return {a.pk if isinstance(a, Audience) else int(a) for a in audiences}


def _existing_audience_ids(ids: set[int]) -> set[int]:
    found = set(Audience.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    if found != ids:
        raise ValidationError({"audiences": "One of the chosen audiences no longer exists."}, code="gone")
    return found


def _replan_digests() -> None:
    """Which audiences get the support digest changed: every running release's digest
    follows (see comms.planner.sync_support_digest)."""

    def replan():
        from comms import planner, tasks

        for release_id in planner.releases_in_flight():
            tasks.plan_release.delay(release_id)

    transaction.on_commit(replan)


@transaction.atomic
def audience_create(*, actor, name: str, description: str = "", support_digest: bool = False) -> Audience:
    name, description = name.strip(), description.strip()
    _check_audience(name, description)
    try:
        with transaction.atomic():
            audience = Audience.objects.create(name=name, description=description, support_digest=support_digest)
    except IntegrityError:
        raise ValidationError({"name": "An audience with this name exists."}, code="unique") from None
    if support_digest:
        _replan_digests()
    log.info("comms.audience_created audience=%s actor=%s", audience.pk, getattr(actor, "pk", None))
    return audience


@transaction.atomic
def audience_update(
    *, audience_id: int, actor, name: str, description: str = "", support_digest: bool | None = None
) -> Audience:
    """`support_digest` None leaves the flag as it is."""
    audience = Audience.objects.select_for_update().get(pk=audience_id)
    name, description = name.strip(), description.strip()
    digest = audience.support_digest if support_digest is None else support_digest
    if (audience.name, audience.description, audience.support_digest) == (name, description, digest):
        return audience
    _check_audience(name, description, exclude_id=audience.pk)
    digest_changed = audience.support_digest != digest
    audience.name, audience.description, audience.support_digest = name, description, digest
    try:
        with transaction.atomic():
            audience.save(update_fields=["name", "description", "support_digest"])
    except IntegrityError:
        raise ValidationError({"name": "An audience with this name exists."}, code="unique") from None
    if digest_changed:
        _replan_digests()
    log.info("comms.audience_updated audience=%s actor=%s", audience.pk, getattr(actor, "pk", None))
    return audience


@transaction.atomic
def audience_delete(*, audience_id: int, actor) -> None:
    """Refused while a message of an unfinished release is addressed to it: that message
    would silently lose its recipients."""
    audience = Audience.objects.select_for_update().filter(pk=audience_id).first()
    if audience is None:
        return
    in_use = list(
        Message.objects.filter(audiences=audience, kind=MessageKind.CUSTOM)
        .exclude(plan__release__status__in=FINISHED_STATUSES)
        .select_related("plan__release")
        .order_by("plan__release__name", "name")[:4]
    )
    if in_use:
        names = ", ".join(f"“{m.name}” ({m.plan.release})" for m in in_use[:3])
        more = " and more" if len(in_use) > 3 else ""
        raise ValidationError(
            f"Messages of releases still running are addressed to “{audience.name}”: {names}{more}. "
            "Remove the audience from them first.",
            code="in_use",
        )
    audience.delete()
    if audience.support_digest:
        _replan_digests()
    log.info("comms.audience_deleted audience=%s actor=%s", audience_id, getattr(actor, "pk", None))


@transaction.atomic
def stakeholder_create(
    *, actor, email: str, name: str = "", organisation: str = "", audience_ids: Iterable = ()
) -> Stakeholder:
    email, name, organisation = normalize_email(email), name.strip(), organisation.strip()
    _check_stakeholder(email, name, organisation)
    wanted = _existing_audience_ids(_audience_ids(audience_ids))
    try:
        with transaction.atomic():
            stakeholder = Stakeholder.objects.create(email=email, name=name, organisation=organisation)
    except IntegrityError:
        raise ValidationError({"email": "A stakeholder with this email exists."}, code="unique") from None
    Membership.objects.bulk_create([Membership(stakeholder=stakeholder, audience_id=a) for a in sorted(wanted)])
    _replan_for(wanted)
    log.info("comms.stakeholder_created stakeholder=%s actor=%s", stakeholder.pk, getattr(actor, "pk", None))
    return stakeholder


@transaction.atomic
def stakeholder_update(
    *, stakeholder_id: int, actor, email: str, name: str = "", organisation: str = "", audience_ids=None
) -> Stakeholder:
    """Edit the details; with audience_ids, set the audiences too (see stakeholder_set_audiences)."""
    stakeholder = Stakeholder.objects.select_for_update().get(pk=stakeholder_id)
    email, name, organisation = normalize_email(email), name.strip(), organisation.strip()
    if (stakeholder.email, stakeholder.name, stakeholder.organisation) != (email, name, organisation):
        _check_stakeholder(email, name, organisation, exclude_id=stakeholder.pk)
        stakeholder.email, stakeholder.name, stakeholder.organisation = email, name, organisation
        try:
            with transaction.atomic():
                stakeholder.save(update_fields=["email", "name", "organisation"])
        except IntegrityError:
            raise ValidationError({"email": "A stakeholder with this email exists."}, code="unique") from None
        log.info("comms.stakeholder_updated stakeholder=%s actor=%s", stakeholder.pk, getattr(actor, "pk", None))
    if audience_ids is not None:
        stakeholder_set_audiences(stakeholder_id=stakeholder.pk, actor=actor, audience_ids=audience_ids)
    return stakeholder


@transaction.atomic
def stakeholder_set_audiences(*, stakeholder_id: int, actor, audience_ids: Iterable) -> Stakeholder:
    """Make the stakeholder a member of exactly these audiences, except that a membership
    the stakeholder unsubscribed from is kept, still unsubscribed: removing and adding it
    again must not sign them back up."""
    stakeholder = Stakeholder.objects.select_for_update().get(pk=stakeholder_id)
    wanted = _existing_audience_ids(_audience_ids(audience_ids))
    current = {m.audience_id: m for m in Membership.objects.filter(stakeholder=stakeholder)}
    drop = [m.pk for a, m in current.items() if a not in wanted and m.unsubscribed_at is None]
    add = sorted(wanted - current.keys())
    if drop:
        Membership.objects.filter(pk__in=drop).delete()
    if add:
        Membership.objects.bulk_create([Membership(stakeholder=stakeholder, audience_id=a) for a in add])
    if drop or add:
        _replan_for(set(add) | {a for a, m in current.items() if m.pk in drop})
        log.info(
            "comms.stakeholder_audiences_set stakeholder=%s added=%s removed=%s actor=%s",
            stakeholder.pk,
            add,
            len(drop),
            getattr(actor, "pk", None),
        )
    return stakeholder


@transaction.atomic
def stakeholder_delete(*, stakeholder_id: int, actor) -> bool:
    """Forget a stakeholder: they asked to be, or left. False when they were gone already.

    Their memberships go, and every notice of theirs not sent (pending, sending, failed,
    cancelled) is deleted with them by the foreign key's cascade, so nothing more is sent
    or retried. Notices already sent stay, for the plan's counts and the comms-ready
    gates, but without the person: no stakeholder, and the address replaced by
    "removed-<id>" (one per person, so (message, recipient, occurrence) stays unique).
    """
    stakeholder = Stakeholder.objects.select_for_update().filter(pk=stakeholder_id).first()
    if stakeholder is None:
        return False
    kept = Notice.objects.filter(stakeholder=stakeholder, status=Notice.Status.SENT).update(
        stakeholder=None, recipient=f"removed-{stakeholder.pk}"
    )
    # No replan: the notices it would cancel are gone, and the planner finds no one new.
    stakeholder.delete()
    log.info(
        "comms.stakeholder_deleted stakeholder=%s sent_kept=%s actor=%s",
        stakeholder_id,
        kept,
        getattr(actor, "pk", None),
    )
    return True


def stakeholder_unsubscribe_all(stakeholder_id: int, source: str) -> bool:
    """Stop everything for this stakeholder. True when this call opted them out; False when
    they already were (or no longer exist): unsubscribing twice is harmless."""
    changed = Stakeholder.objects.filter(pk=stakeholder_id, opted_out_at__isnull=True).update(
        opted_out_at=timezone.now()
    )
    if changed:
        log.info("comms.stakeholder_opted_out stakeholder=%s source=%s", stakeholder_id, source)
        _replan_for(Membership.objects.filter(stakeholder_id=stakeholder_id).values_list("audience_id", flat=True))
    return bool(changed)


@transaction.atomic
def stakeholder_set_preferences(stakeholder_id: int, audience_ids: Iterable, *, source: str = "preferences") -> bool:
    """The stakeholder's own choice among the audiences they belong to.

    Ticking at least one audience subscribes to exactly those (and lifts a full opt-out);
    ticking none opts out of everything, audiences added later included. Returns whether
    the stakeholder now receives anything.
    """
    stakeholder = Stakeholder.objects.select_for_update().get(pk=stakeholder_id)
    wanted = _audience_ids(audience_ids)
    memberships = Membership.objects.filter(stakeholder=stakeholder)
    member_of = set(memberships.values_list("audience_id", flat=True))
    if wanted - member_of:
        raise ValidationError({"audiences": "Choose among the lists you are on."}, code="invalid_choice")
    if not wanted:
        stakeholder_unsubscribe_all(stakeholder.pk, source)
        return False
    now = timezone.now()
    memberships.filter(audience_id__in=wanted, unsubscribed_at__isnull=False).update(unsubscribed_at=None)
    memberships.exclude(audience_id__in=wanted).filter(unsubscribed_at__isnull=True).update(unsubscribed_at=now)
    if stakeholder.opted_out_at is not None:
        Stakeholder.objects.filter(pk=stakeholder.pk).update(opted_out_at=None)
        log.info("comms.stakeholder_resubscribed stakeholder=%s source=%s", stakeholder.pk, source)
    log.info("comms.stakeholder_preferences_set stakeholder=%s audiences=%s", stakeholder.pk, sorted(wanted))
    _replan_for(member_of)
    return True


# CSV import -------------------------------------------------------------------------


COLUMN_ALIASES = {
    "email": "email",
    "e-mail": "email",
    "email address": "email",
    "name": "name",
    "organisation": "organisation",
    "organization": "organisation",
    "audiences": "audiences",
    "audience": "audiences",
}
EXAMPLE_CSV = (
    "email,name,organisation,audiences\n"
    "ana@example.com,Ana Lima,Acme Ltd,Customers\n"
    "ben@example.com,Ben Okafor,Acme Ltd,Support;Technical support\n"
    "cleo@example.org,,,\n"
)


@dataclass
class ImportRowError:
    line: int
    email: str
    reasons: list[str]

    @property
    def reason(self) -> str:
        return " ".join(self.reasons)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    still_opted_out: int = 0
    errors: list[ImportRowError] = field(default_factory=list)
    audiences_created: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Good rows: new, updated or already up to date."""
        return self.created + self.updated + self.unchanged


@dataclass
class _Row:
    line: int
    email: str
    name: str
    organisation: str
    audiences: list[str]
    reasons: list[str]


def _file_error(message: str) -> ValidationError:
    return ValidationError({"file": message}, code="unreadable")


def _read_text(file) -> str:
    """The file as text, or a ValidationError saying in one sentence why it cannot be read."""
    size = getattr(file, "size", None)
    if size is not None and size > IMPORT_MAX_BYTES:
        raise _file_error("The file is larger than 2 MB. Split it into smaller files.")
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read(IMPORT_MAX_BYTES + 1) if hasattr(file, "read") else file
    if isinstance(data, str):
        data = data.encode()
    if len(data) > IMPORT_MAX_BYTES:
        raise _file_error("The file is larger than 2 MB. Split it into smaller files.")
    if not data.strip():
        raise _file_error("The file is empty.")
    if b"\x00" in data:
        raise _file_error(
            "This is not a CSV text file (it holds binary data, as a spreadsheet or a UTF-16 file does). "
            "Save it as “CSV UTF-8” and upload that."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_error(
            f"The file is not UTF-8 text (byte {exc.start + 1} cannot be read). "
            "Save it as “CSV UTF-8” (in Excel: File → Save As → CSV UTF-8) and upload that."
        ) from None


def _delimiter(text: str) -> str:
    """Comma, unless the header line is plainly separated by semicolons or tabs (as some
    spreadsheet locales export)."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    if "," in first:
        return ","
    for candidate in (";", "\t"):
        if candidate in first:
            return candidate
    return ","


def _parse(text: str) -> tuple[dict[str, int], int, list[str], list[tuple[int, list[str]]]]:
    """Header column positions, header width, ignored column names, and (line, cells) rows."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    try:
        last_line = 0
        for cells in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = cells
                continue
            rows.append((line, cells))
            if len(rows) > IMPORT_MAX_ROWS:
                raise _file_error(f"The file has more than {IMPORT_MAX_ROWS:,} rows. Split it into smaller files.")
    except csv.Error as exc:
        raise _file_error(f"The file is not readable as CSV (line {reader.line_num}: {exc}).") from None
    if header is None:
        raise _file_error("The file is empty.")
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for i, raw in enumerate(header):
        name = COLUMN_ALIASES.get(raw.strip().lower())
        if name is None:
            if raw.strip():
                ignored.append(raw.strip())
            continue
        if name in columns:
            raise _file_error(f"The header names the column “{name}” twice.")
        columns[name] = i
    if "email" not in columns:
        if any("@" in cell for cell in header):
            raise _file_error(
                "The first row looks like data, not a header. Add a header row naming the columns: "
                "email,name,organisation,audiences."
            )
        raise _file_error(
            "The header has no “email” column. The first row must name the columns, such as "
            "email,name,organisation,audiences."
        )
    if not rows:
        raise _file_error("The file has a header but no rows to import.")
    return columns, len(header), ignored, rows


def _split_audiences(cell: str) -> list[str]:
    names: dict[str, str] = {}
    for part in cell.split(";"):
        part = part.strip()
        if part and part.lower() not in names:
            names[part.lower()] = part
    return list(names.values())


def _check_rows(columns: dict[str, int], width: int, raw_rows: list[tuple[int, list[str]]]) -> list[_Row]:
    """Everything that can be said about a row without the database."""
    seen: dict[str, int] = {}
    rows = []
    for line, cells in raw_rows:
        reasons = []
        if len(cells) < width:
            reasons.append(
                f"Missing column: the row has {len(cells)} value{'s' if len(cells) != 1 else ''} but the header "
                f"has {width}. Keep empty values as empty (,,) rather than leaving them out."
            )
        elif len(cells) > width and any(c.strip() for c in cells[width:]):
            reasons.append(
                f"Too many values: {len(cells)} for {width} columns. Put values that contain a comma in double quotes."
            )

        def value(name: str, cells=cells) -> str:
            i = columns.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        email = normalize_email(value("email"))
        problem = _email_problem(email)
        if problem:
            reasons.append(problem)
        if email:
            first = seen.setdefault(email.lower(), line)
            if first != line:
                reasons.insert(0, f"Duplicate: the same email is on line {first}.")
        name, organisation = value("name"), value("organisation")
        for text, label in ((name, "Name"), (organisation, "Organisation")):
            problem = _text_problem(text, label, NAME_MAX_LENGTH)
            if problem:
                reasons.append(problem)
        rows.append(_Row(line, email, name, organisation, _split_audiences(value("audiences")), reasons))
    return rows


def stakeholders_import_csv(
    file, *, actor, default_audiences: Iterable = (), create_missing_audiences: bool = False
) -> ImportReport:
    """Import stakeholders from a CSV upload: columns email (required), name, organisation,
    audiences (names separated by semicolons).

    Good rows are imported in one transaction: a new email creates a stakeholder, a known
    one (compared case-insensitively) gets the non-empty name and organisation of the row
    and the row's audiences added; memberships are never removed and opt-outs stay. Bad
    rows are listed in the report with their line and reasons. A file that cannot be read
    as a whole raises ValidationError({"file": ...}) and imports nothing.
    """
    text = _read_text(file)
    columns, width, ignored, raw_rows = _parse(text)
    rows = _check_rows(columns, width, raw_rows)
    report = ImportReport(ignored_columns=ignored)
    defaults = _audience_ids(default_audiences)

    with transaction.atomic():
        _existing_audience_ids(defaults)
        by_name = _resolve_audiences(rows, create_missing_audiences, report)
        good = [r for r in rows if not r.reasons]
        if good:
            _write(good, by_name, defaults, report)
            _replan_for(set(by_name.values()) | set(defaults))
        report.errors = [ImportRowError(r.line, r.email, r.reasons) for r in rows if r.reasons]
    log.info(
        "comms.stakeholders_imported created=%s updated=%s unchanged=%s bad_rows=%s actor=%s",
        report.created,
        report.updated,
        report.unchanged,
        len(report.errors),
        getattr(actor, "pk", None),
    )
    return report


def _resolve_audiences(rows: list[_Row], create_missing: bool, report: ImportReport) -> dict[str, int]:
    """Audience ids by lower-cased name; unknown names become row errors, or audiences."""
    wanted = {n.lower() for r in rows if not r.reasons for n in r.audiences}
    by_name: dict[str, int] = {}
    for chunk in _chunks(sorted(wanted)):
        by_name.update(
            Audience.objects.annotate(lname=Lower("name")).filter(lname__in=chunk).values_list("lname", "pk")
        )
    for row in rows:
        if row.reasons:
            continue
        for name in row.audiences:
            if name.lower() in by_name:
                continue
            problem = _text_problem(name, "Audience name", AUDIENCE_NAME_MAX_LENGTH)
            if problem:
                row.reasons.append(problem)
            elif not create_missing:
                row.reasons.append(f"Unknown audience “{name}”. Create it first, or tick “create missing audiences”.")
    # Only audiences a good row needs are created.
    to_create: dict[str, str] = {}
    for row in rows:
        for name in row.audiences if not row.reasons else ():
            if name.lower() not in by_name:
                to_create.setdefault(name.lower(), name)
    if to_create:
        Audience.objects.bulk_create([Audience(name=n) for n in to_create.values()], ignore_conflicts=True)
        for chunk in _chunks(sorted(to_create)):
            by_name.update(
                Audience.objects.annotate(lname=Lower("name")).filter(lname__in=chunk).values_list("lname", "pk")
            )
        report.audiences_created = sorted(to_create.values(), key=str.lower)
    return by_name


def _write(good: list[_Row], by_name: dict[str, int], defaults: set[int], report: ImportReport) -> None:
    existing = _stakeholders_by_email([r.email.lower() for r in good])
    new = [r for r in good if r.email.lower() not in existing]
    Stakeholder.objects.bulk_create(
        [Stakeholder(email=r.email, name=r.name, organisation=r.organisation) for r in new],
        batch_size=IMPORT_CHUNK,
        ignore_conflicts=True,  # someone else added one meanwhile: it is then updated below
    )
    created = _stakeholders_by_email([r.email.lower() for r in new])
    ids = [s.pk for s in existing.values()]
    member: set[tuple[int, int]] = set()
    for chunk in _chunks(ids):
        member.update(Membership.objects.filter(stakeholder_id__in=chunk).values_list("stakeholder_id", "audience_id"))

    changed: list[Stakeholder] = []
    memberships: list[Membership] = []
    for row in good:
        key = row.email.lower()
        stakeholder = existing.get(key) or created[key]
        is_new = key not in existing
        wanted = {by_name[n.lower()] for n in row.audiences} | defaults
        missing = sorted(a for a in wanted if (stakeholder.pk, a) not in member)
        memberships += [Membership(stakeholder_id=stakeholder.pk, audience_id=a) for a in missing]
        member.update((stakeholder.pk, a) for a in missing)
        details_changed = False
        if not is_new:
            for attr in ("name", "organisation"):
                value = getattr(row, attr)
                if value and value != getattr(stakeholder, attr):
                    setattr(stakeholder, attr, value)
                    details_changed = True
            if details_changed:
                changed.append(stakeholder)
            if stakeholder.opted_out_at is not None:
                report.still_opted_out += 1
        if is_new:
            report.created += 1
        elif details_changed or missing:
            report.updated += 1
        else:
            report.unchanged += 1
    if changed:
        Stakeholder.objects.bulk_update(changed, ["name", "organisation"], batch_size=IMPORT_CHUNK)
    Membership.objects.bulk_create(memberships, batch_size=IMPORT_CHUNK, ignore_conflicts=True)


def _stakeholders_by_email(lower_emails: list[str]) -> dict[str, Stakeholder]:
    found: dict[str, Stakeholder] = {}
    for chunk in _chunks(lower_emails):
        for s in Stakeholder.objects.annotate(lemail=Lower("email")).filter(lemail__in=chunk):
            found[s.lemail] = s
    return found


def _chunks(items: list, size: int = IMPORT_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]
