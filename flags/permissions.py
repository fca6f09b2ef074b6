"""Who may do what with flags. Views ask these predicates; nothing else decides."""

from rollouts.permissions import can_plan, can_view


def can_read_flags(user) -> bool:
    """Anyone with a Flightdeck role reads flags and uses the evaluation preview."""
    return can_view(user)


def can_manage_flags(user) -> bool:
    """Release managers create and edit flags, segments and API keys, and use the kill switch."""
    return can_plan(user)
