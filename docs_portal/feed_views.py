"""Calendar feed URLs: a page where a signed-in user makes, lists and revokes their secret
URLs, and the feed itself, which calendar apps fetch without a session."""

import hashlib

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from docs_portal import calendar
from rollouts.views import reader_required, see_other


def _page(request: HttpRequest, *, new_url: str = "", status: int = 200) -> HttpResponse:
    context = {
        "feeds": calendar.feeds_of(request.user),
        "new_url": new_url,
        "max_feeds": calendar.MAX_ACTIVE_FEEDS,
    }
    response = render(request, "docs_portal/feeds/calendar.html", context, status=status)
    if new_url:
        # The secret is on this page once: keep it out of every cache and history store.
        patch_cache_control(response, no_store=True, private=True)
    return response


@require_http_methods(["GET", "POST"])
@reader_required
def calendar_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            _feed, token = calendar.feed_create(user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return _page(request, status=409)
        # Rendered, not redirected: the URL is shown this once and never sits in a session.
        return _page(request, new_url=calendar.feed_url(token), status=201)
    return _page(request)


@require_POST
@reader_required
def calendar_revoke(request: HttpRequest, feed_id: int) -> HttpResponse:
    if calendar.feed_revoke(user=request.user, feed_id=feed_id):
        messages.success(request, "Calendar URL revoked: calendars using it stop updating.")
    return see_other(reverse("feeds:calendar"))


def _etag(body: bytes) -> str:
    """DTSTAMP is the time of the fetch; the ETag leaves it out so an unchanged feed answers 304."""
    lines = (line for line in body.splitlines() if not line.startswith(b"DTSTAMP"))
    return '"' + hashlib.sha256(b"\n".join(lines)).hexdigest()[:32] + '"'


@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The feed behind a secret URL. No session: the token is the credential."""
    feed = calendar.feed_for_token(token)
    if feed is None:
        raise Http404("No such calendar.")
    now = timezone.now()
    calendar.feed_touch(feed, now)
    body = calendar.build_calendar(feed.user, now=now)
    etag = _etag(body)
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="flightdeck.ics"'
    response["ETag"] = etag
    # Per user and secret: a shared cache must never keep it.
    patch_cache_control(response, private=True, max_age=0, must_revalidate=True)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
