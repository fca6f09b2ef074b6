"""When automation may act: freeze windows and allowed hours, in named time zones.

Freeze windows are stored as local wall-clock times (the datetime's own tzinfo is only a
carrier; its numbers are read as wall-clock) plus an IANA zone, and turned into instants
with zoneinfo at the moment of the check. So "until 06:00 Europe/Berlin" ends at 06:00 on
the Berlin clock even on the night the clocks go back. Allowed hours are weekly local
ranges, checked against the local time of the moment asked about.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db.models import Q

from rollouts.models import AllowedHours, FreezeWindow, Release

WEEKDAY_NAMES = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"timezone": f"“{name}” is not a known time zone (try Europe/Berlin or UTC)."}) from None


def wall_clock(value: datetime) -> datetime:
    """The naive wall-clock time a freeze field holds."""
    return value.replace(tzinfo=None)


def as_carrier(local: datetime) -> datetime:
    """Store a naive local wall-clock time in a DateTimeField without shifting its numbers."""
    return local.replace(tzinfo=UTC)


def window_instants(window: FreezeWindow) -> tuple[datetime, datetime]:
    tz = zone(window.timezone)
    return wall_clock(window.starts_local).replace(tzinfo=tz), wall_clock(window.ends_local).replace(tzinfo=tz)


@dataclass(frozen=True)
class Block:
    kind: str  # "freeze" or "hours"
    message: str


def active_freeze(release: Release, now: datetime, windows=None) -> FreezeWindow | None:
    if windows is None:
        windows = FreezeWindow.objects.filter(Q(release=release) | Q(release__isnull=True))
    for window in windows:
        start, end = window_instants(window)
        if start <= now < end:
            return window
    return None


def hours_rules(release: Release):
    """The release's own allowed hours if it has any, else the global ones (one query)."""
    return rules_for(release, AllowedHours.objects.filter(Q(release=release) | Q(release__isnull=True)))


def rules_for(release: Release, rules) -> list[AllowedHours]:
    """Of `rules` (fetched once for many releases), the ones that apply to `release`."""
    rules = list(rules)
    own = [r for r in rules if r.release_id == release.pk]
    return own or [r for r in rules if r.release_id is None]


def within_hours(rule: AllowedHours, now: datetime) -> bool:
    local = now.astimezone(zone(rule.timezone))
    if local.isoweekday() not in rule.weekdays:
        return False
    t = local.time().replace(tzinfo=None)
    if rule.start_time <= rule.end_time:
        return rule.start_time <= t < rule.end_time
    return t >= rule.start_time or t < rule.end_time  # a range across midnight


def describe_hours(rule: AllowedHours) -> str:
    days = ", ".join(WEEKDAY_NAMES[d] for d in sorted(rule.weekdays))
    return f"{days} {rule.start_time:%H:%M}–{rule.end_time:%H:%M} {rule.timezone}"


def automation_block(release: Release, now: datetime, windows=None, rules=None) -> Block | None:
    """Why automation may not advance this release now, or None when it may.

    `windows` and `rules` (the allowed hours that apply) let a page pass what it fetched.
    """
    window = active_freeze(release, now, windows)
    if window is not None:
        return Block(
            "freeze",
            f"Freeze “{window.name}” until {wall_clock(window.ends_local):%b %-d %H:%M} {window.timezone}"
            + (f" ({window.reason})" if window.reason else ""),
        )
    rules = hours_rules(release) if rules is None else rules
    if rules and not any(within_hours(rule, now) for rule in rules):
        return Block("hours", "Outside the allowed hours: " + "; ".join(describe_hours(r) for r in rules))
    return None
