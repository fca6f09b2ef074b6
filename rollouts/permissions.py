"""Who may do what. Views and the API ask these predicates; nothing else decides."""

from rollouts.models import Gate, Release
from rollouts.roles import APPROVER, RELEASE_MANAGER, user_roles


def can_view(user) -> bool:
    """Anyone with a Flightdeck role may read releases."""
    return bool(user_roles(user))


def can_plan(user) -> bool:
    return RELEASE_MANAGER in user_roles(user)


def can_edit_release(user, release: Release) -> bool:
    """Plans change while a release has not finished and is not rolling back."""
    return can_plan(user) and release.is_plannable


def can_act(user, release: Release) -> bool:
    """Start, advance, pause, resume, roll back, complete, cancel."""
    return RELEASE_MANAGER in user_roles(user)


def can_decide_gates(user) -> bool:
    return APPROVER in user_roles(user)


def can_decide_gate(user, gate: Gate, release: Release) -> bool:
    """Approvers decide manual gates, but never on a release they own."""
    return can_decide_gates(user) and release.owner_id != user.pk


def can_tick_checklist(user) -> bool:
    roles = user_roles(user)
    return RELEASE_MANAGER in roles or APPROVER in roles


def can_run_rollback(user, release: Release) -> bool:
    return RELEASE_MANAGER in user_roles(user)
