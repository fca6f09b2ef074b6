"""Read queries for pages and the API. Each returns data in a fixed number of queries."""

from dataclasses import dataclass, field

from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Q, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from rollouts import gate_checks
from rollouts.models import (
    AllowedHours,
    ChecklistItem,
    FreezeWindow,
    Gate,
    GateDecision,
    GateMeasurement,
    Phase,
    PhaseStatus,
    Release,
    ReleaseStatus,
    RollbackRun,
    RollbackRunStep,
    RollbackStep,
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


def dashboard_groups(*, limit: int) -> list[StatusGroup]:
    """Releases grouped by state, the `limit` most recently changed of each: 4 queries.

    The ranking reads only (id, status, updated_at), so it stays cheap as releases pile
    up; the chosen rows are then loaded with what the rows show.
    """
    counts = dict(Release.objects.order_by().values_list("status").annotate(n=Count("pk")))
    ranked_ids = list(
        Release.objects.annotate(
            rank=Window(RowNumber(), partition_by=[F("status")], order_by=[F("updated_at").desc(), F("id").desc()])
        )
        .filter(rank__lte=limit)
        .values_list("id", flat=True)
    )
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
            gate.chart = measurement_chart(list(reversed(gate.recent_measurements)))
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
    )


MEASUREMENTS_SHOWN = 20
VERDICT_COLOURS = {"success": "#1f8a4c", "failure": "#c53030", "inconclusive": "#b7791f", "error": "#8a94a6"}


def measurement_chart(measurements, width: int = 160, height: int = 36) -> dict | None:
    """Points for a small inline SVG of the last measurements (oldest first)."""
    if not measurements:
        return None
    values = [m.value for m in measurements if m.value is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    span = (high - low) or 1.0
    step = width / max(len(measurements) - 1, 1)
    points = []
    for i, m in enumerate(measurements):
        y = height / 2 if m.value is None else height - 4 - (m.value - low) / span * (height - 8)
        points.append(
            {
                "x": round(i * step, 1),
                "y": round(y, 1),
                "colour": VERDICT_COLOURS.get(m.verdict, "#8a94a6"),
                "m": m,
            }
        )
    line = " ".join(f"{p['x']},{p['y']}" for p in points if p["m"].value is not None)
    return {"width": width, "height": height, "points": points, "line": line, "low": low, "high": high}


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
