"""Scale-out (issue 9): two gunicorn servers, two Celery workers and two beats against one
PostgreSQL and one Redis; a canary release with a communication plan driven through the REST
API across both servers; counts of duplicated transitions and duplicated or lost notices.

    .venv/bin/python -m bench.scaleout                          # 100 stakeholders, 5 phases
    .venv/bin/python -m bench.scaleout --stakeholders 10 --phases 3   # the CI test's size

It runs tests/reliability/test_scaleout.py (which owns the scenario, the assertions and the
secret scan) in a pytest process of its own with SCALEOUT_STAKEHOLDERS, SCALEOUT_PHASES and
SCALEOUT_REPORT, against DATABASE_URL (pytest makes its test_… database there) and
CELERY_BROKER_URL (Redis; BENCH_SCALEOUT_BROKER_URL wins), and prints the figures it wrote:

    scaleout_transitions_duplicated: 0
    scaleout_notices_duplicated: 0
    scaleout_notices_lost: 0
    scaleout_notices: 600
    scaleout_seconds: 41.2

From bench/run.py: `importlib.import_module("bench.scaleout").run(args, env, emit, log)` with
`args.scaleout_stakeholders`/`args.scaleout_phases` (optional) and the bench's environment;
it returns the failures that did not stop the bench (a failed assertion in the test is one).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = str(Path(sys.executable).with_name("pytest"))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/flightdeck_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/4"
DEFAULT_STAKEHOLDERS, DEFAULT_PHASES = 100, 5
QUICK_STAKEHOLDERS, QUICK_PHASES = 10, 3
FIGURES = ("transitions_duplicated", "notices_duplicated", "notices_lost")


def _log(msg: str) -> None:
    print(f"[bench scaleout] {msg}", file=sys.stderr, flush=True)


def _emit(name: str, value) -> None:
    print(f"{name}: {value}", flush=True)


def sizes(args) -> tuple[int, int]:
    quick = getattr(args, "quick", False)
    stakeholders = getattr(args, "scaleout_stakeholders", None) or (
        QUICK_STAKEHOLDERS if quick else DEFAULT_STAKEHOLDERS
    )
    phases = getattr(args, "scaleout_phases", None) or (QUICK_PHASES if quick else DEFAULT_PHASES)
    return stakeholders, max(3, phases)


def broker_url(env: dict[str, str]) -> str:
    if os.environ.get("BENCH_SCALEOUT_BROKER_URL"):
        return os.environ["BENCH_SCALEOUT_BROKER_URL"]
    configured = env.get("CELERY_BROKER_URL", "")
    return configured if configured.startswith("redis") else DEFAULT_BROKER_URL


def run(args, env: dict[str, str], emit=_emit, log=_log) -> list[str]:
    """Run the scale-out scenario once; emit its figures; return failures (empty when clean)."""
    stakeholders, phases = sizes(args)
    with tempfile.TemporaryDirectory(prefix="scaleout-") as folder:
        report = Path(folder) / "report.json"
        child = dict(env)
        child.update(
            SCALEOUT_STAKEHOLDERS=str(stakeholders),
            SCALEOUT_PHASES=str(phases),
            SCALEOUT_REPORT=str(report),
            CELERY_BROKER_URL=broker_url(env),
            CI="true",  # a missing PostgreSQL or Redis is a failure here, not a skip
        )
        child.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
        log(f"{stakeholders} stakeholders, {phases} phases: two servers, two workers, two beats")
        started = time.monotonic()
        test = "tests/reliability/test_scaleout.py::test_two_servers_two_workers_two_beats"
        test += "__each_transition_and_notice_once__no_secret_logged"
        done = subprocess.run(
            [PYTEST, test, "-q", "-x", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=child,
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        failures = []
        if done.returncode != 0:
            log(done.stdout[-4000:] + done.stderr[-2000:])
            failures.append(f"scale-out test failed (pytest exit {done.returncode}); see stderr")
        if not report.exists():
            failures.append("scale-out test wrote no figures")
            return failures
        figures = json.loads(report.read_text())
    for name in FIGURES:
        emit(f"scaleout_{name}", figures[name])
    emit("scaleout_notices", figures["notices_received"])
    emit("scaleout_webhook_redelivered", figures["webhook_redelivered"])
    emit("scaleout_seconds", f"{seconds:.1f}")
    return failures


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stakeholders", dest="scaleout_stakeholders", type=int, help="default 100 (quick 10)")
    p.add_argument("--phases", dest="scaleout_phases", type=int, help="default 5 (quick 3), at least 3")
    p.add_argument("--quick", action="store_true", help="the CI test's size")
    args = p.parse_args(argv)
    failures = run(args, dict(os.environ))
    for failure in failures:
        _log(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
