"""Read queries for pages and the API. Each returns data in a fixed number of queries."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from rollouts import charts, gate_checks, home_registry
from rollouts.models import (
    FINISHED_STATUSES,
    AllowedHours,
    ChecklistItem,
    FreezeWindow,
    Gate,
    GateDecision,
    GateKind,
    GateMeasurement,
    GateStatus,
    Phase,
    PhaseStatus,
    Release,
    ReleaseStatus,
    RollbackRun,
    RollbackRunStep,
    RollbackStep,
    Strategy,
)
from rollouts.rules import phase_blockers
from rollouts.schedule import automation_block

DASHBOARD_ORDER = [
    ReleaseStatus.IN_PROGRESS,
    ReleaseStatus.PAUSED,
    ReleaseStatus.ROLLING_BACK,
    ReleaseStatus.SCHEDULED,
    ReleaseStatus.DRAFT,
    ReleaseStatus.COMPLETED,
    ReleaseStatus.ROLLED_BACK,
    ReleaseStatus.CANCELLED,
]


def _count_subquery(model, condition: Q | None = None):
    qs = model.objects.filter(release=OuterRef("pk"))
    if condition is not None:
        qs = qs.filter(condition)
    return Coalesce(
        Subquery(qs.order_by().values("release").annotate(n=Count("pk")).values("n"), output_field=IntegerField()),
        Value(0),
    )


def with_progress(queryset):
    """Annotate phases_total and phases_done; both subqueries, so no GROUP BY on releases."""
    return queryset.annotate(
        phases_total=_count_subquery(Phase),
        phases_done=_count_subquery(Phase, Q(status=PhaseStatus.PASSED)),
    )


def _decorate_progress(release: Release) -> Release:
    total = release.phases_total or 0
    done = release.phases_done or 0
    release.progress_percent = round(100 * done / total) if total else 0
    phase = release.current_phase
    if release.status in (ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED) and phase is not None:
        release.current_exposure = phase.exposure_percent
    elif release.status == ReleaseStatus.COMPLETED and phase is not None:
        release.current_exposure = phase.exposure_percent
        release.progress_percent = 100
    else:
        release.current_exposure = 0
    release.next_gate = None
    if phase is not None and release.status in (ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED):
        open_gates = [g for g in phase.gates.all() if not g.is_cleared]
        open_gates.sort(key=lambda g: (not g.required, g.position, g.pk))
        release.next_gate = open_gates[0] if open_gates else None
    return release


@dataclass
class StatusGroup:
    status: str
    label: str
    count: int
    releases: list = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.releases)


def dashboard_groups(*, limit: int, filters: "HomeFilters | None" = None, statuses=None) -> list[StatusGroup]:
    """Releases grouped by state, the `limit` most recently changed of each: 3 queries.

    The ranking reads only (id, status, updated_at), so it stays cheap as releases pile
    up; the chosen rows are then loaded with what the rows show. `filters` (the home
    page's search) and `statuses` narrow the releases counted and shown.
    """
    base = Release.objects.all()
    if filters is not None:
        base = filters.apply(base)
    if statuses is not None:
        base = base.filter(status__in=statuses)
    # One query ranks within each state and counts each state (a window over the same
    # partition), so a state's total comes with its first `limit` rows.
    ranked = list(
        base.annotate(
            rank=Window(RowNumber(), partition_by=[F("status")], order_by=[F("updated_at").desc(), F("id").desc()]),
            in_state=Window(Count("pk"), partition_by=[F("status")]),
        )
        .filter(rank__lte=limit)
        .values_list("id", "status", "in_state")
    )
    counts = {status: n for _id, status, n in ranked}
    ranked_ids = [pk for pk, _status, _n in ranked]
    releases = (
        with_progress(
            Release.objects.filter(pk__in=ranked_ids)
            .select_related("owner", "current_phase")
            .only(
                "slug",
                "name",
                "version",
                "status",
                "strategy",
                "planned_start",
                "updated_at",
                "owner__username",
                "owner__first_name",
                "owner__last_name",
                "current_phase__name",
                "current_phase__exposure_percent",
            )
        )
        .prefetch_related(
            Prefetch(
                "current_phase__gates",
                queryset=Gate.objects.order_by("position", "id").only(
                    "phase_id", "name", "status", "required", "position"
                ),
            )
        )
        .order_by("-updated_at", "-id")
    )
    by_status: dict[str, list[Release]] = {}
    for release in releases:
        by_status.setdefault(release.status, []).append(_decorate_progress(release))
    return [
        StatusGroup(status=s, label=ReleaseStatus(s).label, count=counts.get(s, 0), releases=by_status.get(s, []))
        for s in DASHBOARD_ORDER
        if counts.get(s)
    ]


def release_list(*, status: str | None = None, query: str = ""):
    qs = with_progress(Release.objects.select_related("owner", "current_phase")).prefetch_related(
        Prefetch("current_phase__gates", queryset=Gate.objects.order_by("position", "id"))
    )
    if status:
        qs = qs.filter(status=status)
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(version__icontains=query) | Q(slug__icontains=query))
    return qs.order_by("-updated_at", "-id")


def decorate_releases(releases):
    return [_decorate_progress(r) for r in releases]


@dataclass
class ReleasePage:
    release: Release
    version: str
    phases: list
    rollback_steps: list
    rollback_run: RollbackRun | None
    events: list
    progress_percent: int
    current_exposure: int
    freezes: list
    global_freezes: list
    automation_block: object
    hours: list
    global_hours: list
    exposure_chart: charts.ExposureChart | None = None


def release_page(*, slug: str, events_limit: int = 100) -> ReleasePage | None:
    """Everything the release page shows, in a fixed number of queries."""
    release = (
        Release.objects.select_related("owner", "current_phase")
        .prefetch_related(
            Prefetch(
                "phases",
                queryset=Phase.objects.order_by("position", "id").prefetch_related(
                    Prefetch(
                        "gates",
                        queryset=Gate.objects.order_by("position", "id")
                        .select_related("decided_by")
                        .prefetch_related(
                            Prefetch("decisions", queryset=GateDecision.objects.select_related("user")),
                            Prefetch("items", queryset=ChecklistItem.objects.select_related("checked_by")),
                            Prefetch(
                                "measurements",
                                queryset=GateMeasurement.objects.order_by("-taken_at", "-id")[:MEASUREMENTS_SHOWN],
                                to_attr="recent_measurements",
                            ),
                        ),
                    )
                ),
            ),
            Prefetch("rollback_steps", queryset=RollbackStep.objects.select_related("owner")),
            Prefetch("freezes", queryset=FreezeWindow.objects.order_by("starts_local")),
            Prefetch("allowed_hours", queryset=AllowedHours.objects.order_by("id")),
        )
        .filter(slug=slug)
        .first()
    )
    if release is None:
        return None
    now = timezone.now()
    phases = list(release.phases.all())
    for i, phase in enumerate(phases):
        gates = list(phase.gates.all())
        phase.is_last = i == len(phases) - 1
        phase.is_current = phase.pk == release.current_phase_id
        phase.blockers = phase_blockers(phase, gates, now) if phase.status == PhaseStatus.ACTIVE else []
        for gate in gates:
            decisions = list(gate.decisions.all())
            gate.approval_count = sum(1 for d in decisions if d.decision == GateDecision.Decision.APPROVE)
            items = list(gate.items.all())
            gate.items_done = sum(1 for item in items if item.checked_at)
            gate.items_total = len(items)
            gate.chart = charts.measurement_chart(
                gate.recent_measurements,
                thresholds=charts.gate_thresholds(gate.config) if gate.kind == GateKind.METRIC_THRESHOLD else [],
            )
            gate.config_summary = gate_checks.describe_config(gate.kind, gate.config) if gate.is_automated else ""
    run = (
        RollbackRun.objects.filter(release=release)
        .select_related("started_by")
        .prefetch_related(Prefetch("steps", queryset=RollbackRunStep.objects.select_related("owner", "done_by")))
        .order_by("-started_at", "-id")
        .first()
    )
    if run is not None:
        steps = list(run.steps.all())
        run.steps_done = sum(1 for s in steps if s.done_at)
        run.steps_total = len(steps)
        run.progress_percent = round(100 * run.steps_done / len(steps)) if steps else 100
        run.expected_minutes_left = sum(s.expected_minutes for s in steps if not s.done_at)
    freezes = list(release.freezes.all())
    hours = list(release.allowed_hours.all())
    # A release's own allowed hours replace the global ones.
    global_freeze_list = global_freezes()
    global_hours_list = global_hours()
    block = None
    if release.status in (ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED):
        block = automation_block(release, now, windows=freezes + global_freeze_list, rules=hours or global_hours_list)
    timeline = list(
        release.events.select_related("actor", "phase", "gate").order_by("-created_at", "-id")[:events_limit]
    )
    done = sum(1 for p in phases if p.status == PhaseStatus.PASSED)
    progress = round(100 * done / len(phases)) if phases else 0
    current = release.current_phase
    exposure = 0
    if current is not None and release.status in (
        ReleaseStatus.IN_PROGRESS,
        ReleaseStatus.PAUSED,
        ReleaseStatus.COMPLETED,
    ):
        exposure = current.exposure_percent
    if release.status == ReleaseStatus.COMPLETED:
        progress = 100
    return ReleasePage(
        release=release,
        version=release.updated_at.isoformat(),
        phases=phases,
        rollback_steps=list(release.rollback_steps.all()),
        rollback_run=run,
        events=timeline,
        progress_percent=progress,
        current_exposure=exposure,
        freezes=freezes,
        global_freezes=global_freeze_list,
        automation_block=block,
        hours=hours,
        global_hours=global_hours_list,
        exposure_chart=charts.exposure_chart(
            release, phases, now=now, rollback_at=run.started_at if run is not None else None
        ),
    )


MEASUREMENTS_SHOWN = 20


def global_freezes():
    return list(FreezeWindow.objects.filter(release__isnull=True).order_by("starts_local"))


def global_hours():
    return list(AllowedHours.objects.filter(release__isnull=True).order_by("id"))


def release_version(slug: str) -> str | None:
    """A token that changes whenever anything on the release page changes (one query).

    Every transition and plan edit saves the release, so its updated_at moves.
    """
    updated = Release.objects.filter(slug=slug).values_list("updated_at", flat=True).first()
    return None if updated is None else updated.isoformat()


def release_by_slug(slug: str) -> Release | None:
    return Release.objects.select_related("owner").filter(slug=slug).first()


# --- Home: filters, and the sections around the release groups ----------------------------

IN_FLIGHT = [ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED, ReleaseStatus.ROLLING_BACK]
HOME_FILTER_KEYS = ("q", "state", "strategy", "owner", "from", "to")


@dataclass(frozen=True)
class HomeFilters:
    """The home page's search and filters, read from a querystring. A value that makes no
    sense (an unknown state or strategy, a date that is no date) is
    dropped, never an error. The owner is typed (a username, or part of a name) rather than
    picked from a list, which would cost the page a query."""

    q: str = ""
    state: str = ""
    strategy: str = ""
    owner: str = ""  # a username, or part of a first or last name
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_query(cls, params) -> "HomeFilters":
        def day(name):
            try:
                return date.fromisoformat(params.get(name, "").strip())
            except ValueError:
                return None

        state = params.get("state", "")
        strategy = params.get("strategy", "")
        owner = params.get("owner", "").strip()[:100]
        return cls(
            q=params.get("q", "").strip()[:100],
            state=state if state in ReleaseStatus.values else "",
            strategy=strategy if strategy in Strategy.values else "",
            owner=owner,
            date_from=day("from"),
            date_to=day("to"),
        )

    @property
    def active(self) -> bool:
        return any((self.q, self.state, self.strategy, self.owner, self.date_from, self.date_to))

    @property
    def querystring(self) -> str:
        pairs = {
            "q": self.q,
            "state": self.state,
            "strategy": self.strategy,
            "owner": self.owner,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})

    def apply(self, queryset):
        if self.q:
            queryset = queryset.filter(
                Q(name__icontains=self.q) | Q(version__icontains=self.q) | Q(slug__icontains=self.q)
            )
        if self.state:
            queryset = queryset.filter(status=self.state)
        if self.strategy:
            queryset = queryset.filter(strategy=self.strategy)
        if self.owner:
            queryset = queryset.filter(
                Q(owner__username__iexact=self.owner)
                | Q(owner__first_name__icontains=self.owner)
                | Q(owner__last_name__icontains=self.owner)
            )
        if self.date_from or self.date_to:
            # A release's date is when it started, or when it is planned to.
            queryset = queryset.annotate(home_when=Coalesce("started_at", "planned_start"))
            if self.date_from:
                queryset = queryset.filter(home_when__date__gte=self.date_from)
            if self.date_to:
                queryset = queryset.filter(home_when__date__lte=self.date_to)
        return queryset


@dataclass
class HomeSections:
    upcoming_phases: list
    notices: list  # dicts: message, release, slug, count, first_due
    rollbacks: list

    @property
    def upcoming_capped(self) -> bool:
        return len(self.upcoming_phases) >= HOME_UPCOMING_SHOWN

    @property
    def notices_capped(self) -> bool:
        return len(self.notices) >= HOME_UPCOMING_SHOWN


HOME_ROLLBACKS_SHOWN = 5
HOME_UPCOMING_SHOWN = 20


def home_sections(*, now=None) -> HomeSections:
    """The sections every reader sees alike: three queries, whatever the data size."""
    now = now or timezone.now()
    upcoming = list(
        Phase.objects.filter(
            status=PhaseStatus.PENDING,
            planned_start__gte=now,
            planned_start__lt=now + timedelta(days=7),
        )
        .exclude(release__status__in=FINISHED_STATUSES)
        .select_related("release")
        .only(
            "name",
            "environment",
            "exposure_percent",
            "planned_start",
            "release__slug",
            "release__name",
            "release__version",
            "release__status",
        )
        .order_by("planned_start", "id")[:HOME_UPCOMING_SHOWN]
    )
    notices = _notices_due(now, now + timedelta(hours=24))
    runs = list(
        RollbackRun.objects.select_related("release", "started_by")
        .only(
            "status",
            "reason",
            "started_at",
            "finished_at",
            "release__slug",
            "release__name",
            "release__version",
            "started_by__username",
            "started_by__first_name",
            "started_by__last_name",
        )
        .annotate(
            steps_total=Coalesce(
                Subquery(
                    RollbackRunStep.objects.filter(run=OuterRef("pk"))
                    .order_by()
                    .values("run")
                    .annotate(n=Count("pk"))
                    .values("n"),
                    output_field=IntegerField(),
                ),
                Value(0),
            ),
            steps_done=Coalesce(
                Subquery(
                    RollbackRunStep.objects.filter(run=OuterRef("pk"), done_at__isnull=False)
                    .order_by()
                    .values("run")
                    .annotate(n=Count("pk"))
                    .values("n"),
                    output_field=IntegerField(),
                ),
                Value(0),
            ),
        )
        .order_by("-started_at", "-id")[:HOME_ROLLBACKS_SHOWN]
    )
    for run in runs:
        run.progress_percent = round(100 * run.steps_done / run.steps_total) if run.steps_total else 100
    return HomeSections(upcoming_phases=upcoming, notices=notices, rollbacks=runs)


def _notices_due(since, until) -> list[dict]:
    """Pending notices due in [since, until), counted per message. The outbox belongs to
    comms, which registers this section (rollouts/home_registry.py); none without it."""
    return home_registry.provide("notices_due", since=since, until=until, limit=HOME_UPCOMING_SHOWN)


HOME_WAITING_SHOWN = 20


def gates_waiting_for(user, *, can_approve: bool, can_tick: bool) -> list[Gate]:
    """Gates on the current phase of a running release that this person can act on now:
    manual approvals (approvers, never on their own release, not decided by them yet) and
    checklists (people who tick them). One query, none when they can do neither."""
    kinds = Q(pk__in=[])
    if can_approve:
        kinds |= Q(kind=GateKind.MANUAL_APPROVAL) & ~Q(phase__release__owner=user)
    if can_tick:
        kinds |= Q(kind=GateKind.CHECKLIST)
    if not (can_approve or can_tick):
        return []
    approvals = (
        GateDecision.objects.filter(gate=OuterRef("pk"), decision=GateDecision.Decision.APPROVE)
        .order_by()
        .values("gate")
        .annotate(n=Count("pk"))
        .values("n")
    )
    gates = (
        Gate.objects.filter(
            kinds,
            status=GateStatus.PENDING,
            phase__status=PhaseStatus.ACTIVE,
            phase__release__status__in=[ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED],
            phase__release__current_phase=F("phase"),
        )
        .exclude(Exists(GateDecision.objects.filter(gate=OuterRef("pk"), user=user)))
        .select_related("phase__release")
        .only(
            "name",
            "kind",
            "required",
            "required_approvals",
            "status",
            "phase__name",
            "phase__release__slug",
            "phase__release__name",
            "phase__release__version",
            "phase__release__status",
        )
        .annotate(approvals=Coalesce(Subquery(approvals, output_field=IntegerField()), Value(0)))
        .order_by("phase__started_at", "phase_id", "position", "id")[:HOME_WAITING_SHOWN]
    )
    return list(gates)


# --- Calendar -----------------------------------------------------------------------------


def calendar_data(*, start: date, end: date):
    """Releases that may show between `start` and `end` with their phases, and the freeze
    windows near that range: three queries. Which bars actually fall inside is for
    rollouts.calendar_chart to decide (estimated ends are not in the database)."""
    from datetime import UTC, datetime

    margin = timedelta(days=2)  # freeze windows are stored as local wall-clock times
    since = datetime(start.year, start.month, start.day, tzinfo=UTC) - margin
    until = datetime(end.year, end.month, end.day, tzinfo=UTC) + margin
    releases = list(
        Release.objects.exclude(status=ReleaseStatus.CANCELLED, started_at__isnull=True)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since - timedelta(days=1)))
        .filter(Q(started_at__lt=until) | Q(started_at__isnull=True, planned_start__lt=until))
        .only("slug", "name", "version", "status", "planned_start", "started_at", "finished_at")
        .annotate(when=Coalesce("started_at", "planned_start"))
        .prefetch_related(
            Prefetch(
                "phases",
                queryset=Phase.objects.order_by("position", "id").only(
                    "release_id",
                    "name",
                    "status",
                    "position",
                    "planned_start",
                    "started_at",
                    "finished_at",
                    "min_soak_minutes",
                ),
            )
        )
        .order_by("when", "id")
    )
    freezes = list(
        FreezeWindow.objects.filter(starts_local__lt=until, ends_local__gt=since)
        .filter(Q(release__isnull=True) | Q(release__in=[r.pk for r in releases]))
        .order_by("starts_local", "id")
    )
    return releases, freezes


def release_template_choices(limit: int = 20) -> list:
    """Saved release templates to start a new release from (one query)."""
    from rollouts.models import ReleaseTemplate

    return list(ReleaseTemplate.objects.only("id", "name").order_by("name", "id")[:limit])
