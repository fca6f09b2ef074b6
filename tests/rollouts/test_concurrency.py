"""Races on PostgreSQL, with real row locks: many people pressing one button at once."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import Client

from rollouts import transitions
from rollouts.models import Event, GateStatus, ReleaseStatus, RollbackRun
from tests.factories import RollbackStepFactory, release_with_phases

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the concurrency tests on PostgreSQL: set DATABASE_URL")
        pytest.skip("row-lock races need PostgreSQL (set DATABASE_URL=postgres://…)")


def race(fn, n=THREADS):
    """Run fn(i) in n threads released at the same instant; return results or exceptions."""
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=10)
            return fn(i)
        except Exception as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def ready_to_advance(manager, approver):
    release = release_with_phases(owner=manager)
    transitions.release_start(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    gate = release.current_phase.gates.get()
    transitions.gate_approve(gate_id=gate.pk, actor=approver)
    return release


def test_phase_advance__20_threads_at_once__one_transition_one_event(manager, approver):
    # Given a phase whose gate passed
    release = ready_to_advance(manager, approver)
    phase_id = release.current_phase_id
    # When 20 threads advance it at the same instant
    results = race(lambda i: transitions.phase_advance(release_id=release.pk, phase_id=phase_id, actor=manager))
    # Then exactly one advanced; every other one was told it was already advanced
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, transitions.AlreadyDone) for r in losers), losers
    assert all("already advanced" in r.message for r in losers)
    assert Event.objects.filter(release=release, verb="phase.advanced").count() == 1
    release.refresh_from_db()
    assert release.current_phase.position == 1


def test_advance_button__20_people_press_it__one_200_and_nineteen_409s(manager, other_manager, approver):
    release = ready_to_advance(manager, approver)
    url = f"/releases/{release.slug}/phases/{release.current_phase_id}/advance/"

    def press(i):
        client = Client()
        client.force_login(manager if i % 2 else other_manager)
        return client.post(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="release-body")

    responses = race(press)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (THREADS - 1)
    refused = [r for r in responses if r.status_code == 409]
    assert all("was already advanced" in r.content.decode() for r in refused)
    assert Event.objects.filter(release=release, verb="phase.advanced").count() == 1


def test_gate_approve__two_approvers_at_once__gate_passes_once(manager, approver, second_approver):
    release = release_with_phases(owner=manager)
    transitions.release_start(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    gate = release.current_phase.gates.get()
    people = [approver, second_approver]
    results = race(lambda i: transitions.gate_approve(gate_id=gate.pk, actor=people[i % 2]), n=10)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED
    assert Event.objects.filter(gate=gate, verb="gate.passed").count() == 1
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, transitions.AlreadyDone) for r in results if isinstance(r, Exception))


def test_rollback__pressed_by_many_at_once__one_run(manager):
    release = release_with_phases(owner=manager)
    RollbackStepFactory(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    results = race(lambda i: transitions.release_rollback(release_id=release.pk, actor=manager, reason="errors"))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert RollbackRun.objects.filter(release=release).count() == 1
    assert Event.objects.filter(release=release, verb="rollback.started").count() == 1
    release.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLING_BACK


def test_pause_and_advance_race__never_both_from_one_state(manager, approver):
    release = ready_to_advance(manager, approver)
    phase_id = release.current_phase_id

    def act(i):
        if i % 2:
            return transitions.release_pause(release_id=release.pk, actor=manager)
        return transitions.phase_advance(release_id=release.pk, phase_id=phase_id, actor=manager)

    race(act)
    assert Event.objects.filter(release=release, verb="release.paused").count() == 1
    assert Event.objects.filter(release=release, verb="phase.advanced").count() <= 1
