"""Who reads what: public pages for anyone, support pages for staff, internal pages for
release managers and approvers, drafts for release managers. Everyone else gets the same
404 as for a page that does not exist."""

import re

import pytest

from docs_portal.models import Visibility
from tests.docs_portal.docs_fixtures import pages_fixture, reader_client_fixture  # noqa: F401 - fixtures
from tests.docs_portal.factories import link, make_page

pytestmark = pytest.mark.django_db

READABLE = {
    "anonymous": {"public"},
    "outsider": {"public"},
    "viewer": {"public", "support"},
    "support": {"public", "support"},
    "approver": {"public", "support", "internal"},
    "manager": {"public", "support", "internal", "draft", "internal_draft"},
}
ALL_PAGES = ["public", "support", "internal", "draft", "internal_draft"]


def normalised(response, slug: str) -> str:
    """The page without what differs between any two renders: the asked-for path, CSRF tokens."""
    body = response.content.decode().replace(slug, "SLUG")
    body = re.sub(r'"X-CSRFToken": "[^"]+"', "", body)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)


@pytest.mark.parametrize("reader", list(READABLE))
@pytest.mark.parametrize("kind", ALL_PAGES)
def test_page_view__reader_and_page__read_or_404_without_leak(reader_client, pages, reader, kind):
    # Given a reader and a page of one kind
    client = reader_client(reader)
    page = pages[kind]
    # When they open it
    response = client.get(f"/docs/{page.slug}/")
    # Then they read it, or get the 404 a missing page gets, which names nothing
    if kind in READABLE[reader]:
        assert response.status_code == 200
        assert page.title in response.content.decode()
    else:
        assert response.status_code == 404
        body = response.content.decode()
        assert page.title not in body and page.body not in body
        missing = client.get("/docs/no-such-page/")
        assert missing.status_code == 404
        assert normalised(missing, "no-such-page") == normalised(response, page.slug)


@pytest.mark.parametrize("reader", list(READABLE))
def test_index__reader__lists_exactly_what_they_may_read(reader_client, pages, reader):
    body = reader_client(reader).get("/docs/").content.decode()
    for kind, page in pages.items():
        assert (page.title in body) == (kind in READABLE[reader]), kind


def test_index__anonymous__renders_without_nav_and_offers_sign_in(client, pages):
    response = client.get("/docs/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Sign out" not in body and "Staff sign-in" in body


def test_page_view__public_reader__linked_releases_not_named(client, manager, pages, release):
    # Given a public page linked to a release
    link(pages["public"], release, actor=manager)
    # When an anonymous reader opens it, Then the release stays unnamed; staff see it
    assert release.name not in client.get("/docs/public-guide/").content.decode()
    client.force_login(manager)
    assert release.name in client.get("/docs/public-guide/").content.decode()


@pytest.mark.parametrize("reader", ["anonymous", "outsider", "support", "approver"])
@pytest.mark.parametrize("path", ["history/", "diff/"])
def test_history__not_readable_page__404(reader_client, pages, reader, path):
    response = reader_client(reader).get(f"/docs/internal-draft/{path}")
    assert response.status_code == 404
    assert "Internal draft" not in response.content.decode()


def test_history__anonymous_on_public_page__404(client, pages):
    assert client.get("/docs/public-guide/history/").status_code == 404


def test_history__page_was_internal_before_public__support_sees_only_public_revisions(client, manager, support):
    # Given a page written as internal, then made public
    from docs_portal import services

    page = make_page(
        author=manager,
        title="Plan",
        body="internal only: codename Falcon",
        visibility=Visibility.INTERNAL,
        published=True,
    )
    services.page_update(
        page_id=page.pk,
        actor=manager,
        title="Plan",
        body="Public text",
        visibility=Visibility.PUBLIC,
        publish_rule=page.publish_rule,
    )
    client.force_login(support)
    # When support reads the history and tries the old diff
    history = client.get(f"/docs/{page.slug}/history/").content.decode()
    diff = client.get(f"/docs/{page.slug}/diff/?a=2&b=3")
    # Then the internal revisions are not theirs to see
    assert 'id="revision-3"' in history and 'id="revision-2"' not in history
    assert diff.status_code == 404 and "Falcon" not in diff.content.decode()


@pytest.mark.parametrize("reader", ["support", "approver", "viewer", "outsider"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/docs/new/"),
        ("get", "/docs/public-guide/edit/"),
        ("post", "/docs/unreleased-draft/publish/"),
        ("post", "/docs/public-guide/unpublish/"),
        ("post", "/docs/public-guide/delete/"),
        ("post", "/docs/public-guide/restore/1/"),
        ("get", "/docs/releases/checkout/"),
        ("get", "/docs/releases/checkout/notes/"),
    ],
)
def test_editing__not_a_release_manager__403(reader_client, pages, release, reader, method, path):
    response = getattr(reader_client(reader), method)(path)
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/docs/new/", "/docs/public-guide/edit/", "/docs/releases/checkout/"])
def test_editing__anonymous__sent_to_login(client, pages, release, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_editing__anonymous_publish__nothing_changes(client, pages):
    response = client.post("/docs/unreleased-draft/publish/")
    assert response.status_code == 302
    pages["draft"].refresh_from_db()
    assert pages["draft"].status == "draft"


def test_release_page__docs_section__lists_only_pages_the_reader_may_read(client, manager, support, pages, release):
    # Given pages of every kind linked to the release
    for page in pages.values():
        link(page, release, actor=manager)
    # When support opens the release page
    client.force_login(support)
    body = client.get("/releases/checkout/").content.decode()
    # Then the docs section names public and support pages only, and offers no managing
    section = body.split('id="docs"')[1].split("</section>")[0]
    assert "Public guide" in section and "Support runbook" in section
    for hidden in ("Internal secrets", "Unreleased draft", "Internal draft"):
        assert hidden not in section
    assert "Manage docs" not in section


def test_release_page__manager__sees_all_linked_and_manage_link(manager_client, manager, pages, release):
    for page in pages.values():
        link(page, release, actor=manager)
    section = manager_client.get("/releases/checkout/").content.decode().split('id="docs"')[1].split("</section>")[0]
    assert all(page.title in section for page in pages.values())
    assert "/docs/releases/checkout/" in section and "3 of 5 published" in section


@pytest.mark.parametrize("count", [3, 25])
def test_index__few_or_many_pages__same_query_count(client, manager, count, django_assert_num_queries):
    for i in range(count):
        make_page(author=manager, slug=f"many-{i}", visibility=Visibility.PUBLIC, published=bool(i % 2))
    client.force_login(manager)
    # session, user, roles, pages
    with django_assert_num_queries(4):
        response = client.get("/docs/")
    assert response.status_code == 200


@pytest.mark.parametrize("count", [3, 25])
def test_index__anonymous_few_or_many__one_query(client, manager, count, django_assert_num_queries):
    for i in range(count):
        make_page(author=manager, slug=f"many-{i}", visibility=Visibility.PUBLIC, published=True)
    with django_assert_num_queries(1):
        assert client.get("/docs/").status_code == 200


@pytest.mark.parametrize("links", [1, 12])
def test_page_view__few_or_many_links__same_query_count(client, manager, links, django_assert_num_queries):
    from tests.factories import release_with_phases

    page = make_page(author=manager, slug="linked", visibility=Visibility.PUBLIC, published=True)
    for i in range(links):
        link(page, release_with_phases(owner=manager, slug=f"r-{links}-{i}"), actor=manager)
    client.force_login(manager)
    # session, user, roles, page, links with their releases and phases
    with django_assert_num_queries(5):
        assert client.get("/docs/linked/").status_code == 200


def test_release_timeline__internal_page_published__title_not_shown_to_support(client, manager, support):
    # Given an internal page linked to a release, published by its manager
    from docs_portal import services
    from tests.factories import release_with_phases

    release = release_with_phases(owner=manager, slug="quiet")
    page = make_page(
        author=manager, title="Pricing experiment runbook", slug="pricing-runbook", visibility=Visibility.INTERNAL
    )
    link(page, release, actor=manager)
    services.page_publish(page_id=page.pk, actor=manager)
    # When support reads the release page (its timeline lists every event)
    client.force_login(support)
    body = client.get(f"/releases/{release.slug}/").content.decode()
    # Then the events are there, without the internal page's title or slug
    assert "an internal page" in body
    assert "Pricing experiment runbook" not in body and "pricing-runbook" not in body
