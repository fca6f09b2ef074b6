"""Personal API tokens: made, found and revoked here. Shown once, stored as a SHA-256 digest.

A token is `fd_` and 43 url-safe characters (256 random bits), so a plain SHA-256 is
enough to store it: nobody guesses or brute-forces it from the digest.
"""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from rollouts.models import ApiScope, ApiToken

log = logging.getLogger("rollouts.api.tokens")

PREFIX = "fd_"
HINT_LENGTH = len(PREFIX) + 4
# last_used_at is written at most this often per token: reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_TOKENS_PER_USER = 50


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user, name: str, scopes, expires_at=None) -> tuple[ApiToken, str]:
    """Make a token for `user`; returns the row and the token itself, which is not kept."""
    name = (name or "").strip()
    requested = {str(s) for s in (scopes or [])}
    chosen = [s for s in ApiScope.values if s in requested]
    errors = {}
    if not name:
        errors["name"] = "Name the token after what uses it, such as “Deploy pipeline”."
    elif len(name) > 120:
        errors["name"] = "Keep the name to 120 characters or fewer."
    if not chosen or len(chosen) != len(requested):
        errors["scopes"] = "Choose one or more of read, write and act."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "Choose a time in the future, or none."
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_TOKENS_PER_USER:
        errors["name"] = f"You have {MAX_TOKENS_PER_USER} tokens; revoke one you no longer use first."
    if errors:
        raise ValidationError(errors)
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, name=name, token_hash=digest(token), hint=token[:HINT_LENGTH], scopes=chosen, expires_at=expires_at
    )
    log.info("api.token_created token=%s user=%s scopes=%s", row.pk, user.pk, ",".join(chosen))
    return row, token


def api_token_revoke(*, token_id: int, user) -> bool:
    """Revoke one of the user's own tokens. True when this call revoked it; twice is harmless."""
    revoked = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        log.info("api.token_revoked token=%s user=%s", token_id, user.pk)
    return bool(revoked)


def token_for(raw: str) -> ApiToken | None:
    """The token row (with its user) for a presented token, usable or not; one query."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    return ApiToken.objects.select_related("user").filter(token_hash=digest(raw)).first()


def touch(token: ApiToken, now=None) -> None:
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def tokens_of(user):
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at", "-id")
