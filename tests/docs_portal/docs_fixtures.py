"""Fixtures of the docs-page tests: one page of each visibility and state, and a client per reader.

Imported by the test modules that use them (named *_fixture so the import does not shadow
the test arguments).
"""

import pytest

from docs_portal.models import Visibility
from tests.docs_portal.factories import make_page


@pytest.fixture(name="pages")
def pages_fixture(manager):
    """One page of each kind, every one mentioning "zebra" so a search finds them all."""
    return {
        "public": make_page(
            author=manager,
            title="Public guide",
            slug="public-guide",
            body="A zebra for everyone.",
            visibility=Visibility.PUBLIC,
            published=True,
        ),
        "support": make_page(
            author=manager,
            title="Support runbook",
            slug="support-runbook",
            body="Zebra steps for support.",
            visibility=Visibility.SUPPORT,
            published=True,
        ),
        "internal": make_page(
            author=manager,
            title="Internal secrets",
            slug="internal-secrets",
            body="The zebra password.",
            visibility=Visibility.INTERNAL,
            published=True,
        ),
        "draft": make_page(
            author=manager,
            title="Unreleased draft",
            slug="unreleased-draft",
            body="A zebra not yet out.",
            visibility=Visibility.PUBLIC,
        ),
        "internal_draft": make_page(
            author=manager,
            title="Internal draft",
            slug="internal-draft",
            body="Zebra plans.",
            visibility=Visibility.INTERNAL,
        ),
    }


@pytest.fixture(name="reader_client")
def reader_client_fixture(client, request):
    """A client signed in as the fixture named by the test's `reader` parameter (or anonymous)."""

    def make(reader):
        if reader != "anonymous":
            client.force_login(request.getfixturevalue(reader))
        return client

    return make
