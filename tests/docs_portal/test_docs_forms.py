"""Writing pages, linking them and release notes: bad input is answered next to the field
(422), with everything typed kept."""

import pytest

from docs_portal.models import DocLink, DocPage, DocStatus, ReleaseNotes
from rollouts.models import Event
from tests.docs_portal.factories import link, make_page
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db


def page_data(**overrides):
    return {
        "title": "Upgrade guide",
        "slug": "",
        "body": "## Steps\n\n1. Back up",
        "visibility": "support",
        "publish_rule": "manual",
        "note": "",
        **overrides,
    }


def test_create__good_input__draft_with_slug_from_title_and_revision_1(manager_client):
    response = manager_client.post("/docs/new/", page_data())
    assert response.status_code == 303 and response["Location"] == "/docs/upgrade-guide/"
    page = DocPage.objects.get(slug="upgrade-guide")
    assert page.status == DocStatus.DRAFT and page.revisions.get().number == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": "   "}, "title", "Give the page a title."),
        ({"title": ""}, "title", "Give the page a title."),
        ({"title": "x" * 201}, "title", "at most 200 characters"),
        ({"slug": "Not a slug!"}, "slug", "Enter a valid “slug”"),
        ({"slug": "search"}, "slug", "reserved address"),
        ({"slug": "", "title": "!!!"}, "slug", "Choose a slug"),
        ({"visibility": "everyone"}, "visibility", "Select a valid choice"),
        ({"publish_rule": "whenever"}, "publish_rule", "Select a valid choice"),
    ],
)
def test_create__bad_input__422_error_next_to_field_and_text_kept(manager_client, data, field, message):
    response = manager_client.post("/docs/new/", page_data(body="Typed *carefully*", **data))
    body = response.content.decode()
    assert response.status_code == 422
    assert f'id="id_{field}_error"' in body and message in body
    assert "Typed *carefully*" in body
    assert not DocPage.objects.exists()


def test_create__duplicate_slug__422(manager_client, manager):
    make_page(author=manager, slug="upgrade-guide")
    response = manager_client.post("/docs/new/", page_data())
    assert response.status_code == 422
    assert "A page with the slug “upgrade-guide” exists" in response.content.decode()


def test_create__preview__renders_without_saving(manager_client):
    response = manager_client.post("/docs/new/", page_data(body="# Hello\n\n<script>x</script>", preview="1"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="preview"' in body and '<h1 id="hello">Hello' in body and "<script>x" not in body
    assert not DocPage.objects.exists()


def test_edit__good_input__new_revision_and_message(manager_client, manager):
    page = make_page(author=manager, title="Guide")
    response = manager_client.post(
        f"/docs/{page.slug}/edit/", page_data(title="Guide v2", note="Renamed", base_revision=1), follow=True
    )
    assert "Page saved." in response.content.decode()
    assert page.revisions.order_by("-number").first().note == "Renamed"


def test_edit__form__carries_base_revision(manager_client, manager):
    page = make_page(author=manager)
    body = manager_client.get(f"/docs/{page.slug}/edit/").content.decode()
    assert 'name="base_revision" value="1"' in body and 'name="slug"' not in body


def test_link__phase_of_another_release__422(manager_client, manager, release):
    # Given a page and a phase of some other release
    page = make_page(author=manager)
    other = release_with_phases(owner=manager, slug="other")
    foreign = other.phases.first()
    # When the manager links the page to this release with that phase
    response = manager_client.post("/docs/releases/checkout/", {"page": page.pk, "phase": foreign.pk})
    # Then the phase field says so, and nothing is linked
    body = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_phase_error"' in body and "Choose a phase of this release." in body
    assert not DocLink.objects.exists()


def test_link__twice__422(manager_client, manager, release):
    page = make_page(author=manager, title="Guide")
    phase = release.phases.first()
    assert manager_client.post("/docs/releases/checkout/", {"page": page.pk, "phase": phase.pk}).status_code == 303
    response = manager_client.post("/docs/releases/checkout/", {"page": page.pk, "phase": phase.pk})
    assert response.status_code == 422
    assert "“Guide” is already linked to phase “Phase 1”" in response.content.decode()
    assert DocLink.objects.count() == 1


def test_link__no_page_chosen__422(manager_client, release):
    response = manager_client.post("/docs/releases/checkout/", {"page": "", "phase": ""})
    assert response.status_code == 422 and 'id="id_page_error"' in response.content.decode()


def test_link_and_unlink__release_timeline__both_recorded(manager_client, manager, release):
    page = make_page(author=manager, title="Guide")
    manager_client.post("/docs/releases/checkout/", {"page": page.pk, "phase": ""})
    link_id = DocLink.objects.get().pk
    assert manager_client.post(f"/docs/releases/checkout/links/{link_id}/remove/").status_code == 303
    assert list(Event.objects.filter(release=release, verb__startswith="doc.").values_list("verb", flat=True)) == [
        "doc.unlinked",
        "doc.linked",
    ]
    again = manager_client.post(f"/docs/releases/checkout/links/{link_id}/remove/", follow=True)
    assert "already removed" in again.content.decode()


def test_link__removed_from_other_release_url__refused(manager_client, manager, release):
    other = release_with_phases(owner=manager, slug="other")
    page = make_page(author=manager)
    made = link(page, other, actor=manager)
    manager_client.post(f"/docs/releases/checkout/links/{made.pk}/remove/")
    assert DocLink.objects.filter(pk=made.pk).exists()


def test_release_notes__phase_of_another_release__422_and_text_kept(manager_client, manager, release):
    other = release_with_phases(owner=manager, slug="other")
    response = manager_client.post(
        "/docs/releases/checkout/notes/", {"body": "New checkout!", "visible_from_phase": other.phases.first().pk}
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_visible_from_phase_error"' in body and "New checkout!" in body
    assert not ReleaseNotes.objects.exists()


def test_release_notes__save__stored_and_on_timeline(manager_client, manager, release):
    phase = release.phases.order_by("position").last()
    response = manager_client.post(
        "/docs/releases/checkout/notes/", {"body": "New checkout!", "visible_from_phase": phase.pk}
    )
    assert response.status_code == 303
    notes = ReleaseNotes.objects.get(release=release)
    assert notes.body == "New checkout!" and notes.visible_from_phase == phase and notes.updated_by == manager
    assert Event.objects.filter(release=release, verb="doc.release_notes_saved").count() == 1
    page = manager_client.get("/docs/releases/checkout/").content.decode()
    assert "New checkout!" in page and "once phase “Phase 3” starts" in page


def test_release_docs__unknown_release__404(manager_client):
    assert manager_client.get("/docs/releases/nope/").status_code == 404
