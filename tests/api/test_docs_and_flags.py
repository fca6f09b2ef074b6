"""Doc pages, feature flags and segments over the API."""

import pytest

from docs_portal.models import DocPage, DocStatus, Visibility
from flags import snapshot
from flags.models import Flag, Segment
from rollouts.models import Event
from tests.api.test_auth import error_shape
from tests.docs_portal.factories import link, make_page

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_snapshot():
    snapshot.reset()
    yield
    snapshot.reset()


# --- Docs -------------------------------------------------------------------------------


def test_docs__support_reads_published_support_pages_only(api_as, manager, support):
    make_page(author=manager, title="How to pay", published=True, visibility=Visibility.PUBLIC)
    make_page(author=manager, title="Runbook", published=True, visibility=Visibility.INTERNAL)
    make_page(author=manager, title="Draft notes")
    titles = [p["title"] for p in api_as(support).get("/api/v1/docs").json()["results"]]
    assert titles == ["How to pay"]


def test_docs__hidden_page__404_like_a_missing_one(api_as, manager, support):
    page = make_page(author=manager, title="Runbook", published=True, visibility=Visibility.INTERNAL)
    assert api_as(support).get(f"/api/v1/docs/{page.pk}").status_code == 404
    assert api_as(support).get(f"/api/v1/docs/{page.slug}").status_code == 404


def test_docs__manager_writes_links_publishes(api, manager, release):
    created = api.post("/api/v1/docs", {"title": "New checkout", "body": "# What changes", "visibility": "public"})
    assert created.status_code == 201, created.json()
    page_id = created.json()["id"]
    assert created.json()["slug"] == "new-checkout" and created.json()["status"] == "draft"
    linked = api.post(f"/api/v1/docs/{page_id}/links", {"release": release.pk})
    assert linked.status_code == 201
    assert linked.json()["links"][0]["release_slug"] == "checkout"
    published = api.post(f"/api/v1/docs/{page_id}/publish")
    assert published.json()["status"] == "published"
    assert Event.objects.filter(release=release, verb="doc.published").exists()
    again = api.post(f"/api/v1/docs/{page_id}/publish")
    assert again.status_code == 409 and again.json()["code"] == "already_done"
    edited = api.patch(f"/api/v1/docs/{created.json()['slug']}", {"body": "# What changes now"})
    assert edited.json()["body"] == "# What changes now"
    link_id = linked.json()["links"][0]["id"]
    assert api.delete(f"/api/v1/docs/{page_id}/links/{link_id}").status_code == 204
    assert api.delete(f"/api/v1/docs/{page_id}").status_code == 204
    assert not DocPage.objects.exists()


def test_docs__stale_base_revision__409(api, manager):
    page = make_page(author=manager)
    api.patch(f"/api/v1/docs/{page.pk}", {"body": "first"})
    response = api.patch(f"/api/v1/docs/{page.pk}", {"body": "second", "base_revision": 1})
    assert response.status_code == 409
    assert "saved revision 2" in response.json()["detail"]


def test_docs__reserved_slug__400_names_slug(api):
    response = api.post("/api/v1/docs", {"title": "Search", "slug": "search"})
    assert response.status_code == 400
    assert list(error_shape(response)["fields"]) == ["slug"]


def test_docs__link_to_phase_of_other_release__400_names_phase(api, manager, release):
    from tests.factories import release_with_phases

    other = release_with_phases(owner=manager, slug="other")
    page = make_page(author=manager)
    response = api.post(f"/api/v1/docs/{page.pk}/links", {"release": release.pk, "phase": other.phases.first().pk})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phase"]


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_docs__not_a_manager__cannot_write_or_publish(api_as, request, manager, role):
    page = make_page(author=manager, visibility=Visibility.PUBLIC)
    api = api_as(request.getfixturevalue(role))
    assert api.post("/api/v1/docs", {"title": "X"}).status_code == 403
    # Drafts are hidden from them: publishing one they cannot see is a 404, not a 403.
    assert api.post(f"/api/v1/docs/{page.pk}/publish").status_code == 404
    page.refresh_from_db()
    assert page.status == DocStatus.DRAFT


# --- Flags ------------------------------------------------------------------------------


def flag_body(**extra):
    return {
        "key": "new-checkout",
        "name": "New checkout",
        "type": "boolean",
        "variants": {"on": True, "off": False},
        "on_variant": "on",
        "off_variant": "off",
        **extra,
    }


def test_flags__create_read_by_key_with_states(api, api_as, viewer, release):
    created = api.post("/api/v1/flags", flag_body(release=release.pk))
    assert created.status_code == 201, created.json()
    body = api_as(viewer).get("/api/v1/flags/new-checkout").json()
    assert body["release_slug"] == "checkout"
    assert {e["environment"] for e in body["environments"]} == {"staging", "beta", "production"}
    assert [f["key"] for f in api_as(viewer).get("/api/v1/flags").json()["results"]] == ["new-checkout"]


def test_flags__variant_not_of_its_type__400_names_variants(api):
    response = api.post("/api/v1/flags", flag_body(variants={"on": "yes", "off": False}))
    assert response.status_code == 400
    assert "variants" in response.json()["fields"]


def test_flags__on_equals_off__400_names_off_variant(api):
    response = api.post("/api/v1/flags", flag_body(off_variant="on"))
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["off_variant"]


def test_flags__finished_release__400_names_release(api, manager, release):
    from rollouts import transitions

    transitions.release_cancel(release_id=release.pk, actor=manager)
    response = api.post("/api/v1/flags", flag_body(release=release.pk))
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["release"]


def test_flags__kill_then_restore__twice_409(api):
    api.post("/api/v1/flags", flag_body(fixed_exposure=50))
    killed = api.post("/api/v1/flags/new-checkout/kill", {"reason": "errors"})
    assert killed.status_code == 200 and killed.json()["killed"] is True
    assert api.post("/api/v1/flags/new-checkout/kill").status_code == 409
    assert api.post("/api/v1/flags/new-checkout/restore").json()["killed"] is False
    assert api.post("/api/v1/flags/new-checkout/restore").status_code == 409


def test_flags__edit_exposure_and_segments(api):
    api.post("/api/v1/flags", flag_body())
    segment = api.post("/api/v1/segments", {"key": "beta", "name": "Beta", "targeting_keys": ["u1", "u2"]})
    assert segment.status_code == 201, segment.json()
    edited = api.patch("/api/v1/flags/new-checkout", {"fixed_exposure": 20, "segments": [segment.json()["id"]]})
    assert edited.status_code == 200, edited.json()
    assert (edited.json()["fixed_exposure"], edited.json()["segments"]) == (20, [segment.json()["id"]])


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_flags__not_a_manager__reads_but_cannot_change_or_kill(api_as, request, manager, role):
    from tests.flags.conftest import make_flag

    make_flag()
    api = api_as(request.getfixturevalue(role))
    assert api.get("/api/v1/flags").status_code == 200
    assert api.post("/api/v1/flags", flag_body(key="other")).status_code == 403
    assert api.post("/api/v1/flags/new-checkout/kill").status_code == 403
    assert not Flag.objects.get(key="new-checkout").is_killed


def test_segments__empty__400_and_remove(api):
    empty = api.post("/api/v1/segments", {"key": "nobody", "name": "Nobody"})
    assert empty.status_code == 400
    assert "targeting_keys" in empty.json()["fields"]
    made = api.post("/api/v1/segments", {"key": "staff", "name": "Staff", "targeting_keys": ["u1"]}).json()
    assert api.patch(f"/api/v1/segments/{made['id']}", {"name": "All staff"}).json()["name"] == "All staff"
    assert api.delete(f"/api/v1/segments/{made['id']}").status_code == 204
    assert not Segment.objects.exists()


def test_docs__filter_by_release__linked_pages(api, manager, release):
    page = make_page(author=manager, published=True)
    link(page, release, actor=manager)
    assert api.get("/api/v1/docs", {"release": release.pk}).json()["count"] == 1
