"""Idempotency-Key: a retried action gets the first answer again and runs once."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client

from rollouts import transitions
from rollouts.models import Event, IdempotencyRecord, Release
from tests.api.conftest import Api, make_token
from tests.api.test_auth import error_shape
from tests.api.test_releases import ready_to_advance, started
from tests.factories import release_with_phases


def key(value="run-4411-advance"):
    return {"Idempotency-Key": value}


@pytest.mark.django_db
def test_advance__retried_with_same_key__first_answer_replayed_and_advanced_once(api, manager, approver, release):
    # Given a release ready to advance, and phase 2's gate passed as well
    ready_to_advance(release, manager, approver)
    # When the pipeline advances, then retries with the same key (without naming the phase)
    first = api.post(f"/api/v1/releases/{release.pk}/advance", {}, headers=key())
    transitions.gate_approve(gate_id=release.phases.get(position=1).gates.get().pk, actor=approver)
    retry = api.post(f"/api/v1/releases/{release.pk}/advance", {}, headers=key())
    # Then the retry gets the same answer, marked as a replay, and the release advanced once
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Event.objects.filter(release=release, verb="phase.advanced").count() == 1


@pytest.mark.django_db
def test_refusal__replayed_too(api, release):
    first = api.post(f"/api/v1/releases/{release.pk}/resume", {}, headers=key())
    retry = api.post(f"/api/v1/releases/{release.pk}/resume", {}, headers=key())
    assert first.status_code == retry.status_code == 409
    assert retry.json() == first.json()


@pytest.mark.django_db
def test_same_key_other_request__422(api, manager, release):
    started(release, manager)
    api.post(f"/api/v1/releases/{release.pk}/pause", {"reason": "a"}, headers=key("k"))
    response = api.post(f"/api/v1/releases/{release.pk}/pause", {"reason": "b"}, headers=key("k"))
    assert response.status_code == 422
    assert error_shape(response)["code"] == "idempotency_key_reused"
    other = api.post(f"/api/v1/releases/{release.pk}/resume", {}, headers=key("k"))
    assert other.status_code == 422


@pytest.mark.django_db
def test_keys_are_per_user(api_as, manager, other_manager, release):
    started(release, manager)
    assert api_as(manager).post(f"/api/v1/releases/{release.pk}/pause", {}, headers=key("k")).status_code == 200
    # The same key from someone else is their own first request: it runs (and is told it is already paused).
    response = api_as(other_manager).post(f"/api/v1/releases/{release.pk}/pause", {}, headers=key("k"))
    assert response.status_code == 409
    assert "Idempotent-Replayed" not in response.headers


@pytest.mark.django_db
def test_still_in_flight__409(api, manager, release):
    started(release, manager)
    IdempotencyRecord.objects.create(
        user=manager, key="k", method="POST", path=f"/api/v1/releases/{release.pk}/pause", fingerprint="x"
    )
    with mock.patch("rollouts.api.idempotency.fingerprint", return_value="x"):
        response = api.post(f"/api/v1/releases/{release.pk}/pause", {}, headers=key("k"))
    assert response.status_code == 409
    assert error_shape(response)["code"] == "idempotency_in_progress"
    assert Release.objects.get(pk=release.pk).status == "in_progress"


@pytest.mark.django_db
def test_in_flight_record_of_a_dead_request__taken_over_after_a_minute(api, manager, release):
    started(release, manager)
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as clock:
        IdempotencyRecord.objects.create(
            user=manager, key="k", method="POST", path="/x", fingerprint="x", created_at=datetime.now(UTC)
        )
        clock.shift(timedelta(seconds=61))
        with mock.patch("rollouts.api.idempotency.fingerprint", return_value="x"):
            response = api.post(f"/api/v1/releases/{release.pk}/pause", {}, headers=key("k"))
    assert response.status_code == 200
    assert IdempotencyRecord.objects.get(key="k").status_code == 200


@pytest.mark.django_db
def test_records_expire_after_24_hours(api, manager, release):
    started(release, manager)
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as clock:
        api.post(f"/api/v1/releases/{release.pk}/pause", {}, headers=key("k"))
        transitions.release_resume(release_id=release.pk, actor=manager)
        clock.shift(timedelta(hours=24, seconds=1))
        again = api.post(f"/api/v1/releases/{release.pk}/pause", {}, headers=key("k"))
    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db
def test_server_error__key_freed_and_nothing_kept(api, manager, release):
    # Given the transition blows up after writing
    started(release, manager)
    with mock.patch("rollouts.transitions.release_pause", side_effect=RuntimeError("boom")):
        failed = api.post(f"/api/v1/releases/{release.pk}/pause", {}, headers=key("k"))
    assert failed.status_code == 500
    assert error_shape(failed)["code"] == "server_error"
    assert not IdempotencyRecord.objects.exists()
    # Then a retry with the same key runs afresh
    assert api.post(f"/api/v1/releases/{release.pk}/pause", {}, headers=key("k")).status_code == 200


@pytest.mark.django_db
def test_bad_key__400_names_the_header(api, release):
    response = api.post(f"/api/v1/releases/{release.pk}/start", {}, headers=key("x" * 256))
    assert response.status_code == 400
    assert list(error_shape(response)["fields"]) == ["Idempotency-Key"]


@pytest.mark.django_db
def test_create__retried__one_release(api):
    body = {"name": "Search", "version": "3.1", "strategy": "canary"}
    first = api.post("/api/v1/releases", body, headers=key("create-search"))
    retry = api.post("/api/v1/releases", body, headers=key("create-search"))
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert Release.objects.count() == 1


@pytest.mark.django_db
def test_ci_gate_create__replay_does_not_store_the_token(api, release):
    body = {"phase": release.phases.first().pk, "name": "e2e", "kind": "ci_result"}
    first = api.post("/api/v1/gates", body, headers=key("g"))
    retry = api.post("/api/v1/gates", body, headers=key("g"))
    assert first.json()["token"].startswith("fdg_")
    assert retry.json()["token"] is None and retry.json()["id"] == first.json()["id"]
    assert first.json()["token"] not in str(IdempotencyRecord.objects.get().response_body)


# --- PostgreSQL: two requests with one key at the same instant ---------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_advance__same_key_from_many_threads_at_once__one_transition(manager, approver):
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the concurrency tests on PostgreSQL: set DATABASE_URL")
        pytest.skip("row-lock races need PostgreSQL (set DATABASE_URL=postgres://…)")
    # Given phases without gates: without the key, every thread's advance would go through in turn
    release = release_with_phases(owner=manager, exposures=(1, 10, 25, 50, 75, 90, 95, 99, 100), gates_per_phase=0)
    started(release, manager)
    token = make_token(manager)
    threads = 8
    barrier = threading.Barrier(threads)

    def press(i):
        try:
            barrier.wait(timeout=10)
            return Api(Client(), token).post(f"/api/v1/releases/{release.pk}/advance", {}, headers=key("same"))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        responses = list(pool.map(press, range(threads)))
    codes = sorted(r.status_code for r in responses)
    # One ran; every other was told it is in flight (409) or got the first answer replayed (200).
    assert Event.objects.filter(release=release, verb="phase.advanced").count() == 1
    ran = [r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers]
    assert len(ran) == 1, codes
    for r in responses:
        assert r.status_code == 200 or r.json()["code"] == "idempotency_in_progress", r.json()
    release.refresh_from_db()
    assert release.current_phase.position == 1


def test_webhook_create__replay_does_not_hand_out_the_secret_again(api):
    body = {"name": "Deploy bot", "url": "https://ci.example.com/hooks", "events": ["phase.advanced"]}
    first = api.post("/api/v1/webhooks", body, headers=key("w"))
    retry = api.post("/api/v1/webhooks", body, headers=key("w"))
    assert first.status_code == retry.status_code == 201
    assert first.json()["secret"] and retry.json()["secret"] is None
    assert retry.json()["id"] == first.json()["id"]
    assert first.json()["secret"] not in str(IdempotencyRecord.objects.get().response_body)
