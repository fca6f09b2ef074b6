"""Loopback fakes of the outside world for automated gates: a Prometheus query API and a
generic HTTP endpoint, both scripted per test and recording what they were asked.

    def test_something(fake_prometheus, fake_http):
        fake_prometheus.script(0.12, "NaN", vector(), status(500), slow(2, vector(0.1)), invalid_json())
        config = {"address": fake_prometheus.address, "query": "up", ...}
        ...
        assert fake_prometheus.queries == ["up"]

        fake_http.script(200, {"status": {"db": "ok"}}, status(503), slow(2), path="/healthz")
        url = fake_http.url("/healthz")

Each request takes the next scripted reply; when the script runs out the last reply repeats
(so an engine loop can keep measuring), and with nothing scripted the fake gives its default.
Servers listen on 127.0.0.1, port 0 (a free port), in a background thread, and stop at fixture
teardown: delays are cut short then, and every wait is bounded.
"""

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from standardwebhooks.webhooks import Webhook

# Longest a scripted reply may be delayed; longer would only slow a failing test down.
MAX_DELAY_SECONDS = 30.0


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, body, headers, and how long to wait before answering."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def __post_init__(self):
        if not 0 <= self.delay <= MAX_DELAY_SECONDS:
            raise ValueError(f"delay must be between 0 and {MAX_DELAY_SECONDS} s")


def json_reply(data, status: int = 200, *, delay: float = 0.0, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        delay=delay,
    )


def status(code: int, body: bytes | str = b"", *, delay: float = 0.0, headers: dict[str, str] | None = None) -> Reply:
    """A bare status with an optional text body, e.g. status(500) or status(302, headers={"Location": …})."""
    content = body.encode() if isinstance(body, str) else body
    return Reply(status=code, body=content, headers={"Content-Type": "text/plain", **(headers or {})}, delay=delay)


def invalid_json(code: int = 200) -> Reply:
    return Reply(status=code, body=b"<html>Bad gateway, but friendly</html>", headers={"Content-Type": "text/html"})


def slow(seconds: float, reply: "Reply | None" = None) -> Reply:
    """`reply` (default: 200 with an empty JSON object) after `seconds`: a timeout for any client waiting less."""
    return replace(reply or json_reply({}), delay=seconds)


def _sample(value) -> str:
    # Prometheus sends sample values as strings: "0.25", "NaN", "+Inf".
    if isinstance(value, str):
        return value
    return repr(float(value))


def vector(*values, labels: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
    """A Prometheus instant-vector answer with one series per value; vector() is "no data"."""
    result = [
        {"metric": {"__name__": "fake", "series": str(i), **(labels or {})}, "value": [time.time(), _sample(v)]}
        for i, v in enumerate(values)
    ]
    return json_reply({"status": "success", "data": {"resultType": "vector", "result": result}}, delay=delay)


def scalar(value, *, delay: float = 0.0) -> Reply:
    data = {"resultType": "scalar", "result": [time.time(), _sample(value)]}
    return json_reply({"status": "success", "data": data}, delay=delay)


def matrix(*values) -> Reply:
    """A range-vector answer (what a query like up[5m] returns), which gates refuse."""
    now = time.time()
    result = [{"metric": {"series": "0"}, "values": [[now - 60 + i, _sample(v)] for i, v in enumerate(values)]}]
    return json_reply({"status": "success", "data": {"resultType": "matrix", "result": result}})


def prom_error(code: int = 400, error: str = 'parse error at char 5: unexpected "}"', error_type: str = "bad_data"):
    """Prometheus's own error answer (400 for a bad query, 422 when it cannot run, 503 when overloaded)."""
    return json_reply({"status": "error", "errorType": error_type, "error": error}, status=code)


EMPTY = vector()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (timeout) while a handler slept is expected here, not a failure.
        pass


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1 answering from per-path scripts of Reply objects."""

    default_reply = json_reply({"status": "ok"})

    def __init__(self):
        self._lock = threading.Lock()
        self._scripts: dict[str | None, deque[Reply]] = {}
        self._last: dict[str | None, Reply] = {}
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> "ScriptedServer":
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping through a scripted delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # -- addresses --

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- scripting and recording --

    def _coerce(self, reply) -> Reply:
        if isinstance(reply, Reply):
            return reply
        raise TypeError(f"Cannot script {reply!r}: pass a Reply (see json_reply, status, slow).")

    def script(self, *replies, path: str | None = None) -> None:
        """Answer the next requests (to `path`, or to any path without a script of its own) in order."""
        coerced = [self._coerce(r) for r in replies]
        with self._lock:
            self._scripts[path] = deque(coerced)
            self._last.pop(path, None)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def _next_reply(self, path: str) -> Reply:
        key = path if path in self._scripts else None
        queue = self._scripts.get(key)
        if queue:
            self._last[key] = queue.popleft()
        return self._last.get(key, self.default_reply)

    def respond(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            return self._next_reply(request.path)

    def wait(self, seconds: float) -> None:
        self._stopping.wait(min(seconds, MAX_DELAY_SECONDS))


class FakeHTTP(ScriptedServer):
    """A generic endpoint for http_check. Shorthand in script(): an int is a bare status, a dict or
    list is a 200 JSON answer. Unscripted: 200 {"status": "ok"}."""

    def _coerce(self, reply) -> Reply:
        if isinstance(reply, bool):
            raise TypeError("Script a status code or a JSON body, not a bool.")
        if isinstance(reply, int):
            return status(reply)
        if isinstance(reply, dict | list):
            return json_reply(reply)
        return super()._coerce(reply)


class FakePrometheus(ScriptedServer):
    """A Prometheus instant-query API at /api/v1/query (GET or form POST).

    Shorthand in script(): a number, or a string such as "NaN" or "+Inf", is a one-series vector
    with that value; None is an empty vector (no data). Unscripted: an empty vector. Other paths
    answer 404. `queries` lists the PromQL it was asked, in order.
    """

    default_reply = EMPTY

    def _coerce(self, reply) -> Reply:
        if reply is None:
            return EMPTY
        if isinstance(reply, bool):
            raise TypeError("Script a number, a string sample such as 'NaN', or a Reply, not a bool.")
        if isinstance(reply, int | float | str):
            return vector(reply)
        return super()._coerce(reply)

    @property
    def address(self) -> str:
        return self.base_url

    @property
    def queries(self) -> list[str]:
        return [r.param("query") for r in self.requests if r.path == "/api/v1/query"]

    def respond(self, request: RecordedRequest) -> Reply:
        if request.path != "/api/v1/query":
            with self._lock:
                self._requests.append(request)
            return json_reply({"status": "error", "errorType": "not_found", "error": "no such path"}, status=404)
        return super().respond(request)


def _handler_for(fake: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a client that connects and sends nothing cannot hold a thread for long

        def _handle(self):
            parts = urlsplit(self.path)
            length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
            body = self.rfile.read(length) if length else b""
            query = parse_qs(parts.query, keep_blank_values=True)
            if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                for name, values in parse_qs(body.decode(), keep_blank_values=True).items():
                    query.setdefault(name, []).extend(values)
            recorded = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            reply = fake.respond(recorded)
            if reply.delay:
                fake.wait(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
            except OSError:
                pass  # the client stopped waiting

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        def log_message(self, format, *args):
            pass

    return Handler


def refused_url(path: str = "/") -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
def fake_prometheus():
    with FakePrometheus() as fake:
        yield fake


@pytest.fixture
def fake_http():
    with FakeHTTP() as fake:
        yield fake


# --- A loopback webhook receiver that verifies Standard Webhooks signatures -----------


class Receiver:
    """An HTTP server on 127.0.0.1 that verifies signatures and answers from a script.

    Each entry of `script` answers one request: an int status, ("redirect", path) or
    ("sleep", seconds). When the script runs out it answers 200.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list = []
        self.secrets: dict[str, str] = {}
        self.wake = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver._handle(self)

            def do_GET(self):
                receiver._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a timed-out client hung up
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def subscribe(self, *, actor, path: str = "/hook", **kwargs):
        from rollouts import webhooks

        kwargs.setdefault("name", f"Receiver {path}")
        kwargs.setdefault("events", [])
        subscription = webhooks.subscription_create(actor=actor, url=self.url(path), **kwargs)
        self.secrets[path] = subscription.secret
        return subscription

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        seen = {"method": handler.command, "path": handler.path, "headers": headers, "body": body, "error": None}
        secret = self.secrets.get(handler.path)
        try:
            if secret is None:
                raise ValueError(f"no subscription listens on {handler.path}")
            seen["payload"] = Webhook(secret).verify(body, headers)
        except Exception as exc:
            seen["error"] = f"{exc.__class__.__name__}: {exc}"
        with self._lock:
            self.requests.append(seen)
            answer = self.script.pop(0) if self.script else 200
        if seen["error"]:
            answer = 401
        if isinstance(answer, tuple) and answer[0] == "sleep":
            self.wake.wait(answer[1])
            answer = 200
        if isinstance(answer, tuple) and answer[0] == "redirect":
            handler.send_response(302)
            handler.send_header("Location", self.url(answer[1]))
        else:
            handler.send_response(answer)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    @property
    def unverified(self) -> list[str]:
        return [r["error"] for r in self.requests if r["error"] and r["method"] == "POST"]

    def close(self) -> None:
        self.wake.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()
    assert server.unverified == [], "the receiver got requests it could not verify"
