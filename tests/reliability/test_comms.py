"""Stakeholder notices as they go out in production: a real Celery worker and beat (separate
processes) send through a real SMTP server on loopback (tests/smtp.py, aiosmtpd).

The test process sets releases and plans up through the ORM, rollouts.transitions and
rollouts.services; each committed Event reaches comms.tasks.on_release_event, which enqueues
comms.tasks.plan_release for the worker. The worker reads EMAIL_URL (the loopback server) and
SITE_URL when it starts; beat runs comms.tasks.outbox_tick every ENGINE_TICK_SECONDS (1 s here).
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from comms.models import Audience, CommunicationPlan, Membership, Message, Notice, Stakeholder, Trigger
from rollouts import services, transitions
from tests.factories import RollbackStepFactory, release_with_phases
from tests.reliability.conftest import wait_until
from tests.smtp import smtp_server_fixture  # noqa: F401 - the `smtp_server` fixture

pytestmark = pytest.mark.reliability

SITE = "https://flightdeck.example.com"
ANA, BEN = "ana@example.com", "Ben@Example.com"


# --- Setting up -----------------------------------------------------------------------


def audience_of(*emails: str, name: str = "Support") -> Audience:
    audience = Audience.objects.create(name=name)
    for i, email in enumerate(emails):
        stakeholder = Stakeholder.objects.create(email=email, name=f"Person {i}")
        Membership.objects.create(stakeholder=stakeholder, audience=audience)
    return audience


def add_message(release, audience, **fields) -> Message:
    plan, _ = CommunicationPlan.objects.get_or_create(release=release)
    defaults = {
        "name": "Heads-up",
        "subject": "{{ release.name }} {{ release.version }}: {{ phase.name }}",
        "body": "Hello **{{ recipient.name }}**, {{ release.name }} is at {{ release.exposure }}.",
    }
    message = Message.objects.create(plan=plan, **{**defaults, **fields})
    message.audiences.add(audience)
    return message


def start_worker_and_beat(celery_procs, smtp_server, **env):
    """The worker reads EMAIL_URL at start: it sends to the loopback server."""
    worker = celery_procs.worker(EMAIL_URL=smtp_server.email_url, SITE_URL=SITE, **env)
    beat = celery_procs.beat()
    celery_procs.wait_for_log(worker, " ready.", timeout=60)
    return worker, beat


def notices_of(message) -> list[Notice]:
    return list(Notice.objects.filter(message=message).order_by("id"))


def statuses(message) -> list[str]:
    return [n.status for n in notices_of(message)]


def draft_release(owner, **kw):
    return release_with_phases(owner=owner, exposures=(10, 50, 100), gates_per_phase=0, **kw)


# --- Tests ----------------------------------------------------------------------------


def test_scheduled_notice__arrives_after_its_due_time_never_before(celery_procs, smtp_server, manager):
    audience = audience_of(ANA, BEN)
    start_worker_and_beat(celery_procs, smtp_server)
    release = draft_release(manager, name="Checkout", version="2.0.0", slug="checkout")
    due = timezone.now() + timedelta(seconds=2)
    message = add_message(release, audience, trigger=Trigger.AT_TIME, send_at=due)

    # release.started → on_release_event → plan_release in the worker → two notices due at `due`
    transitions.release_start(release_id=release.pk, actor=manager)
    wait_until(lambda: len(notices_of(message)) == 2, timeout=20, message="the worker never planned the notices")
    received = smtp_server.wait_for(lambda msgs: len(msgs) >= 2, timeout=30, message="the notices never arrived")
    time.sleep(2.5)  # more ticks: nothing more goes out

    assert len(smtp_server.messages()) == 2
    for mail in received:
        assert mail.at >= due.timestamp(), f"arrived {due.timestamp() - mail.at:.3f} s before its due time"
    by_recipient = {m.to.lower(): m for m in received}
    assert set(by_recipient) == {"ana@example.com", "ben@example.com"}
    for notice in notices_of(message):
        mail = by_recipient[notice.recipient]
        assert notice.status == Notice.Status.SENT and notice.attempts == 1
        assert notice.sent_at >= due
        assert mail.message_id == f"<notice-{notice.pk}@flightdeck.example.com>"
        assert mail.subject == "Checkout 2.0.0: Phase 1"
        assert mail.list_unsubscribe.startswith(f"<{SITE}/")
        assert mail.list_unsubscribe_post == "List-Unsubscribe=One-Click"
        assert mail.message.get_content_type() == "multipart/alternative"
        assert "Hello **Person" in mail.part("text/plain")
        assert "<strong>Person" in mail.part("text/html")
    # Connection reuse: both went over one SMTP connection.
    assert len({m.peer for m in received}) == 1


def test_phase_planned_start_moves__notices_arrive_at_the_new_time_not_the_old(celery_procs, smtp_server, manager):
    audience = audience_of(ANA, BEN)
    start_worker_and_beat(celery_procs, smtp_server)
    release = draft_release(manager, name="Search", slug="search")
    later_phase, earlier_phase = release.phases.get(position=1), release.phases.get(position=2)
    later = add_message(release, audience, name="Moves later", trigger=Trigger.PHASE_START, phase=later_phase)
    earlier = add_message(release, audience, name="Moves earlier", trigger=Trigger.PHASE_START, phase=earlier_phase)

    def plan_start(phase, at):
        # plan.phase_edited → on_release_event → plan_release in the worker
        services.phase_update(
            phase_id=phase.pk, actor=manager, exposure_percent=phase.exposure_percent, planned_start=at
        )

    def due_times(message):
        return {n.due_at for n in notices_of(message)}

    now = timezone.now()
    old_later, old_earlier = now + timedelta(seconds=6), now + timedelta(hours=1)
    plan_start(later_phase, old_later)
    plan_start(earlier_phase, old_earlier)
    wait_until(
        lambda: (
            len(notices_of(later)) == 2 == len(notices_of(earlier))
            and due_times(later) == {old_later}
            and due_times(earlier) == {old_earlier}
        ),
        timeout=20,
        message="the worker never planned the notices at the first planned starts",
    )

    new_later, new_earlier = old_later + timedelta(seconds=6), timezone.now() + timedelta(seconds=3)
    plan_start(later_phase, new_later)
    plan_start(earlier_phase, new_earlier)
    wait_until(
        lambda: due_times(later) == {new_later} and due_times(earlier) == {new_earlier},
        timeout=20,
        message="the pending notices were not re-timed",
    )
    assert timezone.now() < old_later, "re-timed only after the old time passed; the test cannot tell"

    received = smtp_server.wait_for(lambda msgs: len(msgs) >= 4, timeout=40, message="the moved notices never arrived")
    time.sleep(2)
    assert len(smtp_server.messages()) == 4
    for mail in received:
        due = new_later if mail.subject.endswith(later_phase.name) else new_earlier
        assert mail.at >= due.timestamp(), f"{mail.subject!r} arrived before its new time"
    ids_later = {f"<notice-{n.pk}@flightdeck.example.com>" for n in notices_of(later)}
    assert {m.message_id for m in received if m.at >= new_later.timestamp()} >= ids_later
    assert not [m for m in received if m.message_id in ids_later and m.at < new_later.timestamp()]
    assert statuses(later) == statuses(earlier) == ["sent", "sent"]


def test_rollback__pending_notices_cancelled_and_the_rollback_message_goes_out(celery_procs, smtp_server, manager):
    audience = audience_of(ANA, BEN)
    start_worker_and_beat(celery_procs, smtp_server)
    release = draft_release(manager, name="Payments", slug="payments")
    RollbackStepFactory(release=release, title="Flip the flag back")  # manual: the rollback stays open
    next_phase = release.phases.get(position=1)
    heads_up_at = timezone.now() + timedelta(seconds=6)
    next_phase.planned_start = heads_up_at
    next_phase.save(update_fields=["planned_start"])
    heads_up = add_message(
        release, audience, name="Heads-up", trigger=Trigger.PHASE_START, phase=next_phase, subject="Widening soon"
    )
    rollback = add_message(
        release, audience, name="Rollback", trigger=Trigger.ON_ROLLBACK, subject="{{ release.name }} rolled back"
    )

    transitions.release_start(release_id=release.pk, actor=manager)
    wait_until(
        lambda: statuses(heads_up) == ["pending", "pending"], timeout=20, message="heads-up notices never planned"
    )
    assert not notices_of(rollback)

    transitions.release_rollback(release_id=release.pk, actor=manager, reason="Error rate up")
    received = smtp_server.wait_for(lambda msgs: len(msgs) >= 2, timeout=30, message="the rollback notices never came")
    assert sorted(m.to.lower() for m in received) == ["ana@example.com", "ben@example.com"]
    assert {m.subject for m in received} == {"Payments rolled back"}
    assert statuses(rollback) == ["sent", "sent"]
    assert statuses(heads_up) == ["cancelled", "cancelled"]
    assert {n.cancelled_reason for n in notices_of(heads_up)} == {"The release was rolled back."}

    # The heads-up's time passes: it stays cancelled and never reaches the server.
    wait_until(lambda: timezone.now() > heads_up_at + timedelta(seconds=2), timeout=15)
    assert len(smtp_server.messages()) == 2
    assert statuses(heads_up) == ["cancelled", "cancelled"]


def test_unsubscribed_after_the_claim__gets_nothing(celery_procs, smtp_server, manager):
    """Ana's DATA is held at the server while the worker is inside the batch that also holds
    Ben's claimed notice; Ben opts out then (a direct update of Stakeholder.opted_out_at, as
    the one-click unsubscribe does); the worker checks again right before sending to Ben."""
    audience = audience_of(ANA, BEN)
    hold = smtp_server.hold(ANA)
    start_worker_and_beat(celery_procs, smtp_server)
    release = draft_release(manager, name="Billing", slug="billing")
    message = add_message(release, audience, trigger=Trigger.AT_TIME, send_at=timezone.now())

    transitions.release_start(release_id=release.pk, actor=manager)
    assert hold.reached.wait(30), "Ana's notice never reached the server"
    ana_notice, ben_notice = notices_of(message)  # Ana's stakeholder row is older: sent first
    assert ana_notice.recipient == "ana@example.com" and ana_notice.status == Notice.Status.SENDING
    # Ben's notice is claimed by the same batch: a claim token and a lease, not started yet.
    assert ben_notice.status == Notice.Status.PENDING
    assert ben_notice.claim_token and ben_notice.claimed_until > timezone.now()
    assert ben_notice.claim_token != ana_notice.claim_token  # Ana's moved on to "sending"

    Stakeholder.objects.filter(email=BEN).update(opted_out_at=timezone.now())
    hold.release()
    wait_until(lambda: statuses(message) == ["sent", "cancelled"], timeout=20, message=f"got {statuses(message)}")
    time.sleep(2.5)  # more ticks
    assert [m.to.lower() for m in smtp_server.messages()] == ["ana@example.com"]
    assert smtp_server.rcpt_attempts["ben@example.com"] == 0
    ben_notice.refresh_from_db()
    assert ben_notice.cancelled_reason == "The stakeholder unsubscribed." and ben_notice.sent_at is None


def test_451_then_success__retried_with_backoff(celery_procs, smtp_server, manager):
    """Ana is greylisted at RCPT, Ben's DATA gets a 451: both are retried. The first retry is
    due 30 s later (comms.outbox.backoff); after seeing that, the test moves due_at to now
    so it does not wait those 30 s."""
    audience = audience_of(ANA, BEN)
    smtp_server.script(ANA, "451 4.7.1 Greylisted, try again later", stage="rcpt")
    smtp_server.script(BEN, "451 4.3.0 Mailbox busy", stage="data")
    start_worker_and_beat(celery_procs, smtp_server)
    release = draft_release(manager, name="Login", slug="login")
    message = add_message(release, audience, trigger=Trigger.AT_TIME, send_at=timezone.now())

    transitions.release_start(release_id=release.pk, actor=manager)
    wait_until(
        lambda: [(n.status, n.attempts, n.last_error[:3]) for n in notices_of(message)] == [("pending", 1, "451")] * 2,
        timeout=30,
        message="the 451s were not recorded as retries",
    )
    ana_notice, ben_notice = notices_of(message)
    assert ana_notice.last_error == "451 4.7.1 Greylisted, try again later"
    assert ben_notice.last_error == "451 4.3.0 Mailbox busy"
    for notice in (ana_notice, ben_notice):
        wait = (notice.due_at - timezone.now()).total_seconds()
        assert 20 < wait <= 30, f"backoff of {wait:.1f} s"
    assert smtp_server.messages() == []

    Notice.objects.filter(pk__in=[ana_notice.pk, ben_notice.pk], status="pending").update(due_at=timezone.now())
    received = smtp_server.wait_for(lambda msgs: len(msgs) >= 2, timeout=30, message="the retries never arrived")
    time.sleep(2)
    assert len(smtp_server.messages()) == 2
    assert sorted(m.to.lower() for m in received) == ["ana@example.com", "ben@example.com"]
    assert smtp_server.rcpt_attempts["ana@example.com"] == 2 and smtp_server.data_attempts["ana@example.com"] == 1
    assert smtp_server.data_attempts["ben@example.com"] == 2
    for notice in notices_of(message):
        assert (notice.status, notice.attempts, notice.last_error) == ("sent", 2, "")
    assert len({m.message_id for m in received}) == 2


def test_550__fails_once_with_the_server_answer(celery_procs, smtp_server, manager):
    """Ana's address is refused at RCPT, Ben's message at DATA: each reaches the server once."""
    audience = audience_of(ANA, BEN)
    smtp_server.script(ANA, "550 5.1.1 <ana@example.com>: Recipient address rejected", stage="rcpt")
    smtp_server.script(BEN, "550 5.7.1 Message rejected as spam", stage="data")
    start_worker_and_beat(celery_procs, smtp_server)
    release = draft_release(manager, name="Profile", slug="profile")
    message = add_message(release, audience, trigger=Trigger.AT_TIME, send_at=timezone.now())

    transitions.release_start(release_id=release.pk, actor=manager)
    wait_until(lambda: statuses(message) == ["failed", "failed"], timeout=30, message="the 550s did not fail")
    time.sleep(3)  # three more ticks: no second attempt
    ana_notice, ben_notice = notices_of(message)
    assert ana_notice.last_error == "550 5.1.1 <ana@example.com>: Recipient address rejected"
    assert ben_notice.last_error == "550 5.7.1 Message rejected as spam"
    assert (ana_notice.status, ana_notice.attempts) == ("failed", 1)
    assert (ben_notice.status, ben_notice.attempts) == ("failed", 1)
    assert smtp_server.rcpt_attempts["ana@example.com"] == 1 and smtp_server.data_attempts["ana@example.com"] == 0
    assert smtp_server.rcpt_attempts["ben@example.com"] == 1 and smtp_server.data_attempts["ben@example.com"] == 1
    assert smtp_server.messages() == []
