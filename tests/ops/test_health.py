"""/healthz and /readyz: what a load balancer or orchestrator asks before sending traffic."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from kombu import Connection

from ops import broker
from rollouts import tasks

REDIS_URL = "redis://127.0.0.1:6379/3"


def readyz(client):
    response = client.get("/readyz")
    return response, response.json()


# --- /healthz ---------------------------------------------------------------------------


def test_healthz__anonymous__ok_without_database(client):
    # No django_db mark: any database access would fail this test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_healthz__signed_in_session__session_left_alone(client, manager, django_assert_num_queries):
    # Given a browser with a session cookie
    client.force_login(manager)
    # When it asks /healthz
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    # Then nothing read the session: no query, no cookie, no Vary: Cookie
    assert response.status_code == 200
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies


def test_healthz__post__refused(client):
    assert client.post("/healthz").status_code == 405


# --- /readyz ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz__engine_ticked__200_with_each_check(client):
    # Given the engine tick ran (as beat starts it)
    tasks.engine_tick()
    # When the orchestrator asks
    response, body = readyz(client)
    # Then every check passed and says what it found
    assert response.status_code == 200
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "beat"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "SELECT 1" in body["checks"]["database"]["detail"]
    assert body["checks"]["broker"]["detail"] == broker.ping().detail  # Redis PING, or the folders
    assert "ticked" in body["checks"]["beat"]["detail"]


@pytest.mark.django_db
def test_readyz__engine_never_ticked__503_naming_beat(client):
    response, body = readyz(client)
    assert response.status_code == 503
    assert body["status"] == "fail" and body["failing"] == ["beat"]
    assert "never ticked" in body["checks"]["beat"]["detail"]
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


@pytest.mark.django_db
def test_readyz__last_tick_older_than_limit__503_then_200_after_a_tick(client, settings):
    settings.READY_MAX_TICK_AGE = 30
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        # Given a tick 29 s ago: still ready
        tasks.engine_tick()
        traveller.shift(timedelta(seconds=29))
        assert client.get("/readyz").status_code == 200
        # When beat stops for longer than READY_MAX_TICK_AGE
        traveller.shift(timedelta(seconds=2))
        response, body = readyz(client)
        # Then not ready, and the check says how old the tick is
        assert response.status_code == 503 and body["failing"] == ["beat"]
        assert "31 s ago (limit 30 s)" in body["checks"]["beat"]["detail"]
        # And a new tick makes it ready again
        tasks.engine_tick()
        assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz__beat_check_off__ready_without_ticks(client, settings):
    settings.READY_MAX_TICK_AGE = 0
    response, body = readyz(client)
    assert response.status_code == 200
    assert body["checks"]["beat"] == {"ok": True, "detail": "Not checked: READY_MAX_TICK_AGE is 0.", "ms": 0.0}


@pytest.mark.django_db
def test_readyz__filesystem_broker_folder_missing__503_naming_broker(client, settings, tmp_path):
    tasks.engine_tick()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "gone"),
        "data_folder_out": str(tmp_path / "gone"),
        "control_folder": str(tmp_path),
    }
    response, body = readyz(client)
    assert response.status_code == 503 and body["failing"] == ["broker"]
    assert "gone is missing" in body["checks"]["broker"]["detail"]


@pytest.mark.django_db
def test_readyz__redis_broker__answers_ping__200(client, settings):
    tasks.engine_tick()
    settings.CELERY_BROKER_URL = REDIS_URL
    response, body = readyz(client)
    assert response.status_code == 200, body
    assert body["checks"]["broker"]["detail"] == "Redis answered PING."


@pytest.mark.django_db
def test_readyz__redis_broker_with_password_unreachable__503_without_the_password(client, settings):
    # Given a broker URL with a password, pointing at a port nothing listens on
    tasks.engine_tick()
    settings.CELERY_BROKER_URL = "redis://flightdeck:s3cret-Pa55@127.0.0.1:1/3"
    # When readiness is asked
    response, body = readyz(client)
    # Then the broker check fails, and neither the password nor the URL is in the answer
    assert response.status_code == 503 and body["failing"] == ["broker"]
    assert "Redis did not answer PING" in body["checks"]["broker"]["detail"]
    assert b"s3cret-Pa55" not in response.content
    assert b"redis://" not in response.content


@pytest.mark.django_db
def test_readyz__signed_in_session__session_left_alone(client, manager, django_assert_num_queries):
    tasks.engine_tick()
    client.force_login(manager)
    # Two queries: SELECT 1 and the heartbeat; none for the session or the user
    with django_assert_num_queries(2):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies


# --- Queue depth, as the broker holds it --------------------------------------------------


def test_queue_depth__redis__counts_messages_in_every_priority_list(settings):
    # Given messages published to a Redis queue by kombu, as Celery publishes tasks
    queue = f"fd-ops-test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    with Connection(REDIS_URL) as conn:
        simple = conn.SimpleQueue(queue)
        try:
            simple.put({"n": 1})
            simple.put({"n": 2})
            simple.put({"n": 3}, priority=6)  # lands in a priority sub-list
            # When the depth is read
            depth = broker.queue_depth()
        finally:
            simple.clear()
            simple.close()
    # Then all three are counted
    assert depth == 3


def test_queue_depth__filesystem__counts_this_queues_message_files(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_TASK_DEFAULT_QUEUE = "fd-ops-test"
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "control_folder": str(tmp_path)}
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    with Connection("filesystem://", transport_options=options) as conn:
        conn.SimpleQueue("fd-ops-test").put({"n": 1})
        conn.SimpleQueue("fd-ops-test").put({"n": 2})
        conn.SimpleQueue("another-queue").put({"n": 3})
    assert broker.queue_depth() == 2


def test_queue_depth__redis_unreachable__unknown(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/3"
    assert broker.queue_depth() is None


@pytest.mark.django_db
def test_probes__https_redirect_on__answered_over_plain_http(client, settings):
    # Given production's redirect of plain HTTP to HTTPS
    settings.SECURE_SSL_REDIRECT = True
    settings.READY_MAX_TICK_AGE = 0
    # Then probes are answered where they ask, and pages still redirect
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/ops/status/").status_code == 301
