"""The rollout state machine: every change of a release's, phase's or gate's state.

Each function runs in one transaction, locks the release row first, checks that the
move is allowed from the state it finds, writes the Event, and lets rollouts.events
hand that Event to other apps after commit. Two callers racing on one decision get one
transition; the loser gets AlreadyDone with a message saying what happened.
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from rollouts import events, faults
from rollouts.models import (
    GATE_CLEARED,
    MEASURED_GATE_KINDS,
    ChecklistItem,
    Gate,
    GateDecision,
    GateFailurePolicy,
    GateKind,
    GateMeasurement,
    GateStatus,
    Phase,
    PhaseStatus,
    Release,
    ReleaseStatus,
    RollbackAction,
    RollbackRun,
    RollbackRunStep,
    Verdict,
)
from rollouts.rules import phase_blockers
from rollouts.schedule import automation_block

log = logging.getLogger("rollouts.transitions")

S = ReleaseStatus

ALLOWED: dict[str, set[str]] = {
    S.DRAFT: {S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED},
    S.SCHEDULED: {S.DRAFT, S.IN_PROGRESS, S.CANCELLED},
    S.IN_PROGRESS: {S.PAUSED, S.ROLLING_BACK, S.COMPLETED, S.CANCELLED},
    S.PAUSED: {S.IN_PROGRESS, S.ROLLING_BACK, S.CANCELLED},
    S.ROLLING_BACK: {S.ROLLED_BACK},
    S.COMPLETED: set(),
    S.ROLLED_BACK: set(),
    S.CANCELLED: set(),
}

_ALREADY = {
    S.SCHEDULED: "This release is already scheduled.",
    S.IN_PROGRESS: "This release is already in progress.",
    S.PAUSED: "This release is already paused.",
    S.ROLLING_BACK: "A rollback is already running for this release.",
    S.COMPLETED: "This release is already completed.",
    S.ROLLED_BACK: "This release was already rolled back.",
    S.CANCELLED: "This release is already cancelled.",
    S.DRAFT: "This release is already a draft.",
}


class TransitionError(Exception):
    """A state change that cannot happen; the message is for people."""

    code = "invalid_transition"
    status_code = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidTransition(TransitionError):
    pass


class AlreadyDone(TransitionError):
    """Someone (maybe this very caller, retrying) already made this change."""

    code = "already_done"


class NotReady(TransitionError):
    code = "not_ready"


class NotPermitted(TransitionError):
    """A rule of the domain, not of roles: e.g. owners never approve their own release."""

    code = "not_permitted"
    status_code = 403


def _lock_release(release_id: int) -> Release:
    try:
        return Release.objects.select_for_update().get(pk=release_id)
    except Release.DoesNotExist:
        raise InvalidTransition("This release no longer exists.") from None


def _check_move(release: Release, to: str) -> None:
    if release.status == to:
        raise AlreadyDone(_ALREADY[to])
    if to not in ALLOWED[release.status]:
        raise InvalidTransition(
            f"A release that is {release.get_status_display().lower()} cannot become {S(to).label.lower()}."
        )


def _set_status(release: Release, to: str, **fields) -> None:
    release.status = to
    for name, value in fields.items():
        setattr(release, name, value)
    release.save(update_fields=["status", "updated_at", *fields])


def _actor(user):
    return user if getattr(user, "is_authenticated", False) else None


def _touch(release: Release) -> None:
    release.save(update_fields=["updated_at"])


def _enqueue(task_name: str, *args) -> None:
    """Hand work to a Celery task once the transaction commits (tasks import us, not the reverse)."""

    def send():
        from rollouts import tasks

        getattr(tasks, task_name).delay(*args)

    transaction.on_commit(send)


def _activate_phase(phase: Phase, now) -> None:
    Phase.objects.filter(pk=phase.pk).update(status=PhaseStatus.ACTIVE, started_at=now)
    # Measured gates of the phase start measuring at once.
    Gate.objects.filter(phase=phase, kind__in=MEASURED_GATE_KINDS, status=GateStatus.PENDING).update(next_check_at=now)


def _check_schedule(release: Release, *, actor, reason: str, now, what: str) -> str:
    """Automation never acts in a freeze or outside allowed hours; a person may, with a reason.

    Returns the block's kind ("freeze"/"hours") when a person overrides it, else "".
    """
    block = automation_block(release, now)
    if block is None:
        return ""
    if _actor(actor) is None:
        raise NotReady(f"Automation waits: {block.message}.")
    if not reason.strip():
        raise NotReady(f"{block.message}. To {what} anyway, give a reason; it goes on the timeline.")
    return block.kind


# --- Release lifecycle ----------------------------------------------------------------


@transaction.atomic
def release_schedule(*, release_id: int, actor) -> Release:
    release = _lock_release(release_id)
    _check_move(release, S.SCHEDULED)
    if not release.phases.exists():
        raise NotReady("Add at least one phase before scheduling the release.")
    _set_status(release, S.SCHEDULED)
    events.record(release=release, verb="release.scheduled", actor=_actor(actor))
    return release


@transaction.atomic
def release_start(*, release_id: int, actor) -> Release:
    release = _lock_release(release_id)
    _check_move(release, S.IN_PROGRESS)
    if release.status == S.PAUSED:
        raise InvalidTransition("This release is paused; resume it instead of starting it.")
    first = release.phases.order_by("position", "id").first()
    if first is None:
        raise NotReady("Add at least one phase before starting the release.")
    now = timezone.now()
    _activate_phase(first, now)
    _set_status(release, S.IN_PROGRESS, started_at=now, current_phase=first)
    events.record(
        release=release,
        verb="release.started",
        actor=_actor(actor),
        phase=first,
        exposure=first.exposure_percent,
    )
    return release


@transaction.atomic
def phase_advance(*, release_id: int, phase_id: int, actor, now=None, reason: str = "") -> Phase:
    """Pass the current phase and start the next one.

    The caller names the phase it saw as current; if another request already moved the
    release on, this one is refused with AlreadyDone instead of advancing twice. `actor`
    None is the engine, which never advances inside a freeze or outside allowed hours.
    """
    release = _lock_release(release_id)
    now = now or timezone.now()
    phase = Phase.objects.filter(pk=phase_id, release_id=release.pk).first()
    if phase is None:
        raise InvalidTransition("That phase is not part of this release.")
    if phase.status == PhaseStatus.PASSED or (release.current_phase_id != phase.pk and phase.finished_at):
        raise AlreadyDone(f"Phase “{phase.name}” was already advanced.")
    if release.status != S.IN_PROGRESS:
        raise InvalidTransition(
            f"Only a release in progress can advance; this one is {release.get_status_display().lower()}."
        )
    if release.current_phase_id != phase.pk or phase.status != PhaseStatus.ACTIVE:
        raise InvalidTransition(f"Phase “{phase.name}” is not the active phase.")
    nxt = release.phases.filter(position__gt=phase.position).order_by("position", "id").first()
    if nxt is None:
        raise InvalidTransition("This is the last phase: complete the release instead.")
    blockers = phase_blockers(phase, now=now)
    if blockers:
        raise NotReady("Cannot advance yet. " + " ".join(b + "." for b in blockers))
    override = _check_schedule(release, actor=actor, reason=reason, now=now, what="advance")
    updated = Phase.objects.filter(pk=phase.pk, status=PhaseStatus.ACTIVE).update(
        status=PhaseStatus.PASSED, finished_at=now
    )
    if updated != 1:  # belt and braces: the release lock already serialises us
        raise AlreadyDone(f"Phase “{phase.name}” was already advanced.")
    _activate_phase(nxt, now)
    _set_status(release, S.IN_PROGRESS, current_phase=nxt, degraded_at=None)
    faults.point("advance.before_commit")
    extra = {"override": override} if override else {}
    events.record(
        release=release,
        verb="phase.advanced",
        actor=_actor(actor),
        phase=nxt,
        reason=reason,
        from_phase=phase.name,
        to_phase=nxt.name,
        exposure=nxt.exposure_percent,
        automatic=_actor(actor) is None,
        **extra,
    )
    nxt.refresh_from_db()
    return nxt


@transaction.atomic
def release_complete(*, release_id: int, actor, now=None, reason: str = "") -> Release:
    release = _lock_release(release_id)
    now = now or timezone.now()
    _check_move(release, S.COMPLETED)
    if release.status != S.IN_PROGRESS:
        raise InvalidTransition("Resume the release before completing it.")
    phase = release.current_phase
    if phase is None:
        raise InvalidTransition("This release has no active phase.")
    if release.phases.filter(position__gt=phase.position).exists():
        remaining = release.phases.filter(position__gt=phase.position).count()
        raise NotReady(f"{remaining} phase(s) still to go: advance through them before completing.")
    blockers = phase_blockers(phase, now=now)
    if blockers:
        raise NotReady("Cannot complete yet. " + " ".join(b + "." for b in blockers))
    override = _check_schedule(release, actor=actor, reason=reason, now=now, what="complete")
    Phase.objects.filter(pk=phase.pk, status=PhaseStatus.ACTIVE).update(status=PhaseStatus.PASSED, finished_at=now)
    _set_status(release, S.COMPLETED, finished_at=now, degraded_at=None)
    extra = {"override": override} if override else {}
    events.record(
        release=release,
        verb="release.completed",
        actor=_actor(actor),
        phase=phase,
        reason=reason,
        automatic=_actor(actor) is None,
        **extra,
    )
    return release


@transaction.atomic
def release_pause(*, release_id: int, actor, reason: str = "") -> Release:
    release = _lock_release(release_id)
    _check_move(release, S.PAUSED)
    _set_status(release, S.PAUSED)
    events.record(
        release=release, verb="release.paused", actor=_actor(actor), phase=release.current_phase, reason=reason
    )
    return release


@transaction.atomic
def release_resume(*, release_id: int, actor, reason: str = "") -> Release:
    release = _lock_release(release_id)
    if release.status == S.IN_PROGRESS:
        raise AlreadyDone("This release is already running.")
    if release.status != S.PAUSED:
        raise InvalidTransition(
            f"Only a paused release can resume; this one is {release.get_status_display().lower()}."
        )
    _set_status(release, S.IN_PROGRESS)
    # Measured gates that are still open start a fresh analysis, as Argo does on a retry:
    # an inconclusive or flaky stretch before the pause does not count against them.
    remeasured = Gate.objects.filter(
        phase_id=release.current_phase_id, kind__in=MEASURED_GATE_KINDS, status=GateStatus.PENDING
    ).update(
        measurement_count=0,
        success_count=0,
        failure_count=0,
        inconclusive_count=0,
        consecutive_errors=0,
        next_check_at=timezone.now(),
        claim_token="",
        claimed_until=None,
    )
    events.record(
        release=release,
        verb="release.resumed",
        actor=_actor(actor),
        phase=release.current_phase,
        reason=reason,
        gates_remeasured=remeasured,
    )
    return release


@transaction.atomic
def release_cancel(*, release_id: int, actor, reason: str = "") -> Release:
    release = _lock_release(release_id)
    _check_move(release, S.CANCELLED)
    now = timezone.now()
    release.phases.filter(status__in=[PhaseStatus.PENDING, PhaseStatus.ACTIVE]).update(
        status=PhaseStatus.SKIPPED, finished_at=now
    )
    _set_status(release, S.CANCELLED, finished_at=now)
    events.record(release=release, verb="release.cancelled", actor=_actor(actor), reason=reason)
    return release


# --- Rollback -------------------------------------------------------------------------


@transaction.atomic
def release_rollback(*, release_id: int, actor, reason: str) -> RollbackRun:
    """Start the rollback: withdraw the current phase and open a run of the plan's steps."""
    release = _lock_release(release_id)
    _check_move(release, S.ROLLING_BACK)
    if not reason.strip():
        raise InvalidTransition("Say why you are rolling back; the reason goes on the timeline.")
    return _start_rollback(release, actor=actor, reason=reason, now=timezone.now())


def _start_rollback(release: Release, *, actor, reason: str, now, gate: Gate | None = None) -> RollbackRun:
    """Open the rollback run; the caller holds the release lock and checked the move."""
    release.phases.filter(status=PhaseStatus.ACTIVE).update(status=PhaseStatus.ROLLED_BACK, finished_at=now)
    release.phases.filter(status=PhaseStatus.PENDING).update(status=PhaseStatus.SKIPPED)
    run = RollbackRun.objects.create(release=release, started_by=_actor(actor), reason=reason, started_at=now)
    steps = list(release.rollback_steps.order_by("position", "id"))
    RollbackRunStep.objects.bulk_create(
        RollbackRunStep(
            run=run,
            step=step,
            position=i,
            title=step.title,
            instructions=step.instructions,
            owner_id=step.owner_id,
            expected_minutes=step.expected_minutes,
            action=step.action,
            action_config=step.action_config,
        )
        for i, step in enumerate(steps)
    )
    _set_status(release, S.ROLLING_BACK)
    events.record(
        release=release,
        verb="rollback.started",
        actor=_actor(actor),
        phase=release.current_phase,
        reason=reason,
        run=run.pk,
        gate=gate,
        steps=len(steps),
        automatic=_actor(actor) is None,
    )
    if not steps:
        _finish_rollback(release, run, actor=None, now=now)
    elif any(step.action != RollbackAction.MANUAL for step in steps):
        _enqueue("run_rollback_automation", run.pk)
    return run


def _finish_rollback(release: Release, run: RollbackRun, *, actor, now) -> None:
    run.status = RollbackRun.Status.COMPLETED
    run.finished_at = now
    run.save(update_fields=["status", "finished_at"])
    _set_status(release, S.ROLLED_BACK, finished_at=now)
    events.record(release=release, verb="rollback.completed", actor=_actor(actor), run=run.pk)


@transaction.atomic
def rollback_step_done(*, run_step_id: int, actor, note: str = "") -> RollbackRunStep:
    step = RollbackRunStep.objects.select_related("run").filter(pk=run_step_id).first()
    if step is None:
        raise InvalidTransition("That rollback step no longer exists.")
    release = _lock_release(step.run.release_id)
    step = RollbackRunStep.objects.select_related("run").get(pk=run_step_id)
    if step.done_at is not None:
        raise AlreadyDone(f"Step “{step.title}” was already ticked off.")
    if step.run.status != RollbackRun.Status.RUNNING:
        raise InvalidTransition("This rollback is already finished.")
    now = timezone.now()
    if step.claimed_until is not None and step.claimed_until > now:
        raise InvalidTransition(f"Step “{step.title}” is running automatically right now; wait for its result.")
    step.done_by = _actor(actor)
    step.done_at = now
    step.note = note
    step.save(update_fields=["done_by", "done_at", "note"])
    events.record(release=release, verb="rollback.step_done", actor=_actor(actor), step=step.title, note=note)
    _touch(release)
    if not step.run.steps.filter(done_at__isnull=True).exists():
        _finish_rollback(release, step.run, actor=actor, now=now)
    else:
        _enqueue("run_rollback_automation", step.run_id)
    return step


# --- Gates ----------------------------------------------------------------------------


def _lock_for_gate(gate_id: int) -> tuple[Release, Gate]:
    release_id = Gate.objects.filter(pk=gate_id).values_list("phase__release_id", flat=True).first()
    if release_id is None:
        raise InvalidTransition("That gate no longer exists.")
    release = _lock_release(release_id)
    gate = Gate.objects.select_related("phase").get(pk=gate_id)
    return release, gate


def _check_gate_open(release: Release, gate: Gate) -> None:
    if release.status in (S.COMPLETED, S.ROLLED_BACK, S.CANCELLED, S.ROLLING_BACK):
        raise InvalidTransition(f"This release is {release.get_status_display().lower()}; its gates are closed.")
    if gate.phase.status == PhaseStatus.PENDING:
        raise InvalidTransition(f"Phase “{gate.phase.name}” has not started yet; its gates open when it does.")
    if gate.phase.status != PhaseStatus.ACTIVE:
        raise InvalidTransition(f"Phase “{gate.phase.name}” is over; its gates are closed.")


def _fail_required_gate(release: Release, gate: Gate, actor) -> None:
    """A failed required gate stops the rollout: a pause for a person, or the rollback,
    as the release's policy says."""
    if not gate.required or release.status not in (S.IN_PROGRESS, S.PAUSED):
        return
    reason = f"Required gate “{gate.name}” failed."
    if release.on_gate_failure == GateFailurePolicy.ROLLBACK:
        _start_rollback(release, actor=None, reason=reason, now=timezone.now(), gate=gate)
    elif release.status == S.IN_PROGRESS:
        _set_status(release, S.PAUSED)
        events.record(release=release, verb="release.paused", actor=None, phase=gate.phase, gate=gate, reason=reason)


@transaction.atomic
def gate_approve(*, gate_id: int, actor, comment: str = "") -> Gate:
    release, gate = _lock_for_gate(gate_id)
    if gate.kind != GateKind.MANUAL_APPROVAL:
        raise InvalidTransition("Only manual approval gates are approved by people.")
    if release.owner_id == getattr(actor, "pk", None):
        raise NotPermitted("You own this release, so you cannot approve its gates. Ask another approver.")
    if gate.status in GATE_CLEARED:
        raise AlreadyDone(f"Gate “{gate.name}” has already passed.")
    if gate.status == GateStatus.FAILED:
        raise InvalidTransition(f"Gate “{gate.name}” was rejected; a release manager must reopen it first.")
    _check_gate_open(release, gate)
    try:
        with transaction.atomic():
            GateDecision.objects.create(gate=gate, user=actor, decision=GateDecision.Decision.APPROVE, comment=comment)
    except IntegrityError:
        raise AlreadyDone("You have already given your decision on this gate.") from None
    approvals = gate.decisions.filter(decision=GateDecision.Decision.APPROVE).count()
    events.record(
        release=release,
        verb="gate.approved",
        actor=actor,
        phase=gate.phase,
        gate=gate,
        reason=comment,
        approvals=approvals,
        required=gate.required_approvals,
    )
    if approvals >= gate.required_approvals:
        gate.status = GateStatus.PASSED
        gate.decided_by = actor
        gate.decided_at = timezone.now()
        gate.save(update_fields=["status", "decided_by", "decided_at"])
        events.record(release=release, verb="gate.passed", actor=actor, phase=gate.phase, gate=gate)
    _touch(release)
    return gate


@transaction.atomic
def gate_reject(*, gate_id: int, actor, comment: str) -> Gate:
    release, gate = _lock_for_gate(gate_id)
    if gate.kind != GateKind.MANUAL_APPROVAL:
        raise InvalidTransition("Only manual approval gates are rejected by people.")
    if release.owner_id == getattr(actor, "pk", None):
        raise NotPermitted("You own this release, so you cannot decide its gates. Ask another approver.")
    if gate.status == GateStatus.FAILED:
        raise AlreadyDone(f"Gate “{gate.name}” was already rejected.")
    if gate.status in GATE_CLEARED:
        raise InvalidTransition(f"Gate “{gate.name}” has already passed.")
    _check_gate_open(release, gate)
    if not comment.strip():
        raise InvalidTransition("Say why you reject this gate; the reason goes on the timeline.")
    try:
        with transaction.atomic():
            GateDecision.objects.create(gate=gate, user=actor, decision=GateDecision.Decision.REJECT, comment=comment)
    except IntegrityError:
        raise AlreadyDone("You have already given your decision on this gate.") from None
    now = timezone.now()
    gate.status = GateStatus.FAILED
    gate.decided_by = actor
    gate.decided_at = now
    gate.save(update_fields=["status", "decided_by", "decided_at"])
    events.record(release=release, verb="gate.rejected", actor=actor, phase=gate.phase, gate=gate, reason=comment)
    _fail_required_gate(release, gate, actor)
    _touch(release)
    return gate


@transaction.atomic
def gate_reopen(*, gate_id: int, actor, reason: str = "") -> Gate:
    """Put a failed gate back to pending, clearing its decisions (kept on the timeline)."""
    release, gate = _lock_for_gate(gate_id)
    if gate.status == GateStatus.PENDING:
        raise AlreadyDone(f"Gate “{gate.name}” is already open.")
    if gate.status != GateStatus.FAILED:
        raise InvalidTransition(f"Only a failed gate can be reopened; “{gate.name}” has passed.")
    _check_gate_open(release, gate)
    previous = list(gate.decisions.values_list("user__username", "decision"))
    gate.decisions.all().delete()
    gate.status = GateStatus.PENDING
    gate.decided_by = None
    gate.decided_at = None
    gate.save(update_fields=["status", "decided_by", "decided_at"])
    events.record(
        release=release,
        verb="gate.reopened",
        actor=_actor(actor),
        phase=gate.phase,
        gate=gate,
        reason=reason,
        previous_decisions=[f"{u}: {d}" for u, d in previous],
    )
    _touch(release)
    return gate


@transaction.atomic
def checklist_item_set(*, item_id: int, actor, checked: bool) -> ChecklistItem:
    gate_id = ChecklistItem.objects.filter(pk=item_id).values_list("gate_id", flat=True).first()
    if gate_id is None:
        raise InvalidTransition("That checklist item no longer exists.")
    release, gate = _lock_for_gate(gate_id)
    item = ChecklistItem.objects.get(pk=item_id)
    if checked == (item.checked_at is not None):
        raise AlreadyDone(f"“{item.text}” is already {'ticked' if checked else 'unticked'}.")
    _check_gate_open(release, gate)
    now = timezone.now()
    item.checked_by = _actor(actor) if checked else None
    item.checked_at = now if checked else None
    item.save(update_fields=["checked_by", "checked_at"])
    events.record(
        release=release,
        verb="checklist.ticked" if checked else "checklist.unticked",
        actor=_actor(actor),
        phase=gate.phase,
        gate=gate,
        item=item.text,
    )
    all_done = not gate.items.filter(checked_at__isnull=True).exists()
    if all_done and gate.status == GateStatus.PENDING:
        gate.status = GateStatus.PASSED
        gate.decided_by = _actor(actor)
        gate.decided_at = now
        gate.save(update_fields=["status", "decided_by", "decided_at"])
        events.record(release=release, verb="gate.passed", actor=_actor(actor), phase=gate.phase, gate=gate)
    elif not all_done and gate.status == GateStatus.PASSED:
        gate.status = GateStatus.PENDING
        gate.decided_by = None
        gate.decided_at = None
        gate.save(update_fields=["status", "decided_by", "decided_at"])
        events.record(release=release, verb="gate.reopened", actor=_actor(actor), phase=gate.phase, gate=gate)
    _touch(release)
    return item


@transaction.atomic
def release_unschedule(*, release_id: int, actor) -> Release:
    release = _lock_release(release_id)
    _check_move(release, S.DRAFT)
    _set_status(release, S.DRAFT)
    events.record(release=release, verb="release.unscheduled", actor=_actor(actor))
    return release


# --- Automated gates ------------------------------------------------------------------


def _gate_passes(release: Release, gate: Gate, now, verb_data: dict) -> None:
    gate.status = GateStatus.PASSED
    gate.decided_at = now
    gate.next_check_at = None
    gate.save(update_fields=["status", "decided_at", "next_check_at"])
    events.record(release=release, verb="gate.passed", actor=None, phase=gate.phase, gate=gate, **verb_data)


def _gate_fails(release: Release, gate: Gate, now, message: str, verb_data: dict) -> None:
    gate.status = GateStatus.FAILED
    gate.decided_at = now
    gate.next_check_at = None
    gate.save(update_fields=["status", "decided_at", "next_check_at"])
    events.record(
        release=release, verb="gate.failed", actor=None, phase=gate.phase, gate=gate, reason=message, **verb_data
    )
    _fail_required_gate(release, gate, None)


@transaction.atomic
def gate_record_measurement(*, gate_id: int, claim_token: str, result, now=None) -> GateMeasurement | None:
    """Store one measurement taken under a claim, and act on what it means.

    A claim records once: a second delivery of the same task, or a task whose lease ran
    out and was claimed again by another, finds the token gone and records nothing.
    """
    from rollouts import gate_checks

    now = now or timezone.now()
    try:
        release, gate = _lock_for_gate(gate_id)
    except InvalidTransition:  # the gate was removed while it was measured
        return None
    if not claim_token or gate.claim_token != claim_token:
        log.info("gate.measurement_dropped gate=%s (claim no longer held)", gate_id)
        return None
    gate.claim_token = ""
    gate.claimed_until = None
    if gate.status != GateStatus.PENDING or gate.phase.status != PhaseStatus.ACTIVE:
        gate.save(update_fields=["claim_token", "claimed_until"])
        return None
    measurement = GateMeasurement.objects.create(
        gate=gate,
        taken_at=now,
        value=result.value,
        verdict=result.verdict,
        message=result.message[:2000],
        detail=result.detail,
        claim_token=claim_token,
    )
    if result.verdict == Verdict.ERROR:
        gate.consecutive_errors += 1
    else:
        gate.consecutive_errors = 0
        gate.measurement_count += 1
        if result.verdict == Verdict.SUCCESS:
            gate.success_count += 1
        elif result.verdict == Verdict.FAILURE:
            gate.failure_count += 1
        else:
            gate.inconclusive_count += 1
    interval = int(gate.config.get("interval_seconds", 30))
    gate.next_check_at = now + timedelta(seconds=interval)
    gate.save(
        update_fields=[
            "claim_token",
            "claimed_until",
            "consecutive_errors",
            "measurement_count",
            "success_count",
            "failure_count",
            "inconclusive_count",
            "next_check_at",
        ]
    )
    outcome = gate_checks.judge(
        gate.config,
        measurement_count=gate.measurement_count,
        success_count=gate.success_count,
        failure_count=gate.failure_count,
        inconclusive_count=gate.inconclusive_count,
        consecutive_errors=gate.consecutive_errors,
        last_verdict=result.verdict,
    )
    data = {"measurement": measurement.pk, "value": result.value, "verdict": result.verdict}
    if outcome == "passed":
        _gate_passes(release, gate, now, data)
    elif outcome == "failed":
        _gate_fails(release, gate, now, result.message or "Measurements crossed the failure limit.", data)
    elif outcome == "inconclusive" and release.status == S.IN_PROGRESS:
        # Neither pass nor fail: a person decides. Never promotes on its own.
        _set_status(release, S.PAUSED)
        events.record(
            release=release,
            verb="release.paused",
            actor=None,
            phase=gate.phase,
            gate=gate,
            reason=f"Gate “{gate.name}” is inconclusive: {result.message}",
            **data,
        )
    _touch(release)
    return measurement


@transaction.atomic
def gate_record_ci_result(*, gate_id: int, passed: bool, url: str = "", note: str = "", now=None) -> Gate:
    """A pipeline reports its result for a ci_result gate; kept as the gate's evidence."""
    now = now or timezone.now()
    release, gate = _lock_for_gate(gate_id)
    if gate.kind != GateKind.CI_RESULT:
        raise InvalidTransition("Only CI result gates take results from pipelines.")
    if gate.status != GateStatus.PENDING:
        raise AlreadyDone(f"Gate “{gate.name}” is already {gate.get_status_display().lower()}.")
    _check_gate_open(release, gate)
    verdict = Verdict.SUCCESS if passed else Verdict.FAILURE
    message = note[:2000] or ("Pipeline passed." if passed else "Pipeline failed.")
    measurement = GateMeasurement.objects.create(
        gate=gate, taken_at=now, value=1.0 if passed else 0.0, verdict=verdict, message=message, detail={"url": url}
    )
    gate.evidence = {"passed": passed, "url": url, "note": note, "reported_at": now.isoformat()}
    gate.measurement_count += 1
    gate.save(update_fields=["evidence", "measurement_count"])
    data = {"measurement": measurement.pk, "url": url}
    if passed:
        _gate_passes(release, gate, now, data)
    else:
        _gate_fails(release, gate, now, message, data)
    _touch(release)
    return gate


# --- Deadlines ------------------------------------------------------------------------


@transaction.atomic
def release_mark_degraded(*, release_id: int, phase_id: int, now=None) -> Release | None:
    """The phase ran past its progress deadline: say so once, and roll back if configured."""
    now = now or timezone.now()
    release = _lock_release(release_id)
    if release.status not in (S.IN_PROGRESS, S.PAUSED) or release.current_phase_id != phase_id:
        return None
    if release.degraded_at is not None:
        return None
    phase = Phase.objects.get(pk=phase_id)
    deadline = phase.deadline_at
    if deadline is None or deadline > now:
        return None
    release.degraded_at = now
    release.save(update_fields=["degraded_at", "updated_at"])
    reason = f"Phase “{phase.name}” did not advance within {phase.progress_deadline_minutes} min."
    events.record(release=release, verb="release.degraded", actor=None, phase=phase, reason=reason)
    if release.rollback_on_deadline:
        _start_rollback(release, actor=None, reason=reason, now=now)
    return release


# --- Automated rollback steps ---------------------------------------------------------

ROLLBACK_STEP_LEASE = timedelta(seconds=60)
ROLLBACK_STEP_MAX_ATTEMPTS = 3


@transaction.atomic
def rollback_claim_next_step(*, run_id: int, now=None) -> int | None:
    """Claim the next automated step of a running rollback, in plan order.

    Steps run in order: an automated step waits for every step before it, manual ones
    included. Returns the claimed step's id, or None when a person is next, the step
    is already claimed, or the run is over.
    """
    now = now or timezone.now()
    release_id = RollbackRun.objects.filter(pk=run_id).values_list("release_id", flat=True).first()
    if release_id is None:
        return None
    _lock_release(release_id)
    run = RollbackRun.objects.get(pk=run_id)
    if run.status != RollbackRun.Status.RUNNING:
        return None
    step = run.steps.filter(done_at__isnull=True).order_by("position", "id").first()
    if step is None or step.action == RollbackAction.MANUAL or step.failed_at is not None:
        return None
    if step.claimed_until is not None and step.claimed_until > now:
        return None
    step.claimed_until = now + ROLLBACK_STEP_LEASE
    step.attempts += 1
    step.save(update_fields=["claimed_until", "attempts"])
    return step.pk


@transaction.atomic
def rollback_step_automation_result(*, run_step_id: int, ok: bool, message: str, now=None) -> str:
    """Record what an automated step did. Returns "done", "retry", "failed" or "stale"."""
    now = now or timezone.now()
    run_id = RollbackRunStep.objects.filter(pk=run_step_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return "stale"
    release = _lock_release(RollbackRun.objects.values_list("release_id", flat=True).get(pk=run_id))
    step = RollbackRunStep.objects.select_related("run").get(pk=run_step_id)
    if step.done_at is not None or step.run.status != RollbackRun.Status.RUNNING or step.claimed_until is None:
        return "stale"
    if ok:
        step.claimed_until = None
        step.done_at = now
        step.note = message[:2000]
        step.last_error = ""
        step.save(update_fields=["claimed_until", "done_at", "note", "last_error"])
        events.record(release=release, verb="rollback.step_done", actor=None, step=step.title, note=message)
        _touch(release)
        if not step.run.steps.filter(done_at__isnull=True).exists():
            _finish_rollback(release, step.run, actor=None, now=now)
        else:
            _enqueue("run_rollback_automation", run_id)
        return "done"
    step.last_error = message[:2000]
    if step.attempts >= ROLLBACK_STEP_MAX_ATTEMPTS:
        step.claimed_until = None
        step.failed_at = now
        step.save(update_fields=["claimed_until", "last_error", "failed_at"])
        events.record(
            release=release,
            verb="rollback.step_failed",
            actor=None,
            step=step.title,
            reason=f"{message} — a person must do this step by hand and tick it off.",
        )
        _touch(release)
        return "failed"
    # Not before a short backoff: the lease doubles as the time of the next try.
    step.claimed_until = now + timedelta(seconds=5 * 2 ** (step.attempts - 1))
    step.save(update_fields=["claimed_until", "last_error"])
    _touch(release)
    return "retry"


@transaction.atomic
def gate_record_check(*, gate_id: int, passed: bool, evidence: dict, now=None) -> Gate | None:
    """Another app's checker decided a gate (see gate_registry). Once only."""
    now = now or timezone.now()
    try:
        release, gate = _lock_for_gate(gate_id)
    except InvalidTransition:
        return None
    if gate.status != GateStatus.PENDING or gate.phase.status != PhaseStatus.ACTIVE:
        return None
    gate.evidence = evidence
    gate.save(update_fields=["evidence"])
    if passed:
        _gate_passes(release, gate, now, {"evidence": evidence})
    else:
        _gate_fails(release, gate, now, evidence.get("reason", "The check failed."), {"evidence": evidence})
    _touch(release)
    return gate
