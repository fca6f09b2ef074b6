"""A real Celery worker and beat, as separate processes, against the test database and the
configured broker (Redis in CI, the filesystem broker locally)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        host = s.get("HOST") or "127.0.0.1"
        port = s.get("PORT") or 5432
        auth = s.get("USER") or "postgres"
        if s.get("PASSWORD"):
            auth += f":{s['PASSWORD']}"
        return f"postgres://{auth}@{host}:{port}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


class Celery:
    """Starts and stops worker and beat processes; each logs to its own file."""

    def __init__(self, tmp_path: Path, queue: str):
        self.tmp_path = tmp_path
        self.queue = queue
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def env(self, **extra) -> dict:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url(),
            CELERY_QUEUE=self.queue,
            OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8,::1/128",
            ENGINE_TICK_SECONDS="1",
            DB_CONN_MAX_AGE="0",
            PYTHONUNBUFFERED="1",
            CELERY_TASK_ALWAYS_EAGER="false",
        )
        env.pop("FLIGHTDECK_FAULTS", None)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def _start(self, args: list[str], name: str, **env) -> subprocess.Popen:
        log = self.tmp_path / f"{name}-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [CELERY, "-A", "config", *args],
            cwd=ROOT,
            env=self.env(**env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill reaches the pool too
        )
        self.procs.append((proc, log))
        return proc

    def worker(self, concurrency: int = 2, **env) -> subprocess.Popen:
        name = f"w{len(self.procs)}-{uuid.uuid4().hex[:6]}@%h"
        args = ["worker", "-Q", self.queue, "-n", name, "--concurrency", str(concurrency), "-l", "INFO"]
        return self._start(args, "worker", **env)

    def beat(self, **env) -> subprocess.Popen:
        schedule = self.tmp_path / f"beat-{len(self.procs)}"
        return self._start(["beat", "-s", str(schedule), "-l", "INFO"], "beat", **env)

    def log_of(self, proc) -> str:
        for p, log in self.procs:
            if p is proc:
                return log.read_text(errors="replace")
        return ""

    def wait_for_log(self, proc, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_of(proc):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the log within {timeout} s:\n{self.log_of(proc)[-3000:]}")

    def kill(self, proc, sig=signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=20)

    def stop_all(self) -> None:
        for proc, _log in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc, _log in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture
def celery_procs(tmp_path, transactional_db):
    from config.celery import app

    # This test process only enqueues; the worker runs the tasks.
    app.conf.task_always_eager = False
    queue = f"flightdeck-test-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    procs = Celery(tmp_path, queue)
    yield procs
    procs.stop_all()
    app.conf.task_default_queue = os.environ.get("CELERY_QUEUE", "flightdeck")


def wait_until(predicate, *, timeout: float = 30, interval: float = 0.2, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout} s")
