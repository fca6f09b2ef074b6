"""Secrets a pipeline uses to report a ci_result gate. Shown once, stored as a SHA-256 digest."""

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from rollouts import events
from rollouts.models import Gate, GateKind

PREFIX = "fdg_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def gate_token_issue(*, gate_id: int, actor) -> str:
    """Make a new secret for the gate (the old one stops working) and return it, once."""
    gate = Gate.objects.select_for_update().select_related("phase__release").get(pk=gate_id)
    if gate.kind != GateKind.CI_RESULT:
        raise ValueError("Only CI result gates have tokens.")
    token = new_token()
    gate.token_hash = _digest(token)
    gate.token_hint = token[: len(PREFIX) + 4]
    gate.token_revoked_at = None
    gate.save(update_fields=["token_hash", "token_hint", "token_revoked_at"])
    events.record(release=gate.phase.release, verb="gate.token_issued", actor=actor, phase=gate.phase, gate=gate)
    return token


@transaction.atomic
def gate_token_revoke(*, gate_id: int, actor) -> None:
    gate = Gate.objects.select_for_update().select_related("phase__release").get(pk=gate_id)
    if gate.token_revoked_at is not None or not gate.token_hash:
        return
    gate.token_revoked_at = timezone.now()
    gate.save(update_fields=["token_revoked_at"])
    events.record(release=gate.phase.release, verb="gate.token_revoked", actor=actor, phase=gate.phase, gate=gate)


def token_matches(gate: Gate, token: str) -> bool:
    if not gate.token_hash or gate.token_revoked_at is not None or not token:
        return False
    return hmac.compare_digest(gate.token_hash, _digest(token))
