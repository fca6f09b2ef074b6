"""The evaluation engine on its own: bucketing, segments, rules, reasons. No database."""

import json
import math
import struct

import pytest

from flags import evaluation
from flags.evaluation import (
    DEFAULT,
    DISABLED,
    GENERAL,
    INVALID_CONTEXT,
    PARSE_ERROR,
    SPLIT,
    STATIC,
    TARGETING_KEY_MISSING,
    TARGETING_MATCH,
    EvaluationError,
    bucket,
    compile_flag,
    compile_segments,
    evaluate,
)
from flags.rules import RuleError, parse_rule_line, semver_key
from rollouts.models import Environment, PhaseStatus, ReleaseStatus

ENVS = tuple(Environment.values)


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """A plain reference implementation, to check the mmh3 package against."""
    c1, c2, h, length = 0xCC9E2D51, 0x1B873593, seed, len(data)
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF  # noqa: E731
    for i in range(0, length - length % 4, 4):
        (k,) = struct.unpack_from("<I", data, i)
        k = rotl((k * c1) & 0xFFFFFFFF, 15) * c2 & 0xFFFFFFFF
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & 0xFFFFFFFF
    tail, k = data[length - length % 4 :], 0
    for i, byte in enumerate(tail):
        k |= byte << (8 * i)
    if tail:
        h ^= rotl((k * c1) & 0xFFFFFFFF, 15) * c2 & 0xFFFFFFFF
    h ^= length
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def spec(**kw):
    base = {
        "key": "new-checkout",
        "type": "boolean",
        "variants": {"on": True, "off": False},
        "on_variant": "on",
        "off_variant": "off",
        "killed": False,
        "fixed_exposure": 0,
        "segments": [],
        "release": None,
    }
    return {**base, **kw}


def release(status=ReleaseStatus.IN_PROGRESS, phases=None):
    phases = phases or [
        {"name": "Staging", "environment": "staging", "exposure": 100, "status": "passed", "segments": []},
        {"name": "Canary", "environment": "production", "exposure": 10, "status": "active", "segments": []},
        {"name": "Half", "environment": "production", "exposure": 50, "status": "pending", "segments": []},
    ]
    return {"slug": "flagged", "status": status, "phases": phases}


def compiled(segment_specs=(), **kw):
    return compile_flag(spec(**kw), compile_segments(segment_specs), ENVS)


# --- Bucketing -------------------------------------------------------------------------


def test_bucket__pinned_vectors__unleash_normalisation():
    # Unleash's own client tests: normalizedValue("123", "gr1") == 73, ("999", "groupX") == 25,
    # i.e. murmur3("gr1:123") % 100 + 1, the same as ours with the flag key as the group.
    assert bucket("gr1", "123") == 73
    assert bucket("groupX", "999") == 25
    assert [bucket("new-checkout", f"user-{i}") for i in range(8)] == [
        (murmur3_x86_32(f"new-checkout:user-{i}".encode()) % 100) + 1 for i in range(8)
    ]


def test_murmur3__known_vectors__mmh3_agrees_with_reference():
    assert murmur3_x86_32(b"hello") == 0x248BFA47
    assert murmur3_x86_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    import mmh3

    for text in ("", "a", "ab", "abc", "abcd", "new-checkout:user-42", "ünïcode:键"):
        assert mmh3.hash(text, 0, signed=False) == murmur3_x86_32(text.encode())


@pytest.mark.parametrize("exposure", [1, 5, 10, 25, 50, 99])
def test_bucket__100k_keys__share_on_within_three_standard_deviations(exposure):
    n = 100_000
    on = sum(1 for i in range(n) if bucket("new-checkout", f"user-{i}") <= exposure)
    p = exposure / 100
    assert abs(on - n * p) <= 3 * math.sqrt(n * p * (1 - p)), (exposure, on)


def test_bucket__exposure_rises__nobody_turned_off():
    keys = [f"account-{i}" for i in range(20_000)]
    previous: set = set()
    for exposure in (0, 1, 5, 10, 25, 50, 75, 99, 100):
        on = {k for k in keys if bucket("new-checkout", k) <= exposure}
        assert previous <= on
        previous = on
    assert previous == set(keys)


def test_bucket__two_flags_at_50_percent__overlap_about_a_quarter():
    n = 100_000
    both = sum(1 for i in range(n) if bucket("flag-a", f"u{i}") <= 50 and bucket("flag-b", f"u{i}") <= 50)
    p = 0.25
    assert abs(both - n * p) <= 3 * math.sqrt(n * p * (1 - p)), both


def test_evaluate__exposure_rises_through_phases__users_stay_on():
    keys = [f"user-{i}" for i in range(5000)]
    previous: set = set()
    for exposure in (1, 10, 50, 100):
        phases = [{"name": "P", "environment": "production", "exposure": exposure, "status": "active", "segments": []}]
        flag = compiled(release=release(phases=phases))
        on = {k for k in keys if evaluate(flag, "production", k, {}).enabled}
        assert previous <= on
        previous = on


# --- Reasons ---------------------------------------------------------------------------


def test_evaluate__release_running__split_by_current_phase_of_the_environment():
    flag = compiled(release=release())
    outcome = evaluate(flag, "production", "user-1", {})
    assert outcome.reason == SPLIT
    assert outcome.enabled == (bucket("new-checkout", "user-1") <= 10)
    assert outcome.metadata == {
        "environment": "production",
        "release": "flagged",
        "releaseStatus": "in_progress",
        "phase": "Canary",
        "exposure": 10,
    }
    # Staging passed its 100% phase: everyone there has it.
    assert evaluate(flag, "staging", "user-1", {}).enabled
    # No beta phase: beta follows the release as a whole (the current phase).
    assert evaluate(flag, "beta", "user-1", {}).metadata["phase"] == "Canary"


def test_evaluate__environment_not_reached_yet__off_default():
    phases = [
        {"name": "Staging", "environment": "staging", "exposure": 100, "status": "active", "segments": []},
        {"name": "Prod", "environment": "production", "exposure": 10, "status": "pending", "segments": []},
    ]
    outcome = evaluate(compiled(release=release(phases=phases)), "production", "user-1", {})
    assert (outcome.variant, outcome.reason, outcome.enabled) == ("off", DEFAULT, False)


@pytest.mark.parametrize(
    "status", [ReleaseStatus.DRAFT, ReleaseStatus.SCHEDULED, ReleaseStatus.ROLLING_BACK, ReleaseStatus.ROLLED_BACK]
)
def test_evaluate__release_not_live__off_disabled(status):
    outcome = evaluate(compiled(release=release(status=status)), "production", "user-1", {})
    assert (outcome.variant, outcome.reason) == ("off", DISABLED)


def test_evaluate__kill_switch__off_disabled_everywhere():
    flag = compiled(release=release(), killed=True)
    for env in ENVS:
        outcome = evaluate(flag, env, None, {})
        assert (outcome.variant, outcome.reason, outcome.metadata["disabledBy"]) == ("off", DISABLED, "kill switch")


def test_evaluate__no_release__static_fixed_value_without_targeting_key():
    assert evaluate(compiled(fixed_exposure=100), "production", None, {}).reason == STATIC
    off = evaluate(compiled(fixed_exposure=0), "production", None, {})
    assert (off.variant, off.reason) == ("off", STATIC)
    assert evaluate(compiled(fixed_exposure=30), "production", "u", {}).reason == SPLIT


def test_evaluate__percentage_without_targeting_key__error():
    with pytest.raises(EvaluationError) as exc:
        evaluate(compiled(release=release()), "production", None, {})
    assert exc.value.code == TARGETING_KEY_MISSING


def test_evaluate__segment_of_earlier_phase__stays_targeted_after_advance():
    segments = [{"key": "beta-testers", "targeting_keys": ["ann", "bob"]}]
    phases = [
        {"name": "Beta", "environment": "production", "exposure": 0, "status": "passed", "segments": ["beta-testers"]},
        {"name": "Canary", "environment": "production", "exposure": 1, "status": "active", "segments": []},
    ]
    flag = compiled(segments, release=release(phases=phases))
    ann = evaluate(flag, "production", "ann", {})
    assert (ann.variant, ann.reason, ann.metadata["segment"]) == ("on", TARGETING_MATCH, "beta-testers")
    stranger = next(k for k in (f"x{i}" for i in range(1000)) if bucket("new-checkout", k) > 1)
    assert evaluate(flag, "production", stranger, {}).reason == SPLIT


def test_evaluate__beta_phase_targets_testers__production_app_serves_them_before_its_own_phases():
    # The feature-flag strategy: "Beta testers" is a beta phase; production has not started.
    segments = [{"key": "beta-testers", "targeting_keys": ["ann"]}]
    phases = [
        {
            "name": "Beta testers",
            "environment": "beta",
            "exposure": 5,
            "status": "active",
            "segments": ["beta-testers"],
        },
        {"name": "10% of users", "environment": "production", "exposure": 10, "status": "pending", "segments": []},
    ]
    flag = compiled(segments, release=release(phases=phases))
    assert evaluate(flag, "production", "ann", {}).reason == TARGETING_MATCH
    assert (evaluate(flag, "production", "bob", {}).variant, evaluate(flag, "production", "bob", {}).reason) == (
        "off",
        DEFAULT,
    )
    assert evaluate(flag, "beta", "bob", {}).reason == SPLIT  # 5% in the beta environment


def test_evaluate__segment_rules__attributes_match_without_listing_keys():
    segments = [
        {
            "key": "new-app-pros",
            "rules": [
                {"attribute": "plan", "operator": "in", "values": ["pro", "enterprise"]},
                {"attribute": "app_version", "operator": "semver_gte", "values": ["2.3.0"]},
            ],
        }
    ]
    flag = compiled(segments, segments=["new-app-pros"], fixed_exposure=0)
    assert evaluate(flag, "production", "u", {"plan": "pro", "app_version": "2.10.1"}).reason == TARGETING_MATCH
    assert evaluate(flag, "production", "u", {"plan": "pro", "app_version": "2.3.0-rc.1"}).reason == DEFAULT
    assert evaluate(flag, "production", "u", {"plan": "free", "app_version": "3.0.0"}).reason == DEFAULT
    assert evaluate(flag, "production", None, {"plan": "pro"}).reason == DEFAULT  # missing attribute: no match


def test_compile__variant_of_wrong_type__general_error_for_that_flag_only():
    flag = compiled(type="integer", variants={"on": 2, "off": "zero"})
    with pytest.raises(EvaluationError) as exc:
        evaluate(flag, "production", "u", {})
    assert exc.value.code == GENERAL


def test_outcome__float_flag__value_sent_with_a_fraction():
    flag = compiled(type="float", variants={"on": 3, "off": 0}, fixed_exposure=100)
    outcome = evaluate(flag, "production", None, {})
    assert outcome.value == 3.0 and isinstance(outcome.value, float)
    assert b'"value":3.0' in outcome.body
    assert json.loads(outcome.body) == {
        "key": "new-checkout",
        "value": 3.0,
        "reason": STATIC,
        "variant": "on",
        "metadata": {"environment": "production", "exposure": 100},
    }


def test_states__match_rollouts_enums():
    assert evaluation.LIVE_RELEASE_STATUSES.issubset(ReleaseStatus.values)
    assert evaluation.REACHED_PHASE_STATUSES.issubset(PhaseStatus.values)
    assert set(evaluation.DISABLED_BECAUSE) | evaluation.LIVE_RELEASE_STATUSES == set(ReleaseStatus.values)


# --- Requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", PARSE_ERROR),
        (b"[1, 2]", PARSE_ERROR),
        (b'{"context": "user-1"}', INVALID_CONTEXT),
        (b'{"context": {"targetingKey": 42}}', INVALID_CONTEXT),
    ],
)
def test_parse_request__bad_bodies__error_codes(raw, code):
    with pytest.raises(EvaluationError) as exc:
        evaluation.parse_request(raw)
    assert exc.value.code == code


def test_parse_request__empty_or_no_context__no_targeting_key():
    assert evaluation.parse_request(b"") == (None, {})
    assert evaluation.parse_request(b"{}") == (None, {})
    assert evaluation.parse_request(b'{"context": {"targetingKey": "u", "plan": "pro"}}') == (
        "u",
        {"targetingKey": "u", "plan": "pro"},
    )


# --- Rules and versions ----------------------------------------------------------------


def test_semver__precedence_as_semver_org():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11"]
    ordered += ["1.0.0-rc.1", "1.0.0", "1.0.1", "1.2", "v1.10.0", "2.0.0+build.7"]
    keys = [semver_key(v) for v in ordered]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert semver_key("2.0.0+build.7") == semver_key("2.0.0")
    assert semver_key("not-a-version") is None


@pytest.mark.parametrize(
    ("line", "context", "expected"),
    [
        ("country equals DE", {"country": "DE"}, True),
        ("country not_equals DE", {"country": "FR"}, True),
        ("country not_equals DE", {}, False),
        ("plan in pro, enterprise", {"plan": "enterprise"}, True),
        ("plan not_in free, trial", {"plan": "free"}, False),
        ("email ends_with @example.com", {"email": "ann@example.com"}, True),
        ("beta equals true", {"beta": True}, True),
        ("seats gte 10", {"seats": 12}, True),
        ("seats gte 10", {"seats": "lots"}, False),
        ("app_version semver_lt 2.0.0", {"app_version": "1.9.9"}, True),
        ("app_version semver_eq 2.0", {"app_version": "v2.0.0"}, True),
    ],
)
def test_rule__operators__match_as_written(line, context, expected):
    from flags.rules import compile_rule

    assert compile_rule(parse_rule_line(line))(context) is expected


@pytest.mark.parametrize(
    "line", ["plan", "plan is pro", "app_version semver_gt two", "seats gt many", "country equals DE, FR"]
)
def test_rule__bad_lines__refused_with_a_reason(line):
    with pytest.raises(RuleError):
        parse_rule_line(line)
