"""The release dossier: a release's whole story for change-advisory boards and audits.

One selector builds a JSON-ready dict (stable keys, ISO datetimes, no tokens, secrets or
hashes) that both the printable page and the JSON export show. It reads in a fixed number
of queries whatever the size of the release; notices and doc links come from the sections
other apps registered in rollouts/plan_registry.py.
"""

from collections import defaultdict

from django.db.models import Count, Max

from rollouts import plan_registry
from rollouts.models import (
    ChecklistItem,
    Event,
    Gate,
    GateDecision,
    GateMeasurement,
    Phase,
    Release,
    RollbackRunStep,
    RollbackStep,
)
from rollouts.release_templates import scrub

DOSSIER_VERSION = 1


def iso(value):
    return value.isoformat() if value else None


def person(user):
    if user is None:
        return None
    return {"username": user.get_username(), "name": user.get_full_name() or user.get_username()}


def _minutes_between(start, end):
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60, 1)


def release_dossier(*, slug: str) -> dict | None:
    release = Release.objects.select_related("owner", "current_phase").filter(slug=slug).first()
    if release is None:
        return None
    phases = list(Phase.objects.filter(release=release).order_by("position", "id"))
    gates = list(Gate.objects.filter(phase__release=release).select_related("decided_by").order_by("position", "id"))
    items = defaultdict(list)
    for item in ChecklistItem.objects.filter(gate__phase__release=release).select_related("checked_by"):
        items[item.gate_id].append(
            {"text": item.text, "checked_by": person(item.checked_by), "checked_at": iso(item.checked_at)}
        )
    decisions = defaultdict(list)
    for d in GateDecision.objects.filter(gate__phase__release=release).select_related("user"):
        decisions[d.gate_id].append(
            {"decision": d.decision, "by": person(d.user), "at": iso(d.created_at), "comment": d.comment}
        )
    verdicts = defaultdict(dict)
    last_taken = defaultdict(lambda: None)
    rows = (
        GateMeasurement.objects.filter(gate__phase__release=release)
        .values("gate_id", "verdict")
        .annotate(n=Count("id"), last=Max("taken_at"))
        .order_by()
    )
    for row in rows:
        verdicts[row["gate_id"]][row["verdict"]] = row["n"]
        if last_taken[row["gate_id"]] is None or row["last"] > last_taken[row["gate_id"]]:
            last_taken[row["gate_id"]] = row["last"]

    gates_by_phase = defaultdict(list)
    for gate in gates:
        gates_by_phase[gate.phase_id].append(
            {
                "name": gate.name,
                "kind": gate.kind,
                "kind_label": gate.get_kind_display(),
                "required": gate.required,
                "required_approvals": gate.required_approvals,
                "status": gate.status,
                "config": scrub(gate.config or {}),
                "evidence": scrub(gate.evidence or {}),
                "decided_by": person(gate.decided_by),
                "decided_at": iso(gate.decided_at),
                "approvals": decisions.get(gate.pk, []),
                "checklist": items.get(gate.pk, []),
                "measurements": {
                    "total": sum(verdicts.get(gate.pk, {}).values()),
                    "by_verdict": dict(sorted(verdicts.get(gate.pk, {}).items())),
                    "last_at": iso(last_taken[gate.pk]),
                },
            }
        )

    plan_steps = list(RollbackStep.objects.filter(release=release).select_related("owner"))
    runs = list(release.rollback_runs.select_related("started_by").order_by("started_at", "id"))
    run_steps = defaultdict(list)
    for step in RollbackRunStep.objects.filter(run__release=release).select_related("owner", "done_by"):
        run_steps[step.run_id].append(
            {
                "title": step.title,
                "action": step.action,
                "owner": person(step.owner),
                "done_by": person(step.done_by),
                "done_at": iso(step.done_at),
                "note": step.note,
                "attempts": step.attempts,
                "last_error": step.last_error,
                "failed_at": iso(step.failed_at),
            }
        )
    events = list(
        Event.objects.filter(release=release).select_related("actor", "phase", "gate").order_by("created_at", "id")
    )
    return {
        "dossier_version": DOSSIER_VERSION,
        "release": {
            "slug": release.slug,
            "name": release.name,
            "version": release.version,
            "summary": release.summary,
            "owner": person(release.owner),
            "strategy": release.strategy,
            "strategy_label": release.get_strategy_display(),
            "status": release.status,
            "status_label": release.get_status_display(),
            "on_gate_failure": release.on_gate_failure,
            "on_gate_failure_label": release.get_on_gate_failure_display(),
            "rollback_on_deadline": release.rollback_on_deadline,
            "planned_start": iso(release.planned_start),
            "started_at": iso(release.started_at),
            "finished_at": iso(release.finished_at),
            "degraded_at": iso(release.degraded_at),
            "created_at": iso(release.created_at),
        },
        "phases": [
            {
                "position": i + 1,
                "name": phase.name,
                "environment": phase.environment,
                "exposure_percent": phase.exposure_percent,
                "status": phase.status,
                "status_label": phase.get_status_display(),
                "auto_advance": phase.auto_advance,
                "min_soak_minutes": phase.min_soak_minutes,
                "progress_deadline_minutes": phase.progress_deadline_minutes,
                "planned_start": iso(phase.planned_start),
                "started_at": iso(phase.started_at),
                "finished_at": iso(phase.finished_at),
                "soak_ends_at": iso(phase.soak_ends_at),
                "ran_minutes": _minutes_between(phase.started_at, phase.finished_at),
                "start_delay_minutes": _minutes_between(phase.planned_start, phase.started_at),
                "gates": gates_by_phase.get(phase.pk, []),
            }
            for i, phase in enumerate(phases)
        ],
        "rollback_plan": [
            {
                "position": i + 1,
                "title": step.title,
                "instructions": step.instructions,
                "owner": person(step.owner),
                "expected_minutes": step.expected_minutes,
                "action": step.action,
            }
            for i, step in enumerate(plan_steps)
        ],
        "rollbacks": [
            {
                "started_by": person(run.started_by),
                "reason": run.reason,
                "status": run.status,
                "started_at": iso(run.started_at),
                "finished_at": iso(run.finished_at),
                "steps": run_steps.get(run.pk, []),
            }
            for run in runs
        ],
        "sections": {s.name: scrub(s.build(release)) for s in plan_registry.sections()},
        "events": [
            {
                "at": iso(e.created_at),
                "verb": e.verb,
                "actor": person(e.actor),
                "phase": e.phase.name if e.phase else None,
                "gate": e.gate.name if e.gate else None,
                "reason": e.reason,
                "data": scrub(e.data or {}),
            }
            for e in events
        ],
    }
