"""Stakeholder notices with a real Celery worker and beat: how fast the outbox drains, and how
late a notice arrives after it is due.

Called from bench/run.py (loaded as `bench.comms`, so it never shadows the app package
`comms`) after django.setup() ran against the bench database:

1. A loopback SMTP sink (tests/smtp.py, aiosmtpd, accepts everything) in this process.
2. Data through the ORM and comms.planner: N_DRAIN stakeholders in one audience and one
   "at a fixed time" message to it (N_DRAIN notices); N_LAG/5 messages to an audience of 5
   (N_LAG notices). All parked an hour away, so nothing is due while the worker starts.
3. Flush the bench's own Redis broker database (BENCH_COMMS_BROKER_URL, default
   redis://127.0.0.1:6379/5), start `celery worker` (concurrency --celery-concurrency, 2)
   and `celery beat` (ENGINE_TICK_SECONDS=2: outbox_tick every 2 s, as in production) with
   EMAIL_URL pointing at the sink; wait for the worker and two outbox ticks.
4. Drain: in one transaction, the drain message's send_at and its notices' due_at become now.
   notice_drain_per_s = N_DRAIN / (last arrival at the sink − that moment).
5. Lag: in one transaction, the lag messages' send_at (and their notices' due_at) are spread
   evenly over the next LAG_SPREAD seconds. Lag = arrival at the sink − due_at, per notice
   (matched by the X-Flightdeck-Notice header); notice_early_count counts negative lags.
6. Stop the subprocesses; then, with no worker running, send a sample of notices in this
   process to the same sink with timers on SQL, rendering and SMTP, to say where a notice's
   time goes.

Bench data setup writes Message.send_at and Notice.due_at together, as the planner would
(a re-plan would compute the same due time). Percentiles are nearest-rank.
"""

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from tests.smtp import SmtpServer  # needs ROOT on sys.path (run.py puts it there)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CELERY = str(Path(sys.executable).with_name("celery"))
# Its own Redis database, flushed at the start: never a developer's broker (db 0), CI's
# (db 15), or the engine-lag part's (db 4).
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/5"
TICK_SECONDS = 2
LAG_GROUP = 5  # recipients per lag message
SAMPLE = 200  # notices sent in-process for the breakdown
DRAIN_GOAL = 200.0  # notices/s
LAG_GOAL = 5.0  # seconds
PARK = timedelta(hours=1)
EMAIL_DOMAIN = "comms-bench.example"
SLUG = "comms-bench"


class CommsBenchError(Exception):
    pass


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def sizes(args) -> dict:
    quick = {"comms_notices": 1000, "comms_lag_notices": 100, "comms_lag_spread": 20.0}
    full = {"comms_notices": 5000, "comms_lag_notices": 500, "comms_lag_spread": 120.0}
    chosen = quick if args.quick else full
    return {k: getattr(args, k, None) if getattr(args, k, None) is not None else v for k, v in chosen.items()}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def summary(values: list[float], unit: str = "s") -> str:
    if not values:
        return "no samples"
    return (
        f"min {min(values):.3f} p50 {percentile(values, 50):.3f} p90 {percentile(values, 90):.3f} "
        f"p99 {percentile(values, 99):.3f} max {max(values):.3f} {unit} (n={len(values)})"
    )


# --- Celery subprocesses --------------------------------------------------------------


class CeleryProcs:
    """A worker and a beat, each in its own session, logging to bench/out/comms-*.log."""

    def __init__(self, env: dict[str, str], queue: str):
        self.env = env
        self.queue = queue
        self.procs: dict[str, tuple[subprocess.Popen, Path]] = {}
        self.schedule = OUT / f"celerybeat-{queue}"

    def _start(self, name: str, args: list[str]) -> None:
        log_path = OUT / f"comms-{name}.log"
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
        self.procs[name] = (proc, log_path)
        _log(f"comms: started celery {name} (pid {proc.pid}), log {log_path.relative_to(ROOT)}")

    def worker(self, concurrency: int) -> None:
        node = f"bench-comms-{uuid.uuid4().hex[:6]}@%h"
        self._start("worker", ["worker", "-Q", self.queue, "-n", node, "--concurrency", str(concurrency), "-l", "INFO"])

    def beat(self) -> None:
        self._start("beat", ["beat", "-s", str(self.schedule), "-l", "INFO"])

    def log_text(self, name: str) -> str:
        try:
            return self.procs[name][1].read_text(errors="replace")
        except (OSError, KeyError):
            return ""

    def log_path(self, name: str) -> Path:
        return self.procs[name][1]

    def check_alive(self) -> None:
        for name, (proc, _path) in self.procs.items():
            if proc.poll() is not None:
                tail = "\n".join(self.log_text(name).splitlines()[-40:])
                raise CommsBenchError(f"celery {name} exited ({proc.returncode}):\n{tail}")

    def wait_for(self, name: str, predicate, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if predicate(self.log_text(name)):
                return
            time.sleep(0.2)
        tail = "\n".join(self.log_text(name).splitlines()[-40:])
        raise CommsBenchError(f"celery {name}: {what} not seen within {timeout:.0f} s:\n{tail}")

    def stop(self) -> None:
        for name, (proc, _path) in self.procs.items():
            if proc.poll() is None:
                _log(f"comms: stopping celery {name} (pid {proc.pid})")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc, _path in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: our process group only
                proc.wait(timeout=5)
        for path in OUT.glob(f"{self.schedule.name}*"):
            with contextlib.suppress(OSError):
                path.unlink()


def celery_env(env: dict[str, str], broker_url: str, queue: str, email_url: str) -> dict[str, str]:
    out = dict(env)
    out.update(
        CELERY_BROKER_URL=broker_url,
        CELERY_QUEUE=queue,
        CELERY_TASK_ALWAYS_EAGER="false",
        ENGINE_TICK_SECONDS=str(TICK_SECONDS),
        EMAIL_URL=email_url,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
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
        raise CommsBenchError(f"Redis broker {broker_url}: {exc}") from exc
    finally:
        client.close()
    _log(f"comms: flushed broker database {broker_url} ({keys} keys)")


# --- Data -----------------------------------------------------------------------------


def wipe() -> None:
    """What an earlier comms bench left (the rollouts seed wipes releases, not stakeholders)."""
    from comms.models import Audience, Stakeholder
    from rollouts.models import Release

    Release.objects.filter(slug__startswith=SLUG).delete()  # cascades to plans, messages, notices
    Stakeholder.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").delete()
    Audience.objects.filter(name__startswith=SLUG).delete()


def make_release(owner, suffix: str):
    from rollouts.models import Phase, Release

    release = Release.objects.create(
        slug=f"{SLUG}-{suffix}", name=f"Comms bench {suffix}", version="3.1.0", owner=owner, summary="Bench release."
    )
    Phase.objects.create(release=release, position=0, name="Canary", exposure_percent=10)
    return release


BODY = """Hello {{ recipient.name }},

**{{ release.name }} {{ release.version }}** reaches {{ phase.name }} on {{ phase.planned_start }}.

- What changes: the checkout page loads faster.
- What to watch: payment errors, slow pages.
- Briefing: {{ release.briefing_url }}

Thanks, the release team
"""


def plan(n_drain: int, n_lag: int, n_sample: int) -> dict:
    """Stakeholders, audiences, messages and their notices (parked). Returns ids."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from comms import planner
    from comms.models import Audience, CommunicationPlan, Membership, Message, Notice, Stakeholder, Trigger

    owner, _ = get_user_model().objects.get_or_create(username="bench-comms", defaults={"first_name": "Bench"})
    far = timezone.now() + PARK
    people = Stakeholder.objects.bulk_create(
        [
            Stakeholder(email=f"person{i:05d}@{EMAIL_DOMAIN}", name=f"Person {i}", organisation="Bench")
            for i in range(max(n_drain, n_sample, LAG_GROUP))
        ],
        batch_size=1000,
    )

    def audience(name: str, members) -> Audience:
        a = Audience.objects.create(name=f"{SLUG} {name}")
        Membership.objects.bulk_create([Membership(stakeholder=s, audience=a) for s in members], batch_size=1000)
        return a

    def message(release, aud, name: str) -> Message:
        plan_, _ = CommunicationPlan.objects.get_or_create(release=release)
        m = Message.objects.create(
            plan=plan_,
            name=name,
            subject="{{ release.name }} {{ release.version }}: heads-up",
            body=BODY,
            trigger=Trigger.AT_TIME,
            send_at=far,
        )
        m.audiences.add(aud)
        return m

    out = {}
    for key, count, n_messages in (("drain", n_drain, 1), ("lag", n_lag, max(1, n_lag // LAG_GROUP))):
        release = make_release(owner, key)
        group = people[: count if n_messages == 1 else LAG_GROUP]
        aud = audience(key, group)
        out[key] = [message(release, aud, f"{key} {i}").pk for i in range(n_messages)]
        planner.plan_release(release_id=release.pk)
    sample_release = make_release(owner, "sample")
    out["sample"] = [message(sample_release, audience("sample", people[:n_sample]), "sample").pk]
    planner.plan_release(release_id=sample_release.pk)
    for key in ("drain", "lag", "sample"):
        out[f"{key}_notices"] = Notice.objects.filter(message_id__in=out[key]).count()
    return out


def set_due(message_ids: list[int], times: list[datetime]) -> None:
    """Message i and its notices become due at times[i], in one transaction."""
    from django.db import transaction

    from comms.models import Message, Notice

    with transaction.atomic():
        for message_id, at in zip(message_ids, times, strict=True):
            Message.objects.filter(pk=message_id).update(send_at=at)
            Notice.objects.filter(message_id=message_id, status=Notice.Status.PENDING).update(due_at=at)


def sent_count(message_ids: list[int]) -> int:
    from comms.models import Notice

    return Notice.objects.filter(message_id__in=message_ids, status=Notice.Status.SENT).count()


def notice_of(mail) -> int | None:
    value = mail.header("X-Flightdeck-Notice")
    return int(value) if value.isdigit() else None


def wait_sent(procs, message_ids, total: int, timeout: float, label: str, log) -> int:
    deadline = time.monotonic() + timeout
    last_note, sent = 0.0, 0
    while time.monotonic() < deadline:
        procs.check_alive()
        sent = sent_count(message_ids)
        if sent >= total:
            return sent
        if time.monotonic() - last_note > 5:
            log(f"comms {label}: {sent}/{total} sent")
            last_note = time.monotonic()
        time.sleep(0.25)
    return sent


# --- Worker log -------------------------------------------------------------------------

_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[\w-]+\] (.*)$")
_DONE = re.compile(r"Task comms\.tasks\.(\w+)\[[0-9a-f-]+\] succeeded in ([0-9.e-]+)s: (.*)$")


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as celery logs it


def worker_timings(worker_log: str, since: float, until: float) -> dict:
    """drain_notices run times and sizes, outbox_tick claims, discarded (expired) ticks."""
    batches, ticks, discarded = [], [], 0
    for line in worker_log.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        at = _stamp(m[1])
        if not since <= at <= until:
            continue
        if "Discarding revoked task: comms.tasks.outbox_tick" in m[2]:
            discarded += 1
            continue
        d = _DONE.search(m[2])
        if not d:
            continue
        runtime = float(d[2])
        if d[1] == "drain_notices":
            sent = re.search(r"'sent': (\d+)", d[3])
            batches.append((at - runtime, runtime, int(sent[1]) if sent else 0))
        elif d[1] == "outbox_tick":
            ticks.append((at - runtime, runtime, int(d[3]) if d[3].strip().isdigit() else 0))
    return {"batches": sorted(batches), "ticks": sorted(ticks), "discarded_ticks": discarded}


# --- In-process breakdown ---------------------------------------------------------------


# The sink for the in-process sample runs in a process of its own: a sink thread in this
# process would take the GIL from the sender and inflate every wait it times.
SINK_SCRIPT = """
import sys
from tests.smtp import SmtpServer
sink = SmtpServer().start()
print(sink.port, flush=True)
sys.stdin.read()
print(sink.count(), flush=True)
sink.stop()
"""


def breakdown(message_ids: list[int], log, profile: bool = False) -> dict:
    """Send the sample in this process (no worker running) to a sink in another process, timing
    SQL, render + MIME build and SMTP; with profile, a cProfile of it to stderr and bench/out."""
    from django.utils import timezone

    from comms import outbox
    from comms.models import Notice

    Notice.objects.filter(message_id__in=message_ids).update(due_at=timezone.now())
    timers = {"sql": 0.0, "queries": 0, "build": 0.0, "send": 0.0}

    def sql(execute, sql_text, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql_text, params, many, context)
        finally:
            timers["sql"] += time.perf_counter() - t0
            timers["queries"] += 1

    real_build, real_send = outbox.build_email, outbox._send_email

    def build(notice):
        t0 = time.perf_counter()
        try:
            return real_build(notice)
        finally:
            timers["build"] += time.perf_counter() - t0

    def send(notice, conn):
        t0 = time.perf_counter()
        try:
            return real_send(notice, conn)
        finally:
            timers["send"] += time.perf_counter() - t0

    sink = subprocess.Popen(
        [sys.executable, "-c", SINK_SCRIPT], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(sink.stdout.readline() or 0)
        if not port:
            raise CommsBenchError("comms: the sample's SMTP sink did not start")
        result = _send_sample(message_ids, timers, sql, build, send, port, profile, log)
        sink.stdin.close()
        received = int(sink.stdout.readline() or -1)
        sink.wait(timeout=15)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait(timeout=5)
    if result:
        result["received"] = received
        log(
            f"comms in-process, {result['sent']} notices in batches of {result['batch']} over one SMTP connection "
            f"each (sink got {received}): {result['ms']:.2f} ms/notice = SQL {result['sql_ms']:.2f} ms "
            f"({result['queries']:.1f} queries) + render and MIME build {result['build_ms']:.2f} ms + SMTP "
            f"{result['smtp_ms']:.2f} ms + other Python (ORM, checks) {result['other_ms']:.2f} ms; "
            f"claim {result['claim_ms']:.0f} ms"
        )
    return result


def _send_sample(message_ids, timers, sql, build, send, port, profile, log) -> dict:
    import cProfile
    import pstats
    from unittest import mock

    from django.db import connection
    from django.test.utils import override_settings

    from comms import outbox
    from comms.models import Notice

    email = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }
    prof = cProfile.Profile() if profile else None
    with (
        override_settings(**email),
        mock.patch.object(outbox, "build_email", build),
        mock.patch.object(outbox, "_send_email", send),
    ):
        t0 = time.perf_counter()
        token, claimed = outbox.claim_due(limit=10_000)
        t_claim = time.perf_counter() - t0
        sample_ids = set(Notice.objects.filter(message_id__in=message_ids).values_list("pk", flat=True))
        ids = [i for i in claimed if i in sample_ids]
        sent = 0
        t1 = time.perf_counter()
        with connection.execute_wrapper(sql):
            if prof:
                prof.enable()
            for start in range(0, len(ids), outbox.BATCH):
                sent += outbox.send_batch(token, ids[start : start + outbox.BATCH]).sent
            if prof:
                prof.disable()
        wall = time.perf_counter() - t1
    if prof:
        target = OUT / "comms-send.prof"
        prof.dump_stats(target)
        log(f"comms: cProfile of sending {sent} notices in-process written to {target}; top by cumulative time:")
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    if not sent:
        return {}
    per = {k: 1000 * v / sent for k, v in timers.items() if k != "queries"}
    return {
        "sent": sent,
        "batch": outbox.BATCH,
        "claim_ms": 1000 * t_claim,
        "sql_ms": per["sql"],
        "build_ms": per["build"],
        "smtp_ms": per["send"] - per["build"],
        "other_ms": 1000 * wall / sent - per["sql"] - per["send"],
        "ms": 1000 * wall / sent,
        "queries": timers["queries"] / sent,
    }


# --- Main -----------------------------------------------------------------------------


def measure(args, procs, sink, n_drain, n_lag, spread, concurrency, failures, log):
    """Plan, start the worker and beat, run the drain and then the lag schedule."""
    from django.db import connection
    from django.utils import timezone

    from comms import outbox
    from comms.models import Notice

    t0 = time.monotonic()
    wipe()
    ids = plan(n_drain, n_lag, SAMPLE)
    log(
        f"comms: planned {ids['drain_notices']} drain + {ids['lag_notices']} lag + {ids['sample_notices']} "
        f"sample notices (parked) in {time.monotonic() - t0:.1f} s; SMTP sink at {sink.email_url}"
    )
    if ids["drain_notices"] != n_drain or ids["lag_notices"] != (n_lag // LAG_GROUP) * LAG_GROUP:
        raise CommsBenchError(f"comms: the planner made {ids}, not {n_drain} + {n_lag} notices")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE comms_notice")
    connection.close()

    flush_broker(procs.env["CELERY_BROKER_URL"])
    procs.worker(concurrency)
    procs.beat()
    procs.wait_for("worker", lambda text: " ready." in text, "'ready.'", timeout=90)
    procs.wait_for(
        "worker",
        lambda text: len(re.findall(r"outbox_tick\[[0-9a-f-]+\] succeeded", text)) >= 2,
        "two outbox ticks",
        timeout=60,
    )

    # Drain: every drain notice due now.
    load_before = os.getloadavg()[0]
    drain_start = timezone.now()
    set_due(ids["drain"], [drain_start])
    drain_t0 = drain_start.timestamp()
    log(
        f"comms drain: {n_drain} notices due now (tick every {TICK_SECONDS} s, claim ≤ 500 per tick, "
        f"batches of {outbox.BATCH}, worker concurrency {concurrency}, load average {load_before:.2f})"
    )
    sent = wait_sent(procs, ids["drain"], n_drain, max(120.0, n_drain / 20), "drain", log)
    drain_end = time.time()
    if sent < n_drain:
        failures.append(f"comms drain: only {sent}/{n_drain} notices sent within the wait")
    time.sleep(TICK_SECONDS + 0.5)  # a late duplicate would show up now
    drain_ids = set(Notice.objects.filter(message_id__in=ids["drain"]).values_list("pk", flat=True))
    drain_mail = [m for m in sink.messages() if notice_of(m) in drain_ids]
    arrivals = sorted(m.at for m in drain_mail)
    drain_dups = sum(c - 1 for c in Counter(notice_of(m) for m in drain_mail).values())
    drain_timings = worker_timings(procs.log_text("worker"), drain_t0 - 1, drain_end + 1)

    # Lag: the lag messages due at even steps over `spread` seconds.
    lag_t0 = timezone.now() + timedelta(seconds=2)
    m = len(ids["lag"])
    set_due(ids["lag"], [lag_t0 + timedelta(seconds=spread * i / max(1, m - 1)) for i in range(m)])
    log(f"comms lag: {ids['lag_notices']} notices ({m} messages × {LAG_GROUP}) due over {spread:g} s from now + 2 s")
    sent_lag = wait_sent(procs, ids["lag"], ids["lag_notices"], 2 + spread + 60, "lag", log)
    lag_end = time.time()
    if sent_lag < ids["lag_notices"]:
        failures.append(f"comms lag: only {sent_lag}/{ids['lag_notices']} notices sent within the wait")
    time.sleep(0.5)
    lag_timings = worker_timings(procs.log_text("worker"), lag_t0.timestamp() - 1, lag_end + 1)
    return ids, drain_t0, arrivals, drain_dups, drain_timings, lag_timings


def run(args, env: dict[str, str], emit, log=_log) -> list[str]:
    """Measure and emit the notice figures; returns failures that did not stop the bench."""
    from comms.models import Notice

    n = sizes(args)
    n_drain, n_lag, spread = n["comms_notices"], n["comms_lag_notices"], n["comms_lag_spread"]
    broker_url = os.environ.get("BENCH_COMMS_BROKER_URL", DEFAULT_BROKER_URL)
    queue = f"flightdeck-bench-comms-{uuid.uuid4().hex[:8]}"
    concurrency = args.celery_concurrency
    OUT.mkdir(exist_ok=True)
    failures: list[str] = []
    started = time.monotonic()

    from config.celery import app

    # This process only writes rows; should anything enqueue, it goes to the bench's broker and queue.
    app.conf.broker_url = broker_url
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False

    sink = SmtpServer().start()
    procs = CeleryProcs(celery_env(env, broker_url, queue, sink.email_url), queue)
    try:
        try:
            measured = measure(args, procs, sink, n_drain, n_lag, spread, concurrency, failures, log)
        except CommsBenchError as exc:  # report it; the bench's other figures stand
            failures.append(str(exc))
            return failures
        finally:
            procs.stop()
        ids, drain_t0, arrivals, drain_dups, drain_timings, lag_timings = measured
        due = dict(Notice.objects.filter(message_id__in=ids["lag"]).values_list("pk", "due_at"))
        lag_mail = [mail for mail in sink.messages() if notice_of(mail) in due]
        lags = [mail.at - due[notice_of(mail)].timestamp() for mail in lag_mail]
        lag_dups = sum(c - 1 for c in Counter(notice_of(mail) for mail in lag_mail).values())
        early = sum(1 for lag in lags if lag < 0)
        sample = breakdown(ids["sample"], log, profile=getattr(args, "profile", False)) if SAMPLE else {}
    finally:
        sink.stop()

    # --- Report ---
    drain_s = (arrivals[-1] - drain_t0) if arrivals else float("nan")
    first_last = (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else float("nan")
    batches = drain_timings["batches"]
    busy = sum(r for _s, r, _n in batches)
    per_notice = [1000 * r / k for _s, r, k in batches if k]
    claims = [k for _s, _r, k in drain_timings["ticks"] if k]
    log(
        f"comms drain: {len(arrivals)} arrived, {drain_s:.1f} s from due to the last "
        f"({len(arrivals) / drain_s:.0f}/s), first → last {first_last:.1f} s; first arrival "
        f"{(arrivals[0] - drain_t0) if arrivals else float('nan'):.2f} s after due; duplicates {drain_dups}"
    )
    log(
        f"  worker: {len(batches)} drain_notices tasks, run time {summary([r for _s, r, _n in batches])}; "
        f"per notice {summary(per_notice, 'ms')}"
    )
    if drain_s == drain_s and drain_s > 0:
        log(
            f"  pool busy {busy:.1f} s of {concurrency} × {drain_s:.1f} s = {100 * busy / (concurrency * drain_s):.0f}%"
            f"; outbox ticks that claimed: {len(claims)} ({claims}); ticks discarded as expired: "
            f"{drain_timings['discarded_ticks']}; SMTP connections seen by the sink: {len(sink.connections)}"
        )
    log(f"comms lag (arrival − due_at): {summary(lags)}; early {early}; duplicates {lag_dups}")
    log(
        f"  worker in the lag window: {len(lag_timings['batches'])} batches, run time "
        f"{summary([r for _s, r, _n in lag_timings['batches']])}; ticks discarded {lag_timings['discarded_ticks']}"
    )
    log(f"comms: worker log {procs.log_path('worker')}, beat log {procs.log_path('beat')}")

    def fmt(values, p):
        return f"{percentile(values, p):.2f}" if values else "n/a"

    emit("notice_drain_notices", len(arrivals))
    emit("notice_drain_per_s", f"{len(arrivals) / drain_s:.1f}" if arrivals and drain_s > 0 else "n/a")
    emit("notice_drain_first_to_last_per_s", f"{(len(arrivals) - 1) / first_last:.1f}" if first_last > 0 else "n/a")
    emit("notice_drain_seconds", f"{drain_s:.1f}")
    emit("notice_drain_duplicates", drain_dups)
    emit("notice_lag_notices", len(lags))
    emit("notice_lag_window_s", f"{spread:g}")
    emit("notice_lag_p50_s", fmt(lags, 50))
    emit("notice_lag_p99_s", fmt(lags, 99))
    emit("notice_lag_max_s", f"{max(lags):.2f}" if lags else "n/a")
    emit("notice_early_count", early)
    emit("notice_lag_duplicates", lag_dups)
    if sample:
        emit("notice_send_inprocess_ms", f"{sample['ms']:.2f}")
        emit("notice_send_queries", f"{sample['queries']:.1f}")
    emit("comms_seconds", f"{time.monotonic() - started:.1f}")

    if arrivals and len(arrivals) / drain_s < DRAIN_GOAL:
        log(f"comms: goal missed: notice_drain_per_s {len(arrivals) / drain_s:.1f} < {DRAIN_GOAL:g}")
    if lags and percentile(lags, 99) > LAG_GOAL:
        log(f"comms: goal missed: notice_lag_p99_s {percentile(lags, 99):.2f} > {LAG_GOAL:g}")
    if early:
        failures.append(f"comms: {early} notices arrived before their due time")
    if drain_dups or lag_dups:
        failures.append(f"comms: the sink saw {drain_dups + lag_dups} notices twice with no worker killed")
    return failures
