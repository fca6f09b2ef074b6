"""Fault runs (issue 9): Redis restarted mid-batch, then PostgreSQL restarted mid-batch, with
a real Celery worker and beat; afterwards every notice that was due arrived exactly once and
every phase that was due advanced exactly once.

    .venv/bin/python -m bench.faults                       # bench size: 500 notices per fault
    .venv/bin/python -m bench.faults --notices 80 --releases 3    # the CI test's size

It runs in a process of its own (bench/run.py and tests/reliability/test_faults.py start it),
because Django here talks to a PostgreSQL of its own: the shared servers are never restarted.

1. A private PostgreSQL and a private Redis on free loopback ports in a temporary folder
   (bench/private_services.py), migrated; a loopback SMTP sink (tests/smtp.py) in this
   process, answering each RCPT after --rcpt-delay so a batch takes long enough to hit.
2. Per fault, parked an hour away: one "at a fixed time" message to N stakeholders (N
   notices), and --releases releases started through the transitions whose first phase
   auto-advances (1-minute soak) into a second phase with a "when the phase starts" message
   to two watchers (held notices: they become due only once the engine advanced the phase
   and the planner re-planned on its phase.advanced event). For the Redis fault, also
   max(1, releases // 3) releases that a person advances (transitions.phase_advance, as the
   release page does) while Redis is down: their replan cannot go through the broker.
3. `celery worker` (concurrency 2) and `celery beat` (ENGINE_TICK_SECONDS=1) against them,
   with CELERY_VISIBILITY_TIMEOUT=30 and the cache on the same Redis, as production runs.
4. Fault: the N notices become due now; once a quarter of them reached the sink, the first
   phases' soak ends are set to fall while the service is down, and Redis is terminated and
   started again empty on the same port after --redis-down seconds (every queued and
   unacknowledged task is gone), or PostgreSQL is stopped (-m fast: connections cut, open
   transactions rolled back), kept down --pg-down seconds and started. Then wait until
   everything due is sent and advanced, at most the outbox lease (comms.outbox.LEASE) + a
   margin after the service is back.
5. Count from the sink and the database:
   - lost: notices with no copy at the sink, plus releases whose phase never advanced;
   - duplicated: mails beyond one per (message, recipient) (a Message-ID seen twice is one
     of these), plus phase.advanced events beyond one per release;
   - recovery: from the moment the service went down to the last first arrival / advance.

stdout carries only `name: value` lines (faults_lost, faults_duplicated, faults_<kind>_…);
progress goes to stderr; worker and beat logs go to --log-dir (default bench/out/faults).
Exit status 0 when the run completed (whatever it counted), 1 when it could not run.
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    # As a script (python bench/faults.py), bench/ comes first on sys.path, where `comms` is
    # bench/comms.py rather than the app: the project root goes first instead.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
    sys.path.insert(0, str(ROOT))

from bench.private_services import (  # noqa: E402
    PrivatePostgres,
    PrivateRedis,
    ServiceError,
    make_temp_root,
    missing_binaries,
)

CELERY = str(Path(sys.executable).with_name("celery"))
DBNAME = "flightdeck_faults"
TICK_SECONDS = 1
VISIBILITY_TIMEOUT = 30
SOAK_MINUTES = 1
WATCHERS = 2  # recipients of each release's "phase started" message
EMAIL_DOMAIN = "faults.example"
MANAGER = "faults-manager"
FAULT_KINDS = ("redis", "pg")


class FaultRunError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[faults] {msg}", file=sys.stderr, flush=True)


def emit(name: str, value) -> None:
    print(f"{name}: {value}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--notices", type=int, default=500, help="notices due at once per fault (default 500)")
    p.add_argument("--releases", type=int, default=10, help="auto-advancing releases per fault (default 10)")
    p.add_argument("--faults", default=",".join(FAULT_KINDS), help="which, in order (default redis,pg)")
    p.add_argument("--concurrency", type=int, default=2, help="worker processes (Procfile: 2)")
    p.add_argument("--rcpt-delay", type=float, default=0.02, help="seconds the sink waits before each RCPT answer")
    p.add_argument("--trigger", type=float, default=0.25, help="share of a fault's notices sent before the fault")
    p.add_argument("--redis-down", type=float, default=1.0, help="seconds Redis stays down (default 1)")
    p.add_argument("--pg-down", type=float, default=2.0, help="seconds PostgreSQL stays down (default 2)")
    p.add_argument("--margin", type=float, default=30.0, help="seconds past the lease to wait for recovery")
    p.add_argument("--log-dir", type=Path, default=ROOT / "bench" / "out" / "faults", help="worker and beat logs")
    args = p.parse_args(argv)
    args.kinds = [k.strip() for k in args.faults.split(",") if k.strip()]
    if not args.kinds or any(k not in FAULT_KINDS for k in args.kinds):
        p.error(f"--faults is a comma-separated list of {', '.join(FAULT_KINDS)}")
    if args.notices < 8 or args.releases < 0 or args.concurrency < 1 or not 0 < args.trigger < 1:
        p.error("--notices ≥ 8, --releases ≥ 0, --concurrency ≥ 1, 0 < --trigger < 1")
    return args


# --- Celery subprocesses ----------------------------------------------------------------


class CeleryProcs:
    """A worker and a beat, each in its own session (a stop reaches the pool), logging to files."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.procs: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, args: list[str]) -> None:
        path = self.log_dir / f"{name}.log"
        with open(path, "wb") as fh:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                [CELERY, "-A", "config", *args],
                cwd=ROOT,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs[name] = (proc, path)
        log(f"started celery {name} (pid {proc.pid}), log {path}")

    def text(self, name: str) -> str:
        try:
            return self.procs[name][1].read_text(errors="replace")
        except (OSError, KeyError):
            return ""

    def tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.text(name).splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, (proc, _path) in self.procs.items():
            if proc.poll() is not None:
                raise FaultRunError(f"celery {name} exited ({proc.returncode}):\n{self.tail(name)}")

    def wait_for(self, name: str, predicate, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if predicate(self.text(name)):
                return
            time.sleep(0.2)
        raise FaultRunError(f"celery {name}: {what} not seen within {timeout:.0f} s:\n{self.tail(name)}")

    def stop(self) -> None:
        for name, (proc, _path) in self.procs.items():
            if proc.poll() is None:
                log(f"stopping celery {name} (pid {proc.pid})")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc, _path in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: that process group only
                proc.wait(timeout=5)


def app_env(pg: PrivatePostgres, redis: PrivateRedis, email_url: str, queue: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=pg.url(DBNAME),
        DB_CONN_MAX_AGE="600",  # production's default: persistent connections that a restart cuts
        CELERY_BROKER_URL=redis.url(0),
        CACHE_URL=redis.url(1),
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        CELERY_QUEUE=queue,
        CELERY_TASK_ALWAYS_EAGER="false",
        ENGINE_TICK_SECONDS=str(TICK_SECONDS),
        EMAIL_URL=email_url,
        SITE_URL="https://flightdeck.example.com",
        DEBUG="false",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.pop("FLIGHTDECK_FAULTS", None)
    return env


# --- Database access that outlives a PostgreSQL restart ------------------------------------


def db(fn, *, attempts: int = 60):
    """fn() against the database; after a restart the old connection is dead: drop it and retry."""
    from django.db import InterfaceError, OperationalError, connection

    for i in range(attempts):
        try:
            return fn()
        except (OperationalError, InterfaceError):
            connection.close()
            if i == attempts - 1:
                raise
            time.sleep(0.5)
    return None


# --- Data -------------------------------------------------------------------------------


@dataclass
class Batch:
    """What one fault works on."""

    kind: str
    message_id: int
    notice_ids: list[int]
    releases: list[int] = field(default_factory=list)  # each advances once, phase 1 → 2
    first_phases: list[int] = field(default_factory=list)  # of the releases the engine advances
    manual: list[tuple[int, int]] = field(default_factory=list)  # (release, phase) a person advances
    watcher_notice_ids: list[int] = field(default_factory=list)  # held until phase 2 starts

    @property
    def expected(self) -> set[int]:
        return set(self.notice_ids) | set(self.watcher_notice_ids)


BODY = "Hello {{ recipient.name }},\n\n**{{ release.name }}** changes tonight. Briefing: {{ release.briefing_url }}\n"


def seed(n: int, k: int, kinds: list[str]) -> dict[str, Batch]:
    """Per fault: the batch (parked), k releases the engine will advance, and for the Redis
    fault manual_releases(k) releases a person advances while Redis is down."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from comms import planner
    from comms.models import Audience, CommunicationPlan, Membership, Message, Notice, Stakeholder, Trigger
    from rollouts import services

    manager = get_user_model().objects.create(username=MANAGER, first_name="Fault")
    far = timezone.now() + timedelta(hours=1)
    people = Stakeholder.objects.bulk_create(
        Stakeholder(email=f"person{i:05d}@{EMAIL_DOMAIN}", name=f"Person {i}", organisation="Faults")
        for i in range(max(n, WATCHERS))
    )

    def audience(name: str, members) -> Audience:
        a = Audience.objects.create(name=name)
        Membership.objects.bulk_create(Membership(stakeholder=s, audience=a) for s in members)
        return a

    everyone, watchers = audience("Faults: everyone", people[:n]), audience("Faults: watchers", people[:WATCHERS])
    batches = {}
    for kind in kinds:
        release = services.release_create(
            actor=manager,
            name=f"Faults {kind}",
            version="1.0.0",
            owner=manager,
            strategy="canary",
            slug=f"faults-{kind}",
            propose_phases=False,
        )
        plan, _ = CommunicationPlan.objects.get_or_create(release=release)
        message = Message.objects.create(
            plan=plan,
            name=f"{kind} batch",
            subject="{{ release.name }}: maintenance tonight",
            body=BODY,
            trigger=Trigger.AT_TIME,
            send_at=far,
        )
        message.audiences.add(everyone)
        planner.plan_release(release_id=release.pk)
        notice_ids = list(Notice.objects.filter(message=message).values_list("pk", flat=True))
        if len(notice_ids) != n:
            raise FaultRunError(f"the planner made {len(notice_ids)} notices for {kind}, not {n}")
        batch = Batch(kind, message.pk, notice_ids)
        manual = manual_releases(k) if kind == "redis" else 0
        for j in range(k + manual):
            auto = j < k
            slug = f"faults-{kind}-{'auto' if auto else 'manual'}-{j:03d}"
            release_id, first_id, held = phase_release(manager, watchers, slug, auto=auto, park_until=far)
            batch.releases.append(release_id)
            if auto:
                batch.first_phases.append(first_id)
            else:
                batch.manual.append((release_id, first_id))
            batch.watcher_notice_ids += held
        batches[kind] = batch
    return batches


def manual_releases(k: int) -> int:
    """Releases a person advances while Redis is down, next to k the engine advances."""
    return max(1, k // 3)


def phase_release(manager, watchers, slug: str, *, auto: bool, park_until) -> tuple[int, int, list[int]]:
    """A started release of two phases with a "phase started" message on the second, to the
    watchers: (release id, first phase id, the held notices). With auto, the first phase
    auto-advances after its soak (parked: started in the future); else a person advances it."""
    from django.db import transaction

    from comms import planner
    from comms.models import CommunicationPlan, Message, Notice, Trigger
    from rollouts import services, transitions
    from rollouts.models import Phase

    with transaction.atomic():
        release = services.release_create(
            actor=manager,
            name=slug.replace("-", " ").capitalize(),
            version="1.0.0",
            owner=manager,
            strategy="canary",
            slug=slug,
            propose_phases=False,
        )
        first = services.phase_add(
            release_id=release.pk,
            actor=manager,
            name="Canary",
            environment="production",
            exposure_percent=10,
            min_soak_minutes=SOAK_MINUTES if auto else 0,
            auto_advance=auto,
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
        plan, _ = CommunicationPlan.objects.get_or_create(release=release)
        started = Message.objects.create(
            plan=plan,
            name="Everyone has it",
            subject="{{ release.name }} reached {{ phase.name }}",
            body=BODY,
            trigger=Trigger.PHASE_START,
            phase=second,
        )
        started.audiences.add(watchers)
        transitions.release_start(release_id=release.pk, actor=manager)
        if auto:
            Phase.objects.filter(pk=first.pk).update(started_at=park_until)
    planner.plan_release(release_id=release.pk)  # the worker would do it too; now, to count them
    held = list(Notice.objects.filter(message=started, due_at__isnull=True).values_list("pk", flat=True))
    if len(held) != WATCHERS:
        raise FaultRunError(f"release {slug}: {len(held)} held phase-start notices, not {WATCHERS}")
    return release.pk, first.pk, held


def advance_by_hand(batch: Batch) -> list[str]:
    """What the release page's Advance button does, for each manual release; the errors seen."""
    from django.contrib.auth import get_user_model

    from rollouts import transitions

    manager = get_user_model().objects.get(username=MANAGER)
    errors = []
    for release_id, phase_id in batch.manual:
        try:
            transitions.phase_advance(release_id=release_id, phase_id=phase_id, actor=manager)
        except Exception as exc:  # the person would see an error page; the count says what happened
            errors.append(f"{type(exc).__name__}: {exc}")
    return errors


def make_due(batch: Batch) -> None:
    """The batch's notices due now (as the planner would set them for a message sent now)."""
    from django.db import transaction
    from django.utils import timezone

    from comms.models import Message, Notice

    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(pk=batch.message_id).update(send_at=now)
        Notice.objects.filter(message_id=batch.message_id, status=Notice.Status.PENDING).update(due_at=now)


def make_phases_due(batch: Batch, spread: float) -> None:
    """The first phases' soak ends spread over the next `spread` seconds: while the service is
    down, so only a worker that came through the fault can advance them."""
    from django.db import transaction
    from django.utils import timezone

    from rollouts.models import Phase

    now = timezone.now()
    m = len(batch.first_phases)
    with transaction.atomic():
        for i, phase_id in enumerate(batch.first_phases):
            soak_end = now + timedelta(seconds=spread * i / max(1, m - 1))
            Phase.objects.filter(pk=phase_id).update(started_at=soak_end - timedelta(minutes=SOAK_MINUTES))


def progress(batch: Batch) -> tuple[int, int]:
    """(expected notices marked sent, releases advanced at least once)."""
    from comms.models import Notice
    from rollouts.models import Event

    sent = Notice.objects.filter(pk__in=batch.expected, status=Notice.Status.SENT).count()
    advanced = (
        Event.objects.filter(release_id__in=batch.releases, verb="phase.advanced")
        .values("release_id")
        .distinct()
        .count()
    )
    return sent, advanced


# --- One fault ----------------------------------------------------------------------------


def notice_of(mail) -> int | None:
    value = mail.header("X-Flightdeck-Notice")
    return int(value) if value.isdigit() else None


def arrived(sink, ids: set[int]) -> int:
    return sum(1 for m in sink.messages() if notice_of(m) in ids)


def run_fault(kind, batch: Batch, args, pg, redis, sink, procs) -> dict:
    from comms import outbox

    expected = batch.expected
    trigger = max(1, int(len(batch.notice_ids) * args.trigger))
    down = args.redis_down if kind == "redis" else args.pg_down
    make_due(batch)
    log(
        f"{kind}: {len(batch.notice_ids)} notices due now; the fault comes after {trigger} arrivals, and "
        f"{len(batch.first_phases)} phases fall due while it lasts, {len(batch.manual)} advanced by hand "
        f"({len(batch.watcher_notice_ids)} held notices follow the advances)"
    )
    deadline = time.monotonic() + 60
    while (at_fault := arrived(sink, expected)) < trigger:
        procs.check_alive()
        if time.monotonic() > deadline:
            raise FaultRunError(f"{kind}: only {at_fault} notices reached the sink in 60 s:\n{procs.tail('worker')}")
        time.sleep(0.01)
    make_phases_due(batch, down)
    fault_t0 = time.time()
    if kind == "redis":
        pid_before = redis.pid
        redis.stop()
        errors = advance_by_hand(batch)  # people keep working while Redis is away
        time.sleep(max(0.0, fault_t0 + down - time.time()))
        redis.start()
        restarted = redis.pid != pid_before
        what = (
            f"Redis terminated and started again empty after {time.time() - fault_t0:.1f} s (pid {pid_before} → "
            f"{redis.pid}); meanwhile {len(batch.manual)} phases advanced by hand, errors: {errors or 'none'}"
        )
    else:
        pid_before = pg.postmaster_pid()
        stop_s, start_s = pg.restart(down_seconds=down)
        restarted = pg.postmaster_pid() not in (0, pid_before)
        what = (
            f"PostgreSQL stopped (-m fast, {stop_s:.2f} s), down {down:g} s, started ({start_s:.2f} s; "
            f"postmaster {pid_before} → {pg.postmaster_pid()})"
        )
    log(f"{kind}: {at_fault}/{len(expected)} at the sink when the fault began; {what}")

    wait = outbox.LEASE.total_seconds() + args.margin + len(expected) / 20
    deadline = time.monotonic() + wait
    last_note = 0.0
    sent = advanced = 0
    while time.monotonic() < deadline:
        procs.check_alive()
        sent, advanced = db(lambda: progress(batch))
        if sent >= len(expected) and advanced >= len(batch.releases):
            break
        if time.monotonic() - last_note > 5:
            log(f"{kind}: {sent}/{len(expected)} sent, {advanced}/{len(batch.releases)} advanced")
            last_note = time.monotonic()
        time.sleep(0.25)
    else:
        log(f"{kind}: gave up waiting {wait:.0f} s after the fault: {sent}/{len(expected)} sent, {advanced} advanced")
    time.sleep(3 * TICK_SECONDS)  # a late copy would come now
    return {"at_fault": at_fault, "fault_t0": fault_t0, "restarted": restarted}


def count(kind, batch: Batch, sink, result: dict) -> dict:
    from comms.models import Notice
    from rollouts.models import Event

    mails = [m for m in sink.messages() if notice_of(m) in batch.expected]
    notices = {n.pk: n for n in Notice.objects.filter(pk__in=batch.expected)}
    copies = Counter(notice_of(m) for m in mails)
    pairs = Counter((notices[notice_of(m)].message_id, m.rcpt_tos[0].lower() if m.rcpt_tos else "") for m in mails)
    message_ids = Counter(m.message_id for m in mails)
    lost_ids = sorted(batch.expected - set(copies))
    dup_mails = len(mails) - len(pairs)  # beyond one per (message, recipient)
    first_arrival = {}
    for m in sorted(mails, key=lambda m: m.at):
        first_arrival.setdefault(notice_of(m), m.at)
    advances = Counter(
        Event.objects.filter(release_id__in=batch.releases, verb="phase.advanced").values_list("release_id", flat=True)
    )
    advanced_at = list(
        Event.objects.filter(release_id__in=batch.releases, verb="phase.advanced").values_list("created_at", flat=True)
    )
    not_advanced = [r for r in batch.releases if advances[r] == 0]
    dup_advances = sum(c - 1 for c in advances.values() if c > 1)
    ends = list(first_arrival.values()) + [t.timestamp() for t in advanced_at]
    statuses = Counter(n.status for n in notices.values())
    report = {
        "notices": len(batch.expected),
        "transitions": len(batch.releases),
        "at_fault": result["at_fault"],
        "restarted": int(result["restarted"]),
        "notices_lost": len(lost_ids),
        "notices_duplicated": dup_mails,
        # at the sink but not marked sent: it would go again once its lease ran out
        "unsettled": sum(1 for n in notices.values() if n.status != Notice.Status.SENT),
        "transitions_lost": len(not_advanced),
        "transitions_duplicated": dup_advances,
        "recovery_s": (max(ends) - result["fault_t0"]) if ends else float("nan"),
    }
    log(
        f"{kind}: sink got {len(mails)} mails for {len(copies)}/{len(batch.expected)} notices "
        f"({len(message_ids)} distinct Message-IDs); statuses {dict(statuses)}; "
        f"attempts > 1: {sum(1 for n in notices.values() if n.attempts > 1)}; "
        f"advances {sum(advances.values())} for {len(batch.releases)} releases; "
        f"recovery {report['recovery_s']:.1f} s after the fault began"
    )
    if lost_ids:
        log(
            f"{kind}: LOST notices {lost_ids[:20]}: {[(n, notices[n].status, notices[n].due_at) for n in lost_ids[:5]]}"
        )
    if dup_mails:
        twice = {n: c for n, c in copies.items() if c > 1}
        log(f"{kind}: DUPLICATED notices (id: copies) {dict(list(twice.items())[:20])}")
    if not_advanced or dup_advances:
        log(f"{kind}: releases not advanced {not_advanced}; advanced more than once: {dup_advances}")
    return report


# --- Main -------------------------------------------------------------------------------


def drive(args, pg, redis, sink, log_dir: Path) -> dict[str, dict]:
    queue = f"flightdeck-faults-{uuid.uuid4().hex[:8]}"
    env = app_env(pg, redis, sink.email_url, queue)
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"})
    os.environ.pop("FLIGHTDECK_FAULTS", None)
    os.environ["LOG_LEVEL"] = "WARNING"  # here: not a line per event or SMTP command; the worker logs INFO
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    t0 = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    log(f"migrated {pg.url(DBNAME)} in {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    batches = seed(args.notices, args.releases, args.kinds)
    log(f"seeded {args.notices} notices and {args.releases} releases per fault in {time.monotonic() - t0:.1f} s")
    connection.close()

    procs = CeleryProcs(env, log_dir)
    try:
        node = f"faults-{uuid.uuid4().hex[:6]}@%h"
        procs.start("worker", ["worker", "-Q", queue, "-n", node, "--concurrency", str(args.concurrency), "-l", "INFO"])
        procs.start("beat", ["beat", "-s", str(log_dir / "celerybeat-schedule"), "-l", "INFO"])
        procs.wait_for("worker", lambda text: " ready." in text, "'ready.'", timeout=90)
        procs.wait_for(
            "worker",
            lambda text: len(re.findall(r"outbox_tick\[[0-9a-f-]+\] succeeded", text)) >= 2,
            "two outbox ticks",
            timeout=60,
        )
        results = {}
        for kind in args.kinds:
            result = run_fault(kind, batches[kind], args, pg, redis, sink, procs)
            results[kind] = db(lambda kind=kind, result=result: count(kind, batches[kind], sink, result))
        procs.check_alive()
    finally:
        procs.stop()
    worker_log = procs.text("worker")
    log(
        "worker log: "
        f"{len(re.findall(r'Connection to broker lost', worker_log))} broker connection losses, "
        f"{len(re.findall(r'Retry in', worker_log))} task retries, "
        f"{len(re.findall(r'raised unexpected', worker_log))} tasks failed, "
        f"{len(re.findall(r'comms.mark_sent_retry', worker_log))} sent marks retried; logs in {log_dir}"
    )
    return results


def report(results: dict[str, dict], seconds: float) -> None:
    lost = sum(r["notices_lost"] + r["transitions_lost"] for r in results.values())
    duplicated = sum(r["notices_duplicated"] + r["transitions_duplicated"] for r in results.values())
    emit("faults_notices", sum(r["notices"] for r in results.values()))
    emit("faults_transitions", sum(r["transitions"] for r in results.values()))
    emit("faults_lost", lost)
    emit("faults_duplicated", duplicated)
    emit("faults_unsettled", sum(r["unsettled"] for r in results.values()))
    for kind, r in results.items():
        emit(f"faults_{kind}_restarted", r["restarted"])
        emit(f"faults_{kind}_notices", r["notices"])
        emit(f"faults_{kind}_sent_at_fault", r["at_fault"])
        emit(f"faults_{kind}_lost", r["notices_lost"] + r["transitions_lost"])
        emit(f"faults_{kind}_duplicated", r["notices_duplicated"] + r["transitions_duplicated"])
        emit(f"faults_{kind}_recovery_s", f"{r['recovery_s']:.1f}")
    emit("faults_seconds", f"{seconds:.1f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    missing = missing_binaries()
    if missing:
        log(f"cannot run: missing {', '.join(missing)}")
        return 1

    def on_term(signum, frame):
        raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop everything

    signal.signal(signal.SIGTERM, on_term)
    from tests.smtp import SmtpServer

    started = time.monotonic()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    root = make_temp_root()
    pg, redis = PrivatePostgres(root / "pg"), PrivateRedis(root / "redis")
    sink = SmtpServer(rcpt_delay=args.rcpt_delay)
    try:
        pg.init()
        pg.start()
        redis.start()
        pg.create_database(DBNAME)
        sink.start()
        log(f"private PostgreSQL on 127.0.0.1:{pg.port}, Redis on 127.0.0.1:{redis.port}, SMTP sink {sink.email_url}")
        results = drive(args, pg, redis, sink, args.log_dir)
    except (FaultRunError, ServiceError) as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        sink.stop()
        redis.close()
        pg.close()
        shutil.rmtree(root, ignore_errors=True)
    report(results, time.monotonic() - started)
    return 0


# --- Starting a fault run from elsewhere -----------------------------------------------------


def run_child(argv: list[str], *, timeout: float, capture_stderr: bool) -> tuple[int | None, str, str]:
    """`python -m bench.faults <argv>` in a child; (exit status or None on time-out, stdout, stderr).

    On a time-out (or an interrupt here) the child gets SIGTERM first, so it stops its worker,
    beat, PostgreSQL and Redis; SIGKILL only if it does not finish within 30 s.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.faults", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_stderr else None,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _stop_child(proc)
        return None, out, err or ""
    except BaseException:  # KeyboardInterrupt, SystemExit: let it tear down, then go on
        _stop_child(proc)
        raise
    return proc.returncode, out, err or ""


def _stop_child(proc: subprocess.Popen) -> tuple[str, str]:
    proc.terminate()
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def parse_figures(stdout: str) -> dict[str, str]:
    figures = {}
    for line in stdout.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name.startswith("faults_"):
            figures[name] = value.strip()
    return figures


def run(args, emit, log) -> list[str]:
    """bench/run.py: the bench size in a child process; relays its figures, returns failures."""
    notices, releases = (100, 4) if getattr(args, "quick", False) else (500, 10)
    argv = ["--notices", str(notices), "--releases", str(releases)]
    log(f"faults: bench.faults {' '.join(argv)} (private PostgreSQL and Redis, each restarted mid-batch)")
    status, out, _err = run_child(argv, timeout=900, capture_stderr=False)
    figures = parse_figures(out)
    for name, value in figures.items():
        emit(name, value)
    if status != 0:
        return [f"faults: the fault run {'timed out' if status is None else f'failed ({status})'}; see stderr"]
    return [
        f"faults: {name} is {figures.get(name)}, goal 0"
        for name in ("faults_lost", "faults_duplicated")
        if figures.get(name) != "0"
    ]


if __name__ == "__main__":
    sys.exit(main())
