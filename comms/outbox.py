"""Sending notices: claim what is due, send it once, and say exactly what happened.

Claiming stamps a lease (claimed_until) under `SELECT … FOR UPDATE SKIP LOCKED`, so two
workers never take the same notice, and a notice a dead worker held is taken again once
its lease runs out. Before the SMTP conversation a notice moves pending → sending by a
compare-and-set; after the server accepts it, sending → sent. A worker killed between
those two leaves a "sending" notice whose lease runs out: it is sent again, with the
same Message-ID, which is the one case a notice can arrive twice (counted in the fault
test). A database that goes away between the two (a restart, a failover) is waited for
while the lease lasts, so it does not make a second copy (bench/faults.py). A sent notice
is never claimed again.
"""

import contextlib
import logging
import smtplib
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from comms import render
from comms.models import Channel, Membership, Message, Notice, Stakeholder
from config.logs import log_event

log = logging.getLogger("comms.outbox")

LEASE = timedelta(seconds=30)
MAX_ATTEMPTS = 8
BATCH = 50
CLAIM_LIMIT = BATCH
MAX_DRAINERS = 4  # send tasks started per tick while a backlog waits


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def due_count(*, now=None, cap: int = BATCH * MAX_DRAINERS) -> int:
    """How many notices wait to be sent now (counted up to `cap`)."""
    now = now or timezone.now()
    return len(
        Notice.objects.filter(status__in=[Notice.Status.PENDING, Notice.Status.SENDING], due_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("pk", flat=True)[:cap]
    )


def claim_due(*, now=None, limit: int = CLAIM_LIMIT) -> tuple[str, list[int]]:
    """Take up to `limit` due notices (pending, or sending with a lease a dead worker left).

    Returns the claim token and the ids; only a sender holding that token may send them.
    """
    now = now or timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        ids = list(
            Notice.objects.select_for_update(skip_locked=True)
            .filter(status__in=[Notice.Status.PENDING, Notice.Status.SENDING], due_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("due_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Notice.objects.filter(pk__in=ids).update(claimed_until=now + LEASE, claim_token=token)
    return token, ids


class PermanentError(Exception):
    pass


class TransientError(Exception):
    pass


def classify(exc: Exception) -> Exception:
    """Turn an SMTP or network error into Permanent or Transient, keeping the server's words."""
    if isinstance(exc, (PermanentError, TransientError)):  # already decided (chat webhooks)
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, answer = next(iter(exc.recipients.values()))
        text = f"{code} {answer.decode(errors='replace') if isinstance(answer, bytes) else answer}"
        return PermanentError(text) if code >= 500 else TransientError(text)
    if isinstance(exc, smtplib.SMTPResponseException):
        answer = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        text = f"{exc.smtp_code} {answer}"
        return PermanentError(text) if exc.smtp_code >= 500 else TransientError(text)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError, ConnectionError, OSError)):
        return TransientError(f"{exc.__class__.__name__}: {exc}")
    return TransientError(f"{exc.__class__.__name__}: {exc}")


@dataclass
class BatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0


_N, _S, _M = Notice._meta.db_table, Stakeholder._meta.db_table, Membership._meta.db_table
# The two statements every notice runs, written out: the ORM would compile them anew for
# each of thousands of notices, which costs more than the statements themselves.
_START_SENDING = f"""
    UPDATE {_N} SET status = 'sending', attempts = attempts + 1, claimed_until = %s, claim_token = %s
    WHERE id = %s AND claim_token = %s AND status IN ('pending', 'sending') AND claimed_until >= %s
"""  # noqa: S608 - table names from the models, values bound
_WANTED = f"""
    AND EXISTS (
        SELECT 1 FROM {_S} s JOIN {_M} m ON m.stakeholder_id = s.id
        WHERE s.id = %s AND s.opted_out_at IS NULL AND m.unsubscribed_at IS NULL AND m.audience_id IN ({{}})
    )
"""  # noqa: S608
_MARK_SENT = f"""
    UPDATE {_N} SET status = 'sent', sent_at = %s, claimed_until = NULL, last_error = ''
    WHERE id = %s AND status = 'sending'
"""  # noqa: S608


def _start_sending(notice: Notice, claim_token: str, now, audience_ids: list[int]) -> bool:
    """Our claim → sending, exactly once, and only if the recipient still wants it.

    One UPDATE does both: the opt-out check is in its WHERE, so it is read at the very
    moment the notice is taken, and the token changes here, so a second copy of the same
    batch (a task delivered twice) finds it gone and sends nothing.
    """
    sql = _START_SENDING
    params = [now + LEASE, uuid.uuid4().hex, notice.pk, claim_token, now]
    if notice.stakeholder_id is not None:
        if not audience_ids:
            return False
        sql += _WANTED.format(", ".join(["%s"] * len(audience_ids)))
        params += [notice.stakeholder_id, *audience_ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


MARK_SENT_RETRY_SECONDS = 0.5
LEASE_MARGIN = timedelta(seconds=5)  # stop waiting this long before the lease ends


def _mark_sent(notice_id: int, *, lease_ends) -> None:
    """sending → sent. The server has the mail by now: should the database be away (a
    restart cut the connection), keep trying on a fresh connection while our lease still
    keeps others off the notice, rather than leave it to be sent again when the lease ends."""
    sent_at = timezone.now()
    while True:
        try:
            with connection.cursor() as cursor:
                cursor.execute(_MARK_SENT, [sent_at, notice_id])
            return
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or timezone.now() >= lease_ends - LEASE_MARGIN:
                raise
            log.warning("comms.mark_sent_retry notice=%s: the database is away; trying again", notice_id)
            connection.close()
            time.sleep(MARK_SENT_RETRY_SECONDS)


def _still_wanted(notice: Notice, audience_ids: list[int]) -> str:
    """Opt-out is checked right before each send (one query); returns why not to send, or ""."""
    if notice.stakeholder_id is None:
        return ""
    row = (
        Stakeholder.objects.filter(pk=notice.stakeholder_id)
        .annotate(
            member=Exists(
                Membership.objects.filter(
                    stakeholder=OuterRef("pk"), audience__in=audience_ids, unsubscribed_at__isnull=True
                )
            )
        )
        .values_list("opted_out_at", "member")
        .first()
    )
    if row is None:
        return "The stakeholder was removed."
    opted_out_at, member = row
    if opted_out_at is not None:
        return "The stakeholder unsubscribed."
    if not member:
        return "The stakeholder unsubscribed from these audiences."
    return ""


class Mailer:
    """One SMTP connection, opened on first use and kept across batches."""

    def __init__(self):
        self.smtp = None

    def get(self):
        if self.smtp is None:
            self.smtp = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
            self.smtp.open()
        return self.smtp

    def drop(self) -> None:
        if self.smtp is not None:
            _close_quietly(self.smtp)
            self.smtp = None


def drain(*, seconds: float) -> BatchReport:
    """Claim a batch right before sending it, send, repeat, until nothing is due or time is up.

    Claiming close to sending means a worker that dies holds only the batch it was on.
    """
    started = time.monotonic()
    totals = BatchReport()
    mailer = Mailer()
    try:
        while time.monotonic() - started < seconds:
            token, ids = claim_due(limit=BATCH)
            if not ids:
                break
            report = send_batch(token, ids, mailer=mailer)
            for key, value in report.__dict__.items():
                setattr(totals, key, getattr(totals, key) + value)
    finally:
        mailer.drop()
    return totals


def send_batch(claim_token: str, notice_ids: list[int], *, mailer: Mailer | None = None) -> BatchReport:
    """Send notices claimed with `claim_token`, over one SMTP connection.

    The batch is read in one query and each message is rendered once; per notice there
    is the opt-out check, the claim → sending compare-and-set, the send and sending → sent.
    """
    report = BatchReport()
    notices = {
        n.pk: n
        for n in Notice.objects.filter(pk__in=notice_ids, claim_token=claim_token)
        .select_related("message__plan__release__current_phase", "message__phase", "stakeholder")
        .order_by()
    }
    audiences: dict[int, list[int]] = {}
    for message_id, audience_id in Message.audiences.through.objects.filter(
        message_id__in={n.message_id for n in notices.values()}
    ).values_list("message_id", "audience_id"):
        audiences.setdefault(message_id, []).append(audience_id)
    prepared: dict[int, render.Prepared] = {}
    own_mailer = mailer is None
    mailer = mailer or Mailer()
    try:
        for notice_id in notice_ids:
            notice = notices.get(notice_id)
            if notice is None or notice.status not in (Notice.Status.PENDING, Notice.Status.SENDING):
                report.skipped += 1  # gone, done, or claimed again by someone else
                continue
            audience_ids = audiences.get(notice.message_id, [])
            taken_at = timezone.now()
            if not _start_sending(notice, claim_token, taken_at, audience_ids):
                # Rare: find out whether the recipient opted out, or someone else has it.
                reason = _still_wanted(notice, audience_ids)
                if reason:
                    report.cancelled += Notice.objects.filter(
                        pk=notice.pk, claim_token=claim_token, status__in=[Notice.Status.PENDING, Notice.Status.SENDING]
                    ).update(status=Notice.Status.CANCELLED, cancelled_reason=reason, claimed_until=None)
                else:
                    report.skipped += 1
                continue
            notice.attempts += 1
            try:
                if notice.message_id not in prepared:
                    prepared[notice.message_id] = render.Prepared(notice.message, notice.message.plan.release)
                if notice.message.channel == Channel.WEBHOOK:
                    _send_webhook(notice, prepared[notice.message_id])
                else:
                    _send_email(notice, mailer.get(), prepared[notice.message_id])
            except Exception as exc:  # every failure is classified and recorded
                error = classify(exc)
                if isinstance(error, TransientError):
                    mailer.drop()
                outcome = _record_failure(notice, error)
                if outcome == "failed":
                    report.failed += 1
                else:
                    report.retried += 1
                continue
            _mark_sent(notice.pk, lease_ends=taken_at + LEASE)
            report.sent += 1
            _log(logging.INFO, "comms.notice_sent", notice)
    finally:
        if own_mailer:
            mailer.drop()
    return report


def _close_quietly(connection) -> None:
    with contextlib.suppress(Exception):  # the connection is being thrown away
        connection.close()


def _log(level: int, event: str, notice: Notice, error: Exception | None = None) -> None:
    """One line per send outcome, with the notice's ids (never the recipient's address)."""
    log_event(
        log,
        level,
        event,
        notice_id=notice.pk,
        release_id=notice.message.plan.release_id,
        phase_id=notice.message.phase_id,
        channel=notice.message.channel,
        attempt=notice.attempts,
        error=str(error)[:500] if error is not None else None,
    )


def _record_failure(notice: Notice, error: Exception) -> str:
    now = timezone.now()
    if isinstance(error, PermanentError) or notice.attempts >= MAX_ATTEMPTS:
        Notice.objects.filter(pk=notice.pk, status=Notice.Status.SENDING).update(
            status=Notice.Status.FAILED, last_error=str(error)[:2000], claimed_until=None
        )
        _log(logging.WARNING, "comms.notice_failed", notice, error)
        return "failed"
    Notice.objects.filter(pk=notice.pk, status=Notice.Status.SENDING).update(
        status=Notice.Status.PENDING,
        last_error=str(error)[:2000],
        due_at=now + backoff(notice.attempts),
        claimed_until=None,
    )
    _log(logging.INFO, "comms.notice_retry", notice, error)
    return "retry"


def build_email(notice: Notice, prepared: "render.Prepared | None" = None) -> EmailMultiAlternatives:
    prepared = prepared or render.Prepared(notice.message, notice.message.plan.release)
    rendered = prepared.for_person(notice.stakeholder)
    to = notice.stakeholder.email if notice.stakeholder else notice.recipient
    headers = {
        "Message-ID": notice.message_id_header,
        "X-Flightdeck-Notice": str(notice.pk),
    }
    if rendered.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    email.attach_alternative(rendered.html, "text/html")
    return email


def _send_email(notice: Notice, connection, prepared) -> None:
    email = build_email(notice, prepared)
    email.connection = connection
    email.send(fail_silently=False)


def _send_webhook(notice: Notice, prepared) -> None:
    import json

    from rollouts import http

    rendered = prepared.for_person(None)
    body = json.dumps({"text": f"*{rendered.subject}*\n{rendered.text}"}).encode()
    try:
        response = http.request(
            "POST",
            notice.message.webhook_url,
            content=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": f"notice-{notice.pk}"},
        )
    except http.OutboundError as exc:
        raise (PermanentError(exc.message) if exc.permanent else TransientError(exc.message)) from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise TransientError(f"The webhook answered {response.status_code}.")
    if response.status_code >= 300:
        raise PermanentError(f"The webhook answered {response.status_code}.")


def retry_failed(notice_id: int) -> bool:
    """A person asks to try a failed notice again."""
    return bool(
        Notice.objects.filter(pk=notice_id, status=Notice.Status.FAILED).update(
            status=Notice.Status.PENDING, due_at=timezone.now(), attempts=0, claimed_until=None
        )
    )
