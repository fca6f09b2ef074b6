"""Every change to flags, segments, phase targeting and API keys.

Each runs in one transaction, tells flags/snapshot.py that the configuration changed (so
every process evaluates the new one within seconds, this one at once), and, when a flag
follows a release, writes the change on that release's timeline.
"""

import hashlib
import secrets
import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from flags import evaluation, snapshot
from flags.models import ApiKey, Flag, Segment
from flags.rules import rule_problem
from rollouts import events
from rollouts.models import Environment, Phase, Release

# Paths under /flags/ that a flag key would hide.
RESERVED_KEYS = frozenset({"new", "segments", "api-keys", "briefing-lookup"})
VARIANT_NAME_MAX = 64
MAX_TARGETING_KEYS = 10_000
API_KEY_PREFIX = "fdo_"
TOUCH_SECONDS = 300  # last_used_at is written at most this often per key and process

FLAG_FIELDS = (
    "name",
    "description",
    "type",
    "variants",
    "on_variant",
    "off_variant",
    "release",
    "fixed_exposure",
)


def _actor(user):
    return user if getattr(user, "is_authenticated", False) else None


# --- Validation shared by forms and services ------------------------------------------


def flag_problems(*, type: str, variants, on_variant: str, off_variant: str, fixed_exposure: int = 0) -> dict:
    """{field: message} for a flag whose variants do not fit its type or each other."""
    problems: dict[str, str] = {}
    if type not in evaluation.FLAG_TYPES:
        problems["type"] = f"Choose one of: {', '.join(evaluation.FLAG_TYPES)}."
        return problems
    if not isinstance(variants, dict) or len(variants) < 2:
        problems["variants"] = "Give at least two variants: one for users the rollout reaches, one for everyone else."
        return problems
    for name, value in variants.items():
        if not name or len(name) > VARIANT_NAME_MAX or not all(c.isalnum() or c in "-_." for c in name):
            problems["variants"] = f"“{name}” is not a variant name (letters, digits, - _ . up to 64)."
            break
        try:
            evaluation.coerce_value(type, value)
        except ValueError as exc:
            problems["variants"] = f"Variant “{name}” {exc}: {type} flags need {type} values."
            break
    names = ", ".join(variants)
    if on_variant not in variants:
        problems["on_variant"] = f"Choose one of the variants: {names}."
    if off_variant not in variants:
        problems["off_variant"] = f"Choose one of the variants: {names}."
    if not problems and on_variant == off_variant:
        problems["off_variant"] = "The off variant must differ from the on variant."
    if not isinstance(fixed_exposure, int) or not 0 <= fixed_exposure <= 100:
        problems["fixed_exposure"] = "Exposure is a percentage from 0 to 100."
    return problems


def key_problem(key: str) -> str | None:
    if key in RESERVED_KEYS:
        return f"“{key}” is used by Flightdeck's own pages; choose another key."
    return None


def segment_problems(*, targeting_keys, rules) -> dict:
    problems: dict[str, str] = {}
    if not isinstance(targeting_keys, list) or not all(isinstance(k, str) and k for k in targeting_keys):
        problems["targeting_keys"] = "Targeting keys must be a list of non-empty strings."
    elif len(targeting_keys) > MAX_TARGETING_KEYS:
        problems["targeting_keys"] = f"At most {MAX_TARGETING_KEYS:,} targeting keys per segment."
    elif any(len(k) > 200 for k in targeting_keys):
        problems["targeting_keys"] = "A targeting key is at most 200 characters."
    if not isinstance(rules, list):
        problems["rules"] = "Rules must be a list."
    else:
        for i, rule in enumerate(rules, 1):
            problem = rule_problem(rule)
            if problem:
                problems["rules"] = f"Rule {i}: {problem}."
                break
    if not problems and not targeting_keys and not rules:
        problems["targeting_keys"] = "List some targeting keys or write a rule: an empty segment matches no one."
    return problems


# --- Flags -----------------------------------------------------------------------------


def _record(release: Release | None, verb: str, actor, **data) -> None:
    if release is not None:
        events.record(release=release, verb=verb, actor=_actor(actor), **data)


@transaction.atomic
def flag_create(
    *,
    actor,
    key: str,
    name: str,
    type: str,
    variants: dict,
    on_variant: str,
    off_variant: str,
    description: str = "",
    release: Release | None = None,
    fixed_exposure: int = 0,
    segments=(),
) -> Flag:
    problems = flag_problems(
        type=type, variants=variants, on_variant=on_variant, off_variant=off_variant, fixed_exposure=fixed_exposure
    )
    if key_problem(key):
        problems["key"] = key_problem(key)
    elif Flag.objects.filter(key=key).exists():
        problems["key"] = "A flag with this key exists."
    if problems:
        raise ValidationError(problems)
    flag = Flag.objects.create(
        key=key,
        name=name,
        description=description,
        type=type,
        variants=variants,
        on_variant=on_variant,
        off_variant=off_variant,
        release=release,
        fixed_exposure=fixed_exposure,
        created_by=_actor(actor),
    )
    flag.segments.set(segments)
    _record(release, "flag.created", actor, flag=key, on_variant=on_variant, off_variant=off_variant)
    snapshot.changed()
    return flag


@transaction.atomic
def flag_update(*, flag_id: int, actor, segments=None, **fields) -> Flag:
    """Change a flag's details; linking it to another release says so on both timelines."""
    unknown = set(fields) - set(FLAG_FIELDS)
    if unknown:
        raise TypeError(f"flag_update() got unknown fields: {', '.join(sorted(unknown))}")
    flag = Flag.objects.select_for_update().get(pk=flag_id)
    merged = {name: fields.get(name, getattr(flag, name)) for name in FLAG_FIELDS}
    problems = flag_problems(
        type=merged["type"],
        variants=merged["variants"],
        on_variant=merged["on_variant"],
        off_variant=merged["off_variant"],
        fixed_exposure=merged["fixed_exposure"],
    )
    if problems:
        raise ValidationError(problems)
    old_release = flag.release
    changed = [name for name, value in fields.items() if getattr(flag, name) != value]
    for name in changed:
        setattr(flag, name, fields[name])
    segments_changed = False
    if segments is not None:
        new_ids = {s.pk for s in segments}
        segments_changed = new_ids != set(flag.segments.values_list("pk", flat=True))
        if segments_changed:
            flag.segments.set(segments)
    if not changed and not segments_changed:
        return flag
    flag.save(update_fields=[*changed, "updated_at"])
    if "release" in changed:
        _record(old_release, "flag.unlinked", actor, flag=flag.key)
        _record(flag.release, "flag.linked", actor, flag=flag.key)
    else:
        labels = [Flag._meta.get_field(n).verbose_name for n in changed]
        if segments_changed:
            labels.append("segments")
        _record(flag.release, "flag.edited", actor, flag=flag.key, fields=labels)
    snapshot.changed()
    return flag


@transaction.atomic
def flag_kill(*, flag_id: int, actor, reason: str = "") -> bool:
    """The kill switch: every evaluation answers the off variant (DISABLED). False if it already was."""
    flag = Flag.objects.select_for_update(of=("self",)).select_related("release").get(pk=flag_id)
    if flag.killed_at is not None:
        return False
    flag.killed_at = timezone.now()
    flag.killed_by = _actor(actor)
    flag.kill_reason = reason
    flag.save(update_fields=["killed_at", "killed_by", "kill_reason", "updated_at"])
    if flag.release is not None:
        events.record(release=flag.release, verb="flag.killed", actor=_actor(actor), reason=reason, flag=flag.key)
    snapshot.changed()
    return True


@transaction.atomic
def flag_restore(*, flag_id: int, actor, reason: str = "") -> bool:
    """Turn the kill switch off again: the flag follows its rollout. False if it was not killed."""
    flag = Flag.objects.select_for_update(of=("self",)).select_related("release").get(pk=flag_id)
    if flag.killed_at is None:
        return False
    flag.killed_at = None
    flag.killed_by = None
    flag.kill_reason = ""
    flag.save(update_fields=["killed_at", "killed_by", "kill_reason", "updated_at"])
    if flag.release is not None:
        events.record(release=flag.release, verb="flag.restored", actor=_actor(actor), reason=reason, flag=flag.key)
    snapshot.changed()
    return True


@transaction.atomic
def phase_segments_set(*, phase_id: int, segments, actor) -> bool:
    """Which segments a phase targets before its percentage (every flag of the release follows).
    False when nothing changed."""
    phase = Phase.objects.select_related("release").get(pk=phase_id)
    Release.objects.select_for_update().filter(pk=phase.release_id).first()  # one writer per release
    new_ids = {s.pk for s in segments}
    if new_ids == set(phase.flag_segments.values_list("pk", flat=True)):
        return False
    phase.flag_segments.set(segments)
    keys = sorted(s.key for s in segments)
    events.record(release=phase.release, verb="flag.targeting_changed", actor=_actor(actor), phase=phase, segments=keys)
    snapshot.changed()
    return True


# --- Segments --------------------------------------------------------------------------


def _record_segment_change(segment: Segment, actor, verb: str) -> None:
    releases = Release.objects.filter(phases__flag_segments=segment).distinct()
    for release in releases:
        events.record(release=release, verb=verb, actor=_actor(actor), segment=segment.key)


@transaction.atomic
def segment_create(*, actor, key: str, name: str, description: str = "", targeting_keys=(), rules=()) -> Segment:
    targeting_keys, rules = list(targeting_keys), list(rules)
    problems = segment_problems(targeting_keys=targeting_keys, rules=rules)
    if Segment.objects.filter(key=key).exists():
        problems["key"] = "A segment with this key exists."
    if problems:
        raise ValidationError(problems)
    segment = Segment.objects.create(
        key=key, name=name, description=description, targeting_keys=targeting_keys, rules=rules
    )
    snapshot.changed()
    return segment


@transaction.atomic
def segment_update(*, segment_id: int, actor, **fields) -> Segment:
    segment = Segment.objects.select_for_update().get(pk=segment_id)
    merged = {
        "targeting_keys": list(fields.get("targeting_keys", segment.targeting_keys)),
        "rules": list(fields.get("rules", segment.rules)),
    }
    problems = segment_problems(**merged)
    if problems:
        raise ValidationError(problems)
    fields.update(merged)
    changed = [name for name, value in fields.items() if getattr(segment, name) != value]
    if not changed:
        return segment
    for name in changed:
        setattr(segment, name, fields[name])
    segment.save(update_fields=[*changed, "updated_at"])
    _record_segment_change(segment, actor, "flag.segment_edited")
    snapshot.changed()
    return segment


@transaction.atomic
def segment_remove(*, segment_id: int, actor) -> None:
    segment = Segment.objects.select_for_update().get(pk=segment_id)
    _record_segment_change(segment, actor, "flag.segment_removed")
    segment.delete()
    snapshot.changed()


# --- API keys --------------------------------------------------------------------------


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, actor, environment: str, name: str) -> tuple[ApiKey, str]:
    """A new key for one environment. Returns the key and its token, which is never stored."""
    if environment not in Environment.values:
        raise ValidationError({"environment": f"Choose one of: {', '.join(Environment.values)}."})
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the key after the application that uses it."})
    token = f"{API_KEY_PREFIX}{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        environment=environment,
        name=name,
        token_hash=token_digest(token),
        hint=token[: len(API_KEY_PREFIX) + 6],
        created_by=_actor(actor),
    )
    snapshot.changed()
    return key, token


@transaction.atomic
def api_key_revoke(*, key_id: int, actor) -> bool:
    """False if it was already revoked."""
    updated = ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=_actor(actor)
    )
    if updated:
        snapshot.changed()
    return bool(updated)


_touched: dict[int, float] = {}


def api_key_touch(key_id: int) -> None:
    """Note that a key was used: at most once per TOUCH_SECONDS per process, so evaluations
    stay free of writes."""
    now = time.monotonic()
    last = _touched.get(key_id)
    if last is not None and now - last < TOUCH_SECONDS:
        return
    _touched[key_id] = now
    ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())
