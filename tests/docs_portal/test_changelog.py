"""The public changelog and its Atom feed: release notes of releases that reached users,
newest first; never a release that is not visible yet."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from docs_portal import services
from rollouts import transitions
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


def notes_for(release, actor, body, phase=None):
    return services.release_notes_save(
        release_id=release.pk, actor=actor, body=body, visible_from_phase_id=phase.pk if phase else None
    )


def completed(manager, slug, body, name=None):
    release = release_with_phases(owner=manager, exposures=(100,), gates_per_phase=0, slug=slug, name=name or slug)
    notes_for(release, manager, body)
    transitions.release_start(release_id=release.pk, actor=manager)
    transitions.release_complete(release_id=release.pk, actor=manager)
    return release


@pytest.fixture
def world(manager):
    """Releases in every situation, each with notes naming it."""
    made = {}
    # Completed: visible.
    made["completed"] = completed(manager, "shipped", "Shipped-notes **bold** <script>alert(1)</script>")
    # Draft with notes: hidden.
    draft = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="drafty")
    notes_for(draft, manager, "Drafty-notes")
    made["draft"] = draft
    # In progress, notes visible from phase 2, phase 1 running: hidden until phase 2 starts.
    early = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="early")
    notes_for(early, manager, "Early-notes", early.phases.order_by("position").last())
    transitions.release_start(release_id=early.pk, actor=manager)
    made["early"] = early
    # In progress, notes visible from phase 1, which started: visible.
    beta = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="beta")
    notes_for(beta, manager, "Beta-notes", beta.phases.order_by("position").first())
    transitions.release_start(release_id=beta.pk, actor=manager)
    made["beta"] = beta
    # Rolled back after its visible phase started: hidden (it did not ship).
    undone = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="undone")
    notes_for(undone, manager, "Undone-notes", undone.phases.order_by("position").first())
    transitions.release_start(release_id=undone.pk, actor=manager)
    transitions.release_rollback(release_id=undone.pk, actor=manager, reason="bad")
    made["undone"] = undone
    # Completed with empty notes: nothing to show.
    made["empty"] = completed(manager, "quiet", "")
    return made


VISIBLE = {"completed": "Shipped-notes", "beta": "Beta-notes"}
HIDDEN = {"draft": "Drafty-notes", "early": "Early-notes", "undone": "Undone-notes"}


def test_changelog__anonymous__only_releases_that_reached_users(client, world):
    response = client.get("/docs/changelog/")
    body = response.content.decode()
    assert response.status_code == 200
    assert all(text in body for text in VISIBLE.values())
    assert not any(text in body for text in HIDDEN.values())
    assert "<strong>bold</strong>" in body and "<script>alert(1)" not in body


def test_changelog__visible_phase_starts__entry_appears(client, manager, world):
    early = world["early"]
    assert "Early-notes" not in client.get("/docs/changelog/").content.decode()
    early.refresh_from_db()
    transitions.phase_advance(release_id=early.pk, phase_id=early.current_phase_id, actor=manager)
    assert "Early-notes" in client.get("/docs/changelog/").content.decode()


@pytest.mark.parametrize("kind", [*list(HIDDEN), "empty"])
def test_changelog_entry__hidden_release__404(client, world, kind):
    response = client.get(f"/docs/changelog/{world[kind].slug}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "<h1>Not found</h1>" in body and HIDDEN.get(kind, "notes") not in body


def test_changelog_entry__visible__public_page(client, world):
    response = client.get("/docs/changelog/shipped/")
    assert response.status_code == 200 and "Shipped-notes" in response.content.decode()


def test_changelog__newest_first_and_paginated(client, manager):
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for i in range(23):
            completed(manager, f"r{i:02d}", f"Notes {i:02d}", name=f"Release {i:02d}")
            clock.shift(timedelta(hours=1))
    first = client.get("/docs/changelog/").content.decode()
    second = client.get("/docs/changelog/?page=2").content.decode()
    assert first.index("Notes 22") < first.index("Notes 21") < first.index("Notes 03")
    assert "Notes 02" not in first and "Notes 02" in second and "Notes 00" in second
    assert "Page 2 of 2" in second
    assert client.get("/docs/changelog/?page=99").status_code == 200  # the last page, not an error


@pytest.mark.parametrize("count", [2, 15])
def test_changelog__few_or_many__same_query_count(client, manager, count, django_assert_num_queries):
    for i in range(count):
        completed(manager, f"q{count}-{i}", f"Notes {i}")
    # the count and the entries with their releases
    with django_assert_num_queries(2):
        assert client.get("/docs/changelog/").status_code == 200
    with django_assert_num_queries(1):
        assert client.get("/docs/changelog.atom").status_code == 200


def test_atom_feed__parses_with_visible_entries_absolute_links_and_dates(client, world):
    # When the feed is fetched without signing in
    response = client.get("/docs/changelog.atom")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    # Then it is Atom with one entry per visible release
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.find(f"{ATOM}title").text == "Flightdeck changelog"
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == "http://testserver/docs/changelog.atom"
    entries = feed.findall(f"{ATOM}entry")
    titles = {e.find(f"{ATOM}title").text for e in entries}
    assert titles == {str(world["completed"]), str(world["beta"])}
    ids = {e.find(f"{ATOM}id").text for e in entries}
    assert len(ids) == 2
    feed_updated = datetime.fromisoformat(feed.find(f"{ATOM}updated").text)
    for entry in entries:
        href = entry.find(f"{ATOM}link").get("href")
        assert href.startswith("http://testserver/docs/changelog/")
        updated = datetime.fromisoformat(entry.find(f"{ATOM}updated").text)
        published = datetime.fromisoformat(entry.find(f"{ATOM}published").text)
        assert published <= updated <= feed_updated
        content = entry.find(f"{ATOM}content")
        assert content.get("type") == "html"
        assert "<script" not in content.text
    body = response.content.decode()
    assert not any(text in body for text in HIDDEN.values())
    shipped = next(e for e in entries if "shipped" in e.find(f"{ATOM}link").get("href"))
    assert "<strong>bold</strong>" in shipped.find(f"{ATOM}content").text


def test_atom_feed__relative_links_in_notes__made_absolute(client, manager):
    completed(manager, "linky", "See [the guide](/docs/guide/).")
    feed = ET.fromstring(client.get("/docs/changelog.atom").content)
    content = feed.find(f"{ATOM}entry/{ATOM}content").text
    assert 'href="http://testserver/docs/guide/"' in content


def test_atom_feed__notes_edited__entry_updated_moves(client, manager):
    with time_machine.travel(datetime(2026, 5, 1, 9, 0, tzinfo=UTC), tick=False) as clock:
        release = completed(manager, "edited", "First words")
        clock.shift(timedelta(days=2))
        notes_for(release, manager, "Second words")
    entry = ET.fromstring(client.get("/docs/changelog.atom").content).find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}published").text.startswith("2026-05-01")
    assert entry.find(f"{ATOM}updated").text.startswith("2026-05-03")


def test_atom_feed__empty__still_valid(client):
    feed = ET.fromstring(client.get("/docs/changelog.atom").content)
    assert feed.findall(f"{ATOM}entry") == [] and feed.find(f"{ATOM}updated").text
