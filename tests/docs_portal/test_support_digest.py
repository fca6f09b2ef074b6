"""The support digest: when a phase starts, everyone in a support-digest audience gets one
short email linking to the briefing, through the comms outbox, exactly once."""

import re

import pytest
from django.core.exceptions import ValidationError

from comms import outbox, plan_services, planner, services, tasks
from comms.models import Audience, Membership, Message, MessageKind, Notice, Stakeholder
from rollouts import transitions
from rollouts.models import Event
from tests.factories import RollbackStepFactory
from tests.smtp import smtp_server_fixture  # noqa: F401 - the smtp_server fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def digest_audience(manager):
    audience = services.audience_create(actor=manager, name="Support", support_digest=True)
    for email, name in (("ana@example.com", "Ana"), ("ben@example.com", "Ben")):
        Membership.objects.create(stakeholder=Stakeholder.objects.create(email=email, name=name), audience=audience)
    return audience


@pytest.fixture
def customers(manager):
    """An audience without the digest: its members hear nothing from it."""
    audience = services.audience_create(actor=manager, name="Customers")
    Membership.objects.create(stakeholder=Stakeholder.objects.create(email="cat@example.com"), audience=audience)
    return audience


@pytest.fixture
def smtp_settings(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return smtp_server


def start(release, manager, capture):
    """Start the release the way the product does: the transition commits, then its Event
    reaches the comms handler, which plans the release's notices."""
    with capture(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    return release


def advance(release, manager, approver, capture):
    release.refresh_from_db()
    with capture(execute=True):
        transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
        transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
    release.refresh_from_db()
    return release


def digest_notices(release):
    return Notice.objects.filter(message__plan__release=release, message__kind=MessageKind.SUPPORT_DIGEST)


def test_digest__phase_starts__one_notice_per_digest_stakeholder(
    release, manager, digest_audience, customers, django_capture_on_commit_callbacks
):
    # When the release starts (its first phase starts)
    start(release, manager, django_capture_on_commit_callbacks)
    # Then the plan has its one built-in digest, addressed to the digest audiences only
    digest = Message.objects.get(plan__release=release, kind=MessageKind.SUPPORT_DIGEST)
    assert list(digest.audiences.all()) == [digest_audience]
    # And there is one notice per support stakeholder for this phase start, due now
    notices = digest_notices(release)
    assert sorted(notices.values_list("recipient", flat=True)) == ["ana@example.com", "ben@example.com"]
    phase = release.current_phase
    assert set(notices.values_list("occurrence", "due_at")) == {(f"phase:{phase.pk}:start", phase.started_at)}


def test_digest__handler_run_twice_and_replanned__still_one_each(
    release, manager, digest_audience, django_capture_on_commit_callbacks
):
    # Given a started release with its digest notices
    start(release, manager, django_capture_on_commit_callbacks)
    event = Event.objects.get(release=release, verb="release.started")
    # When the event handler runs again (a redelivered task) and the planner runs twice more
    tasks.on_release_event(event.pk)
    tasks.on_release_event(event.pk)
    planner.plan_release(release_id=release.pk)
    planner.plan_release(release_id=release.pk)
    # Then there is still one digest message and one notice per stakeholder
    assert Message.objects.filter(plan__release=release, kind=MessageKind.SUPPORT_DIGEST).count() == 1
    assert digest_notices(release).count() == 2


def test_digest__sent_through_outbox_to_smtp__briefing_and_unsubscribe_links(
    release, manager, approver, digest_audience, smtp_settings, django_capture_on_commit_callbacks
):
    smtp_server = smtp_settings
    # Given the release started and moved to its second phase (the first digest went out before)
    start(release, manager, django_capture_on_commit_callbacks)
    assert outbox.drain(seconds=5).sent == 2
    advance(release, manager, approver, django_capture_on_commit_callbacks)
    # When the outbox sends what is due
    report = outbox.drain(seconds=5)
    # Then each support stakeholder got one digest per phase start, through the real server
    assert report.sent == 2
    messages = smtp_server.wait_for(lambda msgs: len(msgs) == 4)
    assert sorted(m.to for m in messages) == [
        "ana@example.com",
        "ana@example.com",
        "ben@example.com",
        "ben@example.com",
    ]
    assert smtp_server.duplicates() == {}
    latest = [m for m in smtp_server.to("ana@example.com") if "Phase 2" in m.subject]
    assert len(latest) == 1
    mail = latest[0]
    assert mail.subject == "Checkout 2.0.0: “Phase 2” started, 10% have it"
    text, html = mail.part("text/plain"), mail.part("text/html")
    # With the absolute briefing URL, in both parts
    assert "http://127.0.0.1:8000/briefings/checkout/" in text
    assert 'href="http://127.0.0.1:8000/briefings/checkout/"' in html
    assert "Hello Ana" in text
    # And the unsubscribe machinery: header, one-click, link in the footer
    assert mail.list_unsubscribe.startswith("<http://127.0.0.1:8000/u/")
    assert mail.list_unsubscribe_post == "List-Unsubscribe=One-Click"
    assert mail.list_unsubscribe.strip("<>") in text
    # And sending again sends nothing more
    assert outbox.drain(seconds=2).sent == 0
    assert smtp_server.count() == 4


def test_digest__unsubscribed_stakeholders__get_nothing(
    release, manager, digest_audience, customers, smtp_settings, django_capture_on_commit_callbacks
):
    smtp_server = smtp_settings
    # Given, before the start, Ana opted out of everything and Ben (also a customer) chose
    # to hear only as a customer, both through their preferences link
    ana = Stakeholder.objects.get(email="ana@example.com")
    ben = Stakeholder.objects.get(email="ben@example.com")
    Membership.objects.create(stakeholder=ben, audience=customers)
    services.stakeholder_set_preferences(ana.pk, [])
    services.stakeholder_set_preferences(ben.pk, [customers.pk])
    # When the release starts and the outbox runs
    start(release, manager, django_capture_on_commit_callbacks)
    outbox.drain(seconds=2)
    # Then nobody got the digest
    assert digest_notices(release).count() == 0
    assert smtp_server.count() == 0


def test_digest__unsubscribed_after_planning__cancelled_not_sent(
    release, manager, digest_audience, smtp_settings, django_capture_on_commit_callbacks
):
    smtp_server = smtp_settings
    start(release, manager, django_capture_on_commit_callbacks)
    Stakeholder.objects.filter(email="ben@example.com").update(opted_out_at=release.started_at)
    outbox.drain(seconds=2)
    assert [m.to for m in smtp_server.messages()] == ["ana@example.com"]
    assert digest_notices(release).get(recipient="ben@example.com").status == Notice.Status.CANCELLED


def test_digest__no_digest_audience__no_digest_message(release, manager, customers, django_capture_on_commit_callbacks):
    start(release, manager, django_capture_on_commit_callbacks)
    assert not Message.objects.filter(kind=MessageKind.SUPPORT_DIGEST).exists()
    assert not Notice.objects.exists()


def test_digest__pending_when_next_phase_starts__superseded(
    release, manager, approver, digest_audience, django_capture_on_commit_callbacks
):
    # Given phase 1's digests not sent yet (no outbox run) when phase 2 starts
    start(release, manager, django_capture_on_commit_callbacks)
    first = release.current_phase
    advance(release, manager, approver, django_capture_on_commit_callbacks)
    # Then phase 1's are cancelled with the reason, and phase 2's are due
    old = digest_notices(release).filter(occurrence=f"phase:{first.pk}:start")
    assert set(old.values_list("status", flat=True)) == {Notice.Status.CANCELLED}
    assert "later phase" in old.first().cancelled_reason
    new = digest_notices(release).filter(occurrence=f"phase:{release.current_phase_id}:start")
    assert set(new.values_list("status", flat=True)) == {Notice.Status.PENDING}


def test_digest__rollback__pending_digests_cancelled(
    release, manager, digest_audience, django_capture_on_commit_callbacks
):
    RollbackStepFactory(release=release)
    start(release, manager, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_rollback(release_id=release.pk, actor=manager, reason="Errors")
    assert set(digest_notices(release).values_list("status", flat=True)) == {Notice.Status.CANCELLED}


def test_digest__audience_marked_later__running_release_follows(
    release, manager, customers, django_capture_on_commit_callbacks
):
    # Given a running release and no digest audience yet
    start(release, manager, django_capture_on_commit_callbacks)
    assert not digest_notices(release).exists()
    # When a manager marks the customers audience for the digest (as the audience form does)
    with django_capture_on_commit_callbacks(execute=True):
        services.audience_update(audience_id=customers.pk, actor=manager, name="Customers", support_digest=True)
    # Then the running release's current phase is announced to it
    assert list(digest_notices(release).values_list("recipient", flat=True)) == ["cat@example.com"]


def test_digest__built_in_message__cannot_be_edited_removed_or_required(
    release, manager, digest_audience, django_capture_on_commit_callbacks
):
    start(release, manager, django_capture_on_commit_callbacks)
    digest = Message.objects.get(kind=MessageKind.SUPPORT_DIGEST)
    with pytest.raises(ValidationError, match="built in"):
        plan_services.message_update(actor=manager, message_id=digest.pk, subject="Hi")
    with pytest.raises(ValidationError, match="built in"):
        plan_services.message_delete(actor=manager, message_id=digest.pk)
    with pytest.raises(ValidationError, match="built in"):
        plan_services.message_require_before_phase(
            actor=manager, message_id=digest.pk, phase_id=release.phases.last().pk
        )


def test_digest__audience_form__flag_editable(client, manager):
    client.force_login(manager)
    response = client.post("/comms/audiences/new/", {"name": "Tech support", "support_digest": "on"})
    assert response.status_code == 303
    audience = Audience.objects.get(name="Tech support")
    assert audience.support_digest
    edit = client.get(f"/comms/audiences/{audience.pk}/edit/").content.decode()
    assert re.search(r'<input[^>]*name="support_digest"[^>]*checked', edit)
    client.post(f"/comms/audiences/{audience.pk}/edit/", {"name": "Tech support"})
    audience.refresh_from_db()
    assert not audience.support_digest


def test_digest__plan_page__shown_as_built_in(
    client, release, manager, digest_audience, django_capture_on_commit_callbacks
):
    start(release, manager, django_capture_on_commit_callbacks)
    client.force_login(manager)
    html = client.get("/comms/releases/checkout/plan/").content.decode()
    assert "Support digest" in html and "built in" in html
    digest = Message.objects.get(kind=MessageKind.SUPPORT_DIGEST)
    assert f"/messages/{digest.pk}/edit/" not in html


def test_render__briefing_and_docs_urls__point_at_the_portal(release, manager):
    from comms.render import context_for

    context = context_for(Message(subject="", body=""), release)
    assert context["release.briefing_url"] == "http://127.0.0.1:8000/briefings/checkout/"
    assert context["release.docs_url"] == "http://127.0.0.1:8000/docs/"
