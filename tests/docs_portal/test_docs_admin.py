"""The admin covers the docs models; saving a page there writes a revision like the pages do."""

import pytest

from docs_portal.models import DocPage, DocRevision
from tests.docs_portal.factories import link, make_page

pytestmark = pytest.mark.django_db


def test_admin__add_and_change_page__revisions_written(admin_client):
    data = {
        "title": "Admin page",
        "slug": "admin-page",
        "body": "one",
        "visibility": "public",
        "publish_rule": "manual",
        "links-TOTAL_FORMS": 0,
        "links-INITIAL_FORMS": 0,
        "revisions-TOTAL_FORMS": 0,
        "revisions-INITIAL_FORMS": 0,
    }
    response = admin_client.post("/admin/docs_portal/docpage/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    page = DocPage.objects.get(slug="admin-page")
    data_change = {
        **data,
        "body": "two",
        "revisions-TOTAL_FORMS": 1,
        "revisions-INITIAL_FORMS": 1,
        "revisions-0-id": page.revisions.get().pk,
        "revisions-0-page": page.pk,
    }
    response = admin_client.post(f"/admin/docs_portal/docpage/{page.pk}/change/", data_change)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(DocRevision.objects.filter(page=page).order_by("number").values_list("number", "body")) == [
        (1, "one"),
        (2, "two"),
    ]


def test_admin__reserved_slug__error_not_crash(admin_client):
    data = {
        "title": "Search",
        "slug": "search",
        "body": "",
        "visibility": "public",
        "publish_rule": "manual",
        "links-TOTAL_FORMS": 0,
        "links-INITIAL_FORMS": 0,
        "revisions-TOTAL_FORMS": 0,
        "revisions-INITIAL_FORMS": 0,
    }
    response = admin_client.post("/admin/docs_portal/docpage/add/", data)
    assert response.status_code == 200 and "reserved address" in response.content.decode()
    assert not DocPage.objects.exists()


@pytest.mark.parametrize("model", ["docpage", "docrevision", "doclink", "releasenotes"])
def test_admin__lists__render(admin_client, manager, release, model):
    page = make_page(author=manager)
    link(page, release, actor=manager)
    assert admin_client.get(f"/admin/docs_portal/{model}/").status_code == 200
    assert admin_client.get(f"/admin/docs_portal/docpage/{page.pk}/change/").status_code == 200


def test_release_notes_form__get__shows_phases_of_this_release_only(manager_client, manager, release):
    from tests.factories import release_with_phases

    other = release_with_phases(owner=manager, slug="other", name="Other")
    body = manager_client.get("/docs/releases/checkout/notes/").content.decode()
    assert "When the release completes" in body
    assert all(f'value="{p.pk}"' in body for p in release.phases.all())
    assert not any(f'value="{p.pk}"' in body for p in other.phases.all())
