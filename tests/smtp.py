"""A real SMTP server on loopback (aiosmtpd) that records every message and answers as scripted.

    from tests.smtp import smtp_server_fixture  # noqa: F401 - registers the `smtp_server` fixture

    def test_something(smtp_server, celery_procs):
        smtp_server.script("ana@example.com", "451 4.7.1 Try again later")          # first RCPT
        smtp_server.script("ben@example.com", "550 5.7.1 Rejected", stage="data")   # first DATA
        celery_procs.worker(EMAIL_URL=smtp_server.email_url)
        ...
        smtp_server.wait_for(lambda msgs: len(msgs) >= 2, timeout=30)
        [m.message_id for m in smtp_server.messages()]

It listens on 127.0.0.1 at a free port (port 0, read back once bound) in a background thread
with its own event loop, and stops at fixture teardown (a held answer is cut short then).
Every RCPT and DATA is counted per recipient, so a test can say how often a notice reached
the server; only messages the server accepted (answered 250 to DATA) are recorded, with the
raw bytes, the envelope, the client connection (peer) they came on and the time of acceptance.
Headers are parsed on first use, so a benchmark sink pays nothing per message for them.
"""

import asyncio
import email
import email.policy
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from functools import cached_property

import pytest
from aiosmtpd.controller import Controller

# Longest a held answer waits for the test to release it: below the app's EMAIL_TIMEOUT (10 s),
# so a forgotten hold shows up as a slow answer, not as a client time-out.
MAX_HOLD_SECONDS = 8.0


@dataclass
class Received:
    """One message the server accepted."""

    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    peer: tuple  # (host, port) of the client connection: one per SMTP connection
    at: float  # time.time() when the server accepted it

    @cached_property
    def headers(self) -> email.message.Message:
        return BytesHeaderParser(policy=email.policy.default).parsebytes(self.raw)

    @cached_property
    def message(self) -> email.message.EmailMessage:
        """The whole message, parsed (bodies, parts)."""
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    def header(self, name: str) -> str:
        """The unfolded value (a long List-Unsubscribe is folded onto the next line), or ""."""
        value = self.headers.get(name)
        return str(value).strip() if value is not None else ""

    @property
    def message_id(self) -> str:
        return self.header("Message-ID")

    @property
    def to(self) -> str:
        return self.header("To")

    @property
    def subject(self) -> str:
        return self.header("Subject")

    @property
    def list_unsubscribe(self) -> str:
        return self.header("List-Unsubscribe")

    @property
    def list_unsubscribe_post(self) -> str:
        return self.header("List-Unsubscribe-Post")

    def part(self, content_type: str) -> str:
        """The decoded body of the first part of that type ("text/plain", "text/html"), or ""."""
        for part in self.message.walk():
            if part.get_content_type() == content_type and not part.is_multipart():
                return part.get_content()
        return ""


@dataclass
class Hold:
    """Delays the answer to one recipient's DATA until released (or MAX_HOLD_SECONDS pass)."""

    recipient: str
    reached: threading.Event = field(default_factory=threading.Event)  # the DATA arrived and waits
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


class _Handler:
    """aiosmtpd hooks; runs in the server's event loop thread."""

    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        s = self.server
        recipient = address.lower()
        with s._lock:
            s.rcpt_attempts[recipient] += 1
            s.connections.add(session.peer)
            answer = s._next_answer(recipient, "rcpt")
        if s.rcpt_delay:
            await asyncio.sleep(s.rcpt_delay)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        s = self.server
        recipients = [r.lower() for r in envelope.rcpt_tos]
        with s._lock:
            answer = None
            for recipient in recipients:
                s.data_attempts[recipient] += 1
                answer = answer or s._next_answer(recipient, "data")
            holds = [s._holds.pop(r) for r in recipients if r in s._holds]
        for hold in holds:
            hold.reached.set()
            deadline = time.monotonic() + MAX_HOLD_SECONDS
            while not hold.released.is_set() and not s._stopping and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        if answer:
            return answer
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        received = Received(
            raw=raw, mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), peer=session.peer, at=time.time()
        )
        with s._lock:
            s._messages.append(received)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller, bound to port 0: the port the system chose is read back before
    the start-up check connects to it."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """Loopback SMTP server recording messages; scriptable per recipient and attempt."""

    def __init__(self, host: str = "127.0.0.1", *, rcpt_delay: float = 0.0):
        self.host = host
        self.port = 0
        self.rcpt_delay = rcpt_delay  # seconds every RCPT waits before its answer (a slow server)
        self.rcpt_attempts: Counter[str] = Counter()  # lower-cased recipient → RCPT commands seen
        self.data_attempts: Counter[str] = Counter()  # lower-cased recipient → DATA commands seen
        self.connections: set[tuple] = set()  # client connections that sent at least one RCPT
        self._messages: list[Received] = []
        self._script: dict[tuple[str, str], deque] = defaultdict(deque)
        self._holds: dict[str, Hold] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._controller: _Controller | None = None

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> "SmtpServer":
        self._controller = _Controller(_Handler(self), hostname=self.host, port=0, ready_timeout=10)
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def email_url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    # --- scripting --------------------------------------------------------------------

    def script(self, recipient: str, *answers: str | None, stage: str = "rcpt") -> None:
        """Answer this recipient's next RCPT (stage="rcpt") or DATA (stage="data") commands with
        these replies, one per attempt, e.g. "451 4.7.1 Try again later"; None accepts. After
        the script runs out, every attempt is accepted."""
        if stage not in ("rcpt", "data"):
            raise ValueError("stage is 'rcpt' or 'data'")
        for answer in answers:
            if answer is not None and not (len(answer) >= 3 and answer[:3].isdigit() and answer[0] in "45"):
                raise ValueError(f"a scripted answer is a 4xx or 5xx reply, got {answer!r}")
        with self._lock:
            self._script[(recipient.lower(), stage)].extend(answers)

    def hold(self, recipient: str) -> Hold:
        """Hold the answer to this recipient's next DATA until hold.release()."""
        hold = Hold(recipient.lower())
        with self._lock:
            self._holds[hold.recipient] = hold
        return hold

    def _next_answer(self, recipient: str, stage: str) -> str | None:
        queue = self._script.get((recipient, stage))
        return queue.popleft() if queue else None

    # --- what it saw ------------------------------------------------------------------

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    def to(self, recipient: str) -> list[Received]:
        recipient = recipient.lower()
        return [m for m in self.messages() if recipient in (r.lower() for r in m.rcpt_tos)]

    def message_id_counts(self) -> Counter[str]:
        return Counter(m.message_id for m in self.messages())

    def duplicates(self) -> dict[str, int]:
        """Message-IDs the server accepted more than once, with how often."""
        return {mid: n for mid, n in self.message_id_counts().items() if n > 1}

    def wait_for(self, predicate, *, timeout: float = 30, interval: float = 0.05, message: str = ""):
        """Wait until predicate(messages) is true; returns the messages then."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages()
            if predicate(messages):
                return messages
            if time.monotonic() >= deadline:
                raise AssertionError(
                    message or f"the SMTP server's messages did not match within {timeout} s; it has {len(messages)}"
                )
            time.sleep(interval)


@pytest.fixture(name="smtp_server")
def smtp_server_fixture():
    """A fresh loopback SMTP server per test: .host, .port, .email_url (smtp://127.0.0.1:<port>)."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
