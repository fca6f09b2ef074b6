"""Roles are Django groups. Their names live here and nowhere else."""

RELEASE_MANAGER = "Release managers"
APPROVER = "Approvers"
SUPPORT = "Support"
VIEWER = "Viewers"

ALL_ROLES = (RELEASE_MANAGER, APPROVER, SUPPORT, VIEWER)


ROLES_CACHE_SECONDS = 120


def roles_cache_key(user_id: int) -> str:
    return f"flightdeck:roles:{user_id}"


def user_roles(user) -> frozenset[str]:
    """The user's role names, read once per user object.

    With a shared cache they come from it (kept for two minutes, dropped at once when the
    user or their groups change); otherwise one query.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_flightdeck_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(ALL_ROLES)
        else:
            from django.core.cache import cache

            from rollouts.freshness import shared_cache

            names = cache.get(roles_cache_key(user.pk)) if shared_cache() else None
            if names is None:
                names = list(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
                if shared_cache():
                    cache.set(roles_cache_key(user.pk), names, ROLES_CACHE_SECONDS)
            cached = frozenset(names)
        user._flightdeck_roles = cached
    return cached


def forget_roles(user_id: int) -> None:
    from django.core.cache import cache

    from rollouts.auth import user_cache_key

    cache.delete_many([roles_cache_key(user_id), user_cache_key(user_id)])
