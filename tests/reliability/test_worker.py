"""The engine as it runs in production: beat ticks, a worker acts, processes die."""

import signal
import time

import pytest
from django.db import connection

from rollouts import services, transitions
from rollouts.models import Event, GateKind, GateStatus, Phase, Release, ReleaseStatus, RollbackRunStep
from tests.factories import RollbackStepFactory, release_with_phases
from tests.fakes import vector
from tests.reliability.conftest import wait_until

pytestmark = pytest.mark.reliability


def status_of(release) -> str:
    return Release.objects.values_list("status", flat=True).get(pk=release.pk)


def auto_release(owner, *, exposures=(10, 50, 100), slug="auto", soak=0):
    release = release_with_phases(owner=owner, exposures=exposures, soak=soak, gates_per_phase=0, slug=slug)
    Phase.objects.filter(release=release).update(auto_advance=True)
    return release


def test_worker_and_beat__healthy_metric_gate__release_runs_itself_to_completion(
    celery_procs, manager, fake_prometheus
):
    fake_prometheus.script(vector(0.001))
    release = auto_release(manager)
    gate = services.gate_add(
        phase_id=release.phases.get(position=0).pk,
        actor=manager,
        name="Error rate",
        kind=GateKind.METRIC_THRESHOLD,
        config={
            "address": fake_prometheus.address,
            "query": "sum(rate(errors[1m]))",
            "success_condition": {"op": "<=", "value": 0.01},
            "interval_seconds": 2,
            "count": 2,
        },
    )
    celery_procs.worker()
    celery_procs.beat()
    transitions.release_start(release_id=release.pk, actor=manager)
    wait_until(lambda: status_of(release) == ReleaseStatus.COMPLETED, timeout=60, message="release never completed")
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED and gate.measurements.count() == 2
    assert Event.objects.filter(release=release, verb="phase.advanced").count() == 2
    assert Event.objects.filter(release=release, verb="release.completed", actor=None).count() == 1


def test_failing_gate__policy_rollback__automated_step_runs_and_manual_step_waits(
    celery_procs, manager, fake_prometheus, fake_http
):
    fake_prometheus.script(vector(0.5))
    fake_http.script(200)
    release = auto_release(manager, slug="failing")
    Release.objects.filter(pk=release.pk).update(on_gate_failure="rollback")
    RollbackStepFactory(
        release=release,
        position=0,
        title="Flip traffic",
        action="webhook",
        action_config={"url": fake_http.url("/flip")},
    )
    RollbackStepFactory(release=release, position=1, title="Tell the on-call")
    services.gate_add(
        phase_id=release.phases.get(position=0).pk,
        actor=manager,
        name="Error rate",
        kind=GateKind.METRIC_THRESHOLD,
        config={
            "address": fake_prometheus.address,
            "query": "errors",
            "success_condition": {"op": "<=", "value": 0.01},
            "failure_condition": {"op": ">", "value": 0.1},
            "interval_seconds": 2,
            "count": 3,
        },
    )
    celery_procs.worker()
    celery_procs.beat()
    transitions.release_start(release_id=release.pk, actor=manager)
    wait_until(
        lambda: RollbackRunStep.objects.filter(
            run__release=release, title="Flip traffic", done_at__isnull=False
        ).exists(),
        timeout=60,
        message="the automated rollback step never ran",
    )
    assert [r.path for r in fake_http.requests] == ["/flip"]
    assert fake_http.requests[0].headers["idempotency-key"].startswith("rollback-step-")
    manual = RollbackRunStep.objects.get(run__release=release, title="Tell the on-call")
    assert manual.done_at is None
    assert status_of(release) == ReleaseStatus.ROLLING_BACK
    assert Event.objects.filter(release=release, verb="rollback.started").count() == 1
    assert Release.objects.get(pk=release.pk).current_phase.position == 0


def test_two_beats_and_two_workers__one_transition_per_decision(celery_procs, manager):
    releases = [auto_release(manager, slug=f"twin-{i}", exposures=(10, 20, 30, 100)) for i in range(3)]
    for _ in range(2):
        celery_procs.worker()
        celery_procs.beat()
    for release in releases:
        transitions.release_start(release_id=release.pk, actor=manager)
    wait_until(
        lambda: all(status_of(r) == ReleaseStatus.COMPLETED for r in releases),
        timeout=60,
        message="releases did not complete",
    )
    for release in releases:
        assert Event.objects.filter(release=release, verb="phase.advanced").count() == 3
        assert Event.objects.filter(release=release, verb="release.completed").count() == 1


def test_worker_killed_mid_advance__no_half_transition_then_one_advance(celery_procs, manager):
    release = auto_release(manager, slug="killed", exposures=(10, 100))
    Phase.objects.filter(release=release, position=1).update(auto_advance=False)
    worker = celery_procs.worker(concurrency=1, FLIGHTDECK_FAULTS="advance.before_commit=30")
    beat = celery_procs.beat()
    transitions.release_start(release_id=release.pk, actor=manager)
    # The worker is inside the advance transaction, pausing at the fault point.
    celery_procs.wait_for_log(worker, "fault point advance.before_commit", timeout=30)
    celery_procs.kill(worker, signal.SIGKILL)
    time.sleep(1)
    if connection.vendor == "postgresql":
        # The server ends a dead client's transaction when it notices the connection is gone.
        wait_until(
            lambda: not _locks_held(release), timeout=30, message="the dead worker's transaction still holds locks"
        )
    release.refresh_from_db()
    assert release.current_phase.position == 0
    assert release.phases.get(position=0).status == "active"
    assert not Event.objects.filter(release=release, verb="phase.advanced").exists()
    # A healthy worker picks the decision up again and makes it exactly once.
    celery_procs.worker()
    wait_until(
        lambda: Event.objects.filter(release=release, verb="phase.advanced").exists(),
        timeout=30,
        message="the release never advanced after the restart",
    )
    time.sleep(3)  # a few more ticks must not advance again
    assert Event.objects.filter(release=release, verb="phase.advanced").count() == 1
    assert beat.poll() is None


def _locks_held(release) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


def test_worker__phase_advances__signed_webhook_reaches_the_receiver(celery_procs, manager, receiver):
    # Given a subscription to phase changes, and a worker and beat running
    subscription = receiver.subscribe(actor=manager, events=["phase.advanced", "release.completed"])
    release = auto_release(manager, slug="hooked", exposures=(10, 100))
    celery_procs.worker()
    celery_procs.beat()
    # When the engine advances the release and completes it
    transitions.release_start(release_id=release.pk, actor=manager)
    wait_until(
        lambda: len([r for r in receiver.requests if r["method"] == "POST"]) >= 2,
        timeout=40,
        message="the receiver never got both webhooks",
    )
    # Then each arrived once, signed (the receiver verified it with standardwebhooks)
    posts = [r for r in receiver.requests if r["method"] == "POST"]
    assert [p["payload"]["type"] for p in posts] == ["phase.advanced", "release.completed"]
    assert len({p["headers"]["webhook-id"] for p in posts}) == 2
    assert posts[0]["payload"]["data"]["release"]["slug"] == "hooked"
    # The worker records the delivery just after the receiver answered.
    wait_until(
        lambda: subscription.deliveries.filter(status="delivered").count() == 2,
        timeout=10,
        message="the deliveries were not marked delivered",
    )
