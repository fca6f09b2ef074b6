"""The iCalendar feed of planned phase starts and freeze windows, and its secret URLs.

Calendar apps (Google Calendar, Outlook, Apple Calendar) fetch a feed without a session,
so each user gets secret URLs: the token is made with `secrets.token_urlsafe(32)`, shown
once, and only its SHA-256 digest is kept. A revoked or unknown token, or a user who no
longer holds a Flightdeck role, gets a 404.

What goes into a feed is the minimum a calendar needs: names, times, exposure and a link
back. Calendars live on third-party servers, so no summaries, known issues or docs.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar
from icalendar import Event as VEvent

from docs_portal.models import CalendarFeed
from rollouts import permissions
from rollouts.models import FINISHED_STATUSES, FreezeWindow, Phase, PhaseStatus, Release, ReleaseStatus
from rollouts.schedule import window_instants

PRODID = "-//Flightdeck//Rollout calendar//EN"
CALENDAR_NAME = "Flightdeck rollouts"
# How far back the feed reaches; what is older has dropped out of anyone's week.
HISTORY = timedelta(days=90)
# A phase start is shown as a block this long at least (or its soak time, when longer).
MIN_BLOCK = timedelta(minutes=30)
MAX_ACTIVE_FEEDS = 10
TOUCH_EVERY = timedelta(minutes=1)


# --- Secret URLs ----------------------------------------------------------------------


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(token: str) -> str:
    return settings.SITE_URL + reverse("feeds:calendar_feed", args=[token])


@transaction.atomic
def feed_create(*, user) -> tuple[CalendarFeed, str]:
    """A new secret URL for the user; the token is returned this once and never stored."""
    active = CalendarFeed.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
    if len(active) >= MAX_ACTIVE_FEEDS:
        raise ValidationError(
            f"You have {MAX_ACTIVE_FEEDS} calendar URLs already. Revoke one you no longer use first.", code="too_many"
        )
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(user=user, token_hash=token_digest(token), token_hint=token[-4:])
    return feed, token


def feed_revoke(*, user, feed_id: int) -> bool:
    """Revoke one of the user's own URLs; False when it was not theirs or revoked already."""
    return bool(
        CalendarFeed.objects.filter(pk=feed_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


def feeds_of(user) -> list[CalendarFeed]:
    return list(CalendarFeed.objects.filter(user=user).order_by("revoked_at", "-created_at", "-id"))


def feed_for_token(token: str) -> CalendarFeed | None:
    """The live feed behind a token, if its owner may still read Flightdeck."""
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=token_digest(token), revoked_at__isnull=True)
        .first()
    )
    if feed is None or not permissions.can_view(feed.user):
        return None
    return feed


def feed_touch(feed: CalendarFeed, now: datetime) -> None:
    """Record a fetch, at most once a minute (calendar apps poll often)."""
    if feed.last_used_at is not None and now - feed.last_used_at < TOUCH_EVERY:
        return
    CalendarFeed.objects.filter(pk=feed.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOUCH_EVERY)
    ).update(last_used_at=now)


# --- What the feed lists ----------------------------------------------------------------


@dataclass
class Item:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str
    url: str
    last_modified: datetime | None
    categories: str


def _uid(kind: str, pk: int) -> str:
    return f"{kind}-{pk}@{urlparse(settings.SITE_URL).hostname or 'flightdeck'}"


def _minutes(value: int) -> str:
    return f"{value} min" if value < 120 else f"{value / 60:g} h"


def visible_releases(user):
    """Releases the user may see: every signed-in role sees every release today."""
    if not permissions.can_view(user):
        return Release.objects.none()
    return Release.objects.all()


def _phase_starts(phases: list[Phase], release: Release) -> list[tuple[Phase, datetime, str]]:
    """(phase, start, how we know) for each phase that has started or will start.

    Phases without their own planned start are estimated: the first from the release's
    planned start, each later one from the phase before it plus that phase's soak time.
    """
    starts = []
    previous: tuple[Phase, datetime] | None = None
    for phase in phases:
        if phase.status == PhaseStatus.SKIPPED:
            continue
        if phase.started_at is not None:
            start, how = phase.started_at, "started"
        elif release.status in FINISHED_STATUSES or release.status == ReleaseStatus.ROLLING_BACK:
            break  # it will never start now
        elif phase.planned_start is not None:
            start, how = phase.planned_start, "planned"
        elif previous is None and release.planned_start is not None:
            start, how = release.planned_start, "estimated"
        elif previous is not None:
            start, how = previous[1] + timedelta(minutes=previous[0].min_soak_minutes), "estimated"
        else:
            continue  # nothing to estimate from yet
        starts.append((phase, start, how))
        previous = (phase, start)
    return starts


def phase_items(user, *, now: datetime) -> list[Item]:
    releases = {
        r.pk: r
        for r in visible_releases(user)
        .exclude(status=ReleaseStatus.CANCELLED)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=now - HISTORY))
        .only("slug", "name", "version", "status", "strategy", "planned_start", "updated_at")
    }
    by_release: dict[int, list[Phase]] = {}
    for phase in Phase.objects.filter(release_id__in=list(releases)).order_by("release_id", "position", "id"):
        by_release.setdefault(phase.release_id, []).append(phase)
    items = []
    for release_id, phases in by_release.items():
        release = releases[release_id]
        url = settings.SITE_URL + release.get_absolute_url()
        briefing = settings.SITE_URL + reverse("briefings:detail", args=[release.slug])
        for phase, start, how in _phase_starts(phases, release):
            if phase.finished_at is not None:
                end = max(phase.finished_at, start + timedelta(minutes=1))
            else:
                end = start + max(timedelta(minutes=phase.min_soak_minutes), MIN_BLOCK)
            if end < now - HISTORY:
                continue
            number = phases.index(phase) + 1
            estimated = " (estimated)" if how == "estimated" else ""
            when = {
                "started": "Started at this time.",
                "planned": "Planned start.",
                "estimated": "Estimated start: from the release's planned start and the soak times of earlier phases.",
            }[how]
            items.append(
                Item(
                    uid=_uid("phase", phase.pk),
                    start=start,
                    end=end,
                    summary=f"{release.name} {release.version}: {phase.name} "
                    f"({phase.exposure_percent}%, {phase.get_environment_display()}){estimated}",
                    description="\n".join(
                        [
                            f"Phase {number} of {len(phases)} of {release.name} {release.version} "
                            f"({release.get_strategy_display()} release, {release.get_status_display().lower()}).",
                            f"Exposure {phase.exposure_percent}% in {phase.get_environment_display()}; "
                            f"phase {phase.get_status_display().lower()}; "
                            f"minimum soak {_minutes(phase.min_soak_minutes)}.",
                            when,
                            f"Release page: {url}",
                            f"Support briefing: {briefing}",
                        ]
                    ),
                    url=url,
                    # Phases carry no timestamp of their own; every plan edit and
                    # transition saves the release.
                    last_modified=release.updated_at,
                    categories="Phase start",
                )
            )
    return items


def freeze_items(user, *, now: datetime) -> list[Item]:
    windows = (
        FreezeWindow.objects.filter(
            Q(release__isnull=True) | Q(release__in=visible_releases(user).exclude(status=ReleaseStatus.CANCELLED))
        )
        .select_related("release")
        .order_by("starts_local", "id")
    )
    schedule_url = settings.SITE_URL + reverse("schedule")
    items = []
    for window in windows:
        start, end = window_instants(window)
        if end < now - HISTORY:
            continue
        release = window.release
        scope = f"{release.name} {release.version}" if release else "all releases"
        local = f"{window.starts_local:%b %-d, %Y %H:%M} → {window.ends_local:%b %-d, %Y %H:%M} {window.timezone}"
        lines = [f"Automation does not advance {scope} during this freeze ({local})."]
        if window.reason:
            lines.append(window.reason)
        url = settings.SITE_URL + release.get_absolute_url() if release else schedule_url
        lines.append(url)
        items.append(
            Item(
                uid=_uid("freeze", window.pk),
                start=start,
                end=end,
                summary=f"Freeze: {window.name} ({scope})",
                description="\n".join(lines),
                url=url,
                # A global window has no timestamp to tell when it last changed.
                last_modified=release.updated_at if release else None,
                categories="Freeze window",
            )
        )
    return items


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def build_calendar(user, *, now: datetime | None = None) -> bytes:
    """The user's feed as iCalendar bytes: one VEVENT per phase start and freeze window,
    with times in UTC."""
    now = now or timezone.now()
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", CALENDAR_NAME)
    calendar.add("x-wr-caldesc", "Planned phase starts and freeze windows of Flightdeck releases.")
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    stamp = _utc(now).replace(microsecond=0)
    for item in sorted(phase_items(user, now=now) + freeze_items(user, now=now), key=lambda i: (i.start, i.uid)):
        event = VEvent()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", _utc(item.start).replace(microsecond=0))
        event.add("dtend", _utc(item.end).replace(microsecond=0))
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("url", item.url)
        event.add("categories", [item.categories])
        event.add("transp", "TRANSPARENT")  # a rollout does not make anyone busy
        if item.last_modified is not None:
            event.add("last-modified", _utc(item.last_modified).replace(microsecond=0))
        calendar.add_component(event)
    return calendar.to_ical()
