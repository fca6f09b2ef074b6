"""Signed-in users read from the shared cache instead of the database on every request.

The cached user carries its roles. Saving the user, or changing their groups, drops the
entry at once (rollouts/apps.py), so a deactivated user or a changed password takes effect
on the next request. Without a shared cache this is Django's ModelBackend unchanged.
"""

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from rollouts.freshness import shared_cache

USER_CACHE_SECONDS = 120


def user_cache_key(user_id) -> str:
    return f"flightdeck:user:{user_id}"


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id):
        if not shared_cache():
            return super().get_user(user_id)
        key = user_cache_key(user_id)
        user = cache.get(key)
        if user is None:
            user = super().get_user(user_id)
            if user is None:
                return None
            from rollouts.roles import user_roles

            user_roles(user)  # computed now, so it travels with the cached user
            cache.set(key, user, USER_CACHE_SECONDS)
        return user if self.user_can_authenticate(user) else None


def forget_user(user_id) -> None:
    cache.delete(user_cache_key(user_id))
