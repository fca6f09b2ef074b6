"""Outbound HTTP for gates, webhooks and rollback actions: always a timeout, never a
redirect, and no private targets unless allow-listed.

A target's host is resolved once, every address is checked against the allow-list, and
the request goes to that checked address (Host header and TLS name kept), so a DNS
answer that changes between the check and the connect cannot reach an internal service.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings


class OutboundError(Exception):
    """A call that could not be made or answered. `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class TargetRefused(OutboundError):
    def __init__(self, message: str):
        super().__init__(message, permanent=True)


@dataclass
class Response:
    status_code: int
    headers: httpx.Headers
    content: bytes
    elapsed_ms: int

    def json(self):
        import json

        return json.loads(self.content)


def _allowed_networks():
    return [ipaddress.ip_network(n, strict=False) for n in settings.OUTBOUND_ALLOWED_NETWORKS]


def _is_public(address: ipaddress._BaseAddress) -> bool:
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_target(url: str) -> tuple[str, str]:
    """Return (host, address to connect to) or raise TargetRefused saying why."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"Only http:// and https:// targets are allowed, not {parts.scheme or 'no scheme'}.")
    host = parts.hostname
    if not host:
        raise TargetRefused("The URL has no host.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundError(f"Cannot resolve {host}: {exc.strerror}") from None
    allowed = _allowed_networks()
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not _is_public(address) and not any(address in net for net in allowed):
            raise TargetRefused(
                f"{host} resolves to {address}, a private, loopback or link-local address. "
                "Add its network to OUTBOUND_ALLOWED_NETWORKS to allow it."
            )
        addresses.append(address)
    return host, str(addresses[0])


def request(
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Response:
    host, address = check_target(url)
    parts = urlsplit(url)
    netloc_host = f"[{address}]" if ":" in address else address
    netloc = netloc_host + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    send_headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": "Flightdeck/1.0"}
    send_headers.update(headers or {})
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    limit = timeout if timeout is not None else settings.OUTBOUND_TIMEOUT_SECONDS
    try:
        with httpx.Client(timeout=limit, follow_redirects=False, trust_env=False) as client:
            response = client.request(
                method, pinned, content=content, headers=send_headers, params=params, extensions=extensions
            )
    except httpx.TimeoutException:
        raise OutboundError(f"{host} did not answer within {limit:g} s.") from None
    except httpx.HTTPError as exc:
        raise OutboundError(f"Could not reach {host}: {exc.__class__.__name__}: {exc}") from None
    return Response(
        status_code=response.status_code,
        headers=response.headers,
        content=response.content[: settings.OUTBOUND_MAX_BYTES],
        elapsed_ms=int(response.elapsed.total_seconds() * 1000),
    )
