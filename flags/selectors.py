"""Reads for the flag pages, each in a fixed number of queries. What a flag answers right now
comes from the compiled snapshot (flags/snapshot.py), the same one OFREP serves."""

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q

from flags import evaluation, snapshot
from flags.models import ApiKey, Flag, Segment
from rollouts.models import Environment, Event, Phase

# Release events that move a flag's exposure: shown in the flag's history beside its own changes.
EXPOSURE_VERBS = (
    "release.started",
    "phase.advanced",
    "release.paused",
    "release.resumed",
    "release.completed",
    "release.cancelled",
    "rollback.started",
    "rollback.completed",
    "plan.phase_edited",
    "flag.targeting_changed",
)
HISTORY_LIMIT = 50


@dataclass
class EnvironmentState:
    environment: str
    label: str
    state: str  # off | on | partial | error
    summary: str
    phase: str
    exposure: int
    segments: list


def environment_states(key: str, snap: snapshot.Snapshot | None = None) -> list[EnvironmentState]:
    """What the flag answers in each environment now, from the snapshot: no query."""
    snap = snap or snapshot.current()
    compiled = snap.flags.get(key)
    states = []
    for env, label in Environment.choices:
        if compiled is None:
            states.append(EnvironmentState(env, label, "error", "Not compiled yet.", "", 0, []))
            continue
        if compiled.error:
            states.append(EnvironmentState(env, label, "error", compiled.error, "", 0, []))
            continue
        plan = compiled.plans[env]
        segments = [s.key for s, _ in plan.segments]
        if plan.disabled is not None:
            state = "off"
            summary = f"Off ({plan.disabled.reason}): {plan.explain}"
        elif plan.exposure >= 100:
            state, summary = "on", f"On for everyone. {plan.explain}"
        elif plan.exposure <= 0 and not segments:
            state, summary = "off", f"Off for everyone. {plan.explain}"
        else:
            state = "partial"
            summary = f"{plan.exposure}% of users" + (f" and segments {', '.join(segments)}" if segments else "")
            summary += f". {plan.explain}"
        states.append(EnvironmentState(env, label, state, summary, plan.phase, plan.exposure, segments))
    return states


def flag_list():
    """Every flag with its release (2 queries)."""
    return list(
        Flag.objects.select_related("release", "release__current_phase")
        .prefetch_related(Prefetch("segments", queryset=Segment.objects.order_by("name")))
        .order_by("key")
    )


def decorate_flags(flags: list[Flag]) -> list[Flag]:
    snap = snapshot.current()
    for flag in flags:
        flag.states = environment_states(flag.key, snap)
    return flags


@dataclass
class FlagPage:
    flag: Flag
    phases: list
    history: list
    segments: list
    states: list


def flag_page(key: str) -> FlagPage | None:
    flag = Flag.objects.select_related("release", "release__current_phase", "killed_by").filter(key=key).first()
    if flag is None:
        return None
    phases = []
    history_filter = Q(verb__startswith="flag.", data__flag=key)
    if flag.release_id:
        phases = list(
            Phase.objects.filter(release_id=flag.release_id)
            .prefetch_related(Prefetch("flag_segments", queryset=Segment.objects.order_by("name")))
            .order_by("position", "id")
        )
        history_filter |= Q(release_id=flag.release_id, verb__in=EXPOSURE_VERBS)
    history = list(
        Event.objects.filter(history_filter)
        .select_related("actor", "phase", "release")
        .order_by("-created_at", "-id")[:HISTORY_LIMIT]
    )
    segments = list(Segment.objects.order_by("name"))
    flag.segment_list = [] if flag.release_id else list(flag.segments.order_by("name"))
    return FlagPage(flag=flag, phases=phases, history=history, segments=segments, states=environment_states(key))


def segment_list():
    return list(
        Segment.objects.annotate(
            flag_count=Count("flags", distinct=True), phase_count=Count("phases", distinct=True)
        ).order_by("name")
    )


def api_keys_by_environment() -> list[tuple[str, str, list[ApiKey]]]:
    keys = list(ApiKey.objects.select_related("created_by", "revoked_by").order_by("-created_at", "-id"))
    return [(env, label, [k for k in keys if k.environment == env]) for env, label in Environment.choices]


def release_flags(slug: str) -> list[evaluation.CompiledFlag]:
    """The flags that follow a release, from the snapshot (no query)."""
    snap = snapshot.current()
    return [f for f in snap.flags.values() if f.release == slug]


def briefing_flags(slug: str) -> list[dict]:
    """For a release's support briefing: each flag that follows it, and where it is on now
    (exposure and segments per environment), from the snapshot (no query)."""
    snap = snapshot.current()
    entries = []
    for flag in sorted((f for f in snap.flags.values() if f.release == slug), key=lambda f: f.key):
        live = [s for s in environment_states(flag.key, snap) if s.state in ("on", "partial")]
        entries.append(
            {
                "key": flag.key,
                "name": flag.name,
                "exposure": max((s.exposure for s in live), default=0),
                "segments": sorted({seg for s in live for seg in s.segments}),
                "environments": [(s.label, s.exposure, s.segments) for s in live],
            }
        )
    return entries
