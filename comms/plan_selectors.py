"""Reads for the communication plan and the outbox, each in a fixed number of queries.

When each message goes out comes from planner.occurrences, the same pure function the
planner uses to make notices, so the plan shows the right times even before the planner
has run, and reading the plan never writes.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Max, Q
from django.utils import dateformat, timezone

from comms import outbox, plan_services, planner, render
from comms.models import Audience, Channel, CommunicationPlan, Message, Notice, Stakeholder, Trigger
from rollouts import charts
from rollouts.models import Gate, GateKind, Phase, PhaseStatus, Release

PLAN_EVENT_VERBS = ["release.paused", "rollback.started", "release.completed"]
OUTBOX_PER_PAGE = 50
OUTBOX_SUMMARY_LIMIT = 20

# Notice status → the badge colour the release pages already use for the same mood.
STATUS_BADGE = {
    Notice.Status.PENDING: "status-paused",
    Notice.Status.SENDING: "status-in_progress",
    Notice.Status.SENT: "status-completed",
    Notice.Status.FAILED: "status-rolled_back",
    Notice.Status.CANCELLED: "status-cancelled",
}

EVENT_MOMENTS = {
    Trigger.ON_PAUSE: "the release pauses",
    Trigger.ON_ROLLBACK: "a rollback starts",
    Trigger.ON_COMPLETION: "the release completes",
}


def local(value: datetime | None) -> str:
    return dateformat.format(timezone.localtime(value), "M j, Y H:i T") if value else ""


def offset_words(minutes: int) -> str:
    days, rest = divmod(abs(minutes), 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} h")
    if mins:
        parts.append(f"{mins} min")
    return " ".join(parts)


def trigger_text(message: Message, phases_by_id: dict[int, Phase]) -> str:
    """“1 h before “Beta” starts”, “When the release pauses”, “At Mar 3, 2025 14:00 UTC”."""
    if message.trigger == Trigger.AT_TIME:
        return f"At {local(message.send_at)}" if message.send_at else "At a fixed time (not set)"
    if message.trigger in (Trigger.PHASE_START, Trigger.PHASE_END):
        phase = phases_by_id.get(message.phase_id)
        verb = "starts" if message.trigger == Trigger.PHASE_START else "finishes"
        moment = f"“{phase.name}” {verb}" if phase else f"its phase {verb}"
    else:
        moment = EVENT_MOMENTS[message.trigger]
    offset = message.offset_minutes
    if offset == 0:
        return f"When {moment}"
    return f"{offset_words(offset)} {'before' if offset < 0 else 'after'} {moment}"


@dataclass
class Counts:
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    due_now: int = 0  # pending and due: waiting for the next outbox tick

    @property
    def total(self) -> int:
        """Every notice that is meant to go out: cancelled ones are not."""
        return self.pending + self.sending + self.sent + self.failed

    @property
    def progress_percent(self) -> int:
        return round(100 * self.sent / self.total) if self.total else 0

    @property
    def going_out(self) -> bool:
        return bool(self.sending or self.due_now)


@dataclass
class MessageRow:
    message: Message
    audiences: list[Audience]
    trigger_text: str
    recipients: int
    occurrences: list[planner.Occurrence]
    upcoming: list[planner.Occurrence]
    counts: Counts
    gates: list[Gate]
    hold_reason: str = ""

    @property
    def next_due(self) -> datetime | None:
        times = [o.due_at for o in self.upcoming if o.due_at is not None]
        return min(times) if times else None

    @property
    def on_hold(self) -> bool:
        return any(o.due_at is None for o in self.upcoming)


@dataclass
class TimelineEntry:
    when: datetime | None  # None: on hold until the release resumes
    kind: str  # "phase" or "message"
    title: str
    detail: str
    past: bool
    message_id: int | None = None


@dataclass
class PlanPage:
    release: Release
    rows: list[MessageRow]
    phases: list[Phase]
    timeline: list[TimelineEntry]
    now: datetime
    requirable_phases: list[Phase] = field(default_factory=list)
    notices_chart: charts.BarChart | None = None

    @property
    def going_out(self) -> bool:
        return any(row.counts.going_out for row in self.rows)


def release_for_plan(slug: str) -> Release | None:
    return Release.objects.select_related("current_phase").filter(slug=slug).first()


def _counts_by_message(notices, now) -> dict[int, Counts]:
    """Delivery counts of many messages in one aggregate query."""
    counts: dict[int, Counts] = {}
    rows = (
        notices.order_by()
        .values("message_id", "status")
        .annotate(n=Count("id"), due=Count("id", filter=Q(due_at__lte=now)))
    )
    for row in rows:
        c = counts.setdefault(row["message_id"], Counts())
        setattr(c, row["status"], row["n"])
        if row["status"] == Notice.Status.PENDING:
            c.due_now = row["due"]
    return counts


def plan_page(release: Release, *, now: datetime | None = None) -> PlanPage:
    """The plan of a release: its messages, when each goes out, and how far each has got.

    Seven queries however many messages, audiences and notices there are.
    """
    now = now or timezone.now()
    reachable = Q(
        audiences__memberships__unsubscribed_at__isnull=True,
        audiences__memberships__stakeholder__opted_out_at__isnull=True,
    )
    messages = list(
        Message.objects.filter(plan__release=release)
        .select_related("phase")
        .prefetch_related("audiences")
        .annotate(people=Count("audiences__memberships__stakeholder", filter=reachable, distinct=True))
        .order_by("created_at", "id")
    )
    phases = list(release.phases.order_by("position", "id"))
    events = list(release.events.filter(verb__in=PLAN_EVENT_VERBS).order_by("id"))
    counts = _counts_by_message(Notice.objects.filter(message__plan__release=release), now)
    gates: dict[int, list[Gate]] = {}
    for gate in Gate.objects.filter(phase__release=release, kind=GateKind.COMMS_READY).select_related("phase"):
        gates.setdefault((gate.config or {}).get("message"), []).append(gate)

    phases_by_id = {p.pk: p for p in phases}
    rows = []
    for message in messages:
        occurrences = planner.occurrences(message, release, phases, events)
        upcoming = [o for o in occurrences if o.due_at is None or o.due_at >= now]
        people = message.people if message.channel == Channel.EMAIL else int(bool(message.webhook_url))
        rows.append(
            MessageRow(
                message=message,
                audiences=list(message.audiences.all()),
                trigger_text=trigger_text(message, phases_by_id),
                recipients=people,
                occurrences=occurrences,
                upcoming=upcoming,
                counts=counts.get(message.pk, Counts()),
                gates=gates.get(message.pk, []),
                hold_reason=next((hold_reason(release, o) for o in upcoming if o.due_at is None), ""),
            )
        )
    return PlanPage(
        release=release,
        rows=rows,
        phases=phases,
        timeline=_timeline(rows, phases, now, release),
        now=now,
        requirable_phases=[p for p in phases if p.status in (PhaseStatus.PENDING, PhaseStatus.ACTIVE)],
        notices_chart=notices_chart(rows),
    )


def notices_chart(rows: list[MessageRow]) -> charts.BarChart | None:
    """Notices per message from the counts the plan already has (no query): sending ones
    count as pending, they have not reached anyone yet."""
    return charts.notices_chart(
        [
            (
                row.message.name,
                {
                    "sent": row.counts.sent,
                    "failed": row.counts.failed,
                    "pending": row.counts.pending + row.counts.sending,
                },
            )
            for row in rows
        ]
    )


def hold_reason(release, occurrence) -> str:
    """Why an occurrence has no due time yet, in words."""
    if release.status == "paused":
        return "on hold while the release is paused"
    phase = occurrence.phase
    if phase is not None and phase.planned_start is None:
        return f"waits for “{phase.name}” to start (it has no planned start)"
    return "waits for its moment"


def _timeline(rows: list[MessageRow], phases: list[Phase], now: datetime, release) -> list[TimelineEntry]:
    """The release's phase starts and the plan's notices, in the order they happen."""
    entries = []
    for phase in phases:
        if phase.status == PhaseStatus.SKIPPED:
            continue
        when = phase.started_at or phase.planned_start
        if when is None:
            continue
        detail = "started" if phase.started_at else "planned start"
        entries.append(
            TimelineEntry(
                when=when,
                kind="phase",
                title=f"“{phase.name}” starts",
                detail=f"{detail} · {phase.exposure_percent}% exposure",
                past=when < now,
            )
        )
    for row in rows:
        people = row.recipients
        to = f"{people} recipient{'s' if people != 1 else ''}"
        if row.message.channel == Channel.WEBHOOK:
            to = "the chat webhook"
        for occurrence in row.occurrences:
            entries.append(
                TimelineEntry(
                    when=occurrence.due_at,
                    kind="message",
                    title=row.message.name,
                    detail=f"to {to}" if occurrence.due_at else f"to {to} · {hold_reason(release, occurrence)}",
                    past=occurrence.due_at is not None and occurrence.due_at < now,
                    message_id=row.message.pk,
                )
            )
    far = datetime.max.replace(tzinfo=now.tzinfo)
    entries.sort(key=lambda e: (e.when is None, e.when or far, e.kind != "phase"))
    return entries


# --- Outbox ---------------------------------------------------------------------------


ORDERS = {"due": "Due first", "newest": "Newest first"}


@dataclass
class OutboxFilters:
    release: str = ""
    audience: int | None = None
    state: str = ""
    order: str = "due"

    @classmethod
    def from_query(cls, params) -> "OutboxFilters":
        """Read filters from a querystring; anything unknown is ignored, not an error."""
        state = params.get("state", "")
        if state not in Notice.Status.values:
            state = ""
        try:
            audience = int(params.get("audience", "")) or None
        except ValueError:
            audience = None
        order = params.get("order", "")
        if order not in ORDERS:
            # Waiting notices read best soonest-first; finished ones latest-first.
            order = "newest" if state in (Notice.Status.SENT, Notice.Status.FAILED, Notice.Status.CANCELLED) else "due"
        return cls(release=params.get("release", "")[:80], audience=audience, state=state, order=order)

    def querystring(self, **changes) -> str:
        values = {
            "release": self.release,
            "audience": self.audience or "",
            "state": self.state,
            "order": self.order,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass
class MessageSummary:
    message_id: int
    name: str
    release_name: str
    release_version: str
    release_slug: str
    counts: Counts


@dataclass
class OutboxPage:
    filters: OutboxFilters
    page: Page
    summaries: list[MessageSummary]
    releases: list[Release]
    audiences: list[Audience]
    now: datetime

    @property
    def going_out(self) -> bool:
        return any(s.counts.going_out for s in self.summaries)


def _filtered(filters: OutboxFilters):
    notices = Notice.objects.all()
    if filters.release:
        notices = notices.filter(message__plan__release__slug=filters.release)
    if filters.audience:
        notices = notices.filter(message__audiences=filters.audience)
    return notices


def outbox_page(filters: OutboxFilters, *, page_number=1, now: datetime | None = None) -> OutboxPage:
    """Five queries: the filter choices, the page and its count, and the per-message counts."""
    now = now or timezone.now()
    notices = _filtered(filters)
    listed = notices.filter(status=filters.state) if filters.state else notices
    if filters.order == "newest":
        listed = listed.order_by("-created_at", "-id")
    else:
        listed = listed.order_by(F("due_at").asc(nulls_last=True), "id")
    listed = listed.select_related("message__plan__release", "stakeholder").defer(
        "message__body", "message__plan__release__summary"
    )
    page = Paginator(listed, OUTBOX_PER_PAGE).get_page(page_number)
    for notice in page.object_list:
        notice.badge = STATUS_BADGE[notice.status]

    summaries = []
    rows = (
        notices.order_by()
        .values(
            "message_id",
            "message__name",
            "message__plan__release__name",
            "message__plan__release__version",
            "message__plan__release__slug",
        )
        .annotate(
            latest=Max("created_at"),
            **{
                status: Count("id", filter=Q(status=status))
                for status in ("pending", "sending", "sent", "failed", "cancelled")
            },
            due_now=Count("id", filter=Q(status=Notice.Status.PENDING, due_at__lte=now)),
        )
        .order_by("-latest", "-message_id")[:OUTBOX_SUMMARY_LIMIT]
    )
    for row in rows:
        summaries.append(
            MessageSummary(
                message_id=row["message_id"],
                name=row["message__name"],
                release_name=row["message__plan__release__name"],
                release_version=row["message__plan__release__version"],
                release_slug=row["message__plan__release__slug"],
                counts=Counts(
                    pending=row["pending"],
                    sending=row["sending"],
                    sent=row["sent"],
                    failed=row["failed"],
                    cancelled=row["cancelled"],
                    due_now=row["due_now"],
                ),
            )
        )
    releases = list(
        Release.objects.filter(comms_plan__isnull=False).only("slug", "name", "version").order_by("name", "version")
    )
    audiences = list(Audience.objects.only("id", "name").order_by("name"))
    return OutboxPage(filters=filters, page=page, summaries=summaries, releases=releases, audiences=audiences, now=now)


# --- Preview --------------------------------------------------------------------------


@dataclass
class Preview:
    """A message as it would be sent now, to one sample recipient."""

    channel: str
    subject: str
    text: str
    html: str
    to: str
    from_email: str
    headers: list[tuple[str, str]]
    webhook_url: str
    webhook_body: str
    sample: Stakeholder | None
    recipients: int
    due: list[planner.Occurrence]
    problems: list[str]


def _masked(url: str) -> str:
    """Incoming-webhook URLs carry their secret in the path; the preview names only the host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.scheme and parts.netloc else ""


def _reachable_stakeholders(audiences):
    return (
        Stakeholder.objects.filter(
            opted_out_at__isnull=True,
            memberships__audience__in=audiences,
            memberships__unsubscribed_at__isnull=True,
        )
        .distinct()
        .order_by("id")
    )


def message_preview(release: Release, fields: dict, *, current: Message | None = None, problems=()) -> Preview:
    """Render a message from form values, without saving anything, exactly as the outbox
    would build it for the first recipient (or a placeholder when there is nobody yet).

    The sample recipient's links carry a token for no one, so clicking around the preview
    cannot unsubscribe a real person.
    """
    data, errors = plan_services.clean_message(release, fields, current=current)
    plan = getattr(current, "plan", None) or CommunicationPlan(release=release)
    message = Message(
        plan=plan,
        name=data["name"],
        channel=data["channel"] if data["channel"] in Channel.values else Channel.EMAIL,
        webhook_url=data["webhook_url"],
        subject=data["subject"],
        body=data["body"],
        trigger=data["trigger"] if data["trigger"] in Trigger.values else Trigger.AT_TIME,
        send_at=data["send_at"],
        phase=data["phase"],
        offset_minutes=data["offset_minutes"] if isinstance(data["offset_minutes"], int) else 0,
        created_at=current.created_at if current else timezone.now(),
    )
    phases = list(release.phases.order_by("position", "id"))
    events = list(release.events.filter(verb__in=PLAN_EVENT_VERBS).order_by("id"))
    due = planner.occurrences(message, release, phases, events)
    all_problems = list(problems) + [text for texts in errors.values() for text in texts]

    if message.channel == Channel.WEBHOOK:
        rendered = render.render(message, release)
        return Preview(
            channel=message.channel,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            to="",
            from_email="",
            headers=[("Content-Type", "application/json")],
            webhook_url=_masked(message.webhook_url),
            webhook_body=json.dumps({"text": f"*{rendered.subject}*\n{rendered.text}"}, indent=2, ensure_ascii=False),
            sample=None,
            recipients=1 if message.webhook_url else 0,
            due=due,
            problems=all_problems,
        )

    people = _reachable_stakeholders(data["audiences"]) if data["audiences"] else Stakeholder.objects.none()
    sample = people.first()
    recipients = people.count() if sample else 0
    stand_in = Stakeholder(
        pk=0,
        email=sample.email if sample else "recipient@example.com",
        name=sample.name if sample else "Sample Recipient",
    )
    email = outbox.build_email(Notice(message=message, stakeholder=stand_in, recipient=stand_in.email.lower()))
    shown = ("List-Unsubscribe", "List-Unsubscribe-Post")
    return Preview(
        channel=message.channel,
        subject=email.subject,
        text=email.body,
        html=email.alternatives[0][0] if email.alternatives else "",
        to=", ".join(email.to),
        from_email=email.from_email,
        headers=[(name, email.extra_headers[name]) for name in shown if name in email.extra_headers],
        webhook_url="",
        webhook_body="",
        sample=sample,
        recipients=recipients,
        due=due,
        problems=all_problems,
    )
