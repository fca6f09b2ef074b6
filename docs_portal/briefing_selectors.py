"""Reads for the support briefing and its index, each in a fixed number of queries.

The briefing is composed from the release, its phases and gates, the rollback plan and
run, the latest timeline events, known issues, FAQ entries and the linked docs the reader
may read. Its version token moves whenever anything it shows changes, so the page polls
cheaply (one query) and swaps itself only when there is something new.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Case, Count, DateTimeField, IntegerField, Max, OuterRef, Prefetch, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from docs_portal.models import OPEN_KNOWN_ISSUE_STATUSES, DocLink, DocStatus, FaqEntry, KnownIssue, Visibility
from docs_portal.permissions import readable_visibilities
from flags import selectors as flags_selectors
from rollouts.models import (
    Environment,
    Event,
    Gate,
    GateDecision,
    Phase,
    PhaseStatus,
    Release,
    ReleaseStatus,
    RollbackRun,
    RollbackRunStep,
    RollbackStep,
)

TIMELINE_LIMIT = 30
INDEX_LIMIT = 200
IN_FLIGHT = (ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED, ReleaseStatus.ROLLING_BACK)
NOT_STARTED = (ReleaseStatus.DRAFT, ReleaseStatus.SCHEDULED)
# Releases whose current phase is in front of users (a rollback is taking it away again).
EXPOSED = (*IN_FLIGHT, ReleaseStatus.COMPLETED)
ENVIRONMENT_ORDER = [Environment.STAGING, Environment.BETA, Environment.PRODUCTION]


def _latest(model, field_name: str, relation: str = "release"):
    rows = model.objects.filter(**{relation: OuterRef("pk")}).order_by().values(relation)
    return Subquery(rows.annotate(m=Max(field_name)).values("m"))


def _count(model, relation: str = "release"):
    rows = model.objects.filter(**{relation: OuterRef("pk")}).order_by().values(relation)
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), Value(0))


def _version_annotations() -> dict:
    """What the briefing shows changes when one of these moves. Transitions and plan edits
    save the release; known issue and FAQ edits write Events; admin edits move updated_at;
    a deletion changes a count."""
    return {
        "last_event_id": _latest(Event, "id"),
        "last_event_at": _latest(Event, "created_at"),
        "issues_at": _latest(KnownIssue, "updated_at"),
        "issues_n": _count(KnownIssue),
        "faq_at": _latest(FaqEntry, "updated_at"),
        "faq_n": _count(FaqEntry),
        "docs_at": _latest(DocLink, "page__updated_at"),
        "docs_n": _count(DocLink),
    }


VERSION_FIELDS = ("updated_at", "last_event_id", "issues_at", "issues_n", "faq_at", "faq_n", "docs_at", "docs_n")


def _version(values) -> str:
    raw = "|".join(str(v) for v in values)
    return "b:" + hashlib.sha1(raw.encode()).hexdigest()[:16]  # noqa: S324 - a change token, not a secret


def briefing_version(slug: str) -> str | None:
    """The briefing's change token, in one query; None when there is no such release."""
    row = Release.objects.filter(slug=slug).annotate(**_version_annotations()).values_list(*VERSION_FIELDS).first()
    return None if row is None else _version(row)


def doc_url(slug: str) -> str:
    try:
        return reverse("docs:page", args=[slug])
    except NoReverseMatch:
        return f"/docs/{slug}/"


@dataclass
class Contact:
    name: str
    email: str
    roles: list[str] = field(default_factory=list)


@dataclass
class Briefing:
    release: Release
    version: str
    last_updated: datetime
    phases: list
    current_phase: Phase | None
    current_exposure: int
    environments: list[str]
    headline: str
    rollback_steps: list
    rollback_run: RollbackRun | None
    events: list
    more_events: bool
    known_issues: list
    open_issues: int
    faq: list
    docs: list
    contacts: list[Contact]
    # The release's feature flags and where each is on now (flags/selectors.py, no query).
    flags: list = field(default_factory=list)


def _display_name(user) -> str:
    return user.get_full_name() or user.get_username()


def _contacts(release: Release, phases: list, steps: list) -> list[Contact]:
    """Whom support can ask: the owner, the people who decided gates, rollback step owners."""
    by_user: dict[int, Contact] = {}

    def add(user, role: str) -> None:
        if user is None:
            return
        contact = by_user.setdefault(user.pk, Contact(name=_display_name(user), email=user.email))
        if role not in contact.roles:
            contact.roles.append(role)

    add(release.owner, "Release owner")
    for phase in phases:
        for gate in phase.gate_list:
            for decision in gate.decision_list:
                verb = "Approved" if decision.decision == GateDecision.Decision.APPROVE else "Rejected"
                add(decision.user, f"{verb} “{gate.name}”")
            if gate.decided_by_id and not gate.decision_list:
                add(gate.decided_by, f"Decided “{gate.name}”")
    for step in steps:
        add(step.owner, f"Rollback step “{step.title}”")
    return list(by_user.values())


def _headline(release: Release, current: Phase | None, exposure: int, environments: list[str]) -> str:
    where = ", ".join(environments)
    status = release.status
    if status == ReleaseStatus.IN_PROGRESS and current is not None:
        return f"Live for {exposure}% in {where}, phase “{current.name}”."
    if status == ReleaseStatus.PAUSED and current is not None:
        return f"Paused at {exposure}% in {where}, phase “{current.name}”: nothing moves until it resumes."
    if status == ReleaseStatus.ROLLING_BACK:
        return f"Being rolled back: it reached {exposure}% in {where} and is being taken away."
    if status == ReleaseStatus.COMPLETED:
        return f"Done: {exposure}% have it in {where}." if where else f"Done: {exposure}% have it."
    if status == ReleaseStatus.ROLLED_BACK:
        return "Rolled back: nobody has it."
    if status == ReleaseStatus.CANCELLED:
        return "Cancelled: nobody has it."
    if release.planned_start:
        when = timezone.localtime(release.planned_start).strftime("%b %-d, %Y %H:%M %Z")
        return f"Not started: nobody has it yet. Planned to start {when}."
    return "Not started: nobody has it yet."


def _event_detail(event: Event) -> str:
    """What the timeline says after the label for the briefing's own verbs."""
    data = event.data or {}
    if event.verb.startswith("known_issue."):
        title = f"“{data.get('title', '')}”"
        status = data.get("status_label")
        return f"{title} ({status})" if status else title
    if event.verb.startswith("faq."):
        return f"“{data.get('question', '')}”"
    return ""


def _redact_unreadable_docs(events: list, docs: list, user) -> None:
    """Doc events carry the page's title as their reason: keep it only where the reader may
    read that page (a linked page shown on this briefing, or any page for those who may
    read internal ones)."""
    if Visibility.INTERNAL in readable_visibilities(user):
        return
    readable = {page.pk for page in docs}
    for event in events:
        if event.verb.startswith("doc.") and (event.data or {}).get("page") not in readable:
            event.reason = ""


def briefing(*, slug: str, user, now: datetime | None = None) -> Briefing | None:
    """Everything the briefing shows: 10 queries, 11 with a rollback run, however many
    phases, gates, events, known issues or FAQ entries there are."""
    now = now or timezone.now()
    release = (
        Release.objects.select_related("owner", "current_phase")
        .annotate(**_version_annotations())
        .prefetch_related(
            Prefetch(
                "phases",
                queryset=Phase.objects.order_by("position", "id").prefetch_related(
                    Prefetch(
                        "gates",
                        queryset=Gate.objects.order_by("position", "id")
                        .select_related("decided_by")
                        .prefetch_related(
                            Prefetch(
                                "decisions",
                                queryset=GateDecision.objects.select_related("user").order_by("created_at", "id"),
                                to_attr="decision_list",
                            )
                        ),
                        to_attr="gate_list",
                    )
                ),
                to_attr="phase_list",
            ),
            Prefetch("rollback_steps", queryset=RollbackStep.objects.select_related("owner"), to_attr="step_list"),
        )
        .filter(slug=slug)
        .first()
    )
    if release is None:
        return None
    phases = release.phase_list
    for i, phase in enumerate(phases):
        phase.number = i + 1
        phase.is_current = phase.pk == release.current_phase_id
        for gate in phase.gate_list:
            gate.approval_count = sum(1 for d in gate.decision_list if d.decision == GateDecision.Decision.APPROVE)

    current = release.current_phase
    exposure = current.exposure_percent if current is not None and release.status in EXPOSED else 0
    reached = {p.environment for p in phases if p.status in (PhaseStatus.ACTIVE, PhaseStatus.PASSED)}
    if release.status not in EXPOSED:
        reached = set()
    environments = [Environment(e).label for e in ENVIRONMENT_ORDER if e in reached]

    run = (
        RollbackRun.objects.filter(release=release).select_related("started_by").order_by("-started_at", "-id").first()
    )
    if run is not None:
        run.step_list = list(RollbackRunStep.objects.filter(run=run).select_related("owner", "done_by"))
        run.steps_done = sum(1 for s in run.step_list if s.done_at)
        run.steps_total = len(run.step_list)
        run.progress_percent = round(100 * run.steps_done / run.steps_total) if run.steps_total else 100
        run.expected_minutes_left = sum(s.expected_minutes for s in run.step_list if not s.done_at)

    events = list(
        Event.objects.filter(release=release)
        .select_related("actor", "phase", "gate")
        .order_by("-created_at", "-id")[: TIMELINE_LIMIT + 1]
    )
    more_events = len(events) > TIMELINE_LIMIT
    events = events[:TIMELINE_LIMIT]
    for event in events:
        event.briefing_detail = _event_detail(event)

    issues = list(
        KnownIssue.objects.filter(release=release)
        .select_related("created_by", "updated_by")
        .annotate(
            closed=Case(When(status__in=OPEN_KNOWN_ISSUE_STATUSES, then=Value(0)), default=Value(1)),
        )
        .order_by("closed", "-created_at", "-id")
    )
    for issue in issues:
        # auto_now and auto_now_add differ by a hair on creation
        issue.was_updated = issue.updated_at - issue.created_at > timedelta(seconds=1)
    faq = list(FaqEntry.objects.filter(release=release).order_by("position", "id"))
    docs = []
    seen = set()
    for link in (
        DocLink.objects.filter(
            release=release,
            page__status=DocStatus.PUBLISHED,
            page__visibility__in=readable_visibilities(user),
        )
        .select_related("page", "phase")
        .order_by("page__title", "page_id", "id")
    ):
        if link.page_id in seen:
            continue
        seen.add(link.page_id)
        link.page.url = doc_url(link.page.slug)
        link.page.linked_phase = link.phase
        docs.append(link.page)

    _redact_unreadable_docs(events, docs, user)

    changed = [release.updated_at, release.last_event_at, release.issues_at, release.faq_at]
    return Briefing(
        release=release,
        version=_version([getattr(release, name) for name in VERSION_FIELDS]),
        last_updated=max(t for t in changed if t is not None),
        phases=phases,
        current_phase=current if release.status in EXPOSED else None,
        current_exposure=exposure,
        environments=environments,
        headline=_headline(release, current, exposure, environments),
        rollback_steps=release.step_list,
        rollback_run=run,
        events=events,
        more_events=more_events,
        known_issues=issues,
        open_issues=sum(1 for i in issues if i.is_open),
        faq=faq,
        docs=docs,
        contacts=_contacts(release, phases, release.step_list),
        flags=flags_selectors.briefing_flags(release.slug),
    )


# --- Index ----------------------------------------------------------------------------


@dataclass
class BriefingIndex:
    in_flight: list
    starting: list
    week_start: datetime
    week_end: datetime

    @property
    def week_last_day(self) -> datetime:
        return self.week_end - timedelta(days=1)


def this_week(now: datetime) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00, on the site's clock."""
    local = timezone.localtime(now)
    start = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=7)


def briefing_index(*, now: datetime | None = None) -> BriefingIndex:
    """Releases in flight and those planned to start this week, with their exposure now and
    their open known issues: one query."""
    now = now or timezone.now()
    week_start, week_end = this_week(now)
    open_issues = (
        KnownIssue.objects.filter(release=OuterRef("pk"), status__in=OPEN_KNOWN_ISSUE_STATUSES)
        .order_by()
        .values("release")
        .annotate(n=Count("pk"))
        .values("n")
    )
    releases = list(
        Release.objects.filter(
            Q(status__in=IN_FLIGHT)
            | Q(status__in=NOT_STARTED, planned_start__gte=week_start, planned_start__lt=week_end)
        )
        .select_related("owner", "current_phase")
        .annotate(
            open_issues=Coalesce(Subquery(open_issues, output_field=IntegerField()), Value(0)),
            last_event_at=Subquery(
                Event.objects.filter(release=OuterRef("pk")).order_by("-created_at", "-id").values("created_at")[:1],
                output_field=DateTimeField(),
            ),
        )
        .defer("summary")
        .order_by("planned_start", "-updated_at", "id")[:INDEX_LIMIT]
    )
    in_flight, starting = [], []
    for release in releases:
        phase = release.current_phase
        release.current_exposure = phase.exposure_percent if phase is not None and release.status in IN_FLIGHT else 0
        (in_flight if release.status in IN_FLIGHT else starting).append(release)
    in_flight.sort(key=lambda r: (IN_FLIGHT.index(r.status), -(r.last_event_at or r.updated_at).timestamp()))
    return BriefingIndex(in_flight=in_flight, starting=starting, week_start=week_start, week_end=week_end)
