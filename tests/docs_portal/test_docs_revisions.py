"""Every save is a numbered revision; history shows who and when; diffs show what changed."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from docs_portal import diffs, services
from docs_portal.models import DocPage, DocRevision, PublishRule, Visibility
from tests.docs_portal.factories import make_page


def update(page, actor, **changes):
    fields = {"title": page.title, "body": page.body, "visibility": page.visibility, "publish_rule": page.publish_rule}
    return services.page_update(page_id=page.pk, actor=actor, **{**fields, **changes})


@pytest.mark.django_db
def test_revisions__create_edit_publish_restore__numbered_in_order(manager, other_manager):
    # Given a page created, edited by another manager, published
    page = make_page(author=manager, title="Guide", body="one")
    page = update(page, other_manager, body="two", note="Second take")
    services.page_publish(page_id=page.pk, actor=manager)
    # When revision 1 is restored
    services.page_restore(page_id=page.pk, number=1, actor=manager)
    # Then four revisions, each saying who and why, and the text is back to revision 1's
    revisions = list(DocRevision.objects.filter(page=page).order_by("number"))
    assert [(r.number, r.note, r.author.username, r.body, r.status) for r in revisions] == [
        (1, "Created", "manager", "one", "draft"),
        (2, "Second take", "manager2", "two", "draft"),
        (3, "Published", "manager", "two", "published"),
        (4, "Restored revision 1", "manager", "one", "published"),
    ]
    page.refresh_from_db()
    assert page.body == "one" and page.status == "published"


@pytest.mark.django_db
def test_update__nothing_changed__no_revision(manager):
    page = make_page(author=manager)
    saved = update(page, manager)
    assert saved.changed is False
    assert DocRevision.objects.filter(page=page).count() == 1


@pytest.mark.django_db
def test_update__someone_saved_since_form_opened__refused_with_who(manager, other_manager):
    page = make_page(author=manager)
    update(page, other_manager, body="their change")
    with pytest.raises(ValidationError, match="Tom Manager saved revision 2"):
        update(page, manager, body="my change", base_revision=1)
    page.refresh_from_db()
    assert page.body == "their change"


@pytest.mark.django_db
def test_edit_view__stale_base_revision__422_and_text_kept(manager_client, manager, other_manager):
    page = make_page(author=manager, title="Guide")
    update(page, other_manager, body="their change")
    response = manager_client.post(
        f"/docs/{page.slug}/edit/",
        {
            "title": "Guide",
            "body": "my careful words",
            "visibility": "support",
            "publish_rule": "manual",
            "base_revision": 1,
        },
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "saved revision 2 of this page since you opened it" in body and "my careful words" in body


@pytest.mark.django_db
def test_restore__same_text__says_so(manager):
    page = make_page(author=manager, body="one")
    with pytest.raises(services.AlreadyDone):
        services.page_restore(page_id=page.pk, number=1, actor=manager)


def test_diff_lines__changed_text__hunks_with_context_and_line_numbers():
    old = "\n".join(f"line {i}" for i in range(1, 11))
    new = old.replace("line 5", "line five").replace("line 10", "line 10\nline 11")
    rows = diffs.diff_lines(old, new)
    kinds = [(r.kind, r.old_no, r.new_no, r.text) for r in rows]
    assert kinds[0] == ("hunk", None, None, "@@ -2,9 +2,10 @@")
    assert ("removed", 5, None, "line 5") in kinds and ("added", None, 5, "line five") in kinds
    assert ("context", 4, 4, "line 4") in kinds and ("added", None, 11, "line 11") in kinds
    assert ("context", 1, 1, "line 1") not in kinds  # outside the context


@pytest.mark.django_db
def test_diff_view__hostile_text__escaped_in_ins_and_del(manager_client, manager):
    # Given two revisions whose text is HTML
    page = make_page(author=manager, title="Guide", body="safe line\n<b>old</b>")
    update(page, manager, body="safe line\n<script>alert(1)</script>", title="Guide 2")
    # When the manager opens the diff
    response = manager_client.get(f"/docs/{page.slug}/diff/?a=1&b=2")
    body = response.content.decode()
    # Then the lines are shown as text, marked as removed or added, and the title change listed
    assert response.status_code == 200
    assert '<del><span class="docs-sr-only">Removed: </span>&lt;b&gt;old&lt;/b&gt;</del>' in body
    assert '<ins><span class="docs-sr-only">Added: </span>&lt;script&gt;alert(1)&lt;/script&gt;</ins>' in body
    assert "<script>alert(1)" not in body
    assert "<del>Guide</del> → <ins>Guide 2</ins>" in body


@pytest.mark.django_db
def test_diff_view__default__latest_against_previous(manager_client, manager):
    page = make_page(author=manager, body="a")
    update(page, manager, body="b")
    update(page, manager, body="c")
    body = manager_client.get(f"/docs/{page.slug}/diff/").content.decode()
    assert "Revision 2 → 3" in body


@pytest.mark.django_db
def test_diff_view__unknown_revision__404(manager_client, manager):
    page = make_page(author=manager)
    assert manager_client.get(f"/docs/{page.slug}/diff/?a=1&b=9").status_code == 404
    assert manager_client.get(f"/docs/{page.slug}/diff/?a=x&b=1").status_code in (200, 404)


@pytest.mark.django_db
def test_history_view__support_reader__lists_who_when_note(client, manager, support):
    page = make_page(author=manager, visibility=Visibility.SUPPORT, published=True)
    update(page, manager, body="new words", note="Fixed the steps")
    client.force_login(support)
    response = client.get(f"/docs/{page.slug}/history/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Fixed the steps" in body and "Maria Manager" in body and 'id="revision-3"' in body
    assert "restore" not in body  # only editors restore


@pytest.mark.django_db
def test_restore_view__manager__new_revision(manager_client, manager):
    page = make_page(author=manager, body="first")
    update(page, manager, body="second")
    response = manager_client.post(f"/docs/{page.slug}/restore/1/")
    assert response.status_code == 303
    page.refresh_from_db()
    assert page.body == "first" and page.revisions.count() == 3


@pytest.mark.django_db
def test_delete_view__manager__page_gone_and_timeline_keeps_it(manager_client, manager, release):
    from rollouts.models import Event
    from tests.docs_portal.factories import link

    page = make_page(author=manager, title="Old guide")
    link(page, release, actor=manager)
    assert manager_client.get(f"/docs/{page.slug}/delete/").status_code == 200
    response = manager_client.post(f"/docs/{page.slug}/delete/")
    assert response.status_code == 303 and response["Location"] == "/docs/"
    assert not DocPage.objects.filter(pk=page.pk).exists()
    assert Event.objects.filter(release=release, verb="doc.deleted", reason="Old guide").exists()


# --- PostgreSQL: concurrent saves -----------------------------------------------------

THREADS = 12


def race(fn, n=THREADS):
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=10)
            return fn(i)
        except Exception as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_update__12_saves_at_once__12_revisions_numbered_without_gaps(manager):
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the concurrency tests on PostgreSQL: set DATABASE_URL")
        pytest.skip("row-lock races need PostgreSQL (set DATABASE_URL=postgres://…)")
    # Given a page
    page = make_page(author=manager, publish_rule=PublishRule.MANUAL)
    # When 12 people save it at the same instant
    results = race(lambda i: update(page, manager, body=f"version {i}", note=f"save {i}"))
    # Then every save landed as its own revision, numbered 2..13
    assert not [r for r in results if isinstance(r, Exception)]
    numbers = sorted(DocRevision.objects.filter(page=page).values_list("number", flat=True))
    assert numbers == list(range(1, THREADS + 2))
    page.refresh_from_db()
    latest = DocRevision.objects.get(page=page, number=THREADS + 1)
    assert page.body == latest.body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_publish__12_at_once__one_publish_one_event(manager, release):
    if connection.vendor != "postgresql":
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the concurrency tests on PostgreSQL: set DATABASE_URL")
        pytest.skip("row-lock races need PostgreSQL (set DATABASE_URL=postgres://…)")
    from rollouts.models import Event
    from tests.docs_portal.factories import link

    page = make_page(author=manager)
    link(page, release, actor=manager)
    results = race(lambda i: services.page_publish(page_id=page.pk, actor=manager))
    assert sum(1 for r in results if isinstance(r, DocPage)) == 1
    assert all(isinstance(r, (DocPage, services.AlreadyDone)) for r in results)
    assert Event.objects.filter(verb="doc.published").count() == 1
