"""The permission matrix (issue 9): every URL of the site and the API, for every role.

The expected statuses live in tests/config/permission_matrix.py; the objects the URLs name
in tests/config/permission_world.py. The world is built once for this module inside one
transaction rolled back at the end; each test runs in a savepoint of it (pytest-django's
`db`), and each request in a savepoint of its own, so whatever a POST changes is undone
before the next request.
"""

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import get_resolver, reverse

from tests.config.permission_matrix import ADMIN_FAMILY, MATRIX, ROLES, Try, url_keys
from tests.config.permission_world import World, build_world

CASES = [pytest.param(key, role, id=f"{key}-{role}") for key in MATRIX for role in ROLES]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        built = build_world()
        yield built
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def module_client():
    """One test client for the module: a new one loads the middleware again, and WhiteNoise's
    then walks every static file (about 0.1 s a test)."""
    return Client()


@pytest.fixture
def client(module_client):
    module_client.cookies.clear()  # nobody signed in
    return module_client


@pytest.fixture(autouse=True)
def _fresh_flag_snapshot():
    """OFREP answers from a per-process compiled snapshot: compile it from this world."""
    from flags import services, snapshot

    snapshot.reset()
    services._touched.clear()
    yield
    snapshot.reset()
    services._touched.clear()


def _path(world: World, key: str, attempt: Try) -> str:
    entry = MATRIX[key]
    if entry.path is not None:
        return entry.path(world)
    return reverse(key, kwargs=(attempt.kwargs or entry.kwargs)(world))


def _send(client, world: World, path: str, attempt: Try):
    headers = attempt.headers(world) if attempt.headers else {}
    data = attempt.data(world) if callable(attempt.data) else attempt.data
    send = getattr(client, attempt.method)
    if attempt.json and data is not None:
        return send(path, data, content_type="application/json", **headers)
    return send(path, data or {}, **headers)


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/ofrep/"))


def _problem(key: str, role: str, path: str, attempt: Try, response) -> str | None:
    """What is wrong with the answer, or None."""
    said = f"{attempt.method.upper()} {path} as {role}: {response.status_code}"
    expected = attempt.expect[role]
    if response.status_code != expected:
        return f"{said}, the matrix expects {expected} (row {key!r}, {attempt.id})"
    # A refusal must be the right kind: a login page to go to, or the API's error shape.
    location = response.get("Location", "")
    if key == ADMIN_FAMILY and expected == 302 and not location.startswith(reverse("admin:login")):
        return f"{said} to {location}, not to the admin's login page"
    to_login = key not in (ADMIN_FAMILY, "logout") and expected == 302 and role == "anonymous"
    if to_login and not location.startswith(reverse("login") + "?next="):
        return f"{said} to {location}, not to the login page"
    if _is_api(path) and expected in (401, 403):
        body = response.json()
        fields = ("errorCode", "errorDetails") if key.startswith("ofrep:") else ("code", "detail")
        if not all(body.get(name) for name in fields):
            return f"{said} with {body}, not the error shape naming {fields}"
    return None


@pytest.mark.parametrize(("key", "role"), CASES)
def test_permission_matrix__role_requests_url__expected_status(world, client, db, key, role):
    # Given the role signed in (or not)
    if role != "anonymous":
        client.force_login(world.users[role])
    problems = []
    for attempt in MATRIX[key].tries:
        path = _path(world, key, attempt)
        # When it sends each request of the row, each undone before the next
        with transaction.atomic():
            response = _send(client, world, path, attempt)
            changed = attempt.changed(world) if attempt.changed else None
            transaction.set_rollback(True)
        cache.clear()  # nothing cached from a change now undone may answer the next request
        # Then each answers as the matrix says, and changes something only for whom it should
        problems.append(_problem(key, role, path, attempt, response))
        if changed is not None and changed != (role in attempt.changes_for):
            problems.append(f"{attempt.method.upper()} {path} as {role}: changed={changed} ({key!r}, {attempt.id})")
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


def test_permission_matrix__every_url_pattern__has_an_entry():
    # Given every URL pattern of the project
    keys = dict(url_keys())

    # Then each has a row in the matrix
    missing = sorted(set(keys) - set(MATRIX))
    assert not missing, (
        "URL patterns without a row in tests/config/permission_matrix.py: add to MATRIX, for each, "
        "how to fill in its URL (kwargs=…) and the status every role gets, e.g. "
        "`'name': E(GET(PAGE), kwargs=slug)` or `E(POST(MANAGER_ACTION), kwargs=…)`:\n"
        + "\n".join(f"  {key!r}: /{keys[key]}" for key in missing)
    )


def test_permission_matrix__every_entry__names_a_url_pattern():
    # Given the matrix's keys
    keys = {key for key, _route in url_keys()}

    # Then none is left over from a URL that is gone (or renamed)
    stale = sorted(set(MATRIX) - keys)
    assert not stale, (
        "Rows of tests/config/permission_matrix.py whose URL pattern is gone or renamed: remove or rename them:\n"
        + "\n".join(f"  {key!r}" for key in stale)
    )


def test_permission_matrix__api_router_routes__tries_exactly_their_methods():
    # Given the API's router patterns and the HTTP methods their viewsets answer
    wrong = []
    for pattern_key, methods in _router_methods().items():
        if pattern_key not in MATRIX:
            continue  # a missing row is the business of the test above
        # Then the matrix tries each of them, and no other
        tried = {attempt.method for attempt in MATRIX[pattern_key].tries}
        wrong += [f"  {pattern_key!r}: add API({m!r}, …)" for m in sorted(methods - tried)]
        wrong += [f"  {pattern_key!r}: remove API({m!r}, …), it answers 405" for m in sorted(tried - methods)]
    assert not wrong, "Rows of tests/config/permission_matrix.py to change:\n" + "\n".join(wrong)


def test_permission_matrix__every_request__expects_a_status_for_every_role():
    incomplete = [
        f"  {key!r} {attempt.id}"
        for key, entry in MATRIX.items()
        for attempt in entry.tries
        if set(attempt.expect) != set(ROLES)
    ]
    assert not incomplete, f"Requests whose expected statuses do not name exactly {ROLES}:\n" + "\n".join(incomplete)


def _router_methods() -> dict[str, set[str]]:
    """For each DRF viewset pattern: the methods of its actions (HEAD and OPTIONS aside)."""
    found: dict[str, set[str]] = {}
    stack = [get_resolver()]
    while stack:
        resolver = stack.pop()
        for p in resolver.url_patterns:
            if hasattr(p, "url_patterns"):
                stack.append(p)
            elif getattr(p.callback, "actions", None) and p.name:
                found[p.name] = set(p.callback.actions) - {"head", "options"}
    return found
