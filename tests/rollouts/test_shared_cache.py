"""With Redis as the cache (production), readers of the dashboard cost one query each,
and every change shows on the next load."""

import os

import pytest
import redis

from rollouts import transitions
from rollouts.roles import RELEASE_MANAGER
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def redis_cache(settings):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    from django.core.cache import cache

    cache.clear()
    yield cache
    cache.clear()


def test_dashboard__shared_cache_warm__one_query_per_reader(
    redis_cache, client, manager, approver, django_assert_num_queries
):
    for i in range(5):
        release_with_phases(owner=manager, slug=f"r{i}")
    client.force_login(manager)
    first = client.get("/")
    assert first.status_code == 200
    with django_assert_num_queries(0):  # session, user with roles, version and page all come from Redis
        again = client.get("/")
    assert again.content.decode().split("<main>")[1] == first.content.decode().split("<main>")[1]


def test_dashboard__shared_cache_warm__two_cache_round_trips(redis_cache, client, manager, monkeypatch):
    release_with_phases(owner=manager, slug="trips")
    client.force_login(manager)
    client.get("/")  # sets the CSRF cookie
    client.get("/")  # caches this reader's page
    commands = []
    execute = redis.Redis.execute_command

    def counting(self, *args, **options):
        commands.append(args[0])
        return execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    assert client.get("/").status_code == 200
    # The session, then the data version, the page and the signed-in user in one MGET.
    assert commands == ["GET", "MGET"]


def test_dashboard__shared_cache__lost_planner_role__cached_page_not_served(
    redis_cache, client, manager, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    from rollouts.roles import VIEWER

    release_with_phases(owner=manager, slug="roles")
    client.force_login(manager)
    client.get("/")
    assert "Plan a release" in client.get("/").content.decode()  # served from the page cache
    with django_capture_on_commit_callbacks(execute=True):
        manager.groups.add(Group.objects.get_or_create(name=VIEWER)[0])
        manager.groups.remove(Group.objects.get(name=RELEASE_MANAGER))
    page = client.get("/").content.decode()
    assert "Maria Manager" in page and "Plan a release" not in page


def test_dashboard__shared_cache__transition_shows_on_next_load(
    redis_cache, client, manager, django_capture_on_commit_callbacks
):
    release = release_with_phases(owner=manager, slug="moving")
    client.force_login(manager)
    assert 'id="group-draft"' in client.get("/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
    page = client.get("/").content.decode()
    assert 'id="group-in_progress"' in page and 'id="group-draft"' not in page


def test_roles__shared_cache__removed_from_group__loses_access_at_once(
    redis_cache, client, manager, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    client.force_login(manager)
    assert client.get("/releases/new/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        manager.groups.remove(Group.objects.get(name=RELEASE_MANAGER))
    assert client.get("/releases/new/").status_code == 403


def test_session__shared_cache__sign_out_ends_the_session(redis_cache, client, manager, password):
    signed_in = client.post("/accounts/login/", {"username": "manager", "password": password})
    assert signed_in.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_dashboard__shared_cache__message_shown_once_then_gone(redis_cache, client, manager):
    release = release_with_phases(owner=manager, slug="msg")
    client.force_login(manager)
    client.get("/")
    client.get("/")  # the page is cached now
    client.post(f"/releases/{release.slug}/actions/schedule/")  # queues "Release scheduled."
    assert "Release scheduled." in client.get("/").content.decode()
    assert "Release scheduled." not in client.get("/").content.decode()


def test_dashboard__shared_cache__each_reader_gets_their_own_page(redis_cache, client, manager, support):
    release_with_phases(owner=manager, slug="own")
    client.force_login(manager)
    client.get("/")
    assert "Maria Manager" in client.get("/").content.decode()
    client.force_login(support)
    client.get("/")
    page = client.get("/").content.decode()
    assert "Lee Support" in page and "Plan a release" not in page


def test_user__shared_cache__deactivated__signed_out_on_next_request(
    redis_cache, client, manager, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    assert client.get("/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        manager.is_active = False
        manager.save()
    assert client.get("/").status_code == 302
