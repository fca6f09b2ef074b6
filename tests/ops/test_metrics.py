"""/metrics: what Prometheus scrapes, counted from the database at scrape time."""

import math
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from comms import outbox
from comms.models import Channel
from rollouts import events, services, tasks, transitions, webhooks
from tests.factories import (
    AudienceFactory,
    GateFactory,
    MessageFactory,
    NoticeFactory,
    PhaseFactory,
    ReleaseFactory,
    StakeholderFactory,
)
from tests.fakes import status

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[tuple, float]:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics__release_driven_through_transitions__counts_each_verb_and_gate_verdict(
    client, release, manager, approver
):
    # Given a release started, its first gate approved, advanced, then its second gate rejected
    first, second, _third = release.phases.order_by("position")
    transitions.release_start(release_id=release.pk, actor=manager)
    transitions.gate_approve(gate_id=first.gates.get().pk, actor=approver)
    transitions.phase_advance(release_id=release.pk, phase_id=first.pk, actor=manager)
    transitions.gate_reject(gate_id=second.gates.get().pk, actor=approver, comment="Error rate doubled")
    # When Prometheus scrapes
    samples = scrape(client)
    # Then each transition is counted once (the rejected required gate paused the release)
    assert value(samples, "flightdeck_transitions_total", verb="release.started") == 1
    assert value(samples, "flightdeck_transitions_total", verb="phase.advanced") == 1
    assert value(samples, "flightdeck_transitions_total", verb="release.paused") == 1
    assert value(samples, "flightdeck_transitions_total", verb="release.completed") == 0
    assert value(samples, "flightdeck_transitions_total", verb="rollback.started") == 0
    # And the two verdicts by gate kind, a rejection counting as failed
    assert value(samples, "flightdeck_gate_verdicts_total", kind="manual_approval", verdict="passed") == 1
    assert value(samples, "flightdeck_gate_verdicts_total", kind="manual_approval", verdict="failed") == 1
    assert value(samples, "flightdeck_gate_verdicts_total", kind="ci_result", verdict="failed") == 0


def test_metrics__notices_sent_failed_due_and_overdue__counted(client, fake_http):
    # Given two email notices and one chat webhook notice due 10 s ago, sent by the outbox
    audience = AudienceFactory()
    stakeholder = StakeholderFactory(audiences=[audience])
    email = MessageFactory(audiences=[audience])
    chat = MessageFactory(
        plan=email.plan, audiences=[audience], channel=Channel.WEBHOOK, webhook_url=fake_http.url("/chat")
    )
    fake_http.script(status(400), path="/chat")  # a permanent refusal: failed at once
    now = timezone.now()
    for occurrence in ("a", "b"):
        NoticeFactory(message=email, stakeholder=stakeholder, occurrence=occurrence, due_at=now - timedelta(seconds=10))
    NoticeFactory(message=chat, stakeholder=None, recipient="webhook", due_at=now - timedelta(seconds=10))
    report = outbox.drain(seconds=10)
    assert (report.sent, report.failed) == (2, 1)
    # And, after that, one notice due 5 minutes ago and one due in an hour, not sent yet
    NoticeFactory(message=email, stakeholder=stakeholder, occurrence="late", due_at=now - timedelta(minutes=5))
    NoticeFactory(message=email, stakeholder=stakeholder, occurrence="later", due_at=now + timedelta(hours=1))
    # When Prometheus scrapes
    samples = scrape(client)
    # Then sends and failures are counted, and only the late notice is due and overdue
    assert value(samples, "flightdeck_notices_total", status="sent") == 2
    assert value(samples, "flightdeck_notices_total", status="failed") == 1
    assert value(samples, "flightdeck_notices_total", status="cancelled") == 0
    assert value(samples, "flightdeck_notices_waiting", status="pending") == 2
    assert value(samples, "flightdeck_notices_due") == 1
    assert value(samples, "flightdeck_notices_overdue") == 1
    # And the engine is about five minutes behind
    assert 300 <= value(samples, "flightdeck_engine_lag_seconds") < 330


def test_metrics__engine_tick_age__infinite_until_the_first_tick(client):
    assert math.isinf(value(scrape(client), "flightdeck_engine_last_tick_age_seconds"))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        tasks.engine_tick()
        traveller.shift(timedelta(seconds=12))
        samples = scrape(client)
    assert value(samples, "flightdeck_engine_last_tick_age_seconds") == 12
    assert math.isinf(value(samples, "flightdeck_outbox_last_tick_age_seconds"))


def test_metrics__phase_ready_but_not_advanced__engine_lag_until_a_freeze_holds_it(client, manager, approver):
    # Given an auto-advancing phase with a 10 minute soak whose gate passed
    release = ReleaseFactory(owner=manager)
    phase = PhaseFactory(release=release, position=0, auto_advance=True, min_soak_minutes=10)
    GateFactory(phase=phase)
    PhaseFactory(release=release, position=1)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        transitions.release_start(release_id=release.pk, actor=manager)
        transitions.gate_approve(gate_id=phase.gates.get().pk, actor=approver)
        # When the engine has not moved it on 15 minutes later (5 minutes after the soak)
        traveller.shift(timedelta(minutes=15))
        samples = scrape(client)
        # Then the phase waits, and the engine lags by those 5 minutes
        assert value(samples, "flightdeck_phases_waiting") == 1
        assert value(samples, "flightdeck_engine_lag_seconds") == 300
        # When a freeze window holds automation back, the wait is on purpose: no lag
        local_now = timezone.now().replace(tzinfo=None)
        services.freeze_add(
            actor=manager,
            release_id=None,
            name="Change freeze",
            timezone_name="UTC",
            starts_local=local_now - timedelta(hours=1),
            ends_local=local_now + timedelta(hours=1),
        )
        samples = scrape(client)
        assert value(samples, "flightdeck_phases_waiting") == 0
        assert value(samples, "flightdeck_engine_lag_seconds") == 0


def test_metrics__webhook_retrying_and_given_up__counted_as_failing(client, receiver, manager, release):
    # Given two subscriptions: one receiver answers 500 (retried), the other 400 (given up)
    first = receiver.subscribe(actor=manager, path="/one")
    second = receiver.subscribe(actor=manager, path="/two")
    receiver.script = [500, 400]
    event = events.record(release=release, verb="release.started", actor=manager)
    ids = webhooks.deliveries_for_event(event.pk)
    by_subscription = dict(webhooks.WebhookDelivery.objects.filter(pk__in=ids).values_list("subscription_id", "pk"))
    assert webhooks.deliver(by_subscription[first.pk]) == "retry"
    assert webhooks.deliver(by_subscription[second.pk]) == "failed"
    # When Prometheus scrapes
    samples = scrape(client)
    # Then both are failing, each in its own state
    assert value(samples, "flightdeck_webhook_deliveries_failing", state="retrying") == 1
    assert value(samples, "flightdeck_webhook_deliveries_failing", state="failed") == 1


def test_metrics__filesystem_broker__queue_depth_of_the_task_queue(client, settings, tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "control_folder": str(tmp_path)}
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    with Connection("filesystem://", transport_options=options) as conn:
        conn.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE).put({"task": "waiting"})
    samples = scrape(client)
    assert value(samples, "flightdeck_queue_depth", queue=settings.CELERY_TASK_DEFAULT_QUEUE) == 1


def test_metrics__scrape__one_query_per_family(client, django_assert_num_queries, release, manager):
    # Given a release in flight and a tick (the phases-waiting family adds two queries only
    # when some phase's soak is over)
    transitions.release_start(release_id=release.pk, actor=manager)
    tasks.engine_tick()
    # Then transitions, gate verdicts, notice statuses, due notices, heartbeats, waiting
    # phases and failing webhook deliveries: seven queries, and none for a session
    with django_assert_num_queries(7):
        scrape(client)


def test_metrics__process_metrics__included(client):
    samples = scrape(client)
    assert any(name == "process_resident_memory_bytes" for name, _labels in samples)
    assert any(name == "python_info" for name, _labels in samples)


def test_metrics__token_set__bearer_token_required(client, settings):
    settings.METRICS_TOKEN = "scrape-me-4b1d"
    # Without a token, or with a wrong one, or another scheme: 401
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"flightdeck_" not in response.content
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me-4b1e"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Basic scrape-me-4b1d"}).status_code == 401
    # With the token: the metrics
    samples = scrape(client, headers={"Authorization": "Bearer scrape-me-4b1d"})
    assert ("flightdeck_notices_due", ()) in samples


def test_metrics__no_token__open_without_login(client):
    # METRICS_TOKEN unset (the default): anyone who reaches /metrics reads it
    assert client.get("/metrics").status_code == 200
