"""Freshness of the compiled snapshot: a rollback answers off the moment it commits, other
processes see a change within 2 s, and evaluations cost no query."""

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from flags import evaluation, services, snapshot
from flags.models import ConfigVersion
from rollouts import engine, transitions
from rollouts.models import RollbackAction, RollbackRun
from tests.factories import RollbackStepFactory
from tests.flags.conftest import advance, flag_release, make_flag, ofrep

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def answer(key="new-checkout", env="production", targeting_key="user-1"):
    compiled = snapshot.current().flags[key]
    return evaluation.evaluate(compiled, env, targeting_key, {"targetingKey": targeting_key})


def in_user(exposure=10):
    """A targeting key inside the first `exposure` percent of new-checkout."""
    return next(k for k in (f"user-{i}" for i in range(1000)) if evaluation.bucket("new-checkout", k) <= exposure)


@pytest.fixture
def never_recheck(monkeypatch):
    """No periodic version check during the test: only an on-commit mark can refresh."""
    monkeypatch.setattr(snapshot, "CHECK_SECONDS_DB", 3600.0)
    monkeypatch.setattr(snapshot, "CHECK_SECONDS_SHARED", 3600.0)


# --- In this process -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_rollback__the_moment_it_commits__off_variant_here(manager, never_recheck):
    # Given a flag at 10% of production, and a user inside those 10%
    release = flag_release(manager)
    RollbackStepFactory(release=release, title="Redeploy the previous version")  # done by a person, later
    make_flag(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    advance(release, manager)
    user = in_user(10)
    assert (answer(targeting_key=user).variant, answer(targeting_key=user).reason) == ("on", "SPLIT")
    # When the rollback transition commits (no rollback step turns the flag off)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="errors up")
    # Then the very next evaluation answers the off variant
    outcome = answer(targeting_key=user)
    assert (outcome.variant, outcome.reason) == ("off", "DISABLED")
    assert outcome.metadata["releaseStatus"] == "rolling_back"


@pytest.mark.django_db(transaction=True)
def test_phase_advance__commits__exposure_follows_at_once(manager, never_recheck):
    release = flag_release(manager)
    make_flag(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    assert answer().reason == "DEFAULT"  # production not reached
    advance(release, manager)
    assert answer().metadata["exposure"] == 10
    advance(release, manager)
    assert answer().metadata["exposure"] == 50


@pytest.mark.django_db
def test_pause__exposure_kept(manager, django_capture_on_commit_callbacks):
    release = flag_release(manager)
    make_flag(release=release)
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
        advance(release, manager)
        transitions.release_pause(release_id=release.pk, actor=manager)
    assert answer(targeting_key=in_user(10)).enabled


@pytest.mark.django_db
def test_kill_switch__on_commit__off_everywhere_then_restored(manager, django_capture_on_commit_callbacks):
    flag = make_flag(fixed_exposure=100)
    assert answer().enabled
    with django_capture_on_commit_callbacks(execute=True):
        assert services.flag_kill(flag_id=flag.pk, actor=manager, reason="500s") is True
    for env in ("staging", "beta", "production"):
        assert (answer(env=env).variant, answer(env=env).reason) == ("off", "DISABLED")
    assert services.flag_kill(flag_id=flag.pk, actor=manager) is False  # twice is harmless
    with django_capture_on_commit_callbacks(execute=True):
        services.flag_restore(flag_id=flag.pk, actor=manager)
    assert answer().enabled


@pytest.mark.django_db
def test_unrelated_release_event__snapshot_kept(manager, django_capture_on_commit_callbacks, release):
    make_flag(fixed_exposure=100)
    first = snapshot.current()
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)  # no flag follows it
    assert snapshot.current() is first


@pytest.mark.django_db
def test_evaluation__warm_snapshot__no_query(django_assert_num_queries):
    make_flag(fixed_exposure=50)
    snapshot.current()
    with django_assert_num_queries(0):
        for i in range(1000):
            answer(targeting_key=f"user-{i}")


@pytest.mark.django_db
def test_build__fixed_number_of_queries(manager, django_assert_num_queries):
    for i in range(3):
        release = flag_release(manager, slug=f"r{i}")
        make_flag(key=f"flag-{i}", release=release)
        services.phase_segments_set(
            phase_id=release.phases.first().pk,
            segments=[services.segment_create(actor=None, key=f"s{i}", name="S", targeting_keys=["a"])],
            actor=None,
        )
    services.api_key_create(actor=None, environment="production", name="app")
    with django_assert_num_queries(6):
        built = snapshot.build("v")
    assert len(built.flags) == 3 and len(built.api_keys) == 1


@pytest.mark.django_db
def test_version__bumped_in_the_database_with_each_change():
    before = ConfigVersion.objects.get(pk=1).version
    make_flag()
    assert ConfigVersion.objects.get(pk=1).version == before + 1
    assert snapshot._db_version() == f"d:{before + 1}"


# --- flag_off rollback action ----------------------------------------------------------


@pytest.mark.django_db
def test_flag_off_step__rollback_runs_it__flag_killed_and_step_done(manager, django_capture_on_commit_callbacks):
    # Given a standalone flag (it follows no release) and a release whose rollback plan turns it off
    flag = make_flag(key="search-v2", fixed_exposure=100)
    release = flag_release(manager)
    RollbackStepFactory(
        release=release, title="Turn search-v2 off", action=RollbackAction.FLAG_OFF, action_config={"flag": "search-v2"}
    )
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
    # When the rollback starts (its automated step runs through the engine's task, inline here)
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_rollback(release_id=release.pk, actor=manager, reason="bad search results")
    # Then the flag's kill switch is on, the step is done and the rollback finished
    flag.refresh_from_db()
    assert flag.is_killed and "bad search results" in flag.kill_reason
    run = RollbackRun.objects.get()
    step = run.steps.get()
    assert step.done_at is not None and step.note == "Feature flag “search-v2” is off."
    assert run.status == RollbackRun.Status.COMPLETED
    assert answer("search-v2").reason == "DISABLED"


@pytest.mark.django_db
def test_flag_off_step__flag_missing__step_not_done_with_message(manager):
    release = flag_release(manager)
    RollbackStepFactory(release=release, action=RollbackAction.FLAG_OFF, action_config={"flag": "gone"})
    transitions.release_start(release_id=release.pk, actor=manager)
    run = transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
    assert engine.run_rollback_step(run.pk) == "retry"
    assert run.steps.get().last_error == "There is no feature flag “gone” to turn off."


# --- Other processes -------------------------------------------------------------------


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s.get("USER") or "postgres"
        if s.get("PASSWORD"):
            auth += f":{s['PASSWORD']}"
        return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail(f"the watcher said nothing within {timeout} s")
    return proc.stdout.readline().strip()


def watch_change(cache_url: str, change) -> float:
    """Start a process evaluating new-checkout, make the change here, return its delay in seconds."""
    env = {**os.environ, "DATABASE_URL": database_url(), "CACHE_URL": cache_url, "PYTHONHASHSEED": "random"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.flags.flag_watcher", "new-checkout", "production", "user-1", "20"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert read_line(proc, 60) == "ready on/STATIC"
        time.sleep(1.2)  # past the watcher's first version check: it holds a settled snapshot
        committed = time.time()
        change()
        line = read_line(proc, 25)
        assert line.startswith("changed "), line
        _, when, what = line.split()
        assert what == "off/DISABLED"
        return float(when) - committed
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_kill_switch__another_process_without_shared_cache__sees_it_within_2s():
    flag = make_flag(fixed_exposure=100)
    delay = watch_change("locmem://", lambda: services.flag_kill(flag_id=flag.pk, actor=None))
    assert delay < 2.0, delay


@pytest.mark.django_db(transaction=True)
def test_kill_switch__another_process_with_redis__sees_it_within_2s(settings):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL}}
    flag = make_flag(fixed_exposure=100)
    delay = watch_change(REDIS_URL, lambda: services.flag_kill(flag_id=flag.pk, actor=None))
    assert delay < 2.0, delay
    assert snapshot.read_version().startswith("c:")


@pytest.mark.django_db(transaction=True)
def test_rollback__another_process__off_within_2s(manager, client, api_token):
    release = flag_release(manager, phases=(("Everyone", "production", 100),))
    make_flag(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    assert ofrep(client, "new-checkout", {"targetingKey": "user-1"}, api_token).json()["reason"] == "SPLIT"

    def rollback():
        transitions.release_rollback(release_id=release.pk, actor=manager, reason="errors")

    # The watcher expects on/STATIC first; a release flag at 100% answers on/SPLIT.
    env = {**os.environ, "DATABASE_URL": database_url(), "CACHE_URL": "locmem://"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.flags.flag_watcher", "new-checkout", "production", "user-1", "20"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert read_line(proc, 60) == "ready on/SPLIT"
        committed = time.time()
        rollback()
        line = read_line(proc, 25)
        assert line.endswith("off/DISABLED"), line
        assert float(line.split()[1]) - committed < 2.0
    finally:
        proc.kill()
        proc.wait(timeout=10)
