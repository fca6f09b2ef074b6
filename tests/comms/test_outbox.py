"""The plan follows the rollout; the outbox sends each notice once."""

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from comms import outbox, planner
from comms.models import Audience, CommunicationPlan, Membership, Message, Notice, Stakeholder, Trigger
from rollouts import transitions
from rollouts.models import Phase
from tests.factories import RollbackStepFactory, release_with_phases

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_audience():
    audience = Audience.objects.create(name="Support")
    for i, email in enumerate(["ana@example.com", "Ben@Example.com"]):
        s = Stakeholder.objects.create(email=email, name=f"Person {i}")
        Membership.objects.create(stakeholder=s, audience=audience)
    return audience


def add_message(release, audience, **fields):
    plan, _ = CommunicationPlan.objects.get_or_create(release=release)
    defaults = {
        "name": "Heads-up",
        "subject": "{{ release.name }} {{ phase.name }} starts",
        "body": "Hello **{{ recipient.name }}**",
    }
    message = Message.objects.create(plan=plan, **{**defaults, **fields})
    message.audiences.add(audience)
    return message


def send_due(now=None):
    token, ids = outbox.claim_due(now=now)
    return outbox.send_batch(token, ids)


def test_plan__phase_start_message__one_notice_per_recipient_at_planned_time(manager, support_audience):
    release = release_with_phases(owner=manager)
    phase = release.phases.get(position=1)
    planned = timezone.now() + timedelta(days=1)
    Phase.objects.filter(pk=phase.pk).update(planned_start=planned)
    message = add_message(release, support_audience, trigger=Trigger.PHASE_START, phase=phase, offset_minutes=-60)
    planner.plan_release(release_id=release.pk)
    planner.plan_release(release_id=release.pk)  # twice: nothing new
    notices = Notice.objects.filter(message=message)
    assert sorted(notices.values_list("recipient", flat=True)) == ["ana@example.com", "ben@example.com"]
    assert {n.due_at for n in notices} == {planned - timedelta(minutes=60)}


def test_plan__planned_start_moves__pending_notices_retimed(manager, support_audience):
    release = release_with_phases(owner=manager)
    phase = release.phases.get(position=1)
    Phase.objects.filter(pk=phase.pk).update(planned_start=timezone.now() + timedelta(days=1))
    message = add_message(release, support_audience, trigger=Trigger.PHASE_START, phase=phase)
    planner.plan_release(release_id=release.pk)
    later = timezone.now() + timedelta(days=3)
    Phase.objects.filter(pk=phase.pk).update(planned_start=later)
    result = planner.plan_release(release_id=release.pk)
    assert result["retimed"] == 2
    assert set(Notice.objects.filter(message=message).values_list("due_at", flat=True)) == {later}


def test_plan__phase_starts_early__notice_due_at_actual_start(manager, approver, support_audience):
    release = release_with_phases(owner=manager, exposures=(10, 100))
    second = release.phases.get(position=1)
    Phase.objects.filter(pk=second.pk).update(planned_start=timezone.now() + timedelta(days=2))
    message = add_message(release, support_audience, trigger=Trigger.PHASE_START, phase=second)
    transitions.release_start(release_id=release.pk, actor=manager)
    release.refresh_from_db()
    transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
    transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
    planner.plan_release(release_id=release.pk)
    second.refresh_from_db()
    assert set(Notice.objects.filter(message=message).values_list("due_at", flat=True)) == {second.started_at}


def test_plan__release_paused__future_phase_notices_held_then_retimed_on_resume(manager, support_audience):
    release = release_with_phases(owner=manager)
    phase = release.phases.get(position=2)
    planned = timezone.now() + timedelta(hours=5)
    Phase.objects.filter(pk=phase.pk).update(planned_start=planned)
    message = add_message(release, support_audience, trigger=Trigger.PHASE_START, phase=phase)
    transitions.release_start(release_id=release.pk, actor=manager)
    transitions.release_pause(release_id=release.pk, actor=manager)
    planner.plan_release(release_id=release.pk)
    assert set(Notice.objects.filter(message=message).values_list("due_at", flat=True)) == {None}
    assert outbox.claim_due(now=timezone.now() + timedelta(days=30))[1] == []
    transitions.release_resume(release_id=release.pk, actor=manager)
    planner.plan_release(release_id=release.pk)
    assert set(Notice.objects.filter(message=message).values_list("due_at", flat=True)) == {planned}


def test_plan__rollback__pending_cancelled_and_rollback_message_due_now(manager, support_audience):
    release = release_with_phases(owner=manager)
    RollbackStepFactory(release=release)
    later = release.phases.get(position=2)
    Phase.objects.filter(pk=later.pk).update(planned_start=timezone.now() + timedelta(days=1))
    heads_up = add_message(release, support_audience, trigger=Trigger.PHASE_START, phase=later)
    rollback_msg = add_message(release, support_audience, name="Rollback", trigger=Trigger.ON_ROLLBACK)
    transitions.release_start(release_id=release.pk, actor=manager)
    planner.plan_release(release_id=release.pk)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="Errors")
    planner.plan_release(release_id=release.pk)
    assert set(Notice.objects.filter(message=heads_up).values_list("status", flat=True)) == {"cancelled"}
    rollback_notices = Notice.objects.filter(message=rollback_msg)
    assert rollback_notices.count() == 2 and set(rollback_notices.values_list("status", flat=True)) == {"pending"}
    report = send_due()
    assert report.sent == 2
    assert len(mail.outbox) == 2


def test_send__email__multipart_headers_and_stable_message_id(manager, support_audience):
    release = release_with_phases(owner=manager)
    add_message(release, support_audience, send_at=timezone.now() - timedelta(minutes=1))
    planner.plan_release(release_id=release.pk)
    send_due()
    assert len(mail.outbox) == 2
    email = mail.outbox[0]
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.extra_headers["List-Unsubscribe"].startswith("<http")
    notice = Notice.objects.get(recipient=email.to[0].lower())
    assert email.extra_headers["Message-ID"] == f"<notice-{notice.pk}@127.0.0.1>"
    assert "<strong>Person" in email.alternatives[0][0]
    assert notice.status == "sent" and notice.sent_at is not None
    # sent notices are never claimed again
    assert outbox.claim_due(now=timezone.now() + timedelta(days=1))[1] == []


def test_send__same_batch_delivered_twice__each_notice_sent_once(manager, support_audience):
    release = release_with_phases(owner=manager)
    add_message(release, support_audience, send_at=timezone.now() - timedelta(minutes=1))
    planner.plan_release(release_id=release.pk)
    token, ids = outbox.claim_due()
    outbox.send_batch(token, ids)
    again = outbox.send_batch(token, ids)
    assert len(mail.outbox) == 2 and again.sent == 0


def test_send__unsubscribed_after_claim__nothing_sent(manager, support_audience):
    release = release_with_phases(owner=manager)
    add_message(release, support_audience, send_at=timezone.now() - timedelta(minutes=1))
    planner.plan_release(release_id=release.pk)
    token, ids = outbox.claim_due()
    Stakeholder.objects.filter(email="ana@example.com").update(opted_out_at=timezone.now())
    report = outbox.send_batch(token, ids)
    assert report.sent == 1 and report.cancelled == 1
    assert [m.to for m in mail.outbox] == [["Ben@Example.com"]]


def test_send__subject_with_newlines__no_header_injection(manager, support_audience):
    release = release_with_phases(owner=manager, name="Evil\r\nBcc: victim@example.com")
    add_message(release, support_audience, send_at=timezone.now() - timedelta(minutes=1))
    planner.plan_release(release_id=release.pk)
    send_due()
    message = mail.outbox[0].message()
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]


class FlakyBackend:
    """A mail connection that answers with a scripted SMTP error."""

    answers: list = []

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        answer = FlakyBackend.answers.pop(0) if FlakyBackend.answers else None
        if answer is not None:
            raise smtplib.SMTPDataError(answer[0], answer[1])
        mail.outbox.extend(messages)
        return len(messages)


def test_send__451_then_ok__retried_with_backoff(manager, support_audience, settings):
    settings.EMAIL_BACKEND = "tests.comms.test_outbox.FlakyBackend"
    FlakyBackend.answers = [(451, b"Try again later"), None]
    release = release_with_phases(owner=manager)
    audience = Audience.objects.create(name="One")
    Membership.objects.create(stakeholder=Stakeholder.objects.get(email="ana@example.com"), audience=audience)
    add_message(release, audience, send_at=timezone.now() - timedelta(minutes=1))
    planner.plan_release(release_id=release.pk)
    report = send_due()
    notice = Notice.objects.get()
    assert report.retried == 1 and notice.status == "pending" and notice.last_error == "451 Try again later"
    assert notice.due_at > timezone.now() + timedelta(seconds=20)
    report = send_due(now=notice.due_at + timedelta(seconds=1))
    notice.refresh_from_db()
    assert report.sent == 1 and notice.status == "sent" and notice.attempts == 2


def test_send__550__failed_once_with_the_server_answer(manager, support_audience, settings):
    settings.EMAIL_BACKEND = "tests.comms.test_outbox.FlakyBackend"
    FlakyBackend.answers = [(550, b"No such user")]
    release = release_with_phases(owner=manager)
    audience = Audience.objects.create(name="One")
    Membership.objects.create(stakeholder=Stakeholder.objects.get(email="ana@example.com"), audience=audience)
    add_message(release, audience, send_at=timezone.now() - timedelta(minutes=1))
    planner.plan_release(release_id=release.pk)
    report = send_due()
    notice = Notice.objects.get()
    assert report.failed == 1 and notice.status == "failed" and notice.last_error == "550 No such user"
    assert outbox.claim_due(now=timezone.now() + timedelta(days=1))[1] == []
    assert outbox.retry_failed(notice.pk)


def test_replan__stakeholder_joins_audience__gets_notices_still_to_come(
    manager, support_audience, django_capture_on_commit_callbacks
):
    from comms import services

    release = release_with_phases(owner=manager)
    message = add_message(release, support_audience, send_at=timezone.now() + timedelta(hours=1))
    planner.plan_release(release_id=release.pk)
    assert Notice.objects.filter(message=message).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        services.stakeholder_create(
            actor=manager, email="new@example.com", name="New", audience_ids=[support_audience.pk]
        )
    assert Notice.objects.filter(message=message, recipient="new@example.com", status="pending").exists()


def test_replan__stakeholder_opts_out__pending_notices_cancelled(
    manager, support_audience, django_capture_on_commit_callbacks
):
    from comms import services

    release = release_with_phases(owner=manager)
    message = add_message(release, support_audience, send_at=timezone.now() + timedelta(hours=1))
    planner.plan_release(release_id=release.pk)
    ana = Stakeholder.objects.get(email="ana@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        services.stakeholder_unsubscribe_all(ana.pk, "test")
    notice = Notice.objects.get(message=message, recipient="ana@example.com")
    assert notice.status == "cancelled" and notice.cancelled_reason == "No longer in the plan."


def test_render__personal_values_in_markdown_link_and_emphasis__filled_and_escaped(manager, support_audience):
    release = release_with_phases(owner=manager)
    Stakeholder.objects.filter(email="ana@example.com").update(name="Ana <script>")
    add_message(
        release,
        support_audience,
        send_at=timezone.now() - timedelta(minutes=1),
        body="Dear _{{ recipient.name }}_, [stop these]({{ unsubscribe_url }}).",
    )
    planner.plan_release(release_id=release.pk)
    send_due()
    email = next(m for m in mail.outbox if m.to == ["ana@example.com"])
    html = email.alternatives[0][0]
    assert "<em>Ana &lt;script&gt;</em>" in html
    assert 'href="http://127.0.0.1:8000/u/' in html
    assert "Dear _Ana <script>_" in email.body
