"""Known issues, FAQ entries and release notes over the API."""

import pytest

from docs_portal import briefing_services, services
from docs_portal.models import FaqEntry, KnownIssue, ReleaseNotes
from rollouts.models import Event
from tests.api.test_auth import error_shape
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db

ROLES = ["manager", "approver", "support", "viewer"]
NOT_MANAGERS = ["approver", "support", "viewer"]


def issue_body(of, **extra):
    return {"release": of.pk, "title": "Saved cards missing", "description": "iOS only.", **extra}


def faq_body(of, **extra):
    return {"release": of.pk, "question": "Where is my card?", "answer": "Add it again.", **extra}


# --- Known issues -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_known_issues__any_role__adds_updates_reads(api_as, request, release, role):
    api = api_as(request.getfixturevalue(role))
    created = api.post("/api/v1/known-issues", issue_body(release))
    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "investigating" and created.json()["release_slug"] == "checkout"
    issue_id = created.json()["id"]
    updated = api.patch(f"/api/v1/known-issues/{issue_id}", {"status": "fixed"})
    assert updated.status_code == 200, updated.json()
    assert updated.json()["status"] == "fixed" and updated.json()["title"] == "Saved cards missing"
    assert api.get(f"/api/v1/known-issues/{issue_id}").json()["status"] == "fixed"
    assert [i["id"] for i in api.get("/api/v1/known-issues").json()["results"]] == [issue_id]
    verbs = list(Event.objects.filter(release=release).values_list("verb", flat=True).order_by("id"))
    assert verbs[-2:] == ["known_issue.added", "known_issue.updated"]


def test_known_issues__outsider__403(api_as, outsider, manager, release):
    issue = briefing_services.known_issue_create(actor=manager, release_id=release.pk, title="X")
    api = api_as(outsider)
    assert error_shape(api.get("/api/v1/known-issues")).get("code") == "no_role"
    assert api.post("/api/v1/known-issues", issue_body(release)).status_code == 403
    assert api.patch(f"/api/v1/known-issues/{issue.pk}", {"status": "fixed"}).status_code == 403
    assert KnownIssue.objects.get().status == "investigating"


def test_known_issues__read_only_token__cannot_write(api_as, manager, release):
    api = api_as(manager, scopes=["read"])
    response = api.post("/api/v1/known-issues", issue_body(release))
    assert response.status_code == 403 and error_shape(response)["code"] == "missing_scope"
    assert api.get("/api/v1/known-issues").status_code == 200
    assert not KnownIssue.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"title": ""}, "title"),
        ({"status": "solved"}, "status"),
        ({"status": "workaround"}, "workaround"),
        ({"release": 999999}, "release"),
        ({"release": "x"}, "release"),
    ],
)
def test_known_issues__bad_input__400_names_field(api, release, extra, field):
    response = api.post("/api/v1/known-issues", issue_body(release, **extra))
    assert response.status_code == 400, response.json()
    assert list(error_shape(response)["fields"]) == [field]
    assert not KnownIssue.objects.exists()


def test_known_issues__update_to_workaround_without_one__400_names_workaround(api, manager, release):
    issue = briefing_services.known_issue_create(actor=manager, release_id=release.pk, title="X")
    response = api.patch(f"/api/v1/known-issues/{issue.pk}", {"status": "workaround"})
    assert response.status_code == 400
    assert list(error_shape(response)["fields"]) == ["workaround"]


def test_known_issues__filters_and_ordering(api, manager, release):
    other = release_with_phases(owner=manager, slug="other")
    briefing_services.known_issue_create(actor=manager, release_id=release.pk, title="B")
    briefing_services.known_issue_create(actor=manager, release_id=release.pk, title="A", status="fixed")
    briefing_services.known_issue_create(actor=manager, release_id=other.pk, title="C")
    titles = [i["title"] for i in api.get("/api/v1/known-issues", {"release": release.pk}).json()["results"]]
    assert sorted(titles) == ["A", "B"]
    assert api.get("/api/v1/known-issues", {"status": "fixed"}).json()["count"] == 1
    ordered = api.get("/api/v1/known-issues", {"ordering": "title", "page_size": 2}).json()
    assert [i["title"] for i in ordered["results"]] == ["A", "B"] and ordered["count"] == 3
    assert api.get("/api/v1/known-issues", {"status": "nope"}).status_code == 400


# --- FAQ --------------------------------------------------------------------------------


def test_faq__manager__creates_edits_removes(api, release):
    created = api.post("/api/v1/faq", faq_body(release))
    assert created.status_code == 201, created.json()
    entry_id = created.json()["id"]
    second = api.post("/api/v1/faq", faq_body(release, question="Why?"))
    assert second.json()["position"] == created.json()["position"] + 1
    edited = api.patch(f"/api/v1/faq/{entry_id}", {"answer": "Add it once more."})
    assert edited.status_code == 200 and edited.json()["answer"] == "Add it once more."
    replaced = api.put(f"/api/v1/faq/{entry_id}", {"question": "Card?", "answer": "Yes."})
    assert replaced.status_code == 200 and replaced.json()["question"] == "Card?"
    assert api.delete(f"/api/v1/faq/{entry_id}").status_code == 204
    assert list(FaqEntry.objects.values_list("question", flat=True)) == ["Why?"]
    verbs = set(Event.objects.filter(release=release).values_list("verb", flat=True))
    assert {"faq.added", "faq.updated", "faq.removed"} <= verbs


@pytest.mark.parametrize("role", NOT_MANAGERS)
def test_faq__not_a_manager__reads_but_cannot_write(api_as, request, manager, release, role):
    entry = briefing_services.faq_create(actor=manager, release_id=release.pk, question="Q?", answer="A.")
    api = api_as(request.getfixturevalue(role))
    assert api.get("/api/v1/faq").json()["count"] == 1
    assert api.get(f"/api/v1/faq/{entry.pk}").status_code == 200
    assert api.post("/api/v1/faq", faq_body(release)).status_code == 403
    assert error_shape(api.patch(f"/api/v1/faq/{entry.pk}", {"answer": "B."}))["code"] == "permission_denied"
    assert api.delete(f"/api/v1/faq/{entry.pk}").status_code == 403
    assert FaqEntry.objects.get().answer == "A."


def test_faq__outsider_and_read_only_token__refused(api_as, outsider, manager, release):
    assert api_as(outsider).get("/api/v1/faq").status_code == 403
    response = api_as(manager, scopes=["read"]).post("/api/v1/faq", faq_body(release))
    assert response.status_code == 403 and error_shape(response)["code"] == "missing_scope"
    assert not FaqEntry.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"question": ""}, "question"), ({"answer": "   "}, "answer"), ({"release": 999999}, "release")],
)
def test_faq__bad_input__400_names_field(api, release, extra, field):
    response = api.post("/api/v1/faq", faq_body(release, **extra))
    assert response.status_code == 400, response.json()
    assert list(error_shape(response)["fields"]) == [field]


def test_faq__filter_by_release(api, manager, release):
    other = release_with_phases(owner=manager, slug="other")
    briefing_services.faq_create(actor=manager, release_id=release.pk, question="Q1?", answer="A.")
    briefing_services.faq_create(actor=manager, release_id=other.pk, question="Q2?", answer="A.")
    results = api.get("/api/v1/faq", {"release": other.pk}).json()["results"]
    assert [e["question"] for e in results] == ["Q2?"]


# --- Release notes ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_release_notes__any_role_reads(api_as, request, manager, release, role):
    api = api_as(request.getfixturevalue(role))
    empty = api.get(f"/api/v1/release-notes/{release.pk}")
    assert empty.status_code == 200 and empty.json()["body"] == "" and empty.json()["updated_at"] is None
    services.release_notes_save(release_id=release.pk, actor=manager, body="## New")
    assert api.get("/api/v1/release-notes/checkout").json()["body"] == "## New"


def test_release_notes__manager_writes__event_recorded(api, release):
    phase = release.phases.order_by("position").last()
    response = api.put(f"/api/v1/release-notes/{release.pk}", {"body": "## New", "visible_from_phase": phase.pk})
    assert response.status_code == 200, response.json()
    assert response.json()["visible_from_phase"] == phase.pk
    notes = ReleaseNotes.objects.get()
    assert (notes.body, notes.visible_from_phase_id) == ("## New", phase.pk)
    assert Event.objects.filter(release=release, verb="doc.release_notes_saved").count() == 1
    again = api.put(f"/api/v1/release-notes/{release.pk}", {"body": "## New", "visible_from_phase": phase.pk})
    assert again.status_code == 200
    assert Event.objects.filter(release=release, verb="doc.release_notes_saved").count() == 1


@pytest.mark.parametrize("role", NOT_MANAGERS)
def test_release_notes__not_a_manager__cannot_write(api_as, request, release, role):
    response = api_as(request.getfixturevalue(role)).put(f"/api/v1/release-notes/{release.pk}", {"body": "x"})
    assert response.status_code == 403 and error_shape(response)["code"] == "permission_denied"
    assert not ReleaseNotes.objects.exists()


def test_release_notes__outsider_and_read_only_token__refused(api_as, outsider, manager, release):
    assert api_as(outsider).get(f"/api/v1/release-notes/{release.pk}").status_code == 403
    response = api_as(manager, scopes=["read"]).put(f"/api/v1/release-notes/{release.pk}", {"body": "x"})
    assert response.status_code == 403 and error_shape(response)["code"] == "missing_scope"
    assert not ReleaseNotes.objects.exists()


def test_release_notes__phase_of_other_release__400_names_phase(api, manager, release):
    other = release_with_phases(owner=manager, slug="other")
    response = api.put(
        f"/api/v1/release-notes/{release.pk}", {"body": "x", "visible_from_phase": other.phases.first().pk}
    )
    assert response.status_code == 400
    assert list(error_shape(response)["fields"]) == ["visible_from_phase"]


def test_release_notes__missing_body__400_names_body(api, release):
    response = api.put(f"/api/v1/release-notes/{release.pk}", {})
    assert response.status_code == 400
    assert list(error_shape(response)["fields"]) == ["body"]


def test_release_notes__no_such_release__404(api):
    assert error_shape(api.get("/api/v1/release-notes/999999"))["code"] == "not_found"
    assert api.get("/api/v1/release-notes/no-such-release").status_code == 404
