"""Flightdeck scaled out on loopback, for tests/reliability/test_scaleout.py and bench/scaleout.py:
gunicorn servers next to the Celery workers and beats of conftest.Celery, all against one
PostgreSQL and one Redis; an SMTP sink that wants a password; an API client that spreads its
calls over the servers and keeps every answer; and a scan of logs and answers for secrets.

Every process writes its own log files under one folder (gunicorn: access log, error log and
the app's own stderr), so the secret scan reads everything the cluster wrote.
"""

import base64
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.reliability.conftest import ROOT, Celery
from tests.smtp import SmtpServer, _Controller, _Handler

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


# --- Processes --------------------------------------------------------------------------


@dataclass
class WebServer:
    """One gunicorn master and its workers, listening on a socket this process bound."""

    name: str
    proc: subprocess.Popen
    port: int
    logs: list[Path]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Cluster(Celery):
    """conftest.Celery (workers and beats) plus gunicorn servers, one shared environment."""

    def __init__(self, tmp_path: Path, queue: str, **shared_env):
        super().__init__(tmp_path, queue)
        self.shared_env = {k: str(v) for k, v in shared_env.items()}
        self.servers: list[WebServer] = []

    def env(self, **extra) -> dict:
        return super().env(**{**self.shared_env, **extra})

    def worker_logging(self, level: str = "INFO", concurrency: int = 2, **env) -> subprocess.Popen:
        """A worker like Celery.worker, at the Celery log level given (DEBUG is chatty)."""
        name = f"w{len(self.procs)}-{self.queue[-8:]}@%h"
        args = ["worker", "-Q", self.queue, "-n", name, "--concurrency", str(concurrency), "-l", level]
        return self._start(args, "worker", **env)

    def beat_logging(self, level: str = "INFO", **env) -> subprocess.Popen:
        schedule = self.tmp_path / f"beat-{len(self.procs)}"
        return self._start(["beat", "-s", str(schedule), "-l", level], "beat", **env)

    def gunicorn(self, *, workers: int = 2, threads: int = 2, log_level: str = "info", **env) -> WebServer:
        """gunicorn config.wsgi as the Procfile runs it, on a loopback socket bound here and
        handed over (fd://), so the port is known and nobody can take it in between."""
        name = f"web{len(self.servers)}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.set_inheritable(True)
        access, error, app = (self.tmp_path / f"{name}-{kind}.log" for kind in ("access", "error", "app"))
        args = [
            GUNICORN,
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--bind",
            f"fd://{sock.fileno()}",
            "--workers",
            str(workers),
        ]
        args += ["--threads", str(threads), "--access-logfile", str(access), "--error-logfile", str(error)]
        args += ["--log-level", log_level, "--graceful-timeout", "5", "--timeout", "60"]
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env(**env),
            stdout=app.open("w"),
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
            start_new_session=True,
        )
        server = WebServer(name, proc, sock.getsockname()[1], [access, error, app])
        sock.close()  # gunicorn holds its own copy
        self.procs.append((proc, app))
        self.servers.append(server)
        return server

    def wait_until_serving(self, server: WebServer, timeout: float = 60) -> None:
        """/healthz where it exists, else the sign-in page, answers 200 on this server."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                break
            for path in ("/healthz", "/accounts/login/"):
                try:
                    answer = httpx.get(server.url + path, timeout=5)
                except httpx.HTTPError as exc:
                    last = repr(exc)
                    break
                if answer.status_code == 200:
                    return
                last = f"{path} answered {answer.status_code}"
            time.sleep(0.2)
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in server.logs if p.exists())
        raise AssertionError(f"{server.name} did not serve within {timeout} s ({last}):\n{logs}")

    def log_files(self) -> list[Path]:
        return sorted(p for p in self.tmp_path.glob("*.log") if p.is_file())


# --- SMTP with a password -----------------------------------------------------------------


class AuthSmtpServer(SmtpServer):
    """tests/smtp.py's sink, which also offers AUTH (PLAIN, LOGIN) without TLS on loopback and
    refuses mail from a client that did not log in with the one user and password."""

    def __init__(self, user: str, password: str, **kwargs):
        super().__init__(**kwargs)
        self.user, self.password = user, password
        self.logins: list[tuple[str, bool]] = []  # (login, accepted)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        with self._lock:
            self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok)

    def start(self) -> "AuthSmtpServer":
        self._controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=0,
            ready_timeout=10,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=False,
        )
        self._controller.start()
        self.port = self._controller.port
        return self

    @property
    def email_url(self) -> str:
        return f"smtp://{self.user}:{self.password}@{self.host}:{self.port}"


# --- The API, over every server in turn -----------------------------------------------------


@dataclass
class Call:
    server: str
    method: str
    path: str
    status: int
    body: str
    reveals: bool = False  # an answer that shows a secret once by design (webhook or gate token create)

    def json(self):
        return json.loads(self.body) if self.body else None


@dataclass
class Api:
    """REST calls spread over the servers round-robin; every answer is kept for the scan."""

    servers: list[WebServer]
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self):
        self._turn = itertools.cycle(range(len(self.servers)))
        self._lock = threading.Lock()
        self._clients = [httpx.Client(base_url=s.url, timeout=30) for s in self.servers]

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body=None,
        server: int | None = None,
        expect: int | tuple[int, ...] | None = None,
        reveals: bool = False,
        headers: dict | None = None,
    ) -> Call:
        with self._lock:
            index = next(self._turn) if server is None else server
        all_headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        answer = self._clients[index].request(method, path, json=json_body, headers=all_headers)
        call = Call(self.servers[index].name, method, path, answer.status_code, answer.text, reveals)
        with self._lock:
            self.calls.append(call)
        wanted = (expect,) if isinstance(expect, int) else expect
        if wanted and call.status not in wanted:
            raise AssertionError(f"{method} {path} on {call.server}: {call.status} {call.body[:500]}")
        return call

    def post(self, path: str, body=None, **kw) -> Call:
        return self.request("POST", path, json_body=body if body is not None else {}, **kw)

    def get(self, path: str, **kw) -> Call:
        return self.request("GET", path, **kw)

    def at_once(self, method: str, path: str, body, *, token: str) -> list[Call]:
        """The same request to every server at the same instant, one thread each."""
        barrier = threading.Barrier(len(self.servers))
        results: list[Call | BaseException | None] = [None] * len(self.servers)

        def send(i: int) -> None:
            try:
                barrier.wait(timeout=10)
                results[i] = self.request(method, path, json_body=body, token=token, server=i)
            except BaseException as exc:  # reported below, in the test's thread
                results[i] = exc

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(self.servers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        for r in results:
            if not isinstance(r, Call):
                raise AssertionError(f"a concurrent {method} {path} did not answer: {r!r}")
        return results  # type: ignore[return-value]


# --- Secrets --------------------------------------------------------------------------------

PARTIAL = 12  # this many leading or trailing characters of a secret count as a leak


@dataclass
class Canary:
    name: str
    value: str
    partial: bool = False  # also look for its first and last PARTIAL characters, and base64 of it

    def needles(self) -> list[tuple[str, str]]:
        found = [(self.name, self.value)]
        if self.partial and len(self.value) > PARTIAL:
            found += [
                (f"{self.name} (first {PARTIAL} characters)", self.value[:PARTIAL]),
                (f"{self.name} (last {PARTIAL} characters)", self.value[-PARTIAL:]),
                (f"{self.name} (base64)", base64.b64encode(self.value.encode()).decode()),
            ]
        return found


@dataclass
class Leak:
    secret: str
    where: str
    line: int
    excerpt: str

    def __str__(self) -> str:
        return f"{self.secret} in {self.where}, line {self.line}: {self.excerpt}"


def find_leaks(canaries: list[Canary], sources: list[tuple[str, str]]) -> list[Leak]:
    """Every line of every (name, text) source that holds any canary's needle; the excerpt
    in the report has every needle blanked out, so the report itself leaks nothing."""
    needles = sorted((n for c in canaries for n in c.needles()), key=lambda n: -len(n[1]))
    leaks = []
    for where, text in sources:
        for number, line in enumerate(text.splitlines(), start=1):
            hits = [secret for secret, needle in needles if needle in line]
            if not hits:
                continue
            masked = line
            for _secret, needle in needles:
                masked = masked.replace(needle, "«SECRET»")
            at = masked.find("«SECRET»")
            excerpt = masked[max(0, at - 60) : at + 80].strip()
            leaks += [Leak(secret, where, number, excerpt) for secret in hits]
    return leaks


def log_sources(paths: list[Path]) -> list[tuple[str, str]]:
    return [(p.name, p.read_text(errors="replace")) for p in paths]
