"""The outbox under SIGKILL: N due notices, the worker killed three times in the middle of
sending and restarted; afterwards every notice is sent, and the SMTP server's count of
Message-IDs seen twice is reported as it is.

By design (comms/outbox.py) a worker killed after the server accepted a message but before
the notice was marked sent leaves it "sending"; when its lease runs out it is sent again
with the same Message-ID. So the test asserts that every notice was sent exactly once or,
for those re-sends, at most once per in-flight notice per kill (kills × concurrency), and
prints the raw re-send count.

What the recovery costs: a killed worker's batches (acks_late tasks the broker will not
hand out again before its visibility timeout) are picked up by claim_due once their lease
(comms.outbox.LEASE, 60 s, not configurable) runs out. The three kills land in the first
wave of sending, so the test waits for one lease: about 70 s in all.

    FAULT_NOTICES=500 pytest tests/reliability/test_comms_fault.py   # the issue's size; default 150
    FAULT_CONCURRENCY=2 …   # worker processes; default 1 (see below)

With concurrency 1 each kill loses exactly the one batch (of comms.outbox.BATCH = 50) being
sent and the next worker takes the next queued batch, so three kills fit in the first wave
even with 150 notices (3 batches). With concurrency 2 a kill loses two batches at once, so
three kills in the first wave need at least 7 batches (FAULT_NOTICES ≥ 350).
"""

import os
import signal
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from comms import outbox, planner
from comms.models import Audience, CommunicationPlan, Membership, Message, Notice, Stakeholder, Trigger
from tests.factories import release_with_phases
from tests.reliability.conftest import wait_until
from tests.smtp import SmtpServer

pytestmark = pytest.mark.reliability

KILLS = 3
N = int(os.environ.get("FAULT_NOTICES", "150"))
CONCURRENCY = int(os.environ.get("FAULT_CONCURRENCY", "1"))
# Each RCPT waits this long at the server, so a batch of 50 takes about a second and a kill
# lands in the middle of one; the window in which a re-send can happen (server accepted,
# notice not yet marked sent) is left as it is.
RCPT_DELAY = 0.02
SENT_BEFORE_KILL = 8  # notices the current worker sends before it is killed: it is mid-batch


def sent_count(message) -> int:
    return Notice.objects.filter(message=message, status=Notice.Status.SENT).count()


def test_worker_killed_three_times_mid_batch__every_notice_sent_resends_counted(
    celery_procs, manager, capsys, record_property
):
    assert N >= 50 * KILLS, "FAULT_NOTICES must leave a batch for each kill"
    t_start = time.monotonic()
    server = SmtpServer(rcpt_delay=RCPT_DELAY).start()
    try:
        # N stakeholders in one audience, one message: planned in this process, parked an hour away.
        audience = Audience.objects.create(name="Everyone")
        people = Stakeholder.objects.bulk_create(
            Stakeholder(email=f"person{i:04d}@example.com", name=f"Person {i}") for i in range(N)
        )
        Membership.objects.bulk_create(Membership(stakeholder=s, audience=audience) for s in people)
        release = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="fault")
        plan = CommunicationPlan.objects.create(release=release)
        message = Message.objects.create(
            plan=plan,
            name="Maintenance",
            subject="{{ release.name }}: maintenance tonight",
            body="Hello {{ recipient.name }}",
            trigger=Trigger.AT_TIME,
            send_at=timezone.now() + timedelta(hours=1),
        )
        message.audiences.add(audience)
        assert planner.plan_release(release_id=release.pk)["created"] == N

        env = {"EMAIL_URL": server.email_url, "SITE_URL": "https://flightdeck.example.com"}
        worker = celery_procs.worker(concurrency=CONCURRENCY, **env)
        celery_procs.beat()
        celery_procs.wait_for_log(worker, " ready.", timeout=60)
        Notice.objects.filter(message=message).update(due_at=timezone.now())  # all due now
        t_due = time.monotonic()

        kills = []
        for _ in range(KILLS):
            before = sent_count(message)
            wait_until(
                lambda before=before: sent_count(message) >= before + SENT_BEFORE_KILL,
                timeout=30,
                interval=0.02,
                message=f"the worker sent nothing (sent {sent_count(message)} of {N}); kills so far: {len(kills)}",
            )
            in_flight = Notice.objects.filter(message=message, status=Notice.Status.SENDING).count()
            celery_procs.kill(worker, signal.SIGKILL)
            kills.append({"sent": sent_count(message), "sending": in_flight, "at": time.monotonic() - t_due})
            worker = celery_procs.worker(concurrency=CONCURRENCY, **env)
        celery_procs.wait_for_log(worker, " ready.", timeout=60)

        # Lost batches come back when their lease runs out (outbox.LEASE after the claim).
        wait_until(
            lambda: sent_count(message) == N,
            timeout=outbox.LEASE.total_seconds() + 45,
            interval=0.5,
            message=f"not every notice was sent: {dict(_status_counts(message))}",
        )
        t_all_sent = time.monotonic() - t_due
        time.sleep(2)  # a couple more ticks: nothing more goes out

        notices = list(Notice.objects.filter(message=message))
        counts = server.message_id_counts()
        expected_ids = {f"<notice-{n.pk}@flightdeck.example.com>" for n in notices}
        resends = sum(c - 1 for c in counts.values())
        duplicated = {mid: c for mid, c in counts.items() if c > 1}
        report = (
            f"comms fault test: {N} notices, {KILLS} SIGKILLs (concurrency {CONCURRENCY}), "
            f"all sent {t_all_sent:.1f} s after due; SMTP server accepted {sum(counts.values())} messages, "
            f"{len(counts)} distinct Message-IDs; raw re-send count {resends} {duplicated or ''}; "
            f"kills at {[(round(k['at'], 1), k['sent'], k['sending']) for k in kills]} (s after due, sent, sending); "
            f"attempts>1: {sum(1 for n in notices if n.attempts > 1)}; total {time.monotonic() - t_start:.1f} s"
        )
        record_property("resends", resends)
        record_property("kills", KILLS)
        with capsys.disabled():
            print(f"\n{report}", file=sys.stderr)

        assert {n.status for n in notices} == {Notice.Status.SENT}
        assert set(counts) == expected_ids, "the server's Message-IDs are not exactly the notices'"
        assert resends <= KILLS * CONCURRENCY, report
    finally:
        server.stop()


def _status_counts(message):
    from collections import Counter

    return Counter(Notice.objects.filter(message=message).values_list("status", flat=True))
