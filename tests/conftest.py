"""The world every test starts from: one user per role, and an outsider with none."""

import pytest

from rollouts.roles import APPROVER, RELEASE_MANAGER, SUPPORT, VIEWER
from tests.factories import PASSWORD, UserFactory, release_with_phases
from tests.fakes import fake_http, fake_prometheus, receiver  # noqa: F401 - fixtures


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", first_name="Maria", last_name="Manager", roles=[RELEASE_MANAGER])


@pytest.fixture
def other_manager(db):
    return UserFactory(username="manager2", first_name="Tom", last_name="Manager", roles=[RELEASE_MANAGER])


@pytest.fixture
def approver(db):
    return UserFactory(username="approver", first_name="Priya", last_name="Approver", roles=[APPROVER])


@pytest.fixture
def second_approver(db):
    return UserFactory(username="approver2", first_name="Sam", last_name="Approver", roles=[APPROVER])


@pytest.fixture
def support(db):
    return UserFactory(username="support", first_name="Lee", last_name="Support", roles=[SUPPORT])


@pytest.fixture
def viewer(db):
    return UserFactory(username="viewer", first_name="Vic", last_name="Viewer", roles=[VIEWER])


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider", first_name="Otto", last_name="Outsider")


@pytest.fixture
def release(manager):
    """A draft canary release owned by the manager: 1% → 10% → 100%, one approval gate each."""
    return release_with_phases(owner=manager, name="Checkout", version="2.0.0", slug="checkout")


def client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def manager_client(client, manager):
    return client_for(client, manager)


@pytest.fixture
def approver_client(client, approver):
    return client_for(client, approver)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher():
    """Hashing passwords the production way costs ~0.3 s per user; tests don't need that."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Fakes of the outside world (Prometheus, webhook receivers) listen on loopback.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    # Each test client builds the middleware anew; WhiteNoise's file scan happens once (tests/static.py).
    from tests.static import REAL

    assert REAL in settings.MIDDLEWARE, "tests/static.py replaces WhiteNoise's middleware: keep the names in step"
    settings.MIDDLEWARE = [("tests.static.ScannedOnceWhiteNoise" if m == REAL else m) for m in settings.MIDDLEWARE]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cached pages and roles must not leak from one test's database into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _celery_inline():
    """In-process tests run tasks inline; tests/reliability runs a real worker and beat instead."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


def run_task_inline(name, *args):
    """The `enqueue` the engine uses, running the task here and now."""
    from rollouts import tasks

    return getattr(tasks, name)(*args)
