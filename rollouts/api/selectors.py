"""Read queries of the rollouts API: each list is a fixed number of queries at any size."""

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from rollouts import selectors
from rollouts.models import (
    GATE_CLEARED,
    ChecklistItem,
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
    WebhookAttempt,
    WebhookDelivery,
)
from rollouts.rules import phase_blockers
from rollouts.schedule import automation_block


def gates():
    """Gates with their phase, decider, decisions (with users) and checklist items: 4 queries."""
    return Gate.objects.select_related("phase", "decided_by").prefetch_related(
        Prefetch("decisions", queryset=GateDecision.objects.select_related("user").order_by("created_at", "id")),
        Prefetch("items", queryset=ChecklistItem.objects.select_related("checked_by").order_by("position", "id")),
    )


def phases():
    """Phases with their release and gates (and the gates' decisions and items): 5 queries."""
    return Phase.objects.select_related("release").prefetch_related(
        Prefetch("gates", queryset=gates().order_by("position", "id"))
    )


def releases():
    """The release list: progress, owner, current phase and its gates: 2 queries."""
    return selectors.release_list()


def release_detail():
    return releases().prefetch_related(
        Prefetch("phases", queryset=phases().order_by("position", "id")),
        Prefetch("rollback_steps", queryset=RollbackStep.objects.select_related("owner").order_by("position", "id")),
    )


def decorate(releases_page) -> list[Release]:
    return selectors.decorate_releases(releases_page)


def rollback_steps():
    return RollbackStep.objects.select_related("owner")


def rollback_runs():
    return RollbackRun.objects.select_related("release", "started_by").prefetch_related(
        Prefetch(
            "steps", queryset=RollbackRunStep.objects.select_related("owner", "done_by").order_by("position", "id")
        )
    )


def events():
    return Event.objects.select_related("release", "actor", "phase", "gate")


def webhook_deliveries():
    return WebhookDelivery.objects.select_related("event").prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-attempted_at", "-pk"))
    )


def release_status(release_id: int, now=None) -> dict | None:
    """What GET /releases/{id}/status answers: 5 queries (6 with the schedule check)."""
    now = now or timezone.now()
    release = Release.objects.select_related("current_phase").filter(pk=release_id).first()
    if release is None:
        return None
    all_phases = list(release.phases.order_by("position", "id"))
    current = release.current_phase
    gates_now = list(Gate.objects.filter(phase=current).order_by("position", "id")) if current else []
    run = RollbackRun.objects.filter(release=release).order_by("-started_at", "-id").first()
    run_steps = list(run.steps.values_list("done_at", flat=True)) if run else []

    done = sum(1 for p in all_phases if p.status == PhaseStatus.PASSED)
    progress = round(100 * done / len(all_phases)) if all_phases else 0
    exposure = 0
    running = release.status in (ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED)
    if current is not None and (running or release.status == ReleaseStatus.COMPLETED):
        exposure = current.exposure_percent
    if release.status == ReleaseStatus.COMPLETED:
        progress = 100
    later = [p for p in all_phases if current is not None and p.position > current.position]
    nxt = later[0] if later else None

    blockers: list[str] = []
    if release.status != ReleaseStatus.IN_PROGRESS:
        blockers.append(f"The release is {release.get_status_display().lower()}.")
    elif current is None or current.status != PhaseStatus.ACTIVE:
        blockers.append("No phase is active.")
    else:
        blockers += [b + "." for b in phase_blockers(current, gates_now, now)]
    block = automation_block(release, now) if running else None
    return {
        "id": release.pk,
        "slug": release.slug,
        "name": release.name,
        "version": release.version,
        "status": release.status,
        "strategy": release.strategy,
        "current_phase": (
            {
                "id": current.pk,
                "name": current.name,
                "position": current.position,
                "status": current.status,
                "environment": current.environment,
                "exposure_percent": current.exposure_percent,
                "started_at": current.started_at,
                "soak_ends_at": current.soak_ends_at,
            }
            if current is not None
            else None
        ),
        "next_phase": (
            {"id": nxt.pk, "name": nxt.name, "exposure_percent": nxt.exposure_percent} if nxt is not None else None
        ),
        "exposure_percent": exposure,
        "phases_done": done,
        "phases_total": len(all_phases),
        "progress_percent": progress,
        "gates": [
            {
                "id": g.pk,
                "name": g.name,
                "kind": g.kind,
                "required": g.required,
                "status": g.status,
                "passed": g.status in GATE_CLEARED,
            }
            for g in gates_now
        ],
        "may_advance": not blockers and nxt is not None,
        "may_complete": not blockers and nxt is None,
        "blockers": blockers,
        "automation_block": block.message if block else None,
        "degraded": release.degraded_at is not None,
        "rollback": {
            "running": run is not None and run.status == RollbackRun.Status.RUNNING,
            "run": run.pk if run else None,
            "steps_done": sum(1 for d in run_steps if d is not None),
            "steps_total": len(run_steps),
        },
        "updated_at": release.updated_at,
        "url": settings.SITE_URL + release.get_absolute_url(),
    }
