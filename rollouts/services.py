"""Planning writes: create and edit releases, phases, gates and the rollback plan.

State changes of a running release live in transitions.py; these functions edit the
plan. Each one locks the release row, validates against what it finds, writes the
change and a timeline Event. Validation errors are ValidationError keyed by field, so
forms show them next to the input that caused them.
"""

from itertools import pairwise

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from rollouts import events
from rollouts.models import (
    MEASURED_GATE_KINDS,
    MONOTONIC_STRATEGIES,
    PLANNABLE_STATUSES,
    ChecklistItem,
    Gate,
    GateKind,
    Phase,
    PhaseStatus,
    Release,
    RollbackStep,
    Strategy,
)
from rollouts.strategies import proposed_plan

EDITABLE_PHASE_STATUSES = {PhaseStatus.PENDING}


def unique_slug(name: str, version: str = "") -> str:
    base = slugify(f"{name} {version}".replace(".", "-").strip())[:70] or "release"
    slug, n = base, 2
    while Release.objects.filter(slug=slug).exists():
        slug = f"{base}-{n}"
        n += 1
    return slug


def _lock(release_id: int) -> Release:
    return Release.objects.select_for_update().get(pk=release_id)


def _require_plannable(release: Release, what: str = "change the plan of") -> None:
    if release.status not in PLANNABLE_STATUSES:
        raise ValidationError(
            f"You cannot {what} a release that is {release.get_status_display().lower()}.",
            code="finished",
        )


def _check_exposure_order(release: Release, exposures: list[tuple[str, int]]) -> None:
    """Canary, rolling and feature-flag exposure may only grow from phase to phase."""
    if release.strategy not in MONOTONIC_STRATEGIES:
        return
    for (prev_name, prev), (name, exposure) in pairwise(exposures):
        if exposure < prev:
            label = Strategy(release.strategy).label.lower()
            raise ValidationError(
                {
                    "exposure_percent": (
                        f"Exposure cannot go down in a {label} release: “{name}” at {exposure}% comes after "
                        f"“{prev_name}” at {prev}%."
                    )
                },
                code="exposure_decreases",
            )


def _renumber(queryset) -> None:
    for i, obj in enumerate(queryset):
        if obj.position != i:
            type(obj).objects.filter(pk=obj.pk).update(position=i)


# --- Releases -------------------------------------------------------------------------


@transaction.atomic
def release_create(
    *,
    actor,
    name: str,
    version: str,
    owner,
    strategy: str,
    summary: str = "",
    slug: str = "",
    planned_start=None,
    on_gate_failure: str = "pause",
    rollback_on_deadline: bool = False,
    propose_phases: bool = True,
) -> Release:
    slug = slug or unique_slug(name, version)
    if Release.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": "A release with this slug exists."}, code="unique")
    release = Release.objects.create(
        slug=slug,
        name=name,
        version=version,
        owner=owner,
        strategy=strategy,
        summary=summary,
        planned_start=planned_start,
        on_gate_failure=on_gate_failure,
        rollback_on_deadline=rollback_on_deadline,
    )
    if propose_phases:
        for i, proposed in enumerate(proposed_plan(strategy)):
            phase = Phase.objects.create(
                release=release,
                position=i,
                name=proposed.name,
                environment=proposed.environment,
                exposure_percent=proposed.exposure_percent,
                min_soak_minutes=proposed.min_soak_minutes,
            )
            if proposed.gate:
                Gate.objects.create(phase=phase, name=proposed.gate, kind=GateKind.MANUAL_APPROVAL)
    events.record(release=release, verb="release.created", actor=actor, strategy=strategy)
    return release


@transaction.atomic
def release_update(*, release_id: int, actor, **fields) -> Release:
    release = _lock(release_id)
    _require_plannable(release, "edit")
    slug_taken = Release.objects.filter(slug=fields.get("slug")).exclude(pk=release.pk).exists()
    if "slug" in fields and fields["slug"] != release.slug and slug_taken:
        raise ValidationError({"slug": "A release with this slug exists."}, code="unique")
    if "strategy" in fields and fields["strategy"] != release.strategy:
        exposures = list(release.phases.values_list("name", "exposure_percent"))
        probe = Release(strategy=fields["strategy"])
        try:
            _check_exposure_order(probe, exposures)
        except ValidationError as exc:
            raise ValidationError({"strategy": exc.message_dict["exposure_percent"]}) from None
    changed = [name for name, value in fields.items() if getattr(release, name) != value]
    for name in changed:
        setattr(release, name, fields[name])
    if changed:
        release.save(update_fields=[*changed, "updated_at"])
        events.record(release=release, verb="plan.release_edited", actor=actor, fields=changed)
    return release


# --- Phases ---------------------------------------------------------------------------

PHASE_FIELDS = ("name", "environment", "exposure_percent", "min_soak_minutes", "planned_start", "auto_advance")


@transaction.atomic
def phase_add(*, release_id: int, actor, **fields) -> Phase:
    release = _lock(release_id)
    _require_plannable(release, "add a phase to")
    existing = list(release.phases.order_by("position", "id"))
    _check_exposure_order(
        release, [(p.name, p.exposure_percent) for p in existing] + [(fields["name"], fields["exposure_percent"])]
    )
    phase = Phase.objects.create(release=release, position=len(existing), **fields)
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.phase_added", actor=actor, phase=phase, name=phase.name)
    return phase


@transaction.atomic
def phase_update(*, phase_id: int, actor, **fields) -> Phase:
    release = _lock(Phase.objects.values_list("release_id", flat=True).get(pk=phase_id))
    _require_plannable(release, "edit a phase of")
    phase = Phase.objects.get(pk=phase_id)
    if phase.status not in EDITABLE_PHASE_STATUSES:
        raise ValidationError(
            f"Phase “{phase.name}” is {phase.get_status_display().lower()}; only pending phases can be edited.",
            code="phase_started",
        )
    ordered = list(release.phases.order_by("position", "id"))
    _check_exposure_order(
        release,
        [
            (fields.get("name", p.name), fields["exposure_percent"])
            if p.pk == phase.pk
            else (p.name, p.exposure_percent)
            for p in ordered
        ],
    )
    changed = [name for name, value in fields.items() if getattr(phase, name) != value]
    for name in changed:
        setattr(phase, name, fields[name])
    if changed:
        phase.save(update_fields=changed)
        release.save(update_fields=["updated_at"])
        events.record(release=release, verb="plan.phase_edited", actor=actor, phase=phase, fields=changed)
    return phase


@transaction.atomic
def phase_remove(*, phase_id: int, actor) -> None:
    release = _lock(Phase.objects.values_list("release_id", flat=True).get(pk=phase_id))
    _require_plannable(release, "remove a phase from")
    phase = Phase.objects.get(pk=phase_id)
    if phase.status not in EDITABLE_PHASE_STATUSES:
        raise ValidationError(
            f"Phase “{phase.name}” is {phase.get_status_display().lower()}; only pending phases can be removed.",
            code="phase_started",
        )
    name = phase.name
    phase.delete()
    _renumber(release.phases.order_by("position", "id"))
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.phase_removed", actor=actor, name=name)


@transaction.atomic
def phase_move(*, phase_id: int, actor, direction: str) -> Phase:
    release = _lock(Phase.objects.values_list("release_id", flat=True).get(pk=phase_id))
    _require_plannable(release, "reorder the phases of")
    ordered = list(release.phases.order_by("position", "id"))
    index = next(i for i, p in enumerate(ordered) if p.pk == phase_id)
    other = index - 1 if direction == "up" else index + 1
    if other < 0 or other >= len(ordered):
        raise ValidationError("This phase is already at that end of the plan.", code="cannot_move")
    for p in (ordered[index], ordered[other]):
        if p.status not in EDITABLE_PHASE_STATUSES:
            raise ValidationError(
                f"Phase “{p.name}” is {p.get_status_display().lower()}; only pending phases can be reordered.",
                code="phase_started",
            )
    ordered[index], ordered[other] = ordered[other], ordered[index]
    try:
        _check_exposure_order(release, [(p.name, p.exposure_percent) for p in ordered])
    except ValidationError as exc:
        raise ValidationError(exc.message_dict["exposure_percent"], code="exposure_decreases") from None
    for i, p in enumerate(ordered):
        if p.position != i:
            Phase.objects.filter(pk=p.pk).update(position=i)
    release.save(update_fields=["updated_at"])
    moved = ordered[other]
    events.record(release=release, verb="plan.phase_moved", actor=actor, phase=moved, direction=direction)
    return moved


# --- Gates ----------------------------------------------------------------------------


@transaction.atomic
def gate_add(
    *,
    phase_id: int,
    actor,
    name: str,
    kind: str,
    required: bool = True,
    required_approvals: int = 1,
    checklist: list[str] | None = None,
    config: dict | None = None,
) -> Gate:
    """Add a gate. A ci_result gate gets its pipeline token, returned once as gate.new_token."""
    release = _lock(Phase.objects.values_list("release_id", flat=True).get(pk=phase_id))
    _require_plannable(release, "add a gate to")
    phase = Phase.objects.get(pk=phase_id)
    if phase.status not in (PhaseStatus.PENDING, PhaseStatus.ACTIVE):
        raise ValidationError(f"Phase “{phase.name}” is over; add gates to a phase still to come.", code="phase_over")
    items = [line.strip() for line in (checklist or []) if line.strip()]
    if kind == GateKind.CHECKLIST and not items:
        raise ValidationError({"checklist": "A checklist gate needs at least one item, one per line."})
    if kind in MEASURED_GATE_KINDS:
        from rollouts import gate_checks

        config = gate_checks.clean_config(kind, config or {})
    gate = Gate.objects.create(
        phase=phase,
        position=phase.gates.count(),
        name=name,
        kind=kind,
        required=required,
        required_approvals=required_approvals if kind == GateKind.MANUAL_APPROVAL else 1,
        config=config or {},
        # A gate added to the running phase starts measuring at once.
        next_check_at=timezone.now() if kind in MEASURED_GATE_KINDS and phase.status == PhaseStatus.ACTIVE else None,
    )
    if kind == GateKind.CHECKLIST:
        ChecklistItem.objects.bulk_create(ChecklistItem(gate=gate, position=i, text=t) for i, t in enumerate(items))
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.gate_added", actor=actor, phase=phase, gate=gate, kind=kind)
    gate.new_token = ""
    if kind == GateKind.CI_RESULT:
        from rollouts.gate_tokens import gate_token_issue

        gate.new_token = gate_token_issue(gate_id=gate.pk, actor=actor)
    return gate


@transaction.atomic
def freeze_add(*, actor, release_id: int | None, name: str, timezone_name: str, starts_local, ends_local, reason=""):
    """Add a freeze window; local times are wall-clock in `timezone_name` (see schedule.py)."""
    from rollouts.models import FreezeWindow
    from rollouts.schedule import as_carrier, zone

    zone(timezone_name)
    release = _lock(release_id) if release_id else None
    window = FreezeWindow.objects.create(
        release=release,
        name=name,
        timezone=timezone_name,
        starts_local=as_carrier(starts_local.replace(tzinfo=None)),
        ends_local=as_carrier(ends_local.replace(tzinfo=None)),
        reason=reason,
    )
    if release is not None:
        release.save(update_fields=["updated_at"])
        events.record(release=release, verb="plan.freeze_added", actor=actor, name=name)
    return window


@transaction.atomic
def freeze_remove(*, actor, window_id: int) -> None:
    from rollouts.models import FreezeWindow

    window = FreezeWindow.objects.select_related("release").get(pk=window_id)
    release = _lock(window.release_id) if window.release_id else None
    name = window.name
    window.delete()
    if release is not None:
        release.save(update_fields=["updated_at"])
        events.record(release=release, verb="plan.freeze_removed", actor=actor, name=name)


@transaction.atomic
def gate_remove(*, gate_id: int, actor) -> None:
    release = _lock(Gate.objects.values_list("phase__release_id", flat=True).get(pk=gate_id))
    _require_plannable(release, "remove a gate from")
    gate = Gate.objects.select_related("phase").get(pk=gate_id)
    if gate.phase.status != PhaseStatus.PENDING:
        raise ValidationError(
            f"Phase “{gate.phase.name}” has started; its gates can be waived by deciding them, not removed.",
            code="phase_started",
        )
    name, phase = gate.name, gate.phase
    gate.delete()
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.gate_removed", actor=actor, phase=phase, name=name)


# --- Rollback plan --------------------------------------------------------------------


@transaction.atomic
def rollback_step_add(*, release_id: int, actor, **fields) -> RollbackStep:
    release = _lock(release_id)
    _require_plannable(release, "change the rollback plan of")
    step = RollbackStep.objects.create(release=release, position=release.rollback_steps.count(), **fields)
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.rollback_step_added", actor=actor, title=step.title)
    return step


@transaction.atomic
def rollback_step_update(*, step_id: int, actor, **fields) -> RollbackStep:
    release = _lock(RollbackStep.objects.values_list("release_id", flat=True).get(pk=step_id))
    _require_plannable(release, "change the rollback plan of")
    step = RollbackStep.objects.get(pk=step_id)
    changed = [name for name, value in fields.items() if getattr(step, name) != value]
    for name in changed:
        setattr(step, name, fields[name])
    if changed:
        step.save(update_fields=changed)
        release.save(update_fields=["updated_at"])
        events.record(release=release, verb="plan.rollback_step_edited", actor=actor, title=step.title)
    return step


@transaction.atomic
def rollback_step_remove(*, step_id: int, actor) -> None:
    release = _lock(RollbackStep.objects.values_list("release_id", flat=True).get(pk=step_id))
    _require_plannable(release, "change the rollback plan of")
    step = RollbackStep.objects.get(pk=step_id)
    title = step.title
    step.delete()
    _renumber(release.rollback_steps.order_by("position", "id"))
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.rollback_step_removed", actor=actor, title=title)


@transaction.atomic
def rollback_step_move(*, step_id: int, actor, direction: str) -> RollbackStep:
    release = _lock(RollbackStep.objects.values_list("release_id", flat=True).get(pk=step_id))
    _require_plannable(release, "change the rollback plan of")
    ordered = list(release.rollback_steps.order_by("position", "id"))
    index = next(i for i, s in enumerate(ordered) if s.pk == step_id)
    other = index - 1 if direction == "up" else index + 1
    if other < 0 or other >= len(ordered):
        raise ValidationError("This step is already at that end of the plan.", code="cannot_move")
    ordered[index], ordered[other] = ordered[other], ordered[index]
    for i, s in enumerate(ordered):
        if s.position != i:
            RollbackStep.objects.filter(pk=s.pk).update(position=i)
    release.save(update_fields=["updated_at"])
    events.record(release=release, verb="plan.rollback_step_moved", actor=actor, title=ordered[other].title)
    return ordered[other]


@transaction.atomic
def allowed_hours_add(*, actor, release_id: int | None, timezone_name: str, weekdays, start_time, end_time):
    """Automation may act only inside these hours (a range may cross midnight)."""
    from rollouts.models import AllowedHours
    from rollouts.schedule import zone

    zone(timezone_name)
    days = sorted(set(weekdays))
    if not days or any(not isinstance(d, int) or not 1 <= d <= 7 for d in days):
        raise ValidationError({"weekdays": "Choose days from Monday (1) to Sunday (7)."})
    release = _lock(release_id) if release_id else None
    rule = AllowedHours.objects.create(
        release=release,
        timezone=timezone_name,
        weekdays=days,
        start_time=start_time,
        end_time=end_time,
    )
    if release is not None:
        release.save(update_fields=["updated_at"])
        events.record(release=release, verb="plan.hours_added", actor=actor, hours=str(rule))
    return rule


@transaction.atomic
def allowed_hours_remove(*, actor, rule_id: int) -> None:
    from rollouts.models import AllowedHours

    rule = AllowedHours.objects.get(pk=rule_id)
    release = _lock(rule.release_id) if rule.release_id else None
    label = str(rule)
    rule.delete()
    if release is not None:
        release.save(update_fields=["updated_at"])
        events.record(release=release, verb="plan.hours_removed", actor=actor, hours=label)
