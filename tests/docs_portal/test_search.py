"""Search finds only what the reader may read, ranks titles first, and highlights matches
in snippets that are escaped except for <mark>. Runs on SQLite (simple matching) and on
PostgreSQL (full-text search)."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import AnonymousUser

from docs_portal.models import Visibility
from docs_portal.selectors import search_pages
from tests.docs_portal.docs_fixtures import pages_fixture, reader_client_fixture  # noqa: F401 - fixtures
from tests.docs_portal.factories import make_page

pytestmark = pytest.mark.django_db

READABLE = {
    "anonymous": {"public"},
    "outsider": {"public"},
    "viewer": {"public", "support"},
    "support": {"public", "support"},
    "approver": {"public", "support", "internal"},
    "manager": {"public", "support", "internal", "draft", "internal_draft"},
}


def result_titles(response) -> list[str]:
    results = response.content.decode().split('id="results"')[1].split("</ol>")[0]
    return re.findall(r'<a href="/docs/[^"]+/">([^<]+)</a>', results)


@pytest.mark.parametrize("reader", list(READABLE))
def test_search__reader__only_readable_pages(reader_client, pages, reader):
    response = reader_client(reader).get("/docs/search/", {"q": "zebra"})
    assert response.status_code == 200
    expected = {pages[kind].title for kind in READABLE[reader]}
    assert set(result_titles(response)) == expected
    body = response.content.decode()
    for kind, page in pages.items():
        if kind not in READABLE[reader]:
            assert page.title not in body and page.body not in body


@pytest.mark.parametrize("reader", list(READABLE))
def test_search_selector__reader__never_returns_unreadable(pages, reader, request):
    user = request.getfixturevalue(reader) if reader != "anonymous" else AnonymousUser()
    slugs = {hit.page.slug for hit in search_pages(user, "zebra")}
    assert slugs == {pages[kind].slug for kind in READABLE[reader]}


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def test_search__hostile_body__snippet_escaped_except_marks(client, manager):
    make_page(
        author=manager,
        title="Hostile",
        body='Before <script>alert(1)</script> the <img src=x onerror=alert(1)> falcon "quoted" & more \ue000x\ue001',
        visibility=Visibility.PUBLIC,
        published=True,
    )
    response = client.get("/docs/search/", {"q": "falcon"})
    snippet = response.content.decode().split('class="snippet">')[1].split("</p>")[0]
    parser = Tags()
    parser.feed(snippet)
    assert parser.tags and {tag for tag, _ in parser.tags} == {"mark"}
    assert all(attrs == [] for _, attrs in parser.tags)
    assert "<mark>falcon</mark>" in snippet.lower()
    assert "&lt;script&gt;" in snippet or "script" not in snippet


def test_search__title_match__ranked_before_body_match(client, manager):
    make_page(
        author=manager, title="About kestrels", body="Nothing here.", visibility=Visibility.PUBLIC, published=True
    )
    make_page(
        author=manager,
        title="Aardvark notes",
        body="One kestrel mentioned.",
        visibility=Visibility.PUBLIC,
        published=True,
    )
    titles = result_titles(client.get("/docs/search/", {"q": "kestrel"}))
    assert titles == ["About kestrels", "Aardvark notes"]


def test_search__excluded_word__left_out(approver_client, pages):
    titles = result_titles(approver_client.get("/docs/search/", {"q": "zebra -password"}))
    assert "Internal secrets" not in titles and "Public guide" in titles


def test_search__manager__drafts_found_and_marked(manager_client, pages):
    body = manager_client.get("/docs/search/", {"q": "zebra"}).content.decode()
    results = body.split('id="results"')[1]
    assert "Unreleased draft" in results and "doc-draft" in results


def test_search__no_query__no_results_and_hint(client, pages):
    response = client.get("/docs/search/")
    assert response.status_code == 200 and 'id="results"' not in response.content.decode()


def test_search__query_too_long__422_with_message(client, pages):
    response = client.get("/docs/search/", {"q": "z" * 201})
    assert response.status_code == 422
    assert "at most 200 characters" in response.content.decode()


def test_search__nothing_matches__says_so(client, pages):
    body = client.get("/docs/search/", {"q": "okapi"}).content.decode()
    assert "No page matches “okapi”." in body


@pytest.mark.parametrize("count", [3, 30])
def test_search__few_or_many_pages__same_query_count(client, manager, count, django_assert_num_queries):
    for i in range(count):
        make_page(
            author=manager,
            slug=f"s-{count}-{i}",
            title=f"Gazelle {i}",
            body="gazelle herd " * 20,
            visibility=Visibility.SUPPORT,
            published=True,
        )
    client.force_login(manager)
    # session, user, roles, matching pages with their snippets
    with django_assert_num_queries(4):
        response = client.get("/docs/search/", {"q": "gazelle"})
    assert len(result_titles(response)) == count
