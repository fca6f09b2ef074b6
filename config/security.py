"""Sign-in throttling hooks for django-axes (settings "Security").

`client_ip` is the address a lockout is tied to; `lockout_response` is the page a
locked-out sign-in gets instead of the login form.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str | None:
    """The connection's address, or behind a proxy the one it names in CLIENT_IP_HEADER.

    In a list header (X-Forwarded-For) each proxy appends the address it got the request
    from, so the client is the CLIENT_IP_PROXY_COUNT-th entry from the right; entries
    further left were written by the client and are not trusted. A request that lacks the
    header did not come through the proxy and keeps the connection's address.
    """
    remote = request.META.get("REMOTE_ADDR")
    if not settings.CLIENT_IP_HEADER:
        return remote
    raw = request.META.get("HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_"), "")
    hops = [hop.strip() for hop in raw.split(",") if hop.strip()]
    if len(hops) < settings.CLIENT_IP_PROXY_COUNT:
        return remote
    candidate = hops[-settings.CLIENT_IP_PROXY_COUNT]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429 with a page that says what happened, for how long and who can lift it."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return render(
        request,
        "registration/locked_out.html",
        {
            "username": username,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": settings.AXES_COOLOFF_MINUTES,
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
