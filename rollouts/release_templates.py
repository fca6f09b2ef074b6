"""Release templates: save a release's plan, start a new release from one, clone a release.

A plan is versioned JSON (PLAN_VERSION). It holds the release's planning fields, its phases
with their gates and checklist items, the rollback plan, and the parts other apps own
(communication plan, doc links) from rollouts/plan_registry.py. It never holds state,
events, decisions, measurements, tokens or notices. Planned times are minutes from the
release's planned start, so a plan moves with the new release's start.

Applying goes through rollouts/services.py (and each app's own services), so validation and
timeline Events apply as if a person had planned it by hand; it runs in one transaction, so
a bad plan creates nothing.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from rollouts import events, plan_registry, services
from rollouts.models import (
    Environment,
    GateFailurePolicy,
    GateKind,
    Release,
    ReleaseTemplate,
    RollbackAction,
    Strategy,
)

PLAN_VERSION = 1
SECRET_WORDS = ("token", "secret", "hash", "password")
# Kept when cloning (the plan never leaves the database) but not in a stored template:
# chat incoming-webhook URLs carry their secret in the path.
TEMPLATE_DROPS = ("webhook_url",)


def scrub(value, drop=()):
    """The value without any key that names a secret (or is in `drop`), at any depth."""
    if isinstance(value, dict):
        return {
            k: scrub(v, drop)
            for k, v in value.items()
            if k not in drop and not any(w in str(k).lower() for w in SECRET_WORDS)
        }
    if isinstance(value, list):
        return [scrub(v, drop) for v in value]
    return value


def minutes_from(base, when) -> int | None:
    if base is None or when is None:
        return None
    return int((when - base).total_seconds() // 60)


def at_offset(base, minutes):
    if base is None or minutes is None:
        return None
    return base + timedelta(minutes=minutes)


# --- Capture ------------------------------------------------------------------------------


def plan_capture(release: Release) -> dict:
    """The plan of a release as template JSON (a handful of queries)."""
    owned = plan_registry.owned_gate_kinds()
    phases = list(release.phases.order_by("position", "id").prefetch_related("gates__items"))
    steps = list(release.rollback_steps.order_by("position", "id").select_related("owner"))
    base = release.planned_start
    plan = {
        "version": PLAN_VERSION,
        "release": {
            "strategy": release.strategy,
            "summary": release.summary,
            "on_gate_failure": release.on_gate_failure,
            "rollback_on_deadline": release.rollback_on_deadline,
        },
        "phases": [
            {
                "name": phase.name,
                "environment": phase.environment,
                "exposure_percent": phase.exposure_percent,
                "min_soak_minutes": phase.min_soak_minutes,
                "planned_start_offset_minutes": minutes_from(base, phase.planned_start),
                "auto_advance": phase.auto_advance,
                "progress_deadline_minutes": phase.progress_deadline_minutes,
                "gates": [
                    {
                        "name": gate.name,
                        "kind": gate.kind,
                        "required": gate.required,
                        "required_approvals": gate.required_approvals,
                        "config": scrub(gate.config or {}),
                        "checklist": [item.text for item in gate.items.all()],
                    }
                    for gate in phase.gates.all()
                    if gate.kind not in owned
                ],
            }
            for phase in phases
        ],
        "rollback_steps": [
            {
                "title": step.title,
                "instructions": step.instructions,
                "owner": step.owner.get_username() if step.owner else None,
                "expected_minutes": step.expected_minutes,
                "action": step.action,
                "action_config": scrub(step.action_config or {}),
            }
            for step in steps
        ],
        "parts": {part.name: scrub(part.capture(release)) for part in plan_registry.parts()},
    }
    return plan


# --- Validation ---------------------------------------------------------------------------


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def plan_problems(plan) -> list[str]:
    """Everything wrong with the shape of a plan, in words a person can act on."""
    if not isinstance(plan, dict):
        return ["The plan is not a JSON object."]
    if plan.get("version") != PLAN_VERSION:
        return [f"The plan has version {plan.get('version')!r}; this Flightdeck reads version {PLAN_VERSION}."]
    problems = []
    rel = plan.get("release")
    if not isinstance(rel, dict) or rel.get("strategy") not in Strategy.values:
        problems.append("The plan names no strategy Flightdeck knows.")
    elif rel.get("on_gate_failure", GateFailurePolicy.PAUSE) not in GateFailurePolicy.values:
        problems.append("The plan's “when a required gate fails” is not one Flightdeck knows.")
    elif not isinstance(rel.get("summary", ""), str):
        problems.append("The plan's summary must be text.")
    phases = plan.get("phases")
    if not isinstance(phases, list):
        problems.append("The plan has no list of phases.")
        phases = []
    for i, phase in enumerate(phases, 1):
        if not isinstance(phase, dict):
            problems.append(f"Phase {i} is not a JSON object.")
            continue
        label = f"Phase {i}"
        if not isinstance(phase.get("name"), str) or not phase["name"].strip():
            problems.append(f"{label} has no name.")
        elif len(phase["name"].strip()) > 120:
            problems.append(f"{label}: keep the name under 120 characters.")
        else:
            label = f"Phase {i} “{phase['name']}”"
        if phase.get("environment") not in Environment.values:
            problems.append(f"{label} has no environment Flightdeck knows.")
        exposure = phase.get("exposure_percent")
        if not _is_int(exposure) or not 0 <= exposure <= 100:
            problems.append(f"{label}: exposure must be a whole number from 0 to 100.")
        if not _is_int(phase.get("min_soak_minutes", 0)) or phase.get("min_soak_minutes", 0) < 0:
            problems.append(f"{label}: soak must be a whole number of minutes.")
        offset = phase.get("planned_start_offset_minutes")
        if offset is not None and not _is_int(offset):
            problems.append(f"{label}: planned start must be a whole number of minutes from the release's start.")
        deadline = phase.get("progress_deadline_minutes")
        if deadline is not None and (not _is_int(deadline) or deadline < 0):
            problems.append(f"{label}: progress deadline must be a whole number of minutes.")
        gates = phase.get("gates", [])
        if not isinstance(gates, list):
            problems.append(f"{label}: gates must be a list.")
            continue
        for j, gate in enumerate(gates, 1):
            if not isinstance(gate, dict) or not isinstance(gate.get("name"), str) or not gate["name"].strip():
                problems.append(f"{label}, gate {j} has no name.")
                continue
            if len(gate["name"].strip()) > 120:
                problems.append(f"{label}, gate {j}: keep the name under 120 characters.")
            if gate.get("kind") not in GateKind.values:
                problems.append(f"{label}, gate “{gate['name']}” has no kind Flightdeck knows.")
            elif gate["kind"] in plan_registry.owned_gate_kinds():
                problems.append(
                    f"{label}, gate “{gate['name']}”: {GateKind(gate['kind']).label.lower()} gates come with "
                    "the message they wait for, in the communication part of the plan."
                )
            approvals = gate.get("required_approvals", 1)
            if not _is_int(approvals) or not 1 <= approvals <= 10:
                problems.append(f"{label}, gate “{gate['name']}”: approvals needed must be 1 to 10.")
            if not isinstance(gate.get("config", {}), dict):
                problems.append(f"{label}, gate “{gate['name']}”: settings must be a JSON object.")
            checklist = gate.get("checklist", [])
            if not isinstance(checklist, list) or not all(isinstance(t, str) for t in checklist):
                problems.append(f"{label}, gate “{gate['name']}”: checklist must be a list of texts.")
    steps = plan.get("rollback_steps", [])
    if not isinstance(steps, list):
        problems.append("The rollback plan must be a list of steps.")
        steps = []
    for i, step in enumerate(steps, 1):
        if not isinstance(step, dict) or not isinstance(step.get("title"), str) or not step["title"].strip():
            problems.append(f"Rollback step {i} has no title.")
            continue
        if len(step["title"].strip()) > 200:
            problems.append(f"Rollback step {i}: keep the title under 200 characters.")
        if not isinstance(step.get("instructions", ""), str):
            problems.append(f"Rollback step “{step['title']}”: instructions must be text.")
        if step.get("owner") is not None and not isinstance(step.get("owner"), str):
            problems.append(f"Rollback step “{step['title']}”: the owner must be a user name.")
        if step.get("action", RollbackAction.MANUAL) not in RollbackAction.values:
            problems.append(f"Rollback step “{step['title']}” has no action Flightdeck knows.")
        minutes = step.get("expected_minutes", 5)
        if not _is_int(minutes) or not 0 <= minutes <= 24 * 60:
            problems.append(f"Rollback step “{step['title']}”: expected minutes must be 0 to 1440.")
        if not isinstance(step.get("action_config", {}), dict):
            problems.append(f"Rollback step “{step['title']}”: its settings must be a JSON object.")
    parts = plan.get("parts", {})
    if not isinstance(parts, dict) or not all(isinstance(v, dict) for v in parts.values()):
        problems.append("The plan's communication and docs parts must be JSON objects.")
    return problems


def plan_validate(plan) -> None:
    problems = plan_problems(plan)
    if problems:
        raise ValidationError({"template": ["This template cannot be used: " + " ".join(problems)]})


# --- Apply --------------------------------------------------------------------------------


def _prefix(what: str, exc: ValidationError) -> ValidationError:
    return ValidationError({"template": [f"{what}: {m}" for m in exc.messages]})


def plan_apply(release: Release, plan: dict, *, actor) -> list[str]:
    """Create the phases, gates, rollback steps and app parts of `plan` on a new release.

    Runs inside the caller's transaction; raises ValidationError keyed "template". Returns
    notes for the person about what could not be copied (such as a chat message whose
    webhook URL a template does not keep).
    """
    base = release.planned_start
    for phase_data in plan["phases"]:
        try:
            phase = services.phase_add(
                release_id=release.pk,
                actor=actor,
                name=phase_data["name"].strip(),
                environment=phase_data["environment"],
                exposure_percent=phase_data["exposure_percent"],
                min_soak_minutes=phase_data.get("min_soak_minutes", 0),
                planned_start=at_offset(base, phase_data.get("planned_start_offset_minutes")),
                auto_advance=bool(phase_data.get("auto_advance", False)),
                progress_deadline_minutes=phase_data.get("progress_deadline_minutes"),
            )
        except ValidationError as exc:
            raise _prefix(f"Phase “{phase_data['name']}”", exc) from None
        for gate_data in phase_data.get("gates", []):
            try:
                services.gate_add(
                    phase_id=phase.pk,
                    actor=actor,
                    name=gate_data["name"].strip(),
                    kind=gate_data["kind"],
                    required=bool(gate_data.get("required", True)),
                    required_approvals=gate_data.get("required_approvals", 1),
                    checklist=gate_data.get("checklist") or [],
                    config=scrub(gate_data.get("config") or {}),
                )
            except ValidationError as exc:
                raise _prefix(f"Gate “{gate_data['name']}” of phase “{phase.name}”", exc) from None
    usernames = {s.get("owner") for s in plan.get("rollback_steps", []) if s.get("owner")}
    owners = {u.get_username(): u for u in get_user_model().objects.filter(username__in=usernames)}
    for step_data in plan.get("rollback_steps", []):
        services.rollback_step_add(
            release_id=release.pk,
            actor=actor,
            title=step_data["title"].strip(),
            instructions=step_data.get("instructions", ""),
            owner=owners.get(step_data.get("owner")),
            expected_minutes=step_data.get("expected_minutes", 5),
            action=step_data.get("action", RollbackAction.MANUAL),
            action_config=scrub(step_data.get("action_config") or {}),
        )
    notes: list[str] = []
    for name, data in plan.get("parts", {}).items():
        part = plan_registry.part(name)
        if part is None:
            raise ValidationError({"template": [f"This template has a “{name}” part that Flightdeck does not know."]})
        notes += part.apply(release, data, actor) or []
    return notes


# --- Services -----------------------------------------------------------------------------


@transaction.atomic
def template_save_from_release(*, release_id: int, name: str, actor, description: str = "") -> ReleaseTemplate:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the template, e.g. “Canary with CAB approval”."})
    release = Release.objects.get(pk=release_id)
    if ReleaseTemplate.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A template with this name exists. Pick another name."})
    try:
        with transaction.atomic():
            template = ReleaseTemplate.objects.create(
                name=name,
                description=description,
                strategy=release.strategy,
                plan=scrub(plan_capture(release), TEMPLATE_DROPS),
                created_by=actor,
            )
    except IntegrityError:
        raise ValidationError({"name": "A template with this name exists. Pick another name."}) from None
    events.record(release=release, verb="plan.saved_as_template", actor=actor, template=template.name)
    return template


def _create_from_plan(*, plan, actor, name, version, owner, slug="", planned_start=None) -> Release:
    plan_validate(plan)
    rel = plan["release"]
    release = services.release_create(
        actor=actor,
        name=name,
        version=version,
        owner=owner,
        strategy=rel["strategy"],
        summary=rel.get("summary", ""),
        slug=slug,
        planned_start=planned_start,
        on_gate_failure=rel.get("on_gate_failure", GateFailurePolicy.PAUSE),
        rollback_on_deadline=bool(rel.get("rollback_on_deadline", False)),
        propose_phases=False,
    )
    release.plan_notes = plan_apply(release, plan, actor=actor)
    return release


@transaction.atomic
def release_create_from_template(
    *, template_id: int, name: str, version: str, owner, actor, slug: str = "", planned_start=None
) -> Release:
    template = ReleaseTemplate.objects.get(pk=template_id)
    release = _create_from_plan(
        plan=template.plan,
        actor=actor,
        name=name,
        version=version,
        owner=owner,
        slug=slug,
        planned_start=planned_start,
    )
    events.record(release=release, verb="plan.created_from_template", actor=actor, template=template.name)
    return release


@transaction.atomic
def release_clone(
    *, release_id: int, actor, name: str, version: str, owner=None, slug: str = "", planned_start=None
) -> Release:
    source = Release.objects.select_related("owner").get(pk=release_id)
    plan = plan_capture(source)
    release = _create_from_plan(
        plan=plan,
        actor=actor,
        name=name,
        version=version,
        owner=owner or source.owner,
        slug=slug,
        planned_start=planned_start,
    )
    events.record(release=release, verb="plan.cloned", actor=actor, source=source.slug)
    return release
