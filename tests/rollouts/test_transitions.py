"""Every move of the state machine: allowed, refused, and repeated."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from rollouts import events, transitions
from rollouts.models import (
    Event,
    Gate,
    GateDecision,
    GateKind,
    GateStatus,
    Phase,
    PhaseStatus,
    Release,
    ReleaseStatus,
    RollbackRun,
)
from tests.factories import ChecklistItemFactory, GateFactory, RollbackStepFactory, release_with_phases

pytestmark = pytest.mark.django_db


def verbs(release):
    return list(Event.objects.filter(release=release).order_by("id").values_list("verb", flat=True))


def start(release, actor):
    transitions.release_start(release_id=release.pk, actor=actor)
    release.refresh_from_db()
    return release


def approve_current(release, approver):
    release.refresh_from_db()
    for gate in release.current_phase.gates.all():
        transitions.gate_approve(gate_id=gate.pk, actor=approver)


# --- start / schedule -----------------------------------------------------------------


def test_release_start__draft_with_phases__first_phase_active_and_event(release, manager):
    # When
    start(release, manager)
    # Then
    first = release.phases.get(position=0)
    assert release.status == ReleaseStatus.IN_PROGRESS
    assert release.current_phase == first
    assert first.status == PhaseStatus.ACTIVE and first.started_at is not None
    assert release.started_at is not None
    assert verbs(release) == ["release.started"]


def test_release_start__no_phases__refused_and_nothing_changes(manager):
    release = release_with_phases(owner=manager, exposures=())
    with pytest.raises(transitions.NotReady, match="Add at least one phase"):
        transitions.release_start(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.DRAFT
    assert verbs(release) == []


def test_release_start__twice__second_says_already_in_progress(release, manager):
    start(release, manager)
    with pytest.raises(transitions.AlreadyDone, match="already in progress"):
        transitions.release_start(release_id=release.pk, actor=manager)
    assert verbs(release) == ["release.started"]


def test_release_schedule__draft__scheduled_then_back_to_draft(release, manager):
    transitions.release_schedule(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.SCHEDULED
    transitions.release_unschedule(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.DRAFT
    assert verbs(release) == ["release.scheduled", "release.unscheduled"]


def test_release_schedule__no_phases__refused(manager):
    release = release_with_phases(owner=manager, exposures=())
    with pytest.raises(transitions.NotReady):
        transitions.release_schedule(release_id=release.pk, actor=manager)


def test_release_start__scheduled__starts(release, manager):
    transitions.release_schedule(release_id=release.pk, actor=manager)
    start(release, manager)
    assert release.status == ReleaseStatus.IN_PROGRESS


def test_release_schedule__in_progress__refused(release, manager):
    start(release, manager)
    with pytest.raises(transitions.InvalidTransition, match="cannot become scheduled"):
        transitions.release_schedule(release_id=release.pk, actor=manager)


# --- gates ----------------------------------------------------------------------------


def test_gate_approve__approver_on_active_phase__gate_passes(release, manager, approver):
    start(release, manager)
    gate = release.current_phase.gates.get()
    transitions.gate_approve(gate_id=gate.pk, actor=approver, comment="Looks good")
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED
    assert gate.decided_by == approver
    assert verbs(release)[-2:] == ["gate.approved", "gate.passed"]


def test_gate_approve__owner_of_release__refused_with_reason(release, manager):
    start(release, manager)
    gate = release.current_phase.gates.get()
    with pytest.raises(transitions.NotPermitted, match="You own this release"):
        transitions.gate_approve(gate_id=gate.pk, actor=manager)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING
    assert not GateDecision.objects.exists()


def test_gate_approve__needs_two_approvals__passes_only_on_second(release, manager, approver, second_approver):
    start(release, manager)
    gate = release.current_phase.gates.get()
    Gate.objects.filter(pk=gate.pk).update(required_approvals=2)
    transitions.gate_approve(gate_id=gate.pk, actor=approver)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING
    transitions.gate_approve(gate_id=gate.pk, actor=second_approver)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED


def test_gate_approve__same_approver_twice__refused(release, manager, approver):
    start(release, manager)
    gate = release.current_phase.gates.get()
    Gate.objects.filter(pk=gate.pk).update(required_approvals=2)
    transitions.gate_approve(gate_id=gate.pk, actor=approver)
    with pytest.raises(transitions.AlreadyDone, match="already given your decision"):
        transitions.gate_approve(gate_id=gate.pk, actor=approver)
    assert GateDecision.objects.filter(gate=gate).count() == 1


def test_gate_approve__phase_not_started__refused(release, manager, approver):
    start(release, manager)
    later_gate = release.phases.get(position=1).gates.get()
    with pytest.raises(transitions.InvalidTransition, match="has not started yet"):
        transitions.gate_approve(gate_id=later_gate.pk, actor=approver)


def test_gate_approve__already_passed__already_done(release, manager, approver, second_approver):
    start(release, manager)
    gate = release.current_phase.gates.get()
    transitions.gate_approve(gate_id=gate.pk, actor=approver)
    with pytest.raises(transitions.AlreadyDone, match="already passed"):
        transitions.gate_approve(gate_id=gate.pk, actor=second_approver)


def test_gate_reject__required_gate__gate_fails_and_release_pauses(release, manager, approver):
    start(release, manager)
    gate = release.current_phase.gates.get()
    transitions.gate_reject(gate_id=gate.pk, actor=approver, comment="Error rate doubled")
    gate.refresh_from_db()
    release.refresh_from_db()
    assert gate.status == GateStatus.FAILED
    assert release.status == ReleaseStatus.PAUSED
    assert verbs(release)[-2:] == ["gate.rejected", "release.paused"]
    assert Event.objects.get(verb="release.paused").reason == f"Required gate “{gate.name}” failed."


def test_gate_reject__without_reason__refused(release, manager, approver):
    start(release, manager)
    gate = release.current_phase.gates.get()
    with pytest.raises(transitions.InvalidTransition, match="Say why"):
        transitions.gate_reject(gate_id=gate.pk, actor=approver, comment="  ")
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING


def test_gate_reject__advisory_gate__release_keeps_running(release, manager, approver):
    start(release, manager)
    gate = release.current_phase.gates.get()
    Gate.objects.filter(pk=gate.pk).update(required=False)
    transitions.gate_reject(gate_id=gate.pk, actor=approver, comment="meh")
    release.refresh_from_db()
    assert release.status == ReleaseStatus.IN_PROGRESS


def test_gate_reopen__failed_gate__pending_again_and_can_be_approved(release, manager, approver):
    start(release, manager)
    gate = release.current_phase.gates.get()
    transitions.gate_reject(gate_id=gate.pk, actor=approver, comment="no")
    transitions.gate_reopen(gate_id=gate.pk, actor=manager, reason="Fixed the config")
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING
    transitions.gate_approve(gate_id=gate.pk, actor=approver)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED
    reopened = Event.objects.get(verb="gate.reopened")
    assert reopened.data["previous_decisions"] == ["approver: reject"]


def test_gate_reopen__pending_gate__already_open(release, manager):
    start(release, manager)
    gate = release.current_phase.gates.get()
    with pytest.raises(transitions.AlreadyDone):
        transitions.gate_reopen(gate_id=gate.pk, actor=manager)


def test_checklist__all_items_ticked__gate_passes_and_unticking_reopens(release, manager, approver):
    start(release, manager)
    phase = release.current_phase
    phase.gates.all().delete()
    gate = GateFactory(phase=phase, kind=GateKind.CHECKLIST, name="Ready")
    a = ChecklistItemFactory(gate=gate, text="Docs published")
    b = ChecklistItemFactory(gate=gate, text="Support briefed")
    transitions.checklist_item_set(item_id=a.pk, actor=manager, checked=True)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING
    transitions.checklist_item_set(item_id=b.pk, actor=approver, checked=True)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED
    transitions.checklist_item_set(item_id=b.pk, actor=approver, checked=False)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING
    with pytest.raises(transitions.AlreadyDone, match="already unticked"):
        transitions.checklist_item_set(item_id=b.pk, actor=approver, checked=False)


# --- advance / complete ---------------------------------------------------------------


def test_phase_advance__gates_passed__next_phase_active(release, manager, approver):
    start(release, manager)
    first = release.current_phase
    approve_current(release, approver)
    nxt = transitions.phase_advance(release_id=release.pk, phase_id=first.pk, actor=manager)
    first.refresh_from_db()
    release.refresh_from_db()
    assert first.status == PhaseStatus.PASSED and first.finished_at is not None
    assert nxt.status == PhaseStatus.ACTIVE and release.current_phase == nxt
    assert nxt.exposure_percent == 10
    event = Event.objects.filter(verb="phase.advanced").get()
    assert event.actor == manager and event.data["exposure"] == 10


def test_phase_advance__required_gate_pending__refused_naming_the_gate(release, manager):
    start(release, manager)
    with pytest.raises(transitions.NotReady, match=r"Waiting for required gate: Gate 1\.1"):
        transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
    release.refresh_from_db()
    assert release.current_phase.position == 0


def test_phase_advance__advisory_gate_pending__advances(release, manager):
    start(release, manager)
    release.current_phase.gates.update(required=False)
    transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
    release.refresh_from_db()
    assert release.current_phase.position == 1


def test_phase_advance__soak_not_over__refused_until_it_is(manager, approver):
    release = release_with_phases(owner=manager, soak=30)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        start(release, manager)
        approve_current(release, approver)
        with pytest.raises(transitions.NotReady, match="Soak time not over: 30 min 0 s left"):
            transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
        traveller.shift(timedelta(minutes=29, seconds=59))
        with pytest.raises(transitions.NotReady, match="1 s left"):
            transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
        traveller.shift(timedelta(seconds=1))
        transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
    release.refresh_from_db()
    assert release.current_phase.position == 1


def test_phase_advance__same_phase_twice__second_is_already_advanced(release, manager, approver):
    start(release, manager)
    first_id = release.current_phase_id
    approve_current(release, approver)
    transitions.phase_advance(release_id=release.pk, phase_id=first_id, actor=manager)
    with pytest.raises(transitions.AlreadyDone, match="was already advanced"):
        transitions.phase_advance(release_id=release.pk, phase_id=first_id, actor=manager)
    assert Event.objects.filter(verb="phase.advanced").count() == 1


def test_phase_advance__paused_release__refused(release, manager, approver):
    start(release, manager)
    approve_current(release, approver)
    transitions.release_pause(release_id=release.pk, actor=manager)
    with pytest.raises(transitions.InvalidTransition, match="Only a release in progress can advance"):
        transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)


def test_phase_advance__last_phase__says_complete_instead(manager, approver):
    release = release_with_phases(owner=manager, exposures=(100,))
    start(release, manager)
    approve_current(release, approver)
    with pytest.raises(transitions.InvalidTransition, match="complete the release instead"):
        transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)


def test_phase_advance__not_the_active_phase__refused(release, manager):
    start(release, manager)
    later = release.phases.get(position=2)
    with pytest.raises(transitions.InvalidTransition, match="is not the active phase"):
        transitions.phase_advance(release_id=release.pk, phase_id=later.pk, actor=manager)


def test_release_complete__last_phase_passed__completed(release, manager, approver):
    start(release, manager)
    for _ in range(2):
        approve_current(release, approver)
        transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
        release.refresh_from_db()
    approve_current(release, approver)
    transitions.release_complete(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.COMPLETED and release.finished_at is not None
    assert list(release.phases.values_list("status", flat=True)) == [PhaseStatus.PASSED] * 3
    with pytest.raises(transitions.AlreadyDone, match="already completed"):
        transitions.release_complete(release_id=release.pk, actor=manager)


def test_release_complete__phases_left__refused(release, manager, approver):
    start(release, manager)
    approve_current(release, approver)
    with pytest.raises(transitions.NotReady, match="2 phase\\(s\\) still to go"):
        transitions.release_complete(release_id=release.pk, actor=manager)


def test_release_complete__gate_pending_on_last_phase__refused(manager):
    release = release_with_phases(owner=manager, exposures=(100,))
    start(release, manager)
    with pytest.raises(transitions.NotReady, match="Waiting for required gate"):
        transitions.release_complete(release_id=release.pk, actor=manager)


# --- pause / resume / cancel ----------------------------------------------------------


def test_release_pause_and_resume__events_with_reasons(release, manager):
    start(release, manager)
    transitions.release_pause(release_id=release.pk, actor=manager, reason="Waiting for on-call")
    with pytest.raises(transitions.AlreadyDone, match="already paused"):
        transitions.release_pause(release_id=release.pk, actor=manager)
    transitions.release_resume(release_id=release.pk, actor=manager)
    with pytest.raises(transitions.AlreadyDone, match="already running"):
        transitions.release_resume(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.IN_PROGRESS
    assert verbs(release) == ["release.started", "release.paused", "release.resumed"]
    assert Event.objects.get(verb="release.paused").reason == "Waiting for on-call"


def test_release_pause__draft__refused(release, manager):
    with pytest.raises(transitions.InvalidTransition, match="cannot become paused"):
        transitions.release_pause(release_id=release.pk, actor=manager)


def test_release_resume__draft__refused(release, manager):
    with pytest.raises(transitions.InvalidTransition, match="Only a paused release can resume"):
        transitions.release_resume(release_id=release.pk, actor=manager)


def test_release_cancel__in_progress__phases_skipped(release, manager):
    start(release, manager)
    transitions.release_cancel(release_id=release.pk, actor=manager, reason="Superseded")
    release.refresh_from_db()
    assert release.status == ReleaseStatus.CANCELLED
    assert set(release.phases.values_list("status", flat=True)) == {PhaseStatus.SKIPPED}


def test_release_cancel__completed__refused(release, manager):
    transitions.release_cancel(release_id=release.pk, actor=manager)
    with pytest.raises(transitions.AlreadyDone):
        transitions.release_cancel(release_id=release.pk, actor=manager)
    with pytest.raises(transitions.InvalidTransition):
        transitions.release_start(release_id=release.pk, actor=manager)


# --- rollback -------------------------------------------------------------------------


def test_release_rollback__with_steps__run_opens_and_finishes_when_all_ticked(release, manager):
    RollbackStepFactory(release=release, title="Route traffic to stable", position=0)
    RollbackStepFactory(release=release, title="Redeploy previous tag", position=1)
    start(release, manager)
    run = transitions.release_rollback(release_id=release.pk, actor=manager, reason="Errors spiking")
    release.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLING_BACK
    assert list(run.steps.values_list("title", flat=True)) == ["Route traffic to stable", "Redeploy previous tag"]
    assert release.phases.get(position=0).status == PhaseStatus.ROLLED_BACK
    assert set(release.phases.filter(position__gt=0).values_list("status", flat=True)) == {PhaseStatus.SKIPPED}
    first, second = run.steps.order_by("position")
    transitions.rollback_step_done(run_step_id=first.pk, actor=manager, note="done at 14:02")
    with pytest.raises(transitions.AlreadyDone):
        transitions.rollback_step_done(run_step_id=first.pk, actor=manager)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLING_BACK
    transitions.rollback_step_done(run_step_id=second.pk, actor=manager)
    release.refresh_from_db()
    run.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLED_BACK
    assert run.status == RollbackRun.Status.COMPLETED and run.finished_at is not None
    assert verbs(release)[-4:] == ["rollback.started", "rollback.step_done", "rollback.step_done", "rollback.completed"]


def test_release_rollback__no_steps__rolled_back_at_once(release, manager):
    start(release, manager)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="Bad build")
    release.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLED_BACK


def test_release_rollback__without_reason__refused(release, manager):
    start(release, manager)
    with pytest.raises(transitions.InvalidTransition, match="Say why"):
        transitions.release_rollback(release_id=release.pk, actor=manager, reason="")
    release.refresh_from_db()
    assert release.status == ReleaseStatus.IN_PROGRESS
    assert not RollbackRun.objects.exists()


def test_release_rollback__twice__second_says_already_running(release, manager):
    RollbackStepFactory(release=release)
    start(release, manager)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
    with pytest.raises(transitions.AlreadyDone, match="already running"):
        transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
    assert RollbackRun.objects.count() == 1


def test_release_rollback__draft__refused(release, manager):
    with pytest.raises(transitions.InvalidTransition):
        transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")


def test_rollback_step_done__later_edit_of_plan__run_keeps_its_copy(release, manager):
    step = RollbackStepFactory(release=release, title="Original")
    start(release, manager)
    run = transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
    step.delete()
    assert run.steps.get().title == "Original"


# --- events reach other apps after commit ---------------------------------------------


def test_events__handler_registered__called_once_after_commit(release, manager, django_capture_on_commit_callbacks):
    seen = []
    events.register(seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            transitions.release_start(release_id=release.pk, actor=manager)
        assert seen == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert seen == [Event.objects.get(verb="release.started").pk]
    finally:
        events.unregister(seen.append)


def test_events__transition_refused__no_handler_call(release, manager, django_capture_on_commit_callbacks):
    seen = []
    events.register(seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(transitions.TransitionError):
            transitions.release_pause(release_id=release.pk, actor=manager)
        assert seen == []
    finally:
        events.unregister(seen.append)


def test_transitions__release_deleted__clear_error(manager):
    with pytest.raises(transitions.InvalidTransition, match="no longer exists"):
        transitions.release_start(release_id=999999, actor=manager)
    assert not Release.objects.exists()
    assert not Phase.objects.exists()
