"""Segment rules: "plan in pro, enterprise", "app_version semver_gte 2.3.0".

Pure Python (no Django), so evaluation stays free of the ORM and a subprocess can import it.
A rule is stored as {"attribute": str, "operator": str, "values": [str, ...]}; people type
one per line as `attribute operator value[, value…]`.
"""

import re
from collections.abc import Callable, Mapping

OPERATORS: dict[str, str] = {
    "equals": "equals",
    "not_equals": "does not equal",
    "in": "is one of",
    "not_in": "is none of",
    "starts_with": "starts with one of",
    "ends_with": "ends with one of",
    "contains": "contains one of",
    "gt": "is a number greater than",
    "gte": "is a number at least",
    "lt": "is a number less than",
    "lte": "is a number at most",
    "semver_eq": "is the version",
    "semver_gt": "is a version after",
    "semver_gte": "is a version at or after",
    "semver_lt": "is a version before",
    "semver_lte": "is a version at or before",
}
# Operators that compare against exactly one value.
SINGLE_VALUE = {"equals", "not_equals", "gt", "gte", "lt", "lte"} | {op for op in OPERATORS if op.startswith("semver_")}
NUMERIC = {"gt", "gte", "lt", "lte"}
ATTRIBUTE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")

# --- Semantic versions (semver.org precedence; "v" prefix and missing parts allowed) ----

_SEMVER = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def semver_key(text: str) -> tuple | None:
    """A sortable key for a version such as 2.3.0, v2.3, 1.0.0-rc.1+build.5; None if it is not one.

    A pre-release sorts before its release; identifiers compare numerically when numeric,
    else as text, numeric before text; a longer pre-release wins when the rest is equal.
    Build metadata is ignored, as semver.org says.
    """
    match = _SEMVER.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    core = (int(major), int(minor or 0), int(patch or 0))
    if pre is None:
        return (*core, (1,))
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (*core, (0, *parts))


# --- Parsing what people type ---------------------------------------------------------


class RuleError(ValueError):
    pass


def parse_rule_line(line: str) -> dict:
    """`attribute operator value[, value…]` → a rule dict, or RuleError saying what is wrong."""
    parts = line.strip().split(None, 2)
    if len(parts) < 3:
        raise RuleError("write it as “attribute operator value”, for example “plan in pro, enterprise”")
    attribute, operator, rest = parts
    operator = operator.lower()
    values = [v.strip() for v in rest.split(",") if v.strip()]
    rule = {"attribute": attribute, "operator": operator, "values": values}
    if operator in ("equals", "not_equals") and len(values) > 1:
        raise RuleError(f"“{operator}” compares with one value; for a list use “{operator.replace('equals', 'in')}”")
    problem = rule_problem(rule)
    if problem:
        raise RuleError(problem)
    return rule


def rule_problem(rule) -> str | None:
    """What is wrong with a stored rule, or None."""
    if not isinstance(rule, dict):
        return "a rule must be an object with attribute, operator and values"
    attribute, operator, values = rule.get("attribute"), rule.get("operator"), rule.get("values")
    if not isinstance(attribute, str) or not ATTRIBUTE_RE.match(attribute):
        return f"“{attribute}” is not an attribute name (letters, digits, _ . -)"
    if operator not in OPERATORS:
        return f"unknown operator “{operator}”; use one of {', '.join(OPERATORS)}"
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        return "give at least one value"
    if operator in SINGLE_VALUE and len(values) != 1:
        return f"“{operator}” compares with exactly one value"
    if operator in NUMERIC:
        try:
            float(values[0])
        except ValueError:
            return f"“{values[0]}” is not a number"
    if operator.startswith("semver_") and semver_key(values[0]) is None:
        return f"“{values[0]}” is not a version such as 2.3.0"
    return None


def format_rule(rule: dict) -> str:
    return f"{rule['attribute']} {rule['operator']} {', '.join(rule['values'])}"


# --- Matching -------------------------------------------------------------------------


def as_text(value) -> str | None:
    """Context values as the text rules compare: true/false, 3, 2.5, strings as they are."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None  # objects and lists match no rule


def compile_rule(rule: dict) -> Callable[[Mapping], bool]:
    """A predicate over the evaluation context; a missing or unusable attribute never matches."""
    attribute, operator, values = rule["attribute"], rule["operator"], tuple(rule["values"])

    def text_of(context: Mapping) -> str | None:
        return as_text(context.get(attribute))

    if operator in ("equals", "in"):
        wanted = frozenset(values)
        return lambda c: text_of(c) in wanted
    if operator in ("not_equals", "not_in"):
        unwanted = frozenset(values)

        def not_in(c):
            text = text_of(c)
            return text is not None and text not in unwanted

        return not_in
    if operator in ("starts_with", "ends_with", "contains"):

        def affix(c):
            text = text_of(c)
            if text is None:
                return False
            if operator == "starts_with":
                return text.startswith(values)
            if operator == "ends_with":
                return text.endswith(values)
            return any(v in text for v in values)

        return affix
    if operator in NUMERIC:
        limit = float(values[0])
        compare = {
            "gt": lambda a: a > limit,
            "gte": lambda a: a >= limit,
            "lt": lambda a: a < limit,
            "lte": lambda a: a <= limit,
        }[operator]

        def numeric(c):
            value = c.get(attribute)
            if isinstance(value, bool):
                return False
            try:
                return compare(float(value))
            except (TypeError, ValueError):
                return False

        return numeric
    target = semver_key(values[0])
    compare = {
        "semver_eq": lambda k: k == target,
        "semver_gt": lambda k: k > target,
        "semver_gte": lambda k: k >= target,
        "semver_lt": lambda k: k < target,
        "semver_lte": lambda k: k <= target,
    }[operator]

    def semver(c):
        text = text_of(c)
        key = semver_key(text) if text is not None else None
        return key is not None and compare(key)

    return semver
