"""Automated gate checks: what a gate's config may say, one measurement, and the verdict on a run.

Modelled on Argo Rollouts' AnalysisTemplate. A measured gate (http_check, metric_threshold) is
measured every `interval_seconds`; each measurement is a success, failure, inconclusive or
error, and `judge()` turns the running counts into passed, failed, inconclusive (a person
decides) or continue. Inconclusive never promotes.

Pure logic plus the outbound HTTP calls (always through rollouts/http.py). Nothing here writes
to the database: the engine stores measurements and applies the outcome in rollouts/transitions.py.
"""

import json
import math
import operator
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from rollouts import http
from rollouts.models import GateKind, Verdict


class Outcome(StrEnum):
    CONTINUE = "continue"
    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class MeasurementResult:
    value: float | None
    verdict: str  # a Verdict value
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Config schemas
# ---------------------------------------------------------------------------------------------

OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
# How conditions read on a page; people type these too.
OPERATOR_SYMBOLS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}
_OPERATOR_ALIASES = {"≤": "<=", "≥": ">=", "≠": "!=", "=": "=="}

MAX_URL_LENGTH = 2000
MAX_QUERY_LENGTH = 4000
MAX_EXPECTED_VALUE_LENGTH = 1000


@dataclass(frozen=True)
class _Number:
    label: str
    default: int | float
    minimum: int | float
    maximum: int | float
    whole: bool = True  # False: seconds that may have a fraction
    unit: str = ""


_COMMON = {
    "failure_limit": _Number("Failure limit", 0, 0, 1000),
    "consecutive_error_limit": _Number("Consecutive error limit", 4, 0, 1000),
    "timeout_seconds": _Number("Timeout", 5, 0.1, 30, whole=False, unit=" seconds"),
}

HTTP_CHECK_NUMBERS = {
    "expected_status": _Number("Expected status", 200, 100, 599),
    "interval_seconds": _Number("Interval", 30, 2, 86400, unit=" seconds"),
    "count": _Number("Count", 3, 1, 1000),
    **_COMMON,
}
METRIC_NUMBERS = {
    "interval_seconds": _Number("Interval", 60, 2, 86400, unit=" seconds"),
    "count": _Number("Count", 5, 1, 1000),
    **_COMMON,
    "inconclusive_limit": _Number("Inconclusive limit", 0, 0, 1000),
}
HTTP_CHECK_FIELDS = ("url", "json_path", "expected_value", *HTTP_CHECK_NUMBERS)
METRIC_FIELDS = ("address", "query", "success_condition", "failure_condition", *METRIC_NUMBERS)

_JSON_PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")
_CONDITION_TEXT = re.compile(r"^\s*(<=|>=|==|!=|<|>|≤|≥|≠|=)\s*(\S+)\s*$")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clean_config(kind: str, raw: dict) -> dict:
    """Validate a gate's config for its kind and return it complete, with defaults filled in.

    Raises ValidationError keyed by config field name (every problem at once). Kinds that take no
    config (manual_approval, checklist, ci_result) return {}. Empty values ("" or None) mean
    "use the default". Running it on its own output returns the same dict.
    """
    if kind not in GateKind.values:
        raise ValidationError({"kind": f"“{kind}” is not a kind of gate Flightdeck knows."})
    if kind not in (GateKind.HTTP_CHECK, GateKind.METRIC_THRESHOLD):
        return {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationError({"config": "The settings must be a JSON object of names and values."})
    known = HTTP_CHECK_FIELDS if kind == GateKind.HTTP_CHECK else METRIC_FIELDS
    errors: dict[str, list[str]] = {}
    for name, value in raw.items():
        if name not in known and not _blank(value):
            label = GateKind(kind).label
            errors.setdefault(str(name), []).append(f"“{name}” is not a setting of {label.lower()} gates.")
    clean = _clean_http_check if kind == GateKind.HTTP_CHECK else _clean_metric
    cleaned = clean(raw, errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_http_check(raw: dict, errors: dict) -> dict:
    cleaned: dict[str, Any] = {"url": _clean_url(raw.get("url"), "url", "URL", errors, allow_query=True)}
    json_path = raw.get("json_path")
    if _blank(json_path):
        cleaned["json_path"] = ""
    elif not isinstance(json_path, str) or len(json_path) > 200:
        errors.setdefault("json_path", []).append("JSON path must be text such as status.db or checks.0.ok.")
    else:
        path = json_path.strip().removeprefix("$.")
        if not _JSON_PATH.match(path):
            errors.setdefault("json_path", []).append(
                "JSON path must be names and list positions joined by dots, such as status.db or checks.0.ok."
            )
        cleaned["json_path"] = path
    expected_value = raw.get("expected_value")
    if _blank(expected_value):
        cleaned["expected_value"] = None
        if not _blank(json_path):
            errors.setdefault("expected_value", []).append(
                "Expected value is needed with a JSON path: say what the answer must hold there."
            )
    else:
        try:
            text = json.dumps(expected_value, allow_nan=False)
        except (TypeError, ValueError):
            errors.setdefault("expected_value", []).append("Expected value must be text, a number, true or false.")
        else:
            if len(text) > MAX_EXPECTED_VALUE_LENGTH:
                errors.setdefault("expected_value", []).append(
                    f"Expected value must be at most {MAX_EXPECTED_VALUE_LENGTH} characters."
                )
        if _blank(json_path):
            errors.setdefault("expected_value", []).append(
                "Expected value needs a JSON path that says where in the answer to look, such as status.db."
            )
        cleaned["expected_value"] = expected_value
    _clean_numbers(raw, HTTP_CHECK_NUMBERS, cleaned, errors)
    _check_limit_below_count(cleaned, errors)
    return cleaned


def _clean_metric(raw: dict, errors: dict) -> dict:
    cleaned: dict[str, Any] = {
        "address": _clean_url(raw.get("address"), "address", "Address", errors, allow_query=False),
    }
    query = raw.get("query")
    if _blank(query):
        errors.setdefault("query", []).append("Query is required: the PromQL expression to measure.")
        cleaned["query"] = ""
    elif not isinstance(query, str):
        errors.setdefault("query", []).append("Query must be a PromQL expression.")
    elif len(query) > MAX_QUERY_LENGTH:
        errors.setdefault("query", []).append(f"Query must be at most {MAX_QUERY_LENGTH} characters.")
    else:
        cleaned["query"] = query.strip()
    success = raw.get("success_condition")
    if _blank(success) or success == {}:
        errors.setdefault("success_condition", []).append(
            "Success condition is required, for example ≤ 0.3: when does a measurement count as good?"
        )
        cleaned["success_condition"] = None
    else:
        cleaned["success_condition"] = _clean_condition(success, "success_condition", "Success condition", errors)
    failure = raw.get("failure_condition")
    if _blank(failure) or failure == {}:
        cleaned["failure_condition"] = None
    else:
        cleaned["failure_condition"] = _clean_condition(failure, "failure_condition", "Failure condition", errors)
    _clean_numbers(raw, METRIC_NUMBERS, cleaned, errors)
    _check_limit_below_count(cleaned, errors)
    return cleaned


def _clean_url(value, name: str, label: str, errors: dict, *, allow_query: bool) -> str:
    if _blank(value):
        errors.setdefault(name, []).append(f"{label} is required.")
        return ""
    if not isinstance(value, str):
        errors.setdefault(name, []).append(f"{label} must be a web address starting with http:// or https://.")
        return ""
    value = value.strip()
    if len(value) > MAX_URL_LENGTH or any(c.isspace() for c in value):
        errors.setdefault(name, []).append(f"{label} must be a web address without spaces, at most 2000 characters.")
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        errors.setdefault(name, []).append(f"{label} is not a valid web address.")
        return value
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors.setdefault(name, []).append(f"{label} must start with http:// or https:// and name a host.")
    elif parts.username is not None or parts.password is not None:
        errors.setdefault(name, []).append(
            f"{label} must not hold a user name or password: everyone who can see the release would read it."
        )
    elif not allow_query and (parts.query or parts.fragment):
        errors.setdefault(name, []).append(
            f"{label} is the server's base address, such as https://prometheus.example.com, without ?query."
        )
    return value


def _clean_condition(value, name: str, label: str, errors: dict) -> dict | None:
    example = f"{label} must be a comparison such as ≤ 0.3: one of < <= > >= == != and a number."
    if isinstance(value, str):
        match = _CONDITION_TEXT.match(value)
        if not match:
            errors.setdefault(name, []).append(example)
            return None
        value = {"op": match[1], "value": match[2]}
    if not isinstance(value, dict) or set(value) - {"op", "value"}:
        errors.setdefault(name, []).append(example)
        return None
    op = value.get("op")
    op = _OPERATOR_ALIASES.get(op, op) if isinstance(op, str) else None
    if op not in OPERATORS:
        errors.setdefault(name, []).append(f"{label}: the comparison must be one of < <= > >= == !=.")
        return None
    number = _number(value.get("value"))
    if number is None:
        errors.setdefault(name, []).append(f"{label}: compare with a number, such as 0.3 or 100.")
        return None
    return {"op": op, "value": number}


def _number(value) -> int | float | None:
    """A finite number from JSON or a form, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return None


def _clean_numbers(raw: dict, spec: dict[str, _Number], cleaned: dict, errors: dict) -> None:
    for name, rule in spec.items():
        value = raw.get(name)
        if _blank(value):
            cleaned[name] = rule.default
            continue
        number = _number(value)
        if number is None or (rule.whole and number != int(number)):
            kind = "a whole number" if rule.whole else "a number"
            errors.setdefault(name, []).append(f"{rule.label} must be {kind}{' of' + rule.unit if rule.unit else ''}.")
        elif not rule.minimum <= number <= rule.maximum:
            errors.setdefault(name, []).append(
                f"{rule.label} must be between {_num(rule.minimum)} and {_num(rule.maximum)}{rule.unit}."
            )
        else:
            cleaned[name] = int(number) if rule.whole else number


def _check_limit_below_count(cleaned: dict, errors: dict) -> None:
    # With as many tolerated failures as measurements, a gate could pass with every one failing.
    count, limit = cleaned.get("count"), cleaned.get("failure_limit")
    if count is not None and limit is not None and limit >= count and "failure_limit" not in errors:
        errors.setdefault("failure_limit", []).append(
            f"Failure limit must be smaller than the count ({count}), or the gate could pass with every measurement "
            "failing."
        )


# ---------------------------------------------------------------------------------------------
# One-line summaries
# ---------------------------------------------------------------------------------------------


def _num(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _every(seconds: int) -> str:
    if seconds >= 120 and seconds % 3600 == 0:
        return f"every {seconds // 3600} h"
    if seconds >= 120 and seconds % 60 == 0:
        return f"every {seconds // 60} min"
    return f"every {seconds} s"


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def condition_text(condition: dict | None) -> str:
    """'≤ 0.3' for {"op": "<=", "value": 0.3}."""
    if not condition:
        return ""
    return f"{OPERATOR_SYMBOLS.get(condition['op'], condition['op'])} {_num(condition['value'])}"


def describe_config(kind: str, config: dict, *, name: str = "") -> str:
    """A one-line summary of what an automated gate checks, for pages and the timeline.

    "p99 latency: histogram_quantile(…) ≤ 0.3 every 60 s, 5 times, fail after 1 failure".
    `name` (the gate's name) is put in front when given. An invalid config is described as such.
    """
    prefix = f"{name}: " if name else ""
    if kind not in GateKind.values:
        return f"{prefix}unknown gate kind “{kind}”"
    if kind not in (GateKind.HTTP_CHECK, GateKind.METRIC_THRESHOLD):
        return f"{prefix}{GateKind(kind).label.lower()}" if name else GateKind(kind).label
    try:
        config = clean_config(kind, config)
    except ValidationError:
        return f"{prefix}{GateKind(kind).label.lower()} with invalid settings"
    if kind == GateKind.HTTP_CHECK:
        what = f"GET {_shorten(config['url'])} answers {config['expected_status']}"
        if config["json_path"]:
            what += f" with {config['json_path']} = {_shorten(_json_quoted(config['expected_value']), 30)}"
    else:
        what = f"{_shorten(config['query'])} {condition_text(config['success_condition'])}"
        if config["failure_condition"]:
            what += f" (fails at {condition_text(config['failure_condition'])})"
    failures = _plural(config["failure_limit"] + 1, "failure", "failures")
    errors = _plural(config["consecutive_error_limit"] + 1, "error", "errors")
    parts = [
        f"{what} {_every(config['interval_seconds'])}",
        _plural(config["count"], "time", "times"),
        f"fail after {failures} or {errors} in a row",
    ]
    if kind == GateKind.METRIC_THRESHOLD:
        limit = config["inconclusive_limit"] + 1
        parts.append(f"pause after {_plural(limit, 'inconclusive result', 'inconclusive results')}")
    return prefix + ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------

_MISSING = object()


def measure(kind: str, config: dict) -> MeasurementResult:
    """Take one measurement of an http_check or metric_threshold gate. Never raises for the target's
    faults: an unreachable or refused target is an `error` verdict (detail["permanent"] says whether
    trying again can help). Raises ValueError for a kind that is not measured.
    """
    if kind not in (GateKind.HTTP_CHECK, GateKind.METRIC_THRESHOLD):
        raise ValueError(f"Gates of kind {kind!r} are not measured.")
    try:
        config = clean_config(kind, config)
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        return MeasurementResult(
            None,
            Verdict.ERROR.value,
            f"The gate's settings are invalid ({problems}). Fix them and measure again.",
            {"permanent": True, "config_errors": exc.message_dict},
        )
    if kind == GateKind.HTTP_CHECK:
        return _measure_http_check(config)
    return _measure_metric(config)


def _outbound_error(exc: http.OutboundError, detail: dict) -> MeasurementResult:
    return MeasurementResult(None, Verdict.ERROR.value, exc.message, {**detail, "permanent": exc.permanent})


def _excerpt(content: bytes, limit: int = 300) -> str:
    text = content[: limit * 4].decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _measure_http_check(config: dict) -> MeasurementResult:
    url, expected_status, path = config["url"], config["expected_status"], config["json_path"]
    detail: dict[str, Any] = {"url": url, "expected_status": expected_status}
    try:
        response = http.request(
            "GET", url, headers={"Accept": "application/json"} if path else None, timeout=config["timeout_seconds"]
        )
    except http.OutboundError as exc:  # TargetRefused included: it is permanent
        return _outbound_error(exc, detail)
    status = response.status_code
    value = float(status)
    detail.update(status_code=status, elapsed_ms=response.elapsed_ms)
    if status != expected_status:
        detail["body_excerpt"] = _excerpt(response.content)
        return MeasurementResult(
            value, Verdict.FAILURE.value, f"Expected HTTP {expected_status}, got {status}.", detail
        )
    if not path:
        return MeasurementResult(value, Verdict.SUCCESS.value, f"HTTP {status} as expected.", detail)
    expected = config["expected_value"]
    detail.update(json_path=path, expected_value=expected)
    try:
        body = response.json()
    except ValueError:
        detail["body_excerpt"] = _excerpt(response.content)
        return MeasurementResult(
            value,
            Verdict.ERROR.value,
            f"HTTP {status}, but the answer is not JSON, so {path} cannot be read.",
            {**detail, "permanent": False},
        )
    actual = _lookup(body, path)
    if actual is _MISSING:
        detail["body_excerpt"] = _excerpt(response.content)
        return MeasurementResult(
            value,
            Verdict.FAILURE.value,
            f"Expected {path} to be {_json_quoted(expected)}, but the answer has no {path}.",
            detail,
        )
    # Stored as JSON text: the answer may hold NaN, which a jsonb column refuses.
    detail["actual_value"] = _shorten(json.dumps(actual, ensure_ascii=False), 300)
    if not values_match(actual, expected):
        return MeasurementResult(
            value,
            Verdict.FAILURE.value,
            f"Expected {path} to be {_json_quoted(expected)}, got {_shorten(_json_quoted(actual), 80)}.",
            detail,
        )
    return MeasurementResult(
        value, Verdict.SUCCESS.value, f"HTTP {status} and {path} = {_shorten(_json_quoted(actual), 80)}.", detail
    )


def _json_quoted(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _lookup(document, path: str):
    """The value at a dotted path ("checks.0.ok"): names index objects, numbers index lists."""
    current = document
    for segment in path.split("."):
        if isinstance(current, dict):
            if segment not in current:
                return _MISSING
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit():
            index = int(segment)
            if index >= len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def _strict_equal(a, b) -> bool:
    # JSON equality: true is not 1, but 1 and 1.0 are the same number.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_strict_equal(a[k], b[k]) for k in a)
    return a == b


def values_match(actual, expected) -> bool:
    """Whether a value from a JSON answer equals the configured expected value.

    Compared as JSON values ("ok" = "ok", 1 = 1.0, true ≠ 1). An expected value typed as text also
    matches the JSON it spells: "true" matches true, "200" matches 200, "null" matches null.
    """
    if _strict_equal(actual, expected):
        return True
    if isinstance(expected, str) and not isinstance(actual, str):
        try:
            parsed = json.loads(expected)
        except ValueError:
            return False
        return _strict_equal(actual, parsed)
    return False


def _prometheus_error(response: http.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _excerpt(response.content, 200)
    if isinstance(body, dict) and body.get("error"):
        return _shorten(str(body["error"]), 300)
    return ""


def _measure_metric(config: dict) -> MeasurementResult:
    query = config["query"]
    endpoint = config["address"].rstrip("/") + "/api/v1/query"
    detail: dict[str, Any] = {"query": query, "address": config["address"]}
    try:
        response = http.request(
            "GET",
            endpoint,
            params={"query": query},
            headers={"Accept": "application/json"},
            timeout=config["timeout_seconds"],
        )
    except http.OutboundError as exc:
        return _outbound_error(exc, detail)
    detail.update(status_code=response.status_code, elapsed_ms=response.elapsed_ms)

    def error(message: str, *, permanent: bool = False) -> MeasurementResult:
        return MeasurementResult(None, Verdict.ERROR.value, message, {**detail, "permanent": permanent})

    if response.status_code != 200:
        reason = _prometheus_error(response)
        # 400 is Prometheus saying the query itself is wrong: asking again gives the same answer.
        return error(
            f"The metrics server answered HTTP {response.status_code}" + (f": {reason}" if reason else "."),
            permanent=response.status_code == 400,
        )
    try:
        body = response.json()
    except ValueError:
        return error("The metrics server's answer is not JSON; is the address a Prometheus-compatible API?")
    if not isinstance(body, dict) or body.get("status") != "success":
        reason = body.get("error") if isinstance(body, dict) else None
        return error(
            f"The metrics server reported an error: {_shorten(str(reason), 300)}"
            if reason
            else "The metrics server did not report success."
        )
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    result_type, result = data.get("resultType"), data.get("result")
    detail["result_type"] = result_type
    try:
        if result_type == "vector":
            if not isinstance(result, list):
                raise TypeError
            detail["series_count"] = len(result)
            if not result:
                return MeasurementResult(
                    None, Verdict.INCONCLUSIVE.value, "No data: the query returned no series.", detail
                )
            sample = result[0]
            raw_value = sample["value"][1]
            detail["series"] = {str(k): str(v) for k, v in (sample.get("metric") or {}).items()}
        elif result_type == "scalar":
            raw_value = result[1]
        else:
            return error(
                f"The query returned a {result_type or 'missing'} result; use an instant query that returns one "
                "number (a vector or scalar).",
                permanent=result_type in ("matrix", "string"),
            )
        value = float(raw_value)
    except (TypeError, KeyError, IndexError, ValueError):
        return error("The metrics server's answer does not have the shape of a Prometheus query result.")
    detail["raw_value"] = str(raw_value)
    if math.isnan(value):
        return MeasurementResult(None, Verdict.INCONCLUSIVE.value, "No data: the query returned NaN.", detail)
    shown = _num(value)
    if detail.get("series_count", 1) > 1:
        shown += f" (first of {detail['series_count']} series)"
    failure, success = config["failure_condition"], config["success_condition"]
    if failure and condition_met(value, failure):
        return MeasurementResult(
            value, Verdict.FAILURE.value, f"{shown} meets the failure condition {condition_text(failure)}.", detail
        )
    if condition_met(value, success):
        return MeasurementResult(
            value, Verdict.SUCCESS.value, f"{shown} meets the success condition {condition_text(success)}.", detail
        )
    message = f"{shown} meets neither the success condition {condition_text(success)}"
    message += f" nor the failure condition {condition_text(failure)}." if failure else "."
    return MeasurementResult(value, Verdict.INCONCLUSIVE.value, message, detail)


def condition_met(value: float, condition: dict) -> bool:
    return OPERATORS[condition["op"]](value, condition["value"])


# ---------------------------------------------------------------------------------------------
# Judging a run of measurements
# ---------------------------------------------------------------------------------------------


def _limits(config: dict) -> tuple[int, int, int, int]:
    # Defaults for configs stored before a setting existed; the engine passes clean_config output.
    return (
        int(config.get("count", 1)),
        int(config.get("failure_limit", 0)),
        int(config.get("inconclusive_limit", 0)),
        int(config.get("consecutive_error_limit", 4)),
    )


def judge(
    config: dict,
    *,
    measurement_count: int,
    success_count: int,
    failure_count: int,
    inconclusive_count: int,
    consecutive_errors: int,
    last_verdict: str | None,
) -> Outcome:
    """What a gate's measurements so far mean, by Argo Rollouts' rules. First match wins:

    1. failed        failure_count > failure_limit (a failure past what is tolerated);
    2. failed        consecutive_errors > consecutive_error_limit (the target or metrics server
                     could not be measured that many times in a row);
    3. inconclusive  inconclusive_count > inconclusive_limit (the tolerance is spent: a person
                     decides; the engine pauses). This holds whatever the last verdict was, so a
                     success after the limit was crossed cannot slip the gate through — to measure
                     on, the engine resets inconclusive_count when a person resumes;
    4. continue      last_verdict is inconclusive (an unresolved inconclusive never passes, even
                     within its limit: only a success or failure taken after it can);
    5. passed        success_count + failure_count >= count and at least one succeeded
                     (failures are within the limit by rule 1);
    6. failed        success_count + failure_count >= count and none succeeded (only possible
                     with failure_limit >= count, which clean_config refuses);
    7. continue      otherwise: measure again after interval_seconds.

    Only successes and failures count towards `count`: errors and inconclusive results are retried,
    never counted. `measurement_count` is accepted for the record but not used for that reason,
    so it does not matter whether the caller's counter includes errors. http_check has no
    inconclusive_limit: it never measures inconclusive, and the limit defaults to 0.
    """
    del measurement_count  # see the docstring: the count is success_count + failure_count
    count, failure_limit, inconclusive_limit, error_limit = _limits(config)
    if failure_count > failure_limit:
        return Outcome.FAILED
    if consecutive_errors > error_limit:
        return Outcome.FAILED
    if inconclusive_count > inconclusive_limit:
        return Outcome.INCONCLUSIVE
    if last_verdict == Verdict.INCONCLUSIVE:
        return Outcome.CONTINUE
    if success_count + failure_count >= count:
        return Outcome.PASSED if success_count > 0 else Outcome.FAILED
    return Outcome.CONTINUE


def describe_outcome(
    config: dict,
    outcome: str,
    *,
    success_count: int,
    failure_count: int,
    inconclusive_count: int,
    consecutive_errors: int,
) -> str:
    """Why judge() said what it said, for the timeline and the gate's evidence."""
    count, failure_limit, inconclusive_limit, error_limit = _limits(config)
    if outcome == Outcome.FAILED:
        if failure_count > failure_limit or consecutive_errors <= error_limit:
            return (
                f"{_plural(failure_count, 'measurement', 'measurements')} failed; "
                f"{_plural(failure_limit, 'failure is', 'failures are')} tolerated."
            )
        return (
            f"{_plural(consecutive_errors, 'error', 'errors')} in a row could not measure the gate; "
            f"{_plural(error_limit, 'is', 'are')} tolerated."
        )
    if outcome == Outcome.INCONCLUSIVE:
        return (
            f"{_plural(inconclusive_count, 'inconclusive result', 'inconclusive results')} "
            f"({inconclusive_limit} tolerated): a person must decide whether to go on."
        )
    if outcome == Outcome.PASSED:
        text = f"{success_count} of {success_count + failure_count} measurements succeeded"
        if failure_count:
            text += f"; {_plural(failure_count, 'failure', 'failures')} within the limit of {failure_limit}"
        return text + "."
    return f"{success_count + failure_count} of {count} measurements taken."
