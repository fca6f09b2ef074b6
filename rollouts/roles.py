"""Roles are Django groups. Their names live here and nowhere else."""

RELEASE_MANAGER = "Release managers"
APPROVER = "Approvers"
SUPPORT = "Support"
VIEWER = "Viewers"

ALL_ROLES = (RELEASE_MANAGER, APPROVER, SUPPORT, VIEWER)


def user_roles(user) -> frozenset[str]:
    """The user's role names, read once per user object (one query)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_flightdeck_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(ALL_ROLES)
        else:
            cached = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._flightdeck_roles = cached
    return cached
