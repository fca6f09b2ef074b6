"""Audiences, stakeholders, communication plans, messages and notices over the API."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from comms import outbox
from comms.models import Audience, Message, Notice, Stakeholder
from tests.api.test_auth import error_shape
from tests.factories import AudienceFactory, MessageFactory, NoticeFactory, StakeholderFactory

pytestmark = pytest.mark.django_db


# --- Audiences ------------------------------------------------------------------------


def test_audiences__list_with_counts__any_role_reads(api_as, support):
    customers = AudienceFactory(name="Customers")
    StakeholderFactory(audiences=[customers])
    body = api_as(support).get("/api/v1/audiences").json()["results"]
    assert body[0]["name"] == "Customers"
    assert (body[0]["member_count"], body[0]["reachable_count"]) == (1, 1)


def test_audience__create_edit_delete(api):
    created = api.post("/api/v1/audiences", {"name": "Support", "support_digest": True})
    assert created.status_code == 201, created.json()
    assert created.json()["support_digest"] is True
    audience_id = created.json()["id"]
    edited = api.patch(f"/api/v1/audiences/{audience_id}", {"description": "Tier 1 and 2"})
    assert edited.json()["description"] == "Tier 1 and 2"
    assert edited.json()["support_digest"] is True
    assert api.delete(f"/api/v1/audiences/{audience_id}").status_code == 204
    assert not Audience.objects.exists()


def test_audience__duplicate_name__400_names_name(api):
    AudienceFactory(name="Customers")
    response = api.post("/api/v1/audiences", {"name": "customers"})
    assert response.status_code == 400
    assert error_shape(response)["fields"] == {"name": ["An audience with this name exists."]}


def test_audience__in_use_by_running_release__delete_409(api, manager, release):
    audience = AudienceFactory()
    MessageFactory(plan__release=release, audiences=[audience])
    response = api.delete(f"/api/v1/audiences/{audience.pk}")
    assert response.status_code == 409
    assert response.json()["code"] == "in_use"


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_audience__write_not_a_manager__403(api_as, request, role):
    assert api_as(request.getfixturevalue(role)).post("/api/v1/audiences", {"name": "X"}).status_code == 403


# --- Stakeholders ---------------------------------------------------------------------


def test_stakeholder__create_with_audiences_then_edit(api):
    customers = AudienceFactory(name="Customers")
    beta = AudienceFactory(name="Beta testers")
    created = api.post(
        "/api/v1/stakeholders",
        {"email": "Ana@Example.COM", "name": "Ana Lima", "organisation": "Acme", "audiences": [customers.pk]},
    )
    assert created.status_code == 201, created.json()
    assert created.json()["email"] == "Ana@example.com"
    assert [m["audience_name"] for m in created.json()["memberships"]] == ["Customers"]
    sid = created.json()["id"]
    edited = api.patch(f"/api/v1/stakeholders/{sid}", {"audiences": [beta.pk]})
    assert [m["audience_name"] for m in edited.json()["memberships"]] == ["Beta testers"]
    renamed = api.patch(f"/api/v1/stakeholders/{sid}", {"name": "Ana L."})
    assert renamed.json()["name"] == "Ana L."
    assert [m["audience_name"] for m in renamed.json()["memberships"]] == ["Beta testers"]


def test_stakeholder__bad_email_and_unknown_audience__400_names_both(api):
    response = api.post("/api/v1/stakeholders", {"email": "not-an-email", "audiences": [999]})
    assert response.status_code == 400
    assert "email" in response.json()["fields"]


def test_stakeholder__duplicate_email__400(api):
    StakeholderFactory(email="ana@example.com")
    response = api.post("/api/v1/stakeholders", {"email": "ANA@example.com"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["email"]


def test_stakeholders__search_and_filter(api_as, viewer):
    customers = AudienceFactory(name="Customers")
    StakeholderFactory(email="ana@example.com", audiences=[customers])
    StakeholderFactory(email="ben@example.org")
    api = api_as(viewer)
    assert [s["email"] for s in api.get("/api/v1/stakeholders", {"q": "example.org"}).json()["results"]] == [
        "ben@example.org"
    ]
    by_audience = api.get("/api/v1/stakeholders", {"audience": customers.pk}).json()["results"]
    assert [s["email"] for s in by_audience] == ["ana@example.com"]


def test_stakeholder__support__cannot_add(api_as, support):
    assert api_as(support).post("/api/v1/stakeholders", {"email": "x@example.com"}).status_code == 403
    assert not Stakeholder.objects.exists()


# --- Plans and messages -----------------------------------------------------------------


def message_body(release, audience, **extra):
    return {
        "release": release.pk,
        "name": "Heads-up",
        "audiences": [audience.pk],
        "subject": "{{ release.name }} is coming",
        "body": "Hello {{ recipient.name }}",
        "trigger": "phase_start",
        "phase": release.phases.first().pk,
        "offset_minutes": -60,
        **extra,
    }


def test_message__create_then_plan_lists_it(api, release):
    audience = AudienceFactory()
    response = api.post("/api/v1/messages", message_body(release, audience))
    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "custom"
    plans = api.get("/api/v1/communication-plans", {"release": release.pk}).json()["results"]
    assert [m["name"] for m in plans[0]["messages"]] == ["Heads-up"]


def test_message__unknown_variable_and_no_phase__400_names_fields(api, release):
    audience = AudienceFactory()
    response = api.post("/api/v1/messages", message_body(release, audience, subject="{{ release.nope }}", phase=None))
    assert response.status_code == 400
    assert {"subject", "phase"} <= set(response.json()["fields"])


def test_message__webhook_url__masked_in_reads(api, release):
    response = api.post(
        "/api/v1/messages",
        message_body(
            release, AudienceFactory(), channel="webhook", webhook_url="https://hooks.slack.com/services/T0/B0/secret"
        ),
    )
    assert response.status_code == 201, response.json()
    assert response.json()["webhook_url"] == "https://hooks.slack.com/…"


def test_message__edit_and_delete(api, release):
    message = MessageFactory(
        plan__release=release, audiences=[AudienceFactory()], send_at=timezone.now() + timedelta(days=1)
    )
    edited = api.patch(f"/api/v1/messages/{message.pk}", {"subject": "New {{ release.version }}"})
    assert edited.status_code == 200, edited.json()
    assert edited.json()["subject"] == "New {{ release.version }}"
    assert api.delete(f"/api/v1/messages/{message.pk}").status_code == 204
    assert not Message.objects.filter(pk=message.pk).exists()


def test_message__require_before_phase__comms_gate_added(api, release):
    message = MessageFactory(
        plan__release=release,
        audiences=[AudienceFactory()],
        trigger="phase_start",
        phase=release.phases.first(),
    )
    response = api.post(
        f"/api/v1/messages/{message.pk}/require-before-phase", {"phase": release.phases.get(position=1).pk}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "comms_ready"


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_message__not_a_manager__403(api_as, request, release, role):
    response = api_as(request.getfixturevalue(role)).post("/api/v1/messages", message_body(release, AudienceFactory()))
    assert response.status_code == 403


def test_message__finished_release__403_as_the_page(api, manager, release):
    from rollouts import transitions

    transitions.release_cancel(release_id=release.pk, actor=manager)
    assert api.post("/api/v1/messages", message_body(release, AudienceFactory())).status_code == 403


# --- Notices ----------------------------------------------------------------------------


def test_notices__filter_by_status_and_release(api_as, support, release):
    message = MessageFactory(plan__release=release)
    failed = NoticeFactory(message=message, status=Notice.Status.FAILED, last_error="550 mailbox full")
    NoticeFactory(message=message)
    body = api_as(support).get("/api/v1/notices", {"status": "failed", "release": release.pk}).json()
    assert [n["id"] for n in body["results"]] == [failed.pk]
    assert body["results"][0]["last_error"] == "550 mailbox full"


def test_notice_retry__support__403_and_pending__409(api, api_as, support, release):
    notice = NoticeFactory(message=MessageFactory(plan__release=release))
    assert api_as(support).post(f"/api/v1/notices/{notice.pk}/retry").status_code == 403
    response = api.post(f"/api/v1/notices/{notice.pk}/retry")
    assert response.status_code == 409
    assert "Only failed notices" in response.json()["detail"]


def test_stakeholder__audience_id_beyond_the_database_range__400_not_500(api):
    # Found by schemathesis: a 22-digit id reached SQLite and overflowed.
    response = api.post("/api/v1/stakeholders", {"email": "a@example.com", "audiences": [1556798129887048892416]})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["audiences.0"]


# --- Forgetting a stakeholder ---------------------------------------------------------------


def test_stakeholder_delete__pending_notice_never_sent__sent_kept_without_the_person(
    api, django_capture_on_commit_callbacks
):
    # Given ana and ben with a notice each due now, one already claimed by a sender, and one
    # notice that went to ana before
    audience = AudienceFactory(name="Customers")
    ana = StakeholderFactory(email="ana@example.com", audiences=[audience])
    ben = StakeholderFactory(email="ben@example.com", audiences=[audience])
    message = MessageFactory(audiences=[audience])
    due = timezone.now() - timedelta(minutes=1)
    for person in (ana, ben):
        NoticeFactory(message=message, stakeholder=person, occurrence="at_time", due_at=due)
    sent = NoticeFactory(message=message, stakeholder=ana, occurrence="earlier", status="sent", sent_at=due)
    failed = NoticeFactory(message=message, stakeholder=ana, occurrence="retry-me", status="failed", due_at=due)
    token, claimed = outbox.claim_due()
    assert len(claimed) == 2
    # When ana asks to be forgotten
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/stakeholders/{ana.pk}")
    # Then nothing more goes to her, not even what a sender had claimed
    assert response.status_code == 204
    outbox.send_batch(token, claimed)
    outbox.send_batch(*outbox.claim_due(now=timezone.now() + timedelta(days=1)))
    assert [m.to for m in mail.outbox] == [["ben@example.com"]]
    assert not Stakeholder.objects.filter(pk=ana.pk).exists()
    assert not Notice.objects.filter(pk=failed.pk).exists()
    assert not Notice.objects.filter(recipient="ana@example.com").exists()
    sent.refresh_from_db()
    assert (sent.status, sent.stakeholder_id, sent.recipient) == ("sent", None, f"removed-{ana.pk}")
    assert api.get(f"/api/v1/stakeholders/{ana.pk}").status_code == 404


@pytest.mark.parametrize("role", ["approver", "support", "viewer"])
def test_stakeholder_delete__not_a_manager__403_kept(api_as, request, role):
    stakeholder = StakeholderFactory()
    response = api_as(request.getfixturevalue(role)).delete(f"/api/v1/stakeholders/{stakeholder.pk}")
    assert response.status_code == 403
    assert error_shape(response)["code"] == "permission_denied"
    assert Stakeholder.objects.filter(pk=stakeholder.pk).exists()


def test_stakeholder_delete__read_only_token__403_missing_scope(api_as, manager):
    stakeholder = StakeholderFactory()
    response = api_as(manager, scopes=["read"]).delete(f"/api/v1/stakeholders/{stakeholder.pk}")
    assert response.status_code == 403
    assert error_shape(response)["code"] == "missing_scope"
    assert Stakeholder.objects.filter(pk=stakeholder.pk).exists()


def test_stakeholder_delete__unknown_id__404(api):
    response = api.delete("/api/v1/stakeholders/999999")
    assert response.status_code == 404
    assert error_shape(response)["code"] == "not_found"
