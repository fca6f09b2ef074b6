"""/ops/status/: the page an administrator opens when something seems stuck."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comms import tasks as comms_tasks
from ops import broker
from rollouts import events, tasks, webhooks
from tests.factories import AudienceFactory, MessageFactory, NoticeFactory, StakeholderFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/ops/status/"


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="operator", is_staff=True))
    return client


def test_status__url_name__is_ops_status():
    assert reverse("ops-status") == URL


def test_status__anonymous__sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={URL}"


def test_status__signed_in_without_staff__403(manager_client):
    response = manager_client.get(URL)
    assert response.status_code == 403
    assert b"for administrators" in response.content


def test_status__post__refused(staff_client):
    assert staff_client.post(URL).status_code == 405


def test_status__nothing_ran_yet__says_never_and_not_ready(staff_client):
    page = staff_client.get(URL).content.decode()
    assert "Rollout engine tick" in page and "Never ran" in page
    assert "Notice outbox tick" in page
    # The beat readiness check fails, in words and not only in colour
    assert 'id="check-beat"' in page and "Failing" in page and "never ticked" in page
    assert "Keeping up" in page and "Every webhook's latest attempt was delivered." in page


def test_status__stalled_engine_overdue_notice_failing_webhook__all_shown(staff_client, receiver, manager, release):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        # Given the engine ticked 220 s ago and has not since
        tasks.engine_tick()
        traveller.shift(timedelta(seconds=220))
        # And a webhook whose receiver answers 500
        subscription = receiver.subscribe(actor=manager, name="Deploy bot")
        receiver.script = [500]
        event = events.record(release=release, verb="release.started", actor=manager)
        [delivery_id] = webhooks.deliveries_for_event(event.pk)
        assert webhooks.deliver(delivery_id) == "retry"
        # And the outbox ticks on, but a notice due 220 s ago has not been sent yet
        comms_tasks.outbox_tick()
        audience = AudienceFactory()
        message = MessageFactory(name="Heads-up to support", plan__release=release, audiences=[audience])
        NoticeFactory(message=message, stakeholder=StakeholderFactory(audiences=[audience]), due_at=start)
        # When the operator opens the page
        page = staff_client.get(URL).content.decode()
    # Then the engine reads as stopped and the outbox as running, in words and colour
    engine_row, outbox_row = page.index('id="tick-engine"'), page.index('id="tick-outbox"')
    assert engine_row < page.index('<span class="ops-state bad">Stopped</span>') < outbox_row
    assert outbox_row < page.index('<span class="ops-state good">Running</span>')
    assert "220 s ago" in page
    # And the overdue notice, with its message and release
    assert '<span class="ops-state bad">1 overdue</span>' in page
    assert "Heads-up to support" in page and reverse("release_detail", args=[release.slug]) in page
    # And the failing webhook with its last error
    assert f'id="failing-webhook-{subscription.pk}"' in page
    assert "Deploy bot" in page and "HTTP 500" in page and "1 retrying" in page
    # And the lag of the oldest due work, in words
    assert "Behind" in page and "3 min" in page
    # And the queue depth, from the broker
    assert 'id="queue"' in page and f"({broker.kind()} broker)" in page


def test_status__staff__fixed_number_of_queries(staff_client, django_assert_num_queries, release, manager):
    audience = AudienceFactory()
    message = MessageFactory(plan__release=release, audiences=[audience])
    for _ in range(3):
        NoticeFactory(message=message, stakeholder=StakeholderFactory(audiences=[audience]), due_at=timezone.now())
    tasks.engine_tick()
    # Session, user and roles; heartbeats, SELECT 1, due notices, the oldest, waiting phases,
    # failing webhooks
    with django_assert_num_queries(9):
        assert staff_client.get(URL).status_code == 200


def test_top_bar__link_for_staff_only(staff_client, manager):
    assert f'href="{URL}"' in staff_client.get(reverse("dashboard")).content.decode()
    other = Client()
    other.force_login(manager)
    assert f'href="{URL}"' not in other.get(reverse("dashboard")).content.decode()
