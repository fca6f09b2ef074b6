"""Signed tokens in unsubscribe and preferences links: no login, no cookie, no guessing."""

from django.core import signing

SALT = "flightdeck.comms.unsubscribe"


def stakeholder_token(stakeholder_id: int) -> str:
    return signing.dumps({"s": stakeholder_id}, salt=SALT, compress=False)


def stakeholder_from_token(token: str) -> int | None:
    """The stakeholder id a token was made for, or None for a forged or damaged token."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    value = data.get("s") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None
