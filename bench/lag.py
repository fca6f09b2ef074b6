"""Engine lag with a real Celery worker and beat: how late auto-advance and gate-failure
rollback happen after they are due.

Called from bench/run.py after the throughput part (the seeded releases stay in the
database as background), once django.setup() ran against the bench database:

1. Plan N_ADV releases of two phases (the first auto-advances after a 1-minute soak, no
   gates; the second waits on a manual gate, so each release advances exactly once) and
   N_RB releases whose first phase has a required metric_threshold gate against a loopback
   fake Prometheus answering 0.5 (failure condition > 0.4; interval 2 s, count 1, failure
   limit 0) and on_gate_failure="rollback". Start them all with transitions.release_start,
   then park them: soak end and first measurement an hour away.
2. Flush the bench's Redis broker database, start `celery worker` and `celery beat` as
   subprocesses (ENGINE_TICK_SECONDS=2), wait for the worker and two engine ticks.
3. In one transaction, backdate each first phase's started_at so that started_at + soak
   lands at staggered instants over the next SPREAD seconds, and set each metric gate's
   next_check_at to staggered instants over the same window (bench data setup; the app
   itself never does this).
4. Wait (bounded) for every phase.advanced and rollback.started Event, stop the subprocesses,
   compute the lags from the database:
   - advance lag   = phase.advanced Event created_at − (started_at + min_soak_minutes)
   - rollback lag  = rollback.started Event created_at − taken_at of the GateMeasurement
                     named in the gate.failed Event (data["measurement"])
   - rollback lag from due = rollback.started created_at − the gate's next_check_at that was
                     due (what an operator sees: due → claimed by a tick → task → HTTP →
                     recorded → rollback)
   and a breakdown on stderr (tick pick-up vs. work inside the tick; due → query reached
   the fake → measurement), plus engine_tick timings parsed from the worker log.

Percentiles are nearest-rank: with 50 samples p99 is the maximum.
"""

import contextlib
import itertools
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from tests.fakes import FakePrometheus, vector  # loopback fake; needs ROOT on sys.path (run.py puts it there)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CELERY = str(Path(sys.executable).with_name("celery"))
# Its own Redis database: flushed at the start of every lag run. Not CELERY_BROKER_URL, so
# a developer's broker (db 0) or CI's (db 15) is never flushed by the bench.
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/4"
TICK_SECONDS = 2
LEAD_SECONDS = 2.0  # from the scheduling commit to the first soak end / due check
GOAL_SECONDS = 5.0
SOAK_MINUTES = 1
PARK = timedelta(hours=1)


class LagError(Exception):
    pass


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def sizes(args) -> dict:
    quick = {"lag_phases": 10, "lag_rollbacks": 10, "lag_spread": 10.0}
    full = {"lag_phases": 50, "lag_rollbacks": 40, "lag_spread": 25.0}
    chosen = quick if args.quick else full
    return {k: getattr(args, k, None) if getattr(args, k, None) is not None else v for k, v in chosen.items()}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (
        f"min {min(values):.2f} p50 {percentile(values, 50):.2f} p90 {percentile(values, 90):.2f} "
        f"p99 {percentile(values, 99):.2f} max {max(values):.2f} s (n={len(values)})"
    )


# --- Celery subprocesses --------------------------------------------------------------


class CeleryProcs:
    """A worker and a beat as subprocesses, each in its own session, logging to bench/out."""

    def __init__(self, env: dict[str, str], queue: str):
        self.env = env
        self.queue = queue
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []
        self.schedule = OUT / f"celerybeat-{queue}"

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log_path = OUT / f"celery-{name}.log"
        with open(log_path, "wb") as fh:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                [CELERY, "-A", "config", *args],
                cwd=ROOT,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: a stop reaches the pool too
            )
        self.procs.append((name, proc, log_path))
        _log(f"started celery {name} (pid {proc.pid}), log {log_path.relative_to(ROOT)}")
        return proc

    def worker(self, concurrency: int) -> subprocess.Popen:
        node = f"bench-{uuid.uuid4().hex[:6]}@%h"
        args = ["worker", "-Q", self.queue, "-n", node, "--concurrency", str(concurrency), "-l", "INFO"]
        return self._start("worker", args)

    def beat(self) -> subprocess.Popen:
        return self._start("beat", ["beat", "-s", str(self.schedule), "-l", "INFO"])

    def log_path(self, name: str) -> Path:
        return next(path for n, _p, path in self.procs if n == name)

    def log_text(self, name: str) -> str:
        try:
            return self.log_path(name).read_text(errors="replace")
        except (OSError, StopIteration):
            return ""

    def check_alive(self) -> None:
        for name, proc, _path in self.procs:
            if proc.poll() is not None:
                tail = "\n".join(self.log_text(name).splitlines()[-40:])
                raise LagError(f"celery {name} exited ({proc.returncode}):\n{tail}")

    def wait_for(self, name: str, predicate, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if predicate(self.log_text(name)):
                return
            time.sleep(0.2)
        tail = "\n".join(self.log_text(name).splitlines()[-40:])
        raise LagError(f"celery {name}: {what} not seen within {timeout:.0f} s:\n{tail}")

    def stop(self) -> None:
        for name, proc, _path in self.procs:
            if proc.poll() is None:
                _log(f"stopping celery {name} (pid {proc.pid})")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc, _path in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: our process group only
                proc.wait(timeout=5)
        for path in OUT.glob(f"{self.schedule.name}*"):
            with contextlib.suppress(OSError):
                path.unlink()


def celery_env(env: dict[str, str], broker_url: str, queue: str) -> dict[str, str]:
    out = dict(env)
    out.update(
        CELERY_BROKER_URL=broker_url,
        CELERY_QUEUE=queue,
        CELERY_TASK_ALWAYS_EAGER="false",
        ENGINE_TICK_SECONDS=str(TICK_SECONDS),
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",  # rollouts.events lines with times, for the record
    )
    out.pop("FLIGHTDECK_FAULTS", None)
    return out


def flush_broker(broker_url: str) -> None:
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        keys = client.dbsize()
        client.flushdb()
    except redis.RedisError as exc:
        raise LagError(f"Redis broker {broker_url}: {exc}") from exc
    finally:
        client.close()
    _log(f"flushed broker database {broker_url} ({keys} keys)")


# --- Data -----------------------------------------------------------------------------


class TimedPrometheus(FakePrometheus):
    """The tests' FakePrometheus, noting when each query first reached it."""

    def __init__(self):
        super().__init__()
        self.arrivals: dict[str, float] = {}

    def respond(self, request):
        if request.path == "/api/v1/query":
            self.arrivals.setdefault(request.param("query") or "", time.time())
        return super().respond(request)


def gate_query(i: int) -> str:
    return f'sum(rate(http_errors_total{{release="lag-rollback-{i:03d}"}}[1m]))'


def plan(n_adv: int, n_rb: int, prom_address: str):
    """Create and start the releases, parked an hour away. Returns (advance phase ids, rollback gate ids)."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from rollouts import services, transitions
    from rollouts.models import Gate, GateKind, Phase, Release

    manager = get_user_model().objects.get(username="bench-manager")
    Release.objects.filter(slug__startswith="lag-").delete()  # a previous lag run on an unwiped database
    far = timezone.now() + PARK
    adv_phases, rb_gates = [], []
    for i in range(n_adv):
        with transaction.atomic():
            release = services.release_create(
                actor=manager,
                name=f"Lag advance {i}",
                version="1.0.0",
                owner=manager,
                strategy="canary",
                slug=f"lag-advance-{i:03d}",
                propose_phases=False,
            )
            first = services.phase_add(
                release_id=release.pk,
                actor=manager,
                name="Canary",
                environment="production",
                exposure_percent=10,
                min_soak_minutes=SOAK_MINUTES,
                auto_advance=True,
            )
            second = services.phase_add(
                release_id=release.pk,
                actor=manager,
                name="Everyone",
                environment="production",
                exposure_percent=100,
                min_soak_minutes=60,
                auto_advance=False,
            )
            services.gate_add(phase_id=second.pk, actor=manager, name="Go for everyone", kind=GateKind.MANUAL_APPROVAL)
            transitions.release_start(release_id=release.pk, actor=manager)
            Phase.objects.filter(pk=first.pk).update(started_at=far)  # parked
        adv_phases.append(first.pk)
    for i in range(n_rb):
        with transaction.atomic():
            release = services.release_create(
                actor=manager,
                name=f"Lag rollback {i}",
                version="1.0.0",
                owner=manager,
                strategy="canary",
                slug=f"lag-rollback-{i:03d}",
                propose_phases=False,
                on_gate_failure="rollback",
            )
            first = services.phase_add(
                release_id=release.pk,
                actor=manager,
                name="Canary",
                environment="production",
                exposure_percent=10,
                min_soak_minutes=60,
                auto_advance=True,
            )
            services.phase_add(
                release_id=release.pk,
                actor=manager,
                name="Everyone",
                environment="production",
                exposure_percent=100,
                min_soak_minutes=60,
                auto_advance=False,
            )
            gate = services.gate_add(
                phase_id=first.pk,
                actor=manager,
                name="Error rate",
                kind=GateKind.METRIC_THRESHOLD,
                config={
                    "address": prom_address,
                    "query": gate_query(i),
                    "success_condition": "<= 0.3",
                    "failure_condition": "> 0.4",
                    "interval_seconds": 2,
                    "count": 1,
                    "failure_limit": 0,
                    "timeout_seconds": 5,
                },
            )
            services.rollback_step_add(
                release_id=release.pk,
                actor=manager,
                title="Set traffic weight of the new version to 0%",
                instructions="Follow the runbook.",
                expected_minutes=2,
            )
            transitions.release_start(release_id=release.pk, actor=manager)
            Gate.objects.filter(pk=gate.pk).update(next_check_at=far)  # parked
        rb_gates.append(gate.pk)
    return adv_phases, rb_gates


def schedule(adv_phases: list[int], rb_gates: list[int], spread: float):
    """Unpark: soak ends and first checks at staggered instants over `spread` seconds from now + LEAD.

    Returns {gate id: the next_check_at set}; soak ends are read back from the phases."""
    from django.db import transaction
    from django.utils import timezone

    from rollouts.models import Gate, Phase

    t0 = timezone.now() + timedelta(seconds=LEAD_SECONDS)
    dues = {}
    with transaction.atomic():
        for i, phase_id in enumerate(adv_phases):
            at = t0 + timedelta(seconds=spread * i / max(1, len(adv_phases) - 1))
            Phase.objects.filter(pk=phase_id).update(started_at=at - timedelta(minutes=SOAK_MINUTES))
        for j, gate_id in enumerate(rb_gates):
            at = t0 + timedelta(seconds=spread * (j + 0.5) / max(1, len(rb_gates)))
            Gate.objects.filter(pk=gate_id).update(next_check_at=at)
            dues[gate_id] = at
    return dues


def progress(adv_phases: list[int], rb_gates: list[int]) -> tuple[int, int]:
    from rollouts.models import Event, Gate, Phase

    adv_releases = Phase.objects.filter(pk__in=adv_phases).values("release_id")
    rb_releases = Gate.objects.filter(pk__in=rb_gates).values("phase__release_id")
    advanced = Event.objects.filter(verb="phase.advanced", release_id__in=adv_releases).count()
    rolled = Event.objects.filter(verb="rollback.started", release_id__in=rb_releases).count()
    return advanced, rolled


def advance_lags(adv_phases: list[int]):
    """Per phase: (total lag, tick pick-up = next phase's started_at − soak end, in-tick = event − started_at)."""
    from rollouts.models import Event, Phase

    rows = []
    for phase in Phase.objects.filter(pk__in=adv_phases).select_related("release"):
        event = Event.objects.filter(release_id=phase.release_id, verb="phase.advanced").order_by("created_at").first()
        if event is None:
            continue
        nxt = Phase.objects.get(pk=event.phase_id)
        soak_end = phase.soak_ends_at
        rows.append(
            (
                (event.created_at - soak_end).total_seconds(),
                (nxt.started_at - soak_end).total_seconds(),
                (event.created_at - nxt.started_at).total_seconds(),
            )
        )
    return rows


def rollback_lags(rb_gates: list[int], dues: dict, arrivals: dict[str, float], queries: dict[int, str]):
    """Per gate: (from measurement, from due, due → query reached the fake, query → measurement taken)."""
    from rollouts.models import Event, Gate, GateMeasurement

    rows, odd = [], []
    for gate in Gate.objects.filter(pk__in=rb_gates).select_related("phase"):
        release_id = gate.phase.release_id
        failed = Event.objects.filter(release_id=release_id, verb="gate.failed", gate_id=gate.pk).first()
        started = Event.objects.filter(release_id=release_id, verb="rollback.started").first()
        if failed is None or started is None:
            odd.append(f"gate {gate.pk}: status {gate.status}, gate.failed={failed is not None}")
            continue
        measurement = GateMeasurement.objects.get(pk=failed.data["measurement"])
        arrived = arrivals.get(queries[gate.pk])
        due = dues[gate.pk]
        rows.append(
            (
                (started.created_at - measurement.taken_at).total_seconds(),
                (started.created_at - due).total_seconds(),
                (arrived - due.timestamp()) if arrived else float("nan"),
                (measurement.taken_at.timestamp() - arrived) if arrived else float("nan"),
            )
        )
    return rows, odd


# --- Worker and beat logs -------------------------------------------------------------

_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[\w-]+\] (.*)$")
_SUCCEEDED = re.compile(r"Task rollouts\.tasks\.(\w+)\[[0-9a-f-]+\] succeeded in ([0-9.e-]+)s")


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as celery logs it


def log_timings(worker_log: str, beat_log: str, since: float, until: float) -> dict:
    """engine_tick and evaluate_gate run times, gaps between tick starts, beat → start delay, expiries."""
    runs: dict[str, list[tuple[float, float]]] = {}
    expired = 0
    for line in worker_log.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        at = _stamp(m[1])
        if not since <= at <= until:
            continue
        if "engine_tick" in m[2] and ("expired" in m[2].lower() or "revoked" in m[2].lower()):
            expired += 1
        s = _SUCCEEDED.search(m[2])
        if s:
            runtime = float(s[2])
            runs.setdefault(s[1], []).append((at - runtime, runtime))
    sends = []
    for line in beat_log.splitlines():
        m = _LINE.match(line)
        if m and "Sending due task rollout-engine-tick" in m[2]:
            sends.append(_stamp(m[1]))
    ticks = sorted(runs.get("engine_tick", []))
    starts = [s for s, _r in ticks]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    pickup = []
    for start in starts:
        before = [s for s in sends if s <= start + 0.01]
        if before:
            pickup.append(start - before[-1])
    sent_in_window = [s for s in sends if since <= s <= until]
    return {
        "ticks": len(ticks),
        "ticks_sent": len(sent_in_window),
        "tick_runtimes": [r for _s, r in ticks],
        "tick_gaps": gaps,
        "tick_pickup": pickup,
        "expired": expired,
        "gate_runtimes": [r for _s, r in runs.get("evaluate_gate", [])],
        "other_tasks": {k: len(v) for k, v in runs.items() if k not in ("engine_tick", "evaluate_gate")},
    }


# --- Main -----------------------------------------------------------------------------


def run(args, env: dict[str, str], emit, log=_log) -> list[str]:
    """Measure and emit the lag figures; returns failures that did not stop the rest of the bench."""
    from django.db import connection

    n = sizes(args)
    n_adv, n_rb, spread = n["lag_phases"], n["lag_rollbacks"], n["lag_spread"]
    broker_url = os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER_URL)
    queue = f"flightdeck-bench-{uuid.uuid4().hex[:8]}"
    concurrency = args.celery_concurrency
    OUT.mkdir(exist_ok=True)
    failures: list[str] = []
    started = time.monotonic()

    from config.celery import app

    # This process only writes rows; should anything enqueue, it goes to the bench's broker and queue.
    app.conf.broker_url = broker_url
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False

    fake = TimedPrometheus()
    fake.start()
    procs = CeleryProcs(celery_env(env, broker_url, queue), queue)
    try:
        fake.script(vector(0.5))  # every query fails the gate: 0.5 > 0.4
        log(
            f"lag: planning {n_adv} auto-advancing phases and {n_rb} metric gates (rollback on failure), "
            f"fake Prometheus at {fake.address}"
        )
        t_plan = time.monotonic()
        adv_phases, rb_gates = plan(n_adv, n_rb, fake.address)
        queries = {gate_id: gate_query(j) for j, gate_id in enumerate(rb_gates)}
        log(f"lag: planned and started in {time.monotonic() - t_plan:.1f} s")
        connection.close()  # fresh connection later; the worker's connections are its own

        flush_broker(broker_url)
        procs.worker(concurrency)
        procs.beat()
        procs.wait_for("worker", lambda text: " ready." in text, "'ready.'", timeout=90)
        procs.wait_for(
            "worker",
            lambda text: len(re.findall(r"engine_tick\[[0-9a-f-]+\] succeeded", text)) >= 2,
            "two engine ticks",
            timeout=60,
        )
        load_before = os.getloadavg()[0]
        dues = schedule(adv_phases, rb_gates, spread)
        window_start = time.time()
        log(
            f"lag: soak ends and gate checks staggered over {spread:g} s from now + {LEAD_SECONDS:g} s "
            f"(tick every {TICK_SECONDS} s, worker concurrency {concurrency}, load average {load_before:.2f})"
        )
        deadline = time.monotonic() + LEAD_SECONDS + spread + 60
        advanced = rolled = 0
        last_note = 0.0
        while time.monotonic() < deadline:
            procs.check_alive()
            advanced, rolled = progress(adv_phases, rb_gates)
            if advanced >= n_adv and rolled >= n_rb:
                break
            if time.monotonic() - last_note > 5:
                log(f"lag: {advanced}/{n_adv} advanced, {rolled}/{n_rb} rolling back")
                last_note = time.monotonic()
            time.sleep(0.25)
        window_end = time.time()
        if advanced < n_adv or rolled < n_rb:
            failures.append(
                f"lag: only {advanced}/{n_adv} phases advanced and {rolled}/{n_rb} rollbacks started within "
                f"{LEAD_SECONDS + spread + 60:.0f} s (worker log: {procs.log_path('worker')})"
            )
        time.sleep(0.5)  # the last tick's log line
    finally:
        procs.stop()
        fake.stop()

    worker_log, beat_log = procs.log_text("worker"), procs.log_text("beat")
    adv = advance_lags(adv_phases)
    rb, odd = rollback_lags(rb_gates, dues, fake.arrivals, queries)
    for line in odd:
        log(f"lag: rollback not measured: {line}")
    timings = log_timings(worker_log, beat_log, window_start - 1, window_end + 1)

    total = [a for a, _p, _w in adv]
    log(f"advance lag (soak end → phase.advanced): {summary(total)}")
    log(f"  soak end → start of the tick that advanced it: {summary([p for _a, p, _w in adv])}")
    log(f"  tick start → phase.advanced written:          {summary([w for _a, _p, w in adv])}")
    rb_measure = [r[0] for r in rb]
    rb_due = [r[1] for r in rb]
    log(f"rollback lag (failing measurement → rollback.started): {summary(rb_measure)}")
    log(f"rollback lag from due (next_check_at → rollback.started): {summary(rb_due)}")
    log(f"  due → query reached the fake Prometheus: {summary([r[2] for r in rb if not math.isnan(r[2])])}")
    log(f"  query → measurement recorded:            {summary([r[3] for r in rb if not math.isnan(r[3])])}")
    log(
        f"engine ticks in the window: {timings['ticks']} ran, {timings['ticks_sent']} sent by beat, "
        f"{timings['expired']} expired; run time {summary(timings['tick_runtimes'])}"
    )
    log(f"  gap between tick starts: {summary(timings['tick_gaps'])}")
    log(f"  beat send → tick start:  {summary(timings['tick_pickup'])}")
    log(f"evaluate_gate run time: {summary(timings['gate_runtimes'])}; other tasks: {timings['other_tasks']}")
    log(f"worker log: {procs.log_path('worker')}, beat log: {procs.log_path('beat')}")

    def fmt(values, p):
        return f"{percentile(values, p):.2f}" if values else "n/a"

    emit("lag_phases", len(adv))
    emit("lag_rollbacks", len(rb))
    emit("lag_window_s", f"{spread:g}")
    emit("advance_lag_p50_s", fmt(total, 50))
    emit("advance_lag_p99_s", fmt(total, 99))
    emit("advance_lag_max_s", f"{max(total):.2f}" if total else "n/a")
    emit("rollback_lag_p50_s", fmt(rb_measure, 50))
    emit("rollback_lag_p99_s", fmt(rb_measure, 99))
    emit("rollback_lag_from_due_p50_s", fmt(rb_due, 50))
    emit("rollback_lag_from_due_p99_s", fmt(rb_due, 99))
    emit("engine_tick_runtime_p99_s", fmt(timings["tick_runtimes"], 99))
    emit("engine_tick_gap_max_s", f"{max(timings['tick_gaps']):.2f}" if timings["tick_gaps"] else "n/a")
    emit("engine_ticks_expired", timings["expired"])
    emit("lag_seconds", f"{time.monotonic() - started:.1f}")
    for name, values in (
        ("advance_lag_p99_s", total),
        ("rollback_lag_p99_s", rb_measure),
        ("rollback_lag_from_due_p99_s", rb_due),
    ):
        if values and percentile(values, 99) > GOAL_SECONDS:
            log(f"lag: goal missed: {name} {percentile(values, 99):.2f} s > {GOAL_SECONDS:g} s")
    return failures
