"""Signed-in users read from the shared cache instead of the database on every request.

The cached user carries its roles. Saving the user, or changing their groups, drops the
entry at once (rollouts/apps.py), so a deactivated user or a changed password takes effect
on the next request. Without a shared cache this is Django's ModelBackend unchanged.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from rollouts.freshness import shared_cache

USER_CACHE_SECONDS = 120

# A user entry fetched together with a page's own cache keys (see `prefetched_user`), so
# that the backend below need not ask the cache for it again. Per thread/task.
_prefetched: ContextVar[tuple[str, object] | None] = ContextVar("flightdeck_prefetched_user", default=None)


def user_cache_key(user_id) -> str:
    return f"flightdeck:user:{user_id}"


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id):
        if not shared_cache():
            return super().get_user(user_id)
        key = user_cache_key(user_id)
        prefetched = _prefetched.get()
        user = prefetched[1] if prefetched is not None and prefetched[0] == key else cache.get(key)
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


@contextmanager
def prefetched_user(request, *keys: str) -> Iterator[tuple[str, dict]]:
    """The data version and `keys` (freshness.current_and), plus the signed-in user's cache
    entry, in one round trip.

    Inside the block Django's own `request.user` (session hash check, active check and
    all) takes the user from what was fetched instead of asking the cache again. Without
    a shared cache, or before anyone signed in, it is just `current_and(*keys)`.
    """
    from rollouts import freshness

    user_id = request.session.get(SESSION_KEY) if shared_cache() else None
    if user_id is None or hasattr(request, "_cached_user"):
        yield freshness.current_and(*keys)
        return
    key = user_cache_key(user_id)
    version, found = freshness.current_and(*keys, key)
    user = found.pop(key, None)
    token = _prefetched.set((key, user)) if user is not None else None
    try:
        yield version, found
    finally:
        if token is not None:
            _prefetched.reset(token)
