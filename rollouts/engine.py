"""The rollout engine: what the periodic tick does.

Due work lives in the database. Each tick (Celery beat, every ENGINE_TICK_SECONDS):
1. claims measured gates that are due (skip-locked, with a lease) and hands each to a task;
2. advances phases whose required gates passed and whose soak is over, when auto-advance
   is on and no freeze or allowed-hours rule holds automation back;
3. marks releases degraded whose phase ran past its progress deadline;
4. hands due webhook deliveries and automated rollback steps to their tasks.
Every state change goes through transitions.py, so a tick delivered twice, two ticks at
once, or a tick killed half-way cannot make two transitions from one decision.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from rollouts import action_registry, gate_checks, gate_registry, http, transitions, webhooks
from rollouts.models import (
    EXTERNAL_GATE_KINDS,
    GATE_CLEARED,
    MEASURED_GATE_KINDS,
    Gate,
    GateStatus,
    Phase,
    PhaseStatus,
    Release,
    ReleaseStatus,
    RollbackAction,
    RollbackRun,
    RollbackRunStep,
)

log = logging.getLogger("rollouts.engine")

GATE_LEASE = timedelta(seconds=60)


@dataclass
class TickReport:
    gates_claimed: list = field(default_factory=list)  # (gate_id, claim_token)
    advanced: list = field(default_factory=list)  # release ids
    completed: list = field(default_factory=list)
    degraded: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)
    rollback_runs: list = field(default_factory=list)
    external_passed: list = field(default_factory=list)


def claim_due_gates(*, now, limit: int = 100) -> list[tuple[int, str]]:
    with transaction.atomic():
        due = list(
            Gate.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                kind__in=MEASURED_GATE_KINDS,
                status=GateStatus.PENDING,
                next_check_at__lte=now,
                phase__status=PhaseStatus.ACTIVE,
                phase__release__status=ReleaseStatus.IN_PROGRESS,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_check_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        claims = []
        for gate_id in due:
            token = str(uuid.uuid4())
            Gate.objects.filter(pk=gate_id).update(claim_token=token, claimed_until=now + GATE_LEASE)
            claims.append((gate_id, token))
    return claims


def evaluate_gate(gate_id: int, claim_token: str) -> str:
    """Measure one claimed gate (network call outside any transaction) and record it."""
    gate = Gate.objects.filter(pk=gate_id).only("kind", "config", "claim_token").first()
    if gate is None or gate.claim_token != claim_token:
        return "stale"
    result = gate_checks.measure(gate.kind, gate.config)
    measurement = transitions.gate_record_measurement(gate_id=gate_id, claim_token=claim_token, result=result)
    return "recorded" if measurement is not None else "stale"


def advance_candidates():
    """Releases whose current auto-advance phase has its required gates cleared (soak not checked)."""
    blocking = Gate.objects.filter(phase=OuterRef("current_phase"), required=True).exclude(status__in=GATE_CLEARED)
    return (
        Release.objects.filter(
            status=ReleaseStatus.IN_PROGRESS,
            current_phase__auto_advance=True,
            current_phase__status=PhaseStatus.ACTIVE,
        )
        .exclude(Exists(blocking))
        .select_related("current_phase")
    )


def auto_advance(*, now, report: TickReport) -> None:
    for release in advance_candidates():
        phase = release.current_phase
        if phase.soak_ends_at is None or phase.soak_ends_at > now:
            continue
        is_last = not Phase.objects.filter(release_id=release.pk, position__gt=phase.position).exists()
        try:
            if is_last:
                transitions.release_complete(release_id=release.pk, actor=None, now=now)
                report.completed.append(release.pk)
            else:
                transitions.phase_advance(release_id=release.pk, phase_id=phase.pk, actor=None, now=now)
                report.advanced.append(release.pk)
        except transitions.TransitionError as exc:
            log.debug("engine.advance_skipped release=%s: %s", release.pk, exc.message)


def mark_deadlines(*, now, report: TickReport) -> None:
    phases = Phase.objects.filter(
        status=PhaseStatus.ACTIVE,
        progress_deadline_minutes__isnull=False,
        release__status__in=[ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED],
        release__degraded_at__isnull=True,
    ).only("pk", "release_id", "started_at", "progress_deadline_minutes")
    for phase in phases:
        overdue = phase.deadline_at is not None and phase.deadline_at <= now
        if overdue and transitions.release_mark_degraded(release_id=phase.release_id, phase_id=phase.pk, now=now):
            report.degraded.append(phase.release_id)


def due_rollback_runs(*, now) -> list[int]:
    return list(
        RollbackRunStep.objects.filter(
            run__status=RollbackRun.Status.RUNNING,
            done_at__isnull=True,
            failed_at__isnull=True,
        )
        .exclude(action=RollbackAction.MANUAL)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("run_id", flat=True)
        .distinct()
    )


def check_external_gates(*, now) -> list[int]:
    """Ask other apps about their gates (comms: was the message sent to everyone?)."""
    passed = []
    gates = Gate.objects.filter(
        kind__in=EXTERNAL_GATE_KINDS,
        status=GateStatus.PENDING,
        phase__status=PhaseStatus.ACTIVE,
        phase__release__status__in=[ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED],
    ).only("pk", "kind", "config")
    for gate in gates:
        checker = gate_registry.checker_for(gate.kind)
        if checker is None:
            continue
        ok, evidence = checker(gate)
        if ok and transitions.gate_record_check(gate_id=gate.pk, passed=True, evidence=evidence, now=now):
            passed.append(gate.pk)
    return passed


def tick(*, now=None, enqueue=None) -> TickReport:
    """One pass of the engine. `enqueue(task_name, *args)` hands work to tasks."""
    now = now or timezone.now()
    enqueue = enqueue or _enqueue
    report = TickReport()
    report.gates_claimed = claim_due_gates(now=now)
    for gate_id, token in report.gates_claimed:
        enqueue("evaluate_gate", gate_id, token)
    report.external_passed = check_external_gates(now=now)
    auto_advance(now=now, report=report)
    mark_deadlines(now=now, report=report)
    report.deliveries = webhooks.claim_due(now=now)
    for delivery_id in report.deliveries:
        enqueue("deliver_webhook", delivery_id)
    report.rollback_runs = due_rollback_runs(now=now)
    for run_id in report.rollback_runs:
        enqueue("run_rollback_automation", run_id)
    return report


def _enqueue(task_name: str, *args) -> None:
    from rollouts import tasks

    getattr(tasks, task_name).delay(*args)


def run_rollback_step(run_id: int) -> str:
    """Claim and execute the next automated rollback step of a run, if one is due."""
    step_id = transitions.rollback_claim_next_step(run_id=run_id)
    if step_id is None:
        return "nothing due"
    step = RollbackRunStep.objects.select_related("run__release").get(pk=step_id)
    ok, message = execute_rollback_action(step)
    return transitions.rollback_step_automation_result(run_step_id=step_id, ok=ok, message=message)


def execute_rollback_action(step: RollbackRunStep) -> tuple[bool, str]:
    if step.action == RollbackAction.WEBHOOK:
        import json

        release = step.run.release
        body = json.dumps(
            {
                "type": "rollback.step",
                "release": {"slug": release.slug, "name": release.name, "version": release.version},
                "run": step.run_id,
                "step": {"id": step.pk, "title": step.title, "attempt": step.attempts},
                "reason": step.run.reason,
            },
            separators=(",", ":"),
        ).encode()
        try:
            response = http.request(
                step.action_config.get("method", "POST"),
                step.action_config["url"],
                content=body,
                headers={"Content-Type": "application/json", "Idempotency-Key": f"rollback-step-{step.pk}"},
            )
        except http.OutboundError as exc:
            return False, exc.message
        if 200 <= response.status_code < 300:
            return True, f"Webhook answered {response.status_code}."
        return False, f"Webhook answered {response.status_code}."
    performer = action_registry.performer_for(step.action)
    if performer is not None:
        return performer(step)
    return False, f"Unknown automated action {step.action!r}."
