"""Structured logs: LOG_FORMAT=json writes one JSON object per line, in the web process and
in Celery's, each Event with its ids; secrets never reach a line."""

import io
import json
import logging
import logging.config
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from config.logs import build_logging
from rollouts.roles import APPROVER
from tests.factories import UserFactory, release_with_phases

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def environment(tmp_path, **extra) -> dict:
    inherited = {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "LOG_FORMAT", "DJANGO_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    env.update(FLIGHTDECK_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1", **extra)
    return env


def database_url() -> str:
    """The test database, for a subprocess to use."""
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s.get("USER") or "postgres"
        if s.get("PASSWORD"):
            auth += f":{s['PASSWORD']}"
        return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def json_lines(text: str) -> list[dict]:
    """Every non-empty line parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "plain"),
        ({"DJANGO_ENV": "production"}, "json"),
        ({"DJANGO_ENV": "production", "LOG_FORMAT": "plain"}, "plain"),
    ],
)
def test_log_format__unset_or_set__json_by_default_in_production_only(tmp_path, variables, expected):
    env = environment(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), **variables)
    code = "from django.conf import settings; print('LOG_FORMAT=' + settings.LOG_FORMAT)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"LOG_FORMAT={expected}" in result.stdout, result.stderr


@pytest.mark.django_db(transaction=True)
def test_json_logs__phase_advanced__one_object_per_line_with_release_and_phase_ids(tmp_path):
    # Given a release whose first gate an approver may approve
    manager = UserFactory(username="lg-manager")
    UserFactory(username="lg-approver", roles=[APPROVER])
    release = release_with_phases(owner=manager, slug="logged")
    first, second, _third = release.phases.order_by("position")
    gate = first.gates.get()
    # When another process, logging as JSON, starts it, approves the gate and advances
    code = (
        "from django.contrib.auth import get_user_model as U; from rollouts import transitions as t; "
        f"m = U().objects.get(username='lg-manager'); a = U().objects.get(username='lg-approver'); "
        f"t.release_start(release_id={release.pk}, actor=m); "
        f"t.gate_approve(gate_id={gate.pk}, actor=a); "
        f"t.phase_advance(release_id={release.pk}, phase_id={first.pk}, actor=m)"
    )
    env = environment(
        tmp_path, LOG_FORMAT="json", LOG_LEVEL="INFO", DATABASE_URL=database_url(), CELERY_TASK_ALWAYS_EAGER="true"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Then every line on stderr is one JSON object with time, level, logger and message
    lines = json_lines(result.stderr)
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    by_event = {line.get("event"): line for line in lines if line["logger"] == "rollouts.events"}
    # And the advance names the release, the phase it entered and who did it
    advanced = by_event["phase.advanced"]
    assert advanced["level"] == "INFO" and advanced["time"].endswith("+00:00")
    assert (advanced["release_id"], advanced["phase_id"], advanced["actor"]) == (release.pk, second.pk, "lg-manager")
    assert advanced["message"].startswith("phase.advanced ") and f"release_id={release.pk}" in advanced["message"]
    # And the gate verdict carries the gate and its kind
    passed = by_event["gate.passed"]
    assert (passed["release_id"], passed["phase_id"], passed["gate_id"]) == (release.pk, first.pk, gate.pk)
    assert passed["gate_kind"] == "manual_approval" and passed["actor"] == "lg-approver"
    assert by_event["release.started"]["phase_id"] == first.pk


def test_log_filter__secrets_in_a_message__masked():
    # Given logging configured as the settings build it, writing JSON into a buffer
    stream = io.StringIO()
    config = build_logging(level="INFO", fmt="json")
    config["handlers"]["console"]["stream"] = stream
    logger = logging.getLogger("tests.ops.secrets")
    try:
        logging.config.dictConfig(config)
        # When a message quotes a broker URL, a bearer token, a webhook secret and an API token
        logger.warning(
            "connect %s failed; sent %s with %s and %s",
            "redis://flightdeck:Pa55word@redis.internal:6379/0",
            "Authorization: Bearer scrape-me-4b1d",
            "whsec_c2VjcmV0LXNpZ25pbmcta2V5",
            "fd_AbCdEfGhIjKlMnOpQrStUv",
            extra={"release_id": 7},
        )
    finally:
        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)
    # Then the line is JSON with the fields, and none of the secrets
    [line] = json_lines(stream.getvalue())
    assert line["release_id"] == 7 and line["level"] == "WARNING"
    for secret in ("Pa55word", "scrape-me-4b1d", "c2VjcmV0LXNpZ25pbmcta2V5", "AbCdEfGhIjKlMnOpQrStUv"):
        assert secret not in stream.getvalue()
    assert "redis://flightdeck:***@redis.internal:6379/0" in line["message"]


@pytest.mark.reliability
def test_celery_worker__log_format_json__logs_through_django_logging(tmp_path):
    # Given a worker started with LOG_FORMAT=json (on a queue of its own, so it takes no one's tasks)
    queue = f"ops-log-{os.getpid()}"
    env = environment(tmp_path, LOG_FORMAT="json", CELERY_QUEUE=queue)
    err = tmp_path / "worker.err"
    args = ["worker", "-P", "solo", "-Q", queue, "-n", f"{queue}@%h", "--without-mingle", "--without-gossip"]
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [CELERY, "-A", "config", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            deadline = time.monotonic() + 60
            while " ready." not in err.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    # Then Celery's own lines come out as JSON, not in Celery's format
    text = err.read_text()
    logged = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    ready = [line for line in logged if line["message"].endswith(" ready.")]
    assert ready and ready[0]["logger"] == "celery.apps.worker" and ready[0]["level"] == "INFO", text
    assert "/MainProcess]" not in text
