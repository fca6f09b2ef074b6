"""Fast, deterministic bench data: releases × phases × gates written with bulk_create.

Import only after django.setup(). Every call to seed() wipes the rollouts tables first,
so running the bench twice gives the same data (same ids on PostgreSQL).
"""

import contextlib
import random
import sys
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from rollouts.models import (
    ChecklistItem,
    Environment,
    Event,
    Gate,
    GateDecision,
    GateKind,
    GateStatus,
    Phase,
    PhaseStatus,
    Release,
    ReleaseStatus,
    RollbackRun,
    RollbackRunStep,
    RollbackStep,
    Strategy,
)
from rollouts.roles import APPROVER, RELEASE_MANAGER, SUPPORT, VIEWER

S = ReleaseStatus
PHASES_PER_RELEASE = 5
GATES_PER_PHASE = 3
CHUNK = 250  # releases written per round of bulk_create (bounds memory)

# A mature installation: most releases are finished, a tenth are live.
STATUS_WEIGHTS = {
    S.COMPLETED: 42,
    S.DRAFT: 12,
    S.SCHEDULED: 8,
    S.IN_PROGRESS: 12,
    S.PAUSED: 5,
    S.ROLLED_BACK: 9,
    S.CANCELLED: 12,
}

PHASE_PLAN = [  # name, environment, exposure (monotonic strategies)
    ("Staging soak", Environment.STAGING, 1),
    ("Beta users", Environment.BETA, 5),
    ("Canary", Environment.PRODUCTION, 25),
    ("Half of production", Environment.PRODUCTION, 50),
    ("Everyone", Environment.PRODUCTION, 100),
]
GATE_PLAN = [  # name, kind, required
    ("Error rate within SLO", GateKind.MANUAL_APPROVAL, True),
    ("Smoke checklist", GateKind.CHECKLIST, True),
    ("Product sign-off", GateKind.MANUAL_APPROVAL, False),
]
CHECKLIST = ["Dashboards green", "On-call paged in", "Support briefed"]
STEPS = [
    ("Set traffic weight of the new version to 0%", 2),
    ("Redeploy the previous version", 10),
    ("Confirm error rates are back to baseline", 15),
]
PRODUCTS = ["Checkout", "Search", "Payments", "Onboarding", "Inbox", "Billing", "Reports", "Mobile API", "Sync"]

BENCH_USERS = [  # username, first, last, role
    ("bench-manager", "Maria", "Bench", RELEASE_MANAGER),
    ("bench-manager2", "Tom", "Bench", RELEASE_MANAGER),
    ("bench-manager3", "Ines", "Bench", RELEASE_MANAGER),
    ("bench-approver", "Priya", "Bench", APPROVER),
    ("bench-approver2", "Sam", "Bench", APPROVER),
    ("bench-support", "Lee", "Bench", SUPPORT),
    ("bench-viewer", "Vic", "Bench", VIEWER),
]


@dataclass
class Users:
    manager: object  # the dashboard user: a "Release managers" member, not a superuser
    owners: list
    approvers: list


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ensure_users() -> Users:
    User = get_user_model()
    by_name = {}
    for username, first, last, role in BENCH_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
        by_name[username] = user
    owners = [by_name[n] for n in ("bench-manager", "bench-manager2", "bench-manager3")]
    approvers = [by_name[n] for n in ("bench-approver", "bench-approver2")]
    return Users(manager=by_name["bench-manager"], owners=owners, approvers=approvers)


def wipe() -> None:
    """Delete all rollouts data (not users, groups or sessions)."""
    models = list(apps.get_app_config("rollouts").get_models())
    if connection.vendor == "postgresql":
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return
    with transaction.atomic():
        Release.objects.update(current_phase=None)
        for model in (Event, GateDecision, ChecklistItem, RollbackRunStep, RollbackRun, Gate, RollbackStep, Phase):
            model.objects.all().delete()
        Release.objects.all().delete()


def status_list(n: int, rng: random.Random) -> list[str]:
    """n statuses in the STATUS_WEIGHTS mix (largest remainder), each at least once when n allows."""
    total = sum(STATUS_WEIGHTS.values())
    exact = {s: n * w / total for s, w in STATUS_WEIGHTS.items()}
    counts = {s: int(v) for s, v in exact.items()}
    if n >= len(STATUS_WEIGHTS):
        for s in counts:
            counts[s] = max(counts[s], 1)
    rest = sorted(exact, key=lambda s: exact[s] - int(exact[s]), reverse=True)
    i = 0
    while sum(counts.values()) < n:
        counts[rest[i % len(rest)]] += 1
        i += 1
    while sum(counts.values()) > n:  # the minimum of 1 overshot: take from the largest
        biggest = max(counts, key=counts.get)
        counts[biggest] -= 1
    out = [s for s, c in counts.items() for _ in range(c)]
    rng.shuffle(out)
    return out


def seed(n: int, *, seed_value: int = 1) -> Users:
    """Wipe, then write n releases with PHASES_PER_RELEASE phases of GATES_PER_PHASE gates each."""
    wipe()
    users = ensure_users()
    rng = random.Random(seed_value)
    statuses = status_list(n, rng)
    now = timezone.now()
    with explicit_timestamps():
        for start in range(0, n, CHUNK):
            with transaction.atomic():
                _seed_chunk(range(start, min(n, start + CHUNK)), statuses, users, rng, now)
    return users


@contextlib.contextmanager
def explicit_timestamps():
    """Let bulk_create write our created_at/updated_at instead of auto_now(_add) stamping 'now'."""
    created, updated = Release._meta.get_field("created_at"), Release._meta.get_field("updated_at")
    saved = created.auto_now_add, updated.auto_now
    created.auto_now_add = updated.auto_now = False
    try:
        yield
    finally:
        created.auto_now_add, updated.auto_now = saved


def _set_current_phases(releases: list[Release]) -> None:
    """On PostgreSQL one UPDATE ... FROM (VALUES ...) per batch; bulk_update's CASE WHEN is slower."""
    releases = [r for r in releases if r.current_phase is not None]
    if connection.vendor != "postgresql":
        Release.objects.bulk_update(releases, ["current_phase"], batch_size=500)
        return
    pairs = [(r.pk, r.current_phase.pk) for r in releases]
    table = connection.ops.quote_name(Release._meta.db_table)
    with connection.cursor() as cursor:
        for i in range(0, len(pairs), 500):
            batch = pairs[i : i + 500]
            values = ", ".join(["(%s, %s)"] * len(batch))
            cursor.execute(
                f"UPDATE {table} SET current_phase_id = v.phase_id "  # values go in as parameters
                f"FROM (VALUES {values}) AS v(release_id, phase_id) WHERE {table}.id = v.release_id",
                [x for pair in batch for x in pair],
            )


def _seed_chunk(indexes, statuses, users: Users, rng: random.Random, now) -> None:
    strategies = list(Strategy.values)
    releases, plans = [], []
    for i in indexes:
        status = statuses[i]
        owner = users.owners[i % len(users.owners)]
        live = status in (S.IN_PROGRESS, S.PAUSED)
        age = timedelta(hours=rng.uniform(2, 72)) if live else timedelta(days=rng.uniform(0.5, 365))
        created = now - age
        # How far it got: number of passed phases, then what the next phase is.
        if status in (S.DRAFT, S.SCHEDULED):
            passed, started = 0, False
        elif status == S.COMPLETED:
            passed, started = PHASES_PER_RELEASE, True
        elif status == S.CANCELLED and rng.random() < 0.4:
            passed, started = 0, False  # cancelled before it started
        else:
            passed, started = rng.randint(0, PHASES_PER_RELEASE - 1), True
        started_at = created + age * 0.2 if started else None
        finished = status in (S.COMPLETED, S.ROLLED_BACK, S.CANCELLED)
        finished_at = created + age * 0.9 if finished else None
        updated = finished_at or (created + age * rng.uniform(0.3, 0.99))
        product = PRODUCTS[i % len(PRODUCTS)]
        planned = None
        if status == S.SCHEDULED:
            planned = now + timedelta(hours=rng.uniform(1, 240))
        elif status == S.DRAFT and rng.random() < 0.5:
            planned = now + timedelta(days=rng.uniform(1, 30))
        releases.append(
            Release(
                slug=f"bench-{i:06d}",
                name=f"{product} {i}",
                version=f"{1 + i // 100}.{i % 100}.0",
                summary=f"Bench release {i}: rolls out the new **{product.lower()}** flow.",
                owner=owner,
                strategy=strategies[i % len(strategies)],
                status=status,
                planned_start=planned,
                started_at=started_at,
                finished_at=finished_at,
                created_at=created,
                updated_at=updated,
            )
        )
        plans.append((status, passed, started, created, updated, started_at, finished_at))
    Release.objects.bulk_create(releases)

    phases, gates, items, decisions, events, steps, runs = [], [], [], [], [], [], []
    current_index = {}  # release pk -> index into phases of its current phase
    for release, (status, passed, started, _created, _updated, started_at, _finished_at) in zip(
        releases, plans, strict=True
    ):
        shadow = release.strategy == Strategy.SHADOW
        for pos, (name, env, exposure) in enumerate(PHASE_PLAN):
            if pos < passed:
                ph_status = PhaseStatus.PASSED
            elif pos == passed and status in (S.IN_PROGRESS, S.PAUSED):
                ph_status = PhaseStatus.ACTIVE
            elif pos == passed and status == S.ROLLED_BACK:
                ph_status = PhaseStatus.ROLLED_BACK
            elif status in (S.ROLLED_BACK, S.CANCELLED):
                ph_status = PhaseStatus.SKIPPED
            else:
                ph_status = PhaseStatus.PENDING
            ph_started = None
            if started and pos <= passed and ph_status != PhaseStatus.SKIPPED:
                ph_started = started_at + timedelta(hours=pos * 6)
            if started and pos == passed and status == S.CANCELLED:
                ph_started = started_at + timedelta(hours=pos * 6)
            if ph_status == PhaseStatus.ACTIVE:  # soak over for some, still running for others
                ph_started = timezone.now() - timedelta(minutes=rng.choice([5, 30, 240]))
            phase = Phase(
                release=release,
                position=pos,
                name=name,
                environment=env,
                exposure_percent=0 if shadow else exposure,
                min_soak_minutes=60 if pos else 30,
                auto_advance=pos % 2 == 0,
                status=ph_status,
                started_at=ph_started,
                finished_at=(ph_started + timedelta(hours=5))
                if ph_started and ph_status != PhaseStatus.ACTIVE
                else None,
            )
            if started and pos == min(passed, PHASES_PER_RELEASE - 1):
                current_index[id(release)] = len(phases)
            phases.append(phase)
        for pos, (title, minutes) in enumerate(STEPS):
            steps.append(
                RollbackStep(
                    release=release,
                    position=pos,
                    title=title,
                    instructions="Follow the runbook.",
                    owner=release.owner,
                    expected_minutes=minutes,
                )
            )
    Phase.objects.bulk_create(phases)
    RollbackStep.objects.bulk_create(steps)

    by_release = {}
    for phase in phases:
        by_release.setdefault(phase.release_id, []).append(phase)
    for release, (status, passed, started, created, updated, started_at, finished_at) in zip(
        releases, plans, strict=True
    ):
        idx = current_index.get(id(release))
        release.current_phase = phases[idx] if idx is not None else None
        for phase in by_release[release.pk]:
            for gpos, (gname, kind, required) in enumerate(GATE_PLAN):
                if phase.status == PhaseStatus.PASSED:
                    g_status = GateStatus.PASSED if required else rng.choice([GateStatus.PASSED, GateStatus.WAIVED])
                elif phase.status == PhaseStatus.ACTIVE:
                    g_status = rng.choice([GateStatus.PASSED, GateStatus.PENDING, GateStatus.PENDING])
                elif phase.status == PhaseStatus.ROLLED_BACK and gpos == 0:
                    g_status = GateStatus.FAILED
                else:
                    g_status = GateStatus.PENDING
                decided = g_status != GateStatus.PENDING
                approver = users.approvers[(release.pk + gpos) % len(users.approvers)]
                gates.append(
                    Gate(
                        phase=phase,
                        position=gpos,
                        name=gname,
                        kind=kind,
                        required=required,
                        required_approvals=1,
                        config={"checklist": CHECKLIST} if kind == GateKind.CHECKLIST else {},
                        status=g_status,
                        evidence={"note": "Looks good"} if decided else {},
                        decided_by=approver if decided else None,
                        decided_at=(phase.started_at or created) + timedelta(hours=1) if decided else None,
                    )
                )
        events.append(Event(release=release, actor=release.owner, verb="release.created", created_at=created))
        if status == S.SCHEDULED:
            events.append(Event(release=release, actor=release.owner, verb="release.scheduled", created_at=updated))
        if started:
            first = by_release[release.pk][0]
            events.append(
                Event(
                    release=release,
                    actor=release.owner,
                    verb="release.started",
                    phase=first,
                    data={"exposure": first.exposure_percent},
                    created_at=started_at,
                )
            )
            ph = by_release[release.pk]
            for k in range(min(passed, PHASES_PER_RELEASE - 1)):
                events.append(
                    Event(
                        release=release,
                        actor=release.owner,
                        verb="phase.advanced",
                        phase=ph[k + 1],
                        data={
                            "from_phase": ph[k].name,
                            "to_phase": ph[k + 1].name,
                            "exposure": ph[k + 1].exposure_percent,
                        },
                        created_at=started_at + timedelta(hours=6 * (k + 1)),
                    )
                )
        last_verb = {
            S.PAUSED: "release.paused",
            S.COMPLETED: "release.completed",
            S.CANCELLED: "release.cancelled",
            S.ROLLED_BACK: "rollback.completed",
        }.get(status)
        if last_verb:
            events.append(
                Event(
                    release=release,
                    actor=release.owner,
                    verb=last_verb,
                    phase=release.current_phase,
                    reason="Error budget burning" if status in (S.PAUSED, S.ROLLED_BACK) else "",
                    created_at=updated,
                )
            )
        if status == S.ROLLED_BACK:
            runs.append(
                RollbackRun(
                    release=release,
                    started_by=release.owner,
                    reason="Error budget burning",
                    status=RollbackRun.Status.COMPLETED,
                    started_at=finished_at - timedelta(minutes=30),
                    finished_at=finished_at,
                )
            )
    Gate.objects.bulk_create(gates)
    _set_current_phases(releases)
    RollbackRun.objects.bulk_create(runs)

    for gate in gates:
        if gate.kind == GateKind.CHECKLIST:
            for ipos, text in enumerate(CHECKLIST):
                checked = gate.status in (GateStatus.PASSED, GateStatus.WAIVED) or (
                    gate.phase.status == PhaseStatus.ACTIVE and ipos == 0
                )
                items.append(
                    ChecklistItem(
                        gate=gate,
                        position=ipos,
                        text=text,
                        checked_by=gate.decided_by if checked and gate.decided_by else None,
                        checked_at=gate.decided_at if checked else None,
                    )
                )
        elif gate.status in (GateStatus.PASSED, GateStatus.FAILED) and gate.decided_by is not None:
            decisions.append(
                GateDecision(
                    gate=gate,
                    user=gate.decided_by,
                    decision=GateDecision.Decision.APPROVE
                    if gate.status == GateStatus.PASSED
                    else GateDecision.Decision.REJECT,
                    comment="Dashboards look healthy." if gate.status == GateStatus.PASSED else "Errors up 3x.",
                    created_at=gate.decided_at,
                )
            )
    run_steps = []
    steps_by_release = {}
    for step in steps:
        steps_by_release.setdefault(step.release_id, []).append(step)
    for run in runs:
        for step in steps_by_release[run.release_id]:
            run_steps.append(
                RollbackRunStep(
                    run=run,
                    step=step,
                    position=step.position,
                    title=step.title,
                    instructions=step.instructions,
                    owner=step.owner,
                    expected_minutes=step.expected_minutes,
                    done_by=run.started_by,
                    done_at=run.finished_at,
                )
            )
    ChecklistItem.objects.bulk_create(items, batch_size=2000)
    GateDecision.objects.bulk_create(decisions, batch_size=2000)
    RollbackRunStep.objects.bulk_create(run_steps, batch_size=2000)
    Event.objects.bulk_create(events, batch_size=2000)


def counts() -> dict[str, int]:
    return {
        m._meta.model_name: m.objects.count()
        for m in (Release, Phase, Gate, ChecklistItem, GateDecision, Event, RollbackStep, RollbackRun)
    }
