"""Known issues (anyone with a role) and FAQ entries (release managers) edited inline on
the briefing: what is saved, what is refused, and what the timeline records."""

import pytest

from docs_portal import briefing_services
from docs_portal.models import FaqEntry, KnownIssue, KnownIssueStatus
from rollouts.models import Event
from rollouts.templatetags.rollouts_tags import EVENT_LABELS
from tests.docs_portal.briefing_factories import add_faq, add_known_issue
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db

BASE = "/briefings/checkout/"
HX = {"HTTP_HX_REQUEST": "true"}


def hx(target: str) -> dict:
    return {**HX, "HTTP_HX_TARGET": target}


# --- Known issues ------------------------------------------------------------------------


def test_known_issue_form__support_opens_it_inline(client, release, support):
    client.force_login(support)
    response = client.get(BASE + "known-issues/add/", **hx("known-issue-add-slot"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith("<form")
    assert 'hx-post="/briefings/checkout/known-issues/add/"' in html
    assert "Add a known issue" in html


def test_known_issue_add__support__saved_event_recorded_briefing_swapped(client, release, support):
    # Given support on the briefing
    client.force_login(support)
    # When they add a known issue inline
    response = client.post(
        BASE + "known-issues/add/",
        {
            "title": "Saved cards missing",
            "status": "workaround",
            "description": "Some EU customers see no saved cards.",
            "workaround": "Ask them to **log out and in**.",
        },
        **hx("known-issue-add-slot"),
    )
    # Then the issue is stored with who reported it
    issue = KnownIssue.objects.get()
    assert (issue.title, issue.status, issue.created_by, issue.updated_by) == (
        "Saved cards missing",
        KnownIssueStatus.WORKAROUND,
        support,
        support,
    )
    # And the fresh briefing replaces the whole body, showing it
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#briefing-body"
    assert response["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert "Saved cards missing" in html and "<strong>log out and in</strong>" in html
    assert "Known issue added." in html
    # And the release timeline records it, in words
    event = Event.objects.get(verb="known_issue.added")
    assert (event.actor, event.release_id, event.data["issue"], event.data["title"]) == (
        support,
        release.pk,
        issue.pk,
        "Saved cards missing",
    )
    assert "Lee Support</strong> added a known issue “Saved cards missing” (Workaround available)" in html


def test_known_issue_add__without_js__redirects_back(client, release, viewer):
    client.force_login(viewer)
    response = client.post(BASE + "known-issues/add/", {"title": "Slow page", "status": "investigating"})
    assert response.status_code == 303
    assert response["Location"] == BASE
    assert KnownIssue.objects.filter(title="Slow page", release=release).exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": "", "status": "investigating", "description": "Typed with care"}, "title", "Give the issue"),
        ({"title": "x" * 201, "status": "investigating", "description": "Typed with care"}, "title", "200"),
        ({"title": "Cards", "status": "workaround", "description": "Typed with care"}, "workaround", "Describe"),
        ({"title": "Cards", "status": "bogus", "description": "Typed with care"}, "status", "Choose one"),
    ],
)
def test_known_issue_add__bad_input__422_error_next_to_field_text_kept(client, release, support, data, field, message):
    client.force_login(support)
    # When support posts a bad known issue
    response = client.post(BASE + "known-issues/add/", data, **hx("known-issue-add-slot"))
    html = response.content.decode()
    # Then the form comes back with the error under the field and the typed text kept
    assert response.status_code == 422
    assert html.lstrip().startswith("<form")
    error = html.split(f'id="id_ki_new_{field}_error"')[1].split("</p>")[0]
    assert message in error
    assert "Typed with care</textarea>" in html
    assert not KnownIssue.objects.exists()
    assert not Event.objects.filter(verb__startswith="known_issue.").exists()


def test_known_issue_add__bad_input_without_js__422_page(client, release, support):
    client.force_login(support)
    response = client.post(BASE + "known-issues/add/", {"title": "", "status": "investigating"})
    assert response.status_code == 422
    assert "<html" in response.content.decode()


def test_known_issue_update__status_and_workaround__event_with_change(client, release, support, approver):
    issue = add_known_issue(release, support, title="Receipts twice", description="Some get two.")
    client.force_login(approver)
    # When an approver opens the inline form, it holds the current values
    form = client.get(BASE + f"known-issues/{issue.pk}/edit/", **hx(f"known-issue-{issue.pk}-slot")).content.decode()
    assert 'value="Receipts twice"' in form and "Some get two.</textarea>" in form
    # And when they mark it fixed
    response = client.post(
        BASE + f"known-issues/{issue.pk}/edit/",
        {"title": "Receipts twice", "status": "fixed", "description": "Some get two.", "workaround": ""},
        **hx(f"known-issue-{issue.pk}-slot"),
    )
    # Then it is fixed, and the timeline says who changed what
    assert response.status_code == 200
    issue.refresh_from_db()
    assert (issue.status, issue.updated_by, issue.created_by) == (KnownIssueStatus.FIXED, approver, support)
    event = Event.objects.get(verb="known_issue.updated")
    assert event.actor == approver
    assert event.data["changed"] == ["status"]
    assert event.data["previous_status"] == "investigating"
    assert "updated a known issue “Receipts twice” (Fixed)" in response.content.decode()


def test_known_issue_update__nothing_changed__no_event(release, support):
    issue = add_known_issue(release, support, title="Receipts twice", description="Line one\nline two")
    briefing_services.known_issue_update(
        actor=support, issue_id=issue.pk, title=" Receipts  twice ", description="Line one\r\nline two\r\n"
    )
    assert not Event.objects.filter(verb="known_issue.updated").exists()


def test_known_issue_update__bad_input__422_typed_text_kept(client, release, support):
    issue = add_known_issue(release, support, title="Receipts twice")
    client.force_login(support)
    response = client.post(
        BASE + f"known-issues/{issue.pk}/edit/",
        {"title": "", "status": "investigating", "description": "Now also on Android"},
        **hx(f"known-issue-{issue.pk}-slot"),
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert f'id="id_ki{issue.pk}_title_error"' in html
    assert "Now also on Android</textarea>" in html
    issue.refresh_from_db()
    assert issue.title == "Receipts twice"


def test_known_issue_edit__issue_of_another_release__404(client, release, manager, support):
    other = release_with_phases(owner=manager, slug="other")
    issue = add_known_issue(other, support)
    client.force_login(support)
    assert client.get(BASE + f"known-issues/{issue.pk}/edit/").status_code == 404
    assert client.post(BASE + f"known-issues/{issue.pk}/edit/", {"title": "x"}).status_code == 404


def test_known_issue__outsider_or_anonymous__refused(client, release, outsider):
    assert client.post(BASE + "known-issues/add/", {"title": "x", "status": "investigating"}).status_code == 302
    client.force_login(outsider)
    assert client.post(BASE + "known-issues/add/", {"title": "x", "status": "investigating"}).status_code == 403
    assert not KnownIssue.objects.exists()


def test_known_issue__release_page_timeline__labelled(client, release, manager, support):
    add_known_issue(release, support, title="Receipts twice")
    client.force_login(manager)
    assert "added a known issue" in client.get("/releases/checkout/").content.decode()


def test_event_labels__briefing_verbs__all_labelled():
    for verb in ("known_issue.added", "known_issue.updated", "faq.added", "faq.updated", "faq.removed"):
        assert verb in EVENT_LABELS


# --- FAQ -------------------------------------------------------------------------------


def test_faq_add__manager__saved_in_order_with_event(client, release, manager):
    client.force_login(manager)
    for question in ("First?", "Second?"):
        response = client.post(BASE + "faq/add/", {"question": question, "answer": "Yes."}, **hx("faq-add-slot"))
        assert response.status_code == 200
    assert list(FaqEntry.objects.values_list("question", "position")) == [("First?", 0), ("Second?", 1)]
    assert Event.objects.filter(verb="faq.added").count() == 2
    html = response.content.decode()
    assert html.index("First?") < html.index("Second?")


@pytest.mark.parametrize("role", ["support", "approver", "viewer"])
def test_faq_edit__not_a_release_manager__403(client, release, manager, role, request):
    entry = add_faq(release, manager)
    client.force_login(request.getfixturevalue(role))
    assert client.get(BASE + "faq/add/").status_code == 403
    assert client.post(BASE + "faq/add/", {"question": "Q?", "answer": "A."}).status_code == 403
    assert client.post(BASE + f"faq/{entry.pk}/edit/", {"question": "Q?", "answer": "A."}).status_code == 403
    assert client.post(BASE + f"faq/{entry.pk}/remove/").status_code == 403
    assert FaqEntry.objects.get().question == "Why?"


def test_faq_add__bad_input__422_typed_text_kept(client, release, manager):
    client.force_login(manager)
    response = client.post(BASE + "faq/add/", {"question": "", "answer": "An answer I typed"}, **hx("faq-add-slot"))
    html = response.content.decode()
    assert response.status_code == 422
    assert "Write the question" in html.split('id="id_faq_new_question_error"')[1]
    assert "An answer I typed</textarea>" in html
    assert not FaqEntry.objects.exists()


def test_faq_edit_and_remove__manager__events(client, release, manager):
    entry = add_faq(release, manager, question="Old?")
    client.force_login(manager)
    response = client.post(
        BASE + f"faq/{entry.pk}/edit/", {"question": "New?", "answer": "Because."}, **hx(f"faq-{entry.pk}-slot")
    )
    assert response.status_code == 200
    assert FaqEntry.objects.get().question == "New?"
    response = client.post(BASE + f"faq/{entry.pk}/remove/", **hx("briefing-body"))
    assert response.status_code == 200
    assert not FaqEntry.objects.exists()
    assert list(Event.objects.filter(verb__startswith="faq.").order_by("id").values_list("verb", flat=True)) == [
        "faq.added",
        "faq.updated",
        "faq.removed",
    ]
    assert "removed a briefing question “New?”" in response.content.decode()


def test_known_issue__markdown_with_script__sanitised(client, release, support):
    add_known_issue(
        release,
        support,
        title="<b>Bold</b> title",
        description="<script>alert(1)</script> [click](javascript:alert(2))",
        status="investigating",
    )
    client.force_login(support)
    html = client.get(BASE).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert 'href="javascript:' not in html
    assert "&lt;b&gt;Bold&lt;/b&gt; title" in html


# --- Admin ------------------------------------------------------------------------------


def test_admin__known_issues_faq_and_feeds__listed_without_tokens(client, release, support):
    from django.contrib.auth import get_user_model

    from docs_portal import calendar

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    add_known_issue(release, support, title="Receipts twice")
    add_faq(release, support, question="Where is my card?")
    feed, token = calendar.feed_create(user=support)
    client.force_login(admin)
    assert "Receipts twice" in client.get("/admin/docs_portal/knownissue/").content.decode()
    assert "Where is my card?" in client.get("/admin/docs_portal/faqentry/").content.decode()
    listing = client.get("/admin/docs_portal/calendarfeed/").content.decode()
    detail = client.get(f"/admin/docs_portal/calendarfeed/{feed.pk}/change/").content.decode()
    for html in (listing, detail):
        assert f"…{token[-4:]}" in html
        assert token not in html and feed.token_hash not in html
