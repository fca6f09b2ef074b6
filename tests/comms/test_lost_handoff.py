"""A plan-changing Event whose hand-off to comms was lost (the process died between the
commit and its on-commit handlers, or the database went away just then) is caught by the
outbox tick: after HANDOFF_GRACE it re-plans the release itself, once.

In these tests the on-commit handlers never run (pytest-django keeps each test in one
transaction), which is exactly the lost hand-off."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from comms import planner
from comms import tasks as comms_tasks
from comms.models import Audience, CommunicationPlan, Membership, Notice, Stakeholder, Trigger
from rollouts import transitions
from rollouts.models import Phase
from tests.comms.test_outbox import add_message
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_audience():
    audience = Audience.objects.create(name="Support")
    stakeholder = Stakeholder.objects.create(email="ana@example.com", name="Ana")
    Membership.objects.create(stakeholder=stakeholder, audience=audience)
    return audience


def started_second_phase(manager, approver, audience):
    release = release_with_phases(owner=manager, exposures=(10, 100))
    second = release.phases.get(position=1)
    Phase.objects.filter(pk=second.pk).update(planned_start=timezone.now() + timedelta(days=2))
    message = add_message(release, audience, trigger=Trigger.PHASE_START, phase=second)
    transitions.release_start(release_id=release.pk, actor=manager)
    planner.plan_release(release_id=release.pk)  # the start's own hand-off arrived
    release.refresh_from_db()
    transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
    transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
    second.refresh_from_db()
    return release, second, message


def due_times(message) -> set:
    return set(Notice.objects.filter(message=message).values_list("due_at", flat=True))


def test_lost_handoff__phase_started__outbox_tick_replans_after_the_grace(manager, approver, support_audience):
    # Given the second phase started, but its Event never reached comms
    release, second, message = started_second_phase(manager, approver, support_audience)
    assert second.started_at is not None
    assert due_times(message) != {second.started_at}  # still timed for the planned start, two days on
    # When the outbox ticks before the hand-off's grace is over, it leaves the release alone
    with time_machine.travel(timezone.now() + planner.HANDOFF_GRACE - timedelta(seconds=5)):
        assert planner.overlooked_releases() == []
        comms_tasks.outbox_tick()
    assert due_times(message) != {second.started_at}
    # When it ticks after the grace
    with time_machine.travel(timezone.now() + planner.HANDOFF_GRACE + timedelta(seconds=1)):
        assert planner.overlooked_releases() == [release.pk]
        comms_tasks.outbox_tick()
        # Then the notices are due when the phase really started (and the tick sent them)
        assert due_times(message) == {second.started_at}
        assert set(Notice.objects.filter(message=message).values_list("status", flat=True)) == {"sent"}
        # And the plan has seen everything: the next tick plans nothing again
        assert planner.overlooked_releases() == []


def test_handoff_arrived__nothing_overlooked(manager, approver, support_audience, django_assert_num_queries):
    release, _second, _message = started_second_phase(manager, approver, support_audience)
    planner.plan_release(release_id=release.pk)  # the advance's own hand-off arrived
    with time_machine.travel(timezone.now() + timedelta(hours=1)), django_assert_num_queries(1):
        assert planner.overlooked_releases() == []
    plan = CommunicationPlan.objects.get(release=release)
    assert plan.planned_through_event == release.events.order_by("-id").first().pk


def test_event_that_does_not_change_the_plan__never_replanned(manager, support_audience):
    from rollouts import events

    release = release_with_phases(owner=manager)
    add_message(release, support_audience, trigger=Trigger.ON_ROLLBACK)
    planner.plan_release(release_id=release.pk)
    events.record(release=release, verb="known_issue.added", actor=manager)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert planner.overlooked_releases() == []
