"""Reads for the docs pages, the changelog, search and the release page, each in a fixed
number of queries. Everything a reader gets goes through `readable_pages`, so a list,
a search or a count never includes a page the reader may not read."""

import re
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from docs_portal.models import DocLink, DocPage, DocRevision, DocStatus, ReleaseNotes, Visibility
from docs_portal.permissions import can_edit_docs, can_read, readable_visibilities
from docs_portal.rendering import plain_text
from rollouts.models import Release, ReleaseStatus

# --- Pages ------------------------------------------------------------------------------


def readable_pages(user) -> QuerySet[DocPage]:
    """Pages this person may read: by visibility, and drafts only for those who edit docs."""
    pages = DocPage.objects.filter(visibility__in=readable_visibilities(user))
    if not can_edit_docs(user):
        pages = pages.filter(status=DocStatus.PUBLISHED)
    return pages


@dataclass
class PageGroup:
    visibility: str
    label: str
    pages: list


GROUP_LABELS = {
    Visibility.PUBLIC: "Public",
    Visibility.SUPPORT: "For support and staff",
    Visibility.INTERNAL: "Internal",
}


def docs_index(user) -> list[PageGroup]:
    """Readable pages grouped by visibility (one query)."""
    pages = readable_pages(user).only(
        "slug", "title", "visibility", "status", "publish_rule", "published_at", "updated_at"
    )
    groups = {v: PageGroup(v, GROUP_LABELS[v], []) for v in readable_visibilities(user)}
    for page in pages.order_by("title", "id"):
        groups[page.visibility].pages.append(page)
    return [g for g in groups.values() if g.pages]


def page_for_reader(user, slug: str) -> DocPage | None:
    """The page when this person may read it; None both when it does not exist and when it
    is hidden from them, so the answer never tells which."""
    page = readable_pages(user).select_related("updated_by").filter(slug=slug).first()
    return page


def page_links(page: DocPage) -> list[DocLink]:
    return list(
        DocLink.objects.filter(page=page)
        .select_related("release", "phase")
        .order_by("release__name", "release__version", F("phase__position").asc(nulls_first=True), "pk")
    )


def page_revisions(page: DocPage, user) -> list[DocRevision]:
    """The page's history, newest first, without revisions this person could not have read
    (a page that was internal before it went public keeps its internal past to itself)."""
    revisions = DocRevision.objects.filter(page=page).select_related("author").order_by("-number")
    readable = [r for r in revisions if can_read(user, visibility=r.visibility, status=r.status)]
    for newer, older in zip(readable, [*readable[1:], None], strict=True):
        newer.previous = older.number if older is not None else None
    return readable


def latest_revision_number(page: DocPage) -> int:
    return DocRevision.objects.filter(page=page).order_by("-number").values_list("number", flat=True).first() or 0


# --- The release page ------------------------------------------------------------------


@dataclass
class ReleaseDocs:
    links: list
    can_manage: bool
    published: int
    total: int


def release_docs(release: Release, user) -> ReleaseDocs:
    """The pages linked to a release that this person may read (one query)."""
    links = DocLink.objects.filter(release=release, page__visibility__in=readable_visibilities(user))
    if not can_edit_docs(user):
        links = links.filter(page__status=DocStatus.PUBLISHED)
    links = list(
        links.select_related("page", "phase").order_by(F("phase__position").asc(nulls_first=True), "page__title", "pk")
    )
    published = sum(1 for link in links if link.page.status == DocStatus.PUBLISHED)
    return ReleaseDocs(links=links, can_manage=can_edit_docs(user), published=published, total=len(links))


def release_links(release: Release) -> list[DocLink]:
    """Every link of a release, for the people who manage them."""
    return list(
        DocLink.objects.filter(release=release)
        .select_related("page", "phase")
        .order_by(F("phase__position").asc(nulls_first=True), "page__title", "pk")
    )


def release_notes_of(release: Release) -> ReleaseNotes | None:
    return ReleaseNotes.objects.select_related("visible_from_phase", "updated_by").filter(release=release).first()


# --- Changelog -------------------------------------------------------------------------

CHANGELOG_PAGE_SIZE = 20
FEED_ITEMS = 50


def changelog_entries() -> QuerySet[ReleaseNotes]:
    """Release notes the public may read, newest first.

    Visible once the release completed, or, when the notes name a phase, once that phase
    of the same release has started while the release is running (in progress or paused).
    A release that is rolling back, rolled back or cancelled is never shown: what it
    promised did not ship. Empty notes are not shown.
    """
    visible = Q(release__status=ReleaseStatus.COMPLETED) | Q(
        release__status__in=[ReleaseStatus.IN_PROGRESS, ReleaseStatus.PAUSED],
        visible_from_phase__started_at__isnull=False,
        visible_from_phase__release=F("release"),
    )
    return (
        ReleaseNotes.objects.filter(visible)
        .exclude(body="")
        .select_related("release")
        .annotate(
            visible_since=Coalesce("visible_from_phase__started_at", "release__finished_at", "updated_at"),
        )
        .order_by(F("visible_since").desc(nulls_last=True), "-pk")
    )


def changelog_page(number) -> Page:
    """One page of the changelog (two queries: the count and the entries)."""
    return Paginator(changelog_entries(), CHANGELOG_PAGE_SIZE).get_page(number)


def changelog_entry(release_slug: str) -> ReleaseNotes | None:
    return changelog_entries().filter(release__slug=release_slug).first()


# --- Search ----------------------------------------------------------------------------

SEARCH_LIMIT = 50
SEARCH_CONFIG = "english"
# Markers around matches: private-use characters, so no text a person types looks like them
# after escaping, and only they become <mark>.
_START, _STOP = "\ue000", "\ue001"
_MARKED = re.compile(f"{_START}(.*?){_STOP}", re.S)


@dataclass
class SearchHit:
    page: DocPage
    snippet: SafeString


def search_pages(user, q: str, *, limit: int = SEARCH_LIMIT) -> list[SearchHit]:
    """Pages this person may read that match `q`, best first (one query).

    PostgreSQL: full-text search (title weighs more than body), websearch syntax ("quoted
    phrases", -excluded, or), ranked, with highlighted snippets. Elsewhere: every word must
    appear in the title or the body, title matches first.
    """
    q = (q or "").strip()[:200]
    if not q:
        return []
    pages = readable_pages(user).only("slug", "title", "visibility", "status", "body", "updated_at")
    if connection.vendor == "postgresql":
        return _search_postgres(pages, q, limit)
    return _search_simple(pages, q, limit)


def _marked_snippet(text: str) -> SafeString:
    """Escape everything, then turn only our markers into <mark>."""
    escaped = escape(plain_text(text))
    marked = _MARKED.sub(r"<mark>\1</mark>", escaped)
    return mark_safe(marked.replace(_START, "").replace(_STOP, ""))  # noqa: S308 - escaped above


def _search_postgres(pages: QuerySet, q: str, limit: int) -> list[SearchHit]:
    from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector

    query = SearchQuery(q, search_type="websearch", config=SEARCH_CONFIG)
    vector = SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
        "body", weight="B", config=SEARCH_CONFIG
    )
    rows = (
        pages.annotate(search=vector)
        .filter(search=query)
        .annotate(
            rank=SearchRank(vector, query),
            headline=SearchHeadline(
                "body",
                query,
                config=SEARCH_CONFIG,
                start_sel=_START,
                stop_sel=_STOP,
                max_words=35,
                min_words=15,
                max_fragments=2,
                fragment_delimiter=" … ",
            ),
        )
        .defer("body")
        .order_by("-rank", "title", "id")[:limit]
    )
    return [SearchHit(page=row, snippet=_marked_snippet(row.headline)) for row in rows]


_SNIPPET_CHARS = 90


def _terms(q: str) -> tuple[list[str], list[str]]:
    words = q.replace('"', " ").split()
    wanted = [w for w in words if not w.startswith("-") and w.lower() != "or"]
    excluded = [w[1:] for w in words if w.startswith("-") and len(w) > 1]
    return wanted[:10], excluded[:10]


def _search_simple(pages: QuerySet, q: str, limit: int) -> list[SearchHit]:
    wanted, excluded = _terms(q)
    if not wanted:
        return []
    for term in wanted:
        pages = pages.filter(Q(title__icontains=term) | Q(body__icontains=term))
    for term in excluded:
        pages = pages.exclude(Q(title__icontains=term) | Q(body__icontains=term))
    title_hit = Case(*[When(title__icontains=t, then=Value(1)) for t in wanted], default=Value(0))
    rows = pages.annotate(title_hit=title_hit).order_by(F("title_hit").desc(), "title", "id")
    rows = rows[:limit]
    pattern = re.compile("|".join(re.escape(t) for t in sorted(wanted, key=len, reverse=True)), re.I)
    return [SearchHit(page=row, snippet=_simple_snippet(row.body, pattern)) for row in rows]


def _simple_snippet(body: str, pattern: re.Pattern) -> SafeString:
    text = plain_text(body)
    match = pattern.search(text)
    if match is None:
        window, prefix, suffix = text[: 2 * _SNIPPET_CHARS], "", "…" if len(text) > 2 * _SNIPPET_CHARS else ""
    else:
        start = max(match.start() - _SNIPPET_CHARS, 0)
        end = min(match.end() + _SNIPPET_CHARS, len(text))
        window = text[start:end]
        prefix, suffix = ("…" if start else ""), ("…" if end < len(text) else "")
    pieces, last = [], 0
    for m in pattern.finditer(window):
        pieces.append(escape(window[last : m.start()]))
        pieces.append(f"<mark>{escape(m.group(0))}</mark>")
        last = m.end()
    pieces.append(escape(window[last:]))
    return mark_safe(prefix + "".join(pieces) + suffix)  # noqa: S308 - every piece escaped
