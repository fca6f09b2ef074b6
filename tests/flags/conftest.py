"""Flags in a known state: every test starts with no compiled snapshot in this process."""

import pytest

from flags import services, snapshot
from flags.models import FlagType
from rollouts import transitions
from rollouts.models import Environment, Strategy
from tests.factories import PhaseFactory, ReleaseFactory

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fresh_snapshot():
    snapshot.reset()
    services._touched.clear()
    yield
    snapshot.reset()
    services._touched.clear()


def make_flag(*, key="new-checkout", type=FlagType.BOOLEAN, variants=None, on="on", off="off", **kw):
    variants = variants if variants is not None else {"on": True, "off": False}
    return services.flag_create(
        actor=None,
        key=key,
        name=kw.pop("name", key.replace("-", " ").title()),
        type=type,
        variants=variants,
        on_variant=on,
        off_variant=off,
        **kw,
    )


def flag_release(
    owner,
    *,
    slug="flagged",
    phases=(
        ("Staging", Environment.STAGING, 100),
        ("Canary", Environment.PRODUCTION, 10),
        ("Half", Environment.PRODUCTION, 50),
    ),
):
    """A draft feature-flag release with the given (name, environment, exposure) phases, no gates."""
    release = ReleaseFactory(owner=owner, slug=slug, name=slug.title(), strategy=Strategy.FEATURE_FLAG)
    for i, (name, env, exposure) in enumerate(phases):
        PhaseFactory(release=release, position=i, name=name, environment=env, exposure_percent=exposure)
    return release


def advance(release, actor):
    release.refresh_from_db()
    return transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=actor)


@pytest.fixture
def per_process_cache(settings):
    """Query counts as without Redis: sessions and roles from the database, the version from
    flags_configversion. Request it before the client fixtures."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"


@pytest.fixture
def api_token(db):
    """A production API key's token."""
    _key, token = services.api_key_create(actor=None, environment=Environment.PRODUCTION, name="checkout-service")
    return token


def ofrep(client, key, context=None, token=None, **extra):
    import json

    body = json.dumps({"context": context} if context is not None else {})
    headers = {"HTTP_X_API_KEY": token} if token else {}
    return client.post(f"/ofrep/v1/evaluate/flags/{key}", body, content_type="application/json", **headers, **extra)
