"""Measured gates through the engine, against a loopback fake Prometheus and HTTP service."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from rollouts import engine, services, transitions
from rollouts.gate_checks import MeasurementResult
from rollouts.models import Event, GateKind, GateMeasurement, GateStatus, Phase, Release, ReleaseStatus
from tests.conftest import run_task_inline
from tests.factories import RollbackStepFactory, release_with_phases
from tests.fakes import prom_error, slow, vector

pytestmark = pytest.mark.django_db


def metric_release(owner, prometheus, *, policy="pause", count=2, failure_limit=0, inconclusive_limit=0, **config):
    release = release_with_phases(owner=owner, exposures=(10, 100), gates_per_phase=0, slug="metric")
    Release.objects.filter(pk=release.pk).update(on_gate_failure=policy)
    Phase.objects.filter(release=release).update(auto_advance=True)
    phase = release.phases.get(position=0)
    gate = services.gate_add(
        phase_id=phase.pk,
        actor=owner,
        name="Error rate",
        kind=GateKind.METRIC_THRESHOLD,
        config={
            "address": prometheus.address,
            "query": 'sum(rate(http_errors_total{app="checkout"}[5m]))',
            "success_condition": {"op": "<=", "value": 0.01},
            "failure_condition": {"op": ">", "value": 0.05},
            "interval_seconds": 2,
            "count": count,
            "failure_limit": failure_limit,
            "inconclusive_limit": inconclusive_limit,
            **config,
        },
    )
    RollbackStepFactory(release=release, title="Route traffic back")
    transitions.release_start(release_id=release.pk, actor=owner)
    return release, gate


def run_ticks(n, start=None, step=timedelta(seconds=2)):
    """n engine ticks, `step` apart on a travelling clock (tasks run inline)."""
    now = start or timezone.now()
    with time_machine.travel(now, tick=False) as clock:
        for _ in range(n):
            engine.tick(enqueue=run_task_inline)
            clock.shift(step)
    return now + n * step


def test_metric_gate__healthy_values__passes_then_auto_advances(manager, fake_prometheus):
    fake_prometheus.script(vector(0.001), vector(0.004))
    release, gate = metric_release(manager, fake_prometheus)
    run_ticks(3)
    gate.refresh_from_db()
    release.refresh_from_db()
    assert gate.status == GateStatus.PASSED
    assert fake_prometheus.queries[0] == 'sum(rate(http_errors_total{app="checkout"}[5m]))'
    assert list(gate.measurements.order_by("taken_at").values_list("value", "verdict")) == [
        (0.001, "success"),
        (0.004, "success"),
    ]
    assert release.current_phase.position == 1


def test_metric_gate__flips_to_failing__pauses_per_policy(manager, fake_prometheus):
    fake_prometheus.script(vector(0.001), vector(0.2))
    release, gate = metric_release(manager, fake_prometheus, count=3)
    run_ticks(3)
    gate.refresh_from_db()
    release.refresh_from_db()
    assert gate.status == GateStatus.FAILED
    assert release.status == ReleaseStatus.PAUSED
    assert release.current_phase.position == 0


def test_metric_gate__flips_to_failing__rolls_back_per_policy(manager, fake_prometheus):
    fake_prometheus.script(vector(0.001), vector(0.2))
    release, _gate = metric_release(manager, fake_prometheus, policy="rollback", count=3)
    run_ticks(3)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLING_BACK
    started = Event.objects.get(verb="rollback.started")
    assert started.actor is None and started.reason == "Required gate “Error rate” failed."
    failed = Event.objects.get(verb="gate.failed")
    assert failed.data["value"] == 0.2


def test_metric_gate__neither_condition__inconclusive_pauses_and_never_promotes(manager, fake_prometheus):
    fake_prometheus.script(vector(0.03))  # above success, below failure
    release, gate = metric_release(manager, fake_prometheus, count=1)
    run_ticks(5)
    release.refresh_from_db()
    gate.refresh_from_db()
    assert release.status == ReleaseStatus.PAUSED
    assert gate.status == GateStatus.PENDING
    assert release.current_phase.position == 0
    assert "inconclusive" in Event.objects.get(verb="release.paused").reason


def test_metric_gate__no_data__inconclusive_never_promotes(manager, fake_prometheus):
    fake_prometheus.script(vector())
    release, _gate = metric_release(manager, fake_prometheus, count=1)
    run_ticks(4)
    release.refresh_from_db()
    assert release.status == ReleaseStatus.PAUSED and release.current_phase.position == 0


def test_metric_gate__resumed_after_inconclusive__measured_afresh_and_can_pass(manager, fake_prometheus):
    fake_prometheus.script(vector(0.03), vector(0.001))
    release, gate = metric_release(manager, fake_prometheus, count=1)
    now = run_ticks(1)
    with time_machine.travel(now, tick=False):
        transitions.release_resume(release_id=release.pk, actor=manager, reason="Looked at the dashboards")
    run_ticks(2, start=now)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED


def test_metric_gate__provider_down__errors_past_the_limit_fail_the_gate(manager, fake_prometheus):
    fake_prometheus.script(prom_error(code=503, error="overloaded"))
    release, gate = metric_release(manager, fake_prometheus, count=1, consecutive_error_limit=2)
    run_ticks(2)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PENDING and gate.consecutive_errors == 2
    run_ticks(1, start=timezone.now() + timedelta(seconds=10))
    gate.refresh_from_db()
    release.refresh_from_db()
    assert gate.status == GateStatus.FAILED
    assert release.status == ReleaseStatus.PAUSED
    assert release.current_phase.position == 0  # provider trouble never promotes


def test_metric_gate__provider_times_out__recorded_as_error_not_success(manager, fake_prometheus):
    fake_prometheus.script(slow(3, vector(0.0)))
    _release, gate = metric_release(manager, fake_prometheus, count=1, timeout_seconds=0.5)
    run_ticks(1)
    m = GateMeasurement.objects.get(gate=gate)
    assert m.verdict == "error" and "did not answer within 0.5 s" in m.message


def test_http_check_gate__expected_json__passes(manager, fake_http):
    fake_http.script({"status": {"db": "ok"}})
    release = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="http")
    gate = services.gate_add(
        phase_id=release.phases.get(position=0).pk,
        actor=manager,
        name="Health",
        kind=GateKind.HTTP_CHECK,
        config={"url": fake_http.url("/healthz"), "json_path": "status.db", "expected_value": "ok", "count": 1},
    )
    transitions.release_start(release_id=release.pk, actor=manager)
    run_ticks(1)
    gate.refresh_from_db()
    assert gate.status == GateStatus.PASSED
    assert fake_http.requests[0].path == "/healthz"


# --- claims: delivered twice, lease expiry --------------------------------------------


def test_claim__tick_twice__gate_claimed_once_until_lease_expires(manager, fake_prometheus):
    _release, gate = metric_release(manager, fake_prometheus)
    now = timezone.now()
    first = engine.claim_due_gates(now=now)
    assert [g for g, _ in first] == [gate.pk]
    assert engine.claim_due_gates(now=now + timedelta(seconds=30)) == []
    again = engine.claim_due_gates(now=now + engine.GATE_LEASE + timedelta(seconds=1))
    assert [g for g, _ in again] == [gate.pk] and again[0][1] != first[0][1]


def test_evaluate__same_claim_delivered_twice__one_measurement(manager, fake_prometheus):
    fake_prometheus.script(vector(0.001))
    _release, gate = metric_release(manager, fake_prometheus, count=3)
    [(gate_id, token)] = engine.claim_due_gates(now=timezone.now())
    assert engine.evaluate_gate(gate_id, token) == "recorded"
    assert engine.evaluate_gate(gate_id, token) == "stale"
    assert GateMeasurement.objects.filter(gate=gate).count() == 1


def test_record__claim_taken_over_after_lease__old_worker_result_dropped(manager, fake_prometheus):
    _release, gate = metric_release(manager, fake_prometheus, count=3)
    now = timezone.now()
    [(_, old_token)] = engine.claim_due_gates(now=now)
    [(_, new_token)] = engine.claim_due_gates(now=now + engine.GATE_LEASE + timedelta(seconds=1))
    result = MeasurementResult(value=0.9, verdict="failure", message="late", detail={})
    assert transitions.gate_record_measurement(gate_id=gate.pk, claim_token=old_token, result=result) is None
    assert transitions.gate_record_measurement(gate_id=gate.pk, claim_token=new_token, result=result) is not None
    assert GateMeasurement.objects.filter(gate=gate).count() == 1


def test_release_page__measured_gate__chart_and_last_measurements(manager_client, manager, fake_prometheus):
    fake_prometheus.script(vector(0.001), vector(0.004))
    release, _gate = metric_release(manager, fake_prometheus, count=5)
    run_ticks(2)
    page = manager_client.get(f"/releases/{release.slug}/").content.decode()
    figure = page.split(f'<figure class="chart chart-measurements" id="gate-{_gate.pk}-chart">')[1].split("</figure>")[
        0
    ]
    assert figure.split("</svg>")[0].count('<circle class="point verdict-success"') == 2
    assert "0.004" in page and "≤ 0.01" in page
