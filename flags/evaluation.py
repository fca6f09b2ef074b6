"""Flag evaluation: pure functions over a compiled configuration. No Django, no database.

flags/snapshot.py reads the flags, segments and linked releases from the database into
plain dicts ("specs") and hands them to `compile_flags`, which works out once, for every
flag and environment, what the flag answers and builds every possible answer (Outcome)
with its JSON body. An evaluation is then a dictionary lookup, at most a few segment
checks and one murmur3 hash.

Bucketing is Unleash's gradual rollout normalisation: bucket = murmur3 x86_32 (seed 0,
unsigned) of "{flag key}:{targeting key}" % 100 + 1, and the flag is on when
bucket ≤ exposure. The bucket never changes for a user, so raising the exposure only
ever adds users, and every process (whatever its PYTHONHASHSEED) agrees.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping

import mmh3

from flags.rules import compile_rule

# OpenFeature reasons and error codes (https://openfeature.dev/specification/types).
STATIC = "STATIC"
TARGETING_MATCH = "TARGETING_MATCH"
SPLIT = "SPLIT"
DISABLED = "DISABLED"
DEFAULT = "DEFAULT"
UNKNOWN = "UNKNOWN"

PARSE_ERROR = "PARSE_ERROR"
TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
INVALID_CONTEXT = "INVALID_CONTEXT"
FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
GENERAL = "GENERAL"

# Release and phase states, as rollouts.models spells them (a test keeps them in step).
LIVE_RELEASE_STATUSES = frozenset({"in_progress", "paused", "completed"})
REACHED_PHASE_STATUSES = frozenset({"active", "passed"})
DISABLED_BECAUSE = {
    "draft": "The release has not started.",
    "scheduled": "The release has not started.",
    "rolling_back": "The release is rolling back.",
    "rolled_back": "The release was rolled back.",
    "cancelled": "The release was cancelled.",
}

FLAG_TYPES = ("boolean", "string", "integer", "float", "object")


class EvaluationError(Exception):
    """An evaluation that has no value: code is an OpenFeature error code."""

    def __init__(self, code: str, details: str):
        super().__init__(details)
        self.code = code
        self.details = details


def bucket(flag_key: str, targeting_key: str) -> int:
    """1..100, the same for a flag and user in every process."""
    return mmh3.hash(f"{flag_key}:{targeting_key}", 0, signed=False) % 100 + 1


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# --- Variant values by type ------------------------------------------------------------


def coerce_value(flag_type: str, value):
    """The variant value as the type says, or ValueError saying why not.

    Floats stay floats (3.0 is sent as 3.0, so typed SDKs accept it); integers must be
    whole numbers; booleans are never numbers.
    """
    if flag_type == "boolean":
        if isinstance(value, bool):
            return value
        raise ValueError("is not true or false")
    if flag_type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError("is not a whole number")
    if flag_type == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("is not a finite number")
            return value
        raise ValueError("is not a number")
    if flag_type == "string":
        if isinstance(value, str):
            return value
        raise ValueError("is not a string")
    if flag_type == "object":
        if isinstance(value, (dict, list)):
            return value
        raise ValueError("is not a JSON object or array")
    raise ValueError(f"has an unknown flag type “{flag_type}”")


# --- Compiled configuration ------------------------------------------------------------


class Outcome:
    """One answer a flag can give in one environment: value, variant, reason, metadata,
    and its OFREP JSON body, built once per snapshot."""

    __slots__ = ("body", "enabled", "key", "metadata", "reason", "value", "variant")

    def __init__(self, *, key: str, value, variant: str, reason: str, metadata: dict, enabled: bool):
        self.key = key
        self.value = value
        self.variant = variant
        self.reason = reason
        self.metadata = metadata
        self.enabled = enabled
        self.body = dumps(self.as_dict()).encode()

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "value": self.value,
            "reason": self.reason,
            "variant": self.variant,
            "metadata": self.metadata,
        }

    def __repr__(self) -> str:
        return f"<Outcome {self.key}={self.variant} {self.reason}>"


class Segment:
    """Targeting keys listed by name, or attribute rules that all hold."""

    __slots__ = ("key", "keys", "name", "rules")

    def __init__(self, *, key: str, name: str = "", targeting_keys: Iterable[str] = (), rules: Iterable[dict] = ()):
        self.key = key
        self.name = name or key
        self.keys = frozenset(targeting_keys)
        self.rules = tuple(compile_rule(r) for r in rules)

    def matches(self, targeting_key: str | None, context: Mapping) -> bool:
        if targeting_key is not None and targeting_key in self.keys:
            return True
        if not self.rules:
            return False
        return all(rule(context) for rule in self.rules)


class Plan:
    """What a flag answers in one environment right now."""

    __slots__ = (
        "disabled",
        "explain",
        "exposure",
        "full_on",
        "none_off",
        "phase",
        "prefix",
        "segments",
        "split_off",
        "split_on",
    )

    def __init__(self):
        self.disabled: Outcome | None = None
        self.segments: tuple[tuple[Segment, Outcome], ...] = ()
        self.exposure = 0
        self.prefix = ""
        self.phase = ""
        self.explain = ""
        self.full_on = self.none_off = self.split_on = self.split_off = None

    @property
    def needs_targeting_key(self) -> bool:
        return self.disabled is None and 0 < self.exposure < 100


class CompiledFlag:
    __slots__ = ("error", "key", "name", "off_variant", "on_variant", "plans", "release", "type")

    def __init__(self, *, key: str, name: str, type: str, on_variant: str, off_variant: str, release: str):
        self.key = key
        self.name = name
        self.type = type
        self.on_variant = on_variant
        self.off_variant = off_variant
        self.release = release
        self.error = ""
        self.plans: dict[str, Plan] = {}


def compile_segments(specs: Iterable[dict]) -> dict[str, Segment]:
    return {
        s["key"]: Segment(
            key=s["key"], name=s.get("name", ""), targeting_keys=s.get("targeting_keys", ()), rules=s.get("rules", ())
        )
        for s in specs
    }


def compile_flags(
    flag_specs: Iterable[dict], segments: Mapping[str, Segment], environments: Iterable[str]
) -> dict[str, CompiledFlag]:
    environments = tuple(environments)
    return {spec["key"]: compile_flag(spec, segments, environments) for spec in flag_specs}


def compile_flag(spec: dict, segments: Mapping[str, Segment], environments: tuple[str, ...]) -> CompiledFlag:
    """A flag spec (plain dict, see flags/snapshot.py) → its answers per environment.

    A flag whose stored configuration is unusable (a variant of the wrong type, an on or
    off variant that does not exist) compiles with `error` set: evaluating it is a
    GENERAL error, and every other flag still works.
    """
    release = spec.get("release")
    flag = CompiledFlag(
        key=spec["key"],
        name=spec.get("name", spec["key"]),
        type=spec["type"],
        on_variant=spec["on_variant"],
        off_variant=spec["off_variant"],
        release=release["slug"] if release else "",
    )
    try:
        variants = {name: coerce_value(spec["type"], value) for name, value in spec["variants"].items()}
    except ValueError as exc:
        flag.error = f"Flag “{flag.key}” has a variant that {exc}."
        return flag
    for role in ("on_variant", "off_variant"):
        if spec[role] not in variants:
            flag.error = f"Flag “{flag.key}” has no variant “{spec[role]}”."
            return flag
    on_name, off_name = spec["on_variant"], spec["off_variant"]

    def outcome(variant: str, reason: str, metadata: dict) -> Outcome:
        return Outcome(
            key=flag.key,
            value=variants[variant],
            variant=variant,
            reason=reason,
            metadata=metadata,
            enabled=variant == on_name,
        )

    for env in environments:
        plan = Plan()
        plan.prefix = f"{flag.key}:"
        meta: dict = {"environment": env}
        if release:
            meta.update({"release": release["slug"], "releaseStatus": release["status"]})
        if spec.get("killed"):
            plan.explain = "The kill switch is on."
            plan.disabled = outcome(off_name, DISABLED, {**meta, "disabledBy": "kill switch"})
            flag.plans[env] = plan
            continue
        if release and release["status"] not in LIVE_RELEASE_STATUSES:
            plan.explain = DISABLED_BECAUSE.get(release["status"], "The release is not running.")
            plan.disabled = outcome(off_name, DISABLED, {**meta, "disabledBy": plan.explain})
            flag.plans[env] = plan
            continue
        if release:
            phases = release["phases"]
            # Segments are people (internal users, beta testers): every phase started so far
            # keeps its segments on, in every environment, so moving on never drops a group.
            seg_keys = list(
                dict.fromkeys(k for p in phases if p["status"] in REACHED_PHASE_STATUSES for k in p["segments"])
            )
            # The percentage is the environment's own: its latest started phase (or the
            # release's, when no phase names this environment).
            in_env = [p for p in phases if p["environment"] == env] or phases
            reached = [p for p in in_env if p["status"] in REACHED_PHASE_STATUSES]
            if reached:
                current = reached[-1]
                plan.exposure = current["exposure"]
                plan.phase = current["name"]
                meta.update({"phase": current["name"], "exposure": plan.exposure})
                plan.explain = f"Phase “{current['name']}” reaches {plan.exposure}%."
            else:
                meta["exposure"] = 0
                plan.explain = f"No {env} phase has started yet: only targeted segments have it."
            full_reason, none_reason = SPLIT, DEFAULT
        else:
            plan.exposure = spec.get("fixed_exposure", 0)
            seg_keys = list(spec.get("segments", ()))
            meta["exposure"] = plan.exposure
            plan.explain = f"Not linked to a release: fixed at {plan.exposure}%."
            full_reason = STATIC if not seg_keys else SPLIT
            none_reason = STATIC if not seg_keys else DEFAULT
        plan.segments = tuple(
            (segments[k], outcome(on_name, TARGETING_MATCH, {**meta, "segment": k})) for k in seg_keys if k in segments
        )
        plan.full_on = outcome(on_name, full_reason, meta)
        plan.none_off = outcome(off_name, none_reason, meta)
        plan.split_on = outcome(on_name, SPLIT, meta)
        plan.split_off = outcome(off_name, SPLIT, meta)
        flag.plans[env] = plan
    return flag


# --- Evaluation ------------------------------------------------------------------------


def evaluate(flag: CompiledFlag, environment: str, targeting_key: str | None, context: Mapping) -> Outcome:
    """The flag's answer for this context: segments first, then the percentage rollout."""
    if flag.error:
        raise EvaluationError(GENERAL, flag.error)
    plan = flag.plans[environment]
    if plan.disabled is not None:
        return plan.disabled
    for segment, matched in plan.segments:
        if segment.matches(targeting_key, context):
            return matched
    exposure = plan.exposure
    if exposure >= 100:
        return plan.full_on
    if exposure <= 0:
        return plan.none_off
    if not targeting_key:
        raise EvaluationError(
            TARGETING_KEY_MISSING,
            f"Flag “{flag.key}” is rolled out to {exposure}% of users: send a targetingKey to place this user.",
        )
    b = mmh3.hash(plan.prefix + targeting_key, 0, signed=False) % 100 + 1
    return plan.split_on if b <= exposure else plan.split_off


def error_body(key: str | None, code: str, details: str) -> bytes:
    body = {"errorCode": code, "errorDetails": details}
    if key is not None:
        body = {"key": key, **body}
    return dumps(body).encode()


def parse_request(raw: bytes) -> tuple[str | None, dict]:
    """An OFREP request body → (targeting key or None, the whole context)."""
    if not raw.strip():
        return None, {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise EvaluationError(PARSE_ERROR, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise EvaluationError(PARSE_ERROR, 'The request body must be a JSON object such as {"context": {…}}.')
    context = body.get("context")
    if context is None:
        return None, {}
    if not isinstance(context, dict):
        raise EvaluationError(INVALID_CONTEXT, "context must be a JSON object.")
    targeting_key = context.get("targetingKey")
    if targeting_key is not None and not isinstance(targeting_key, str):
        raise EvaluationError(INVALID_CONTEXT, "targetingKey must be a string.")
    return targeting_key or None, context


def canonical(value) -> str:
    """One spelling of a JSON value, for digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def config_digest(flag_specs: list[dict], segment_specs: list[dict]) -> str:
    """A digest of the configuration: equal in every process that compiled the same data."""
    return hashlib.sha256(canonical([flag_specs, segment_specs]).encode()).hexdigest()[:32]
