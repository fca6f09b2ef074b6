"""Fault runs (issue 9) at CI size: Redis restarted mid-batch, then PostgreSQL restarted
mid-batch, under a real Celery worker (concurrency 2) and beat; nothing lost, nothing twice.

The run is bench/faults.py (`make bench` runs it at 500 notices per fault) in a child
process, against a PostgreSQL and a Redis of its own on free loopback ports: the machine's
shared servers are never restarted, and this test needs no test database. Per fault it makes
FAULTS_NOTICES notices due at once plus FAULTS_RELEASES releases whose phase falls due to
auto-advance while the service is down (each with two "phase started" notices that exist
only on hold until the engine advanced the phase and the planner re-planned), and during
the Redis fault one release is advanced by hand, as the release page does, while Redis is
away.

It can fail, and did: before comms.outbox._mark_sent waited out a database restart, every
PostgreSQL fault re-sent the one or two notices whose mail the server had accepted when
the connection was cut (faults_duplicated 1–2 in four runs out of four); before
rollouts.freshness.bump tolerated an absent cache and comms replanned in-process when the
broker was unreachable, the hand-advanced release's "phase started" notices stayed on hold
for ever (lost).

    CI=true .venv/bin/pytest tests/reliability/test_faults.py -q -x    # about 40 s
    FAULTS_NOTICES=500 FAULTS_RELEASES=10 .venv/bin/pytest tests/reliability/test_faults.py
"""

import os
import sys

import pytest

from bench.faults import WATCHERS, manual_releases, parse_figures, run_child
from bench.private_services import missing_binaries

pytestmark = pytest.mark.reliability

NOTICES = int(os.environ.get("FAULTS_NOTICES", "80"))
RELEASES = int(os.environ.get("FAULTS_RELEASES", "3"))
TIMEOUT = 240  # seconds for the whole child run; it takes about 40 s at CI size


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def test_redis_then_postgres_restarted_mid_batch__nothing_lost__nothing_sent_twice(tmp_path, capsys, record_property):
    # Given: the binaries for a private PostgreSQL and Redis
    missing = missing_binaries()
    if missing:
        reason = f"fault runs need {', '.join(missing)}"
        if in_ci():
            pytest.fail(reason)  # CI has them: their absence is a broken machine, not a skip
        pytest.skip(reason)

    # When: a batch is due, and a quarter of it has reached the SMTP sink, Redis is restarted
    # (down 1 s); on a fresh batch, PostgreSQL (down 2 s)
    argv = ["--notices", str(NOTICES), "--releases", str(RELEASES), "--log-dir", str(tmp_path)]
    status, out, err = run_child(argv, timeout=TIMEOUT, capture_stderr=True)
    figures = parse_figures(out)
    for name, value in figures.items():
        record_property(name, value)
    progress = "\n".join(line for line in err.splitlines() if line.startswith("[faults]"))
    context = f"{out}\n{progress}\nworker log tail:\n{_tail(tmp_path / 'worker.log')}"
    with capsys.disabled():
        print(f"\n{out.strip()}", file=sys.stderr)

    # Then: the run completed, both faults struck mid-batch
    assert status is not None, f"the fault run took over {TIMEOUT} s\n{context}"
    assert status == 0, f"the fault run could not run (status {status})\n{err[-3000:]}"
    transitions = 2 * RELEASES + manual_releases(RELEASES)  # the manual ones during the Redis fault
    assert int(figures["faults_notices"]) == 2 * NOTICES + WATCHERS * transitions, context
    assert int(figures["faults_transitions"]) == transitions, context
    for kind in ("redis", "pg"):
        assert figures[f"faults_{kind}_restarted"] == "1", f"{kind} was not restarted\n{context}"
        assert 0 < int(figures[f"faults_{kind}_sent_at_fault"]) < NOTICES, f"{kind} struck outside the batch\n{context}"
    # … and every notice that was due arrived exactly once, every phase advanced exactly once
    assert figures["faults_lost"] == "0", context
    assert figures["faults_duplicated"] == "0", context
    assert figures["faults_unsettled"] == "0", f"notices left unmarked would go again later\n{context}"


def _tail(path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
