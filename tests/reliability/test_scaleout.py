"""Scaled out as the design says (more gunicorn processes and more Celery workers against the
same PostgreSQL and Redis), on loopback: two gunicorn servers, two Celery workers and two beats,
one loopback SMTP server that wants a password, and a webhook receiver that verifies signatures.

A canary release with a communication plan is driven entirely through the REST API, each call
to the other server; one advance is sent to both servers at the same instant, and a second
release is rolled back the same way. Afterwards every transition is on the timeline once, every
notice reached the SMTP server once, and every event reached the webhook receiver under one
webhook-id. Then every log the cluster wrote, and every API answer, is searched for the secrets
planted in the run: SECRET_KEY, the SMTP password, the API tokens, the webhook signing secret,
a ci_result gate token and a stakeholder's unsubscribe token.

Sizes: SCALEOUT_STAKEHOLDERS (10) and SCALEOUT_PHASES (3, at least 3); SCALEOUT_REPORT names a
JSON file for the figures bench/scaleout.py prints. The shared cache is CACHE_URL when that is
Redis, else TEST_REDIS_URL (redis://127.0.0.1:6379/14); it is flushed at the start and the end.
"""

import base64
import json
import logging
import os
import secrets
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import redis
from django.core import signing
from django.db import connection

from comms import tokens as unsubscribe_tokens
from comms.models import Notice
from rollouts.api.tokens import api_token_create
from rollouts.models import Event, Phase, Release, WebhookDelivery
from rollouts.webhooks import EVENT_TYPES
from tests.fakes import Receiver
from tests.reliability.conftest import wait_until
from tests.reliability.servers import Api, AuthSmtpServer, Canary, Cluster, find_leaks, log_sources

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.postgres,
    # The sink offers AUTH without TLS on purpose: loopback, and the password is a canary.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

STAKEHOLDERS = int(os.environ.get("SCALEOUT_STAKEHOLDERS", "10"))
PHASES = max(3, int(os.environ.get("SCALEOUT_PHASES", "3")))
SITE = "https://flightdeck.example.com"
MESSAGE_ID_DOMAIN = "flightdeck.example.com"
TRANSITION_VERBS = {
    "release.started",
    "phase.advanced",
    "release.completed",
    "gate.passed",
    "rollback.started",
    "rollback.completed",
}


def _needs(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the scale-out test: {what}")
    pytest.skip(what)


def _cache_url() -> str:
    configured = os.environ.get("CACHE_URL", "")
    if configured.startswith("redis"):
        return configured
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _flush(url: str) -> None:
    # Roles and users are cached by primary key: a previous run's entries would answer for
    # this run's users, who have the same ids in a new test database.
    redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()


@pytest.fixture
def cluster(tmp_path, transactional_db):
    if connection.vendor != "postgresql":
        _needs("it needs PostgreSQL (set DATABASE_URL=postgres://…)")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis"):
        _needs("it needs Redis as the broker (set CELERY_BROKER_URL=redis://…)")
    cache_url = _cache_url()
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=2).ping()
        _flush(cache_url)
    except redis.exceptions.ConnectionError as exc:
        _needs(f"no Redis: {exc}")

    from config.celery import app

    app.conf.task_always_eager = False
    queue = f"flightdeck-scaleout-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Cluster(logs, queue, CACHE_URL=cache_url, CELERY_BROKER_URL=broker)
    yield procs
    procs.stop_all()
    app.conf.task_default_queue = os.environ.get("CELERY_QUEUE", "flightdeck")
    _flush(cache_url)


@pytest.fixture
def hooks():
    server = Receiver()
    yield server
    server.close()


def _exposures(n: int) -> list[int]:
    return [round(100 * (i + 1) / n) if i < n - 1 else 100 for i in range(n)]


def test_find_leaks__a_planted_secret__named_with_file_and_line():
    """The scan below must be able to fail: it finds whole secrets, their ends, and base64."""
    canary = Canary("SMTP password", "0123456789abcdef0123456789", partial=True)
    text = "ok\nlogin with 0123456789abcdef…\nAUTH " + base64.b64encode(canary.value.encode()).decode()

    leaks = find_leaks([canary], [("worker-1.log", text)])

    assert [(leak.where, leak.line) for leak in leaks] == [("worker-1.log", 2), ("worker-1.log", 3)]
    assert "SMTP password (first 12 characters) in worker-1.log, line 2" in str(leaks[0])
    assert canary.value[:12] not in str(leaks[0])


def test_two_servers_two_workers_two_beats__each_transition_and_notice_once__no_secret_logged(
    cluster, hooks, manager, approver, caplog, capsys, record_property
):
    t_start = time.monotonic()
    # --- Secrets, each distinctive and random ---------------------------------------------
    secret_key = f"sk-canary-{secrets.token_hex(32)}"
    smtp_user, smtp_password = "flightdeck-mailer", secrets.token_hex(20)
    manager_token = api_token_create(user=manager, name="Deploy pipeline", scopes=["read", "write", "act"])[1]
    approver_token = api_token_create(user=approver, name="Approver bot", scopes=["read", "act"])[1]

    sink = AuthSmtpServer(smtp_user, smtp_password).start()
    try:
        # --- Two of everything, one environment ------------------------------------------
        cluster.shared_env.update(
            SECRET_KEY=secret_key,
            FLIGHTDECK_REQUIRE_SECRET_KEY="true",
            DEBUG="false",
            EMAIL_URL=sink.email_url,
            SITE_URL=SITE,
            ENGINE_TICK_SECONDS="1",
            OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
            LOG_LEVEL="INFO",
        )
        chatty = {"LOG_LEVEL": "DEBUG"}
        web_a = cluster.gunicorn(workers=2, threads=2, log_level="debug", **chatty)
        web_b = cluster.gunicorn(workers=2, threads=2)
        workers = [cluster.worker_logging("DEBUG", concurrency=2, **chatty), cluster.worker_logging("INFO")]
        cluster.beat_logging("DEBUG", **chatty)
        cluster.beat_logging("INFO")
        for worker in workers:
            cluster.wait_for_log(worker, " ready.", timeout=90)
        for server in (web_a, web_b):
            cluster.wait_until_serving(server, timeout=90)
        t_ready = time.monotonic()
        api = Api([web_a, web_b])
        m, a = manager_token, approver_token

        # --- The plan, through alternating servers ---------------------------------------
        subscribe = {"name": "Deploy bot", "url": hooks.url("/hook")}
        once = {"Idempotency-Key": f"subscribe-{uuid.uuid4()}"}
        created = api.post("/api/v1/webhooks", subscribe, token=m, headers=once)
        assert created.status == 201, created.body
        created.reveals = True  # the secret is in this answer, once, by design
        webhook_secret = created.json()["secret"]
        hooks.secrets["/hook"] = webhook_secret
        # A client retrying after a lost answer gets the first answer again, from the other
        # server, without the secret (it is shown once; the scan below reads this answer).
        replayed = api.post("/api/v1/webhooks", subscribe, token=m, headers=once, expect=201)
        assert replayed.json()["id"] == created.json()["id"]

        audience = api.post("/api/v1/audiences", {"name": "Customers"}, token=m, expect=201).json()["id"]
        for i in range(STAKEHOLDERS):
            body = {"email": f"person{i}@example.com", "name": f"Person {i}", "audiences": [audience]}
            api.post("/api/v1/stakeholders", body, token=m, expect=201)

        def plan_release(name: str, version: str, n_phases: int, *, auto: bool = True) -> tuple[int, list[int]]:
            body = {"name": name, "version": version, "strategy": "canary", "propose_phases": False}
            release = api.post("/api/v1/releases", body, token=m, expect=201).json()["id"]
            phase_ids = []
            exposures = _exposures(n_phases)
            for i, exposure in enumerate(exposures):
                body = {
                    "release": release,
                    "name": f"Canary {exposure}%",
                    "exposure_percent": exposure,
                    "min_soak_minutes": 0,
                    # The engine advances the first and completes the last; people advance the middle.
                    "auto_advance": auto and i in (0, n_phases - 1),
                }
                phase_ids.append(api.post("/api/v1/phases", body, token=m, expect=201).json()["id"])
            return release, phase_ids

        def message(release: int, name: str, subject: str, trigger: str, phase: int | None = None) -> None:
            body = {
                "release": release,
                "name": name,
                "audiences": [audience],
                "subject": subject,
                "body": "Hello {{ recipient.name }}, {{ release.name }} reaches {{ release.exposure }} now.",
                "trigger": trigger,
                **({"phase": phase, "offset_minutes": 0} if phase else {}),
            }
            api.post("/api/v1/messages", body, token=m, expect=201)

        release, phases = plan_release("Checkout", "3.0.0", PHASES)
        gate = api.post(
            "/api/v1/gates", {"phase": phases[0], "name": "Pipeline green", "kind": "ci_result"}, token=m, expect=201
        )
        gate.reveals = True
        ci_gate, gate_token = gate.json()["id"], gate.json()["token"]
        go_gate = api.post(
            "/api/v1/gates", {"phase": phases[-1], "name": "Go/no-go", "kind": "manual_approval"}, token=m, expect=201
        ).json()["id"]
        for i, phase in enumerate(phases):
            subject = f"{{{{ release.name }}}}: phase {i + 1} of {PHASES} started"
            message(release, f"Phase {i + 1} started", subject, "phase_start", phase)
        message(release, "Completed", "{{ release.name }} is complete", "on_completion")

        # --- The rollout ---------------------------------------------------------------
        api.post(f"/api/v1/releases/{release}/start", token=m, expect=200)

        def current_phase(release_id: int):
            status = api.get(f"/api/v1/releases/{release_id}/status", token=m, expect=200).json()
            return status["status"], (status.get("current_phase") or {}).get("id")

        # The pipeline reports with the gate's own token; the engine (either beat, either
        # worker) advances the first phase.
        result = {"status": "pass", "url": "https://ci.example.com/runs/4411", "note": "e2e green"}
        api.post(f"/api/v1/gates/{ci_gate}/result", result, token=gate_token, expect=200)
        wait_until(lambda: current_phase(release) == ("in_progress", phases[1]), timeout=30, interval=0.3)

        # People advance the middle phases, each click reaching both servers at once.
        races = []
        for phase in phases[1:-1]:
            answers = api.at_once("POST", f"/api/v1/releases/{release}/advance", {"phase": phase}, token=m)
            races.append(sorted((c.status, (c.json() or {}).get("code", "")) for c in answers))
        assert races == [[(200, ""), (409, "already_done")]] * (PHASES - 2), races

        api.post(f"/api/v1/gates/{go_gate}/approve", {"comment": "Dashboards are green."}, token=a, expect=200)
        wait_until(lambda: current_phase(release)[0] == "completed", timeout=30, interval=0.3)

        # A second release, rolled back from both servers at once.
        other, other_phases = plan_release("Search", "1.1.0", 2, auto=False)
        message(other, "Started", "{{ release.name }} started", "phase_start", other_phases[0])
        message(other, "Widening", "{{ release.name }} widens", "phase_start", other_phases[1])
        message(other, "Rolled back", "{{ release.name }} rolled back", "on_rollback")
        api.post(f"/api/v1/releases/{other}/start", token=m, expect=200)
        started = sink.wait_for(lambda msgs: sum(mm.subject == "Search started" for mm in msgs) >= STAKEHOLDERS)
        assert len(started) >= STAKEHOLDERS
        answers = api.at_once("POST", f"/api/v1/releases/{other}/rollback", {"reason": "Error rate up"}, token=m)
        assert sorted(c.status for c in answers) == [200, 409], [(c.status, c.body) for c in answers]
        wait_until(lambda: current_phase(other)[0] == "rolled_back", timeout=30, interval=0.3)

        # --- Everything arrives, and nothing more ----------------------------------------
        expected_mail = STAKEHOLDERS * (PHASES + 1) + 2 * STAKEHOLDERS
        arrived = True
        try:
            sink.wait_for(lambda msgs: len(msgs) >= expected_mail, timeout=60, interval=0.2)
            wait_until(
                lambda: not WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.DELIVERED).exists(),
                timeout=60,
                message="webhook deliveries still pending",
            )
        except AssertionError:
            arrived = False
        time.sleep(3)  # six more ticks of the two beats: nothing more goes out
        t_done = time.monotonic()

        # Error pages with DEBUG off, and near-miss credentials, which must not be echoed.
        api.get(f"/no-such-page-{uuid.uuid4().hex[:6]}", expect=404)
        api.get("/api/v1/no-such-resource", token=m, expect=404)
        api.get("/api/v1/me", token=m[:-2] + ("aa" if not m.endswith("aa") else "bb"), expect=401)
        api.post(f"/api/v1/gates/{ci_gate}/result", result, token=gate_token[:-2] + "zz", expect=401)
        api.get("/api/v1/me", token=m, expect=200)
        api.get("/", headers={"Host": "evil.example"}, expect=400)  # DisallowedHost, logged by django.security
        # A stakeholder opens their preferences page from the email, and the page loads its CSS
        # with the link as Referer: neither access log may keep the token.
        preferences = "/u/" + sink.messages()[0].list_unsubscribe.strip("<>").rsplit("/u/", 1)[1] + "/preferences"
        client_log = logging.getLogger("httpx")  # the test's own client logs the URLs it calls
        level = client_log.level
        client_log.setLevel(logging.WARNING)
        try:
            api.get(preferences, server=0, expect=200, reveals=True)  # their own page shows their own link
            api.get("/static/css/app.css", server=1, expect=200, headers={"Referer": web_a.url + preferences})
        finally:
            client_log.setLevel(level)
        api.close()
        cluster.stop_all()  # every log complete before it is read
    finally:
        sink.stop()

    # --- The figures -----------------------------------------------------------------
    ours = [release, other]
    events = list(Event.objects.filter(release_id__in=ours).order_by("id"))
    transition_keys = Counter(
        (e.release_id, e.verb, e.phase_id, e.gate_id) for e in events if e.verb in TRANSITION_VERBS
    )
    transitions_duplicated = sum(n - 1 for n in transition_keys.values())
    notices = list(Notice.objects.filter(message__plan__release_id__in=ours).select_related("message"))
    sent = [n for n in notices if n.status == Notice.Status.SENT]
    mail = sink.messages()
    ids = Counter(mm.message_id for mm in mail)
    notices_duplicated = sum(n - 1 for n in ids.values())
    notices_lost = expected_mail - len(ids)
    posts = [r for r in hooks.requests if r["method"] == "POST"]
    by_webhook_id = defaultdict(set)
    for r in posts:
        by_webhook_id[r["headers"].get("webhook-id")].add((r.get("payload") or {}).get("data", {}).get("event_id"))
    published = {e.pk for e in events if e.verb in EVENT_TYPES}
    report = {
        "stakeholders": STAKEHOLDERS,
        "phases": PHASES,
        "transitions": sum(transition_keys.values()),
        "transitions_duplicated": transitions_duplicated,
        "notices_expected": expected_mail,
        "notices_received": len(mail),
        "notices_duplicated": notices_duplicated,
        "notices_lost": notices_lost,
        "webhook_posts": len(posts),
        "webhook_ids": len(by_webhook_id),
        "webhook_redelivered": len(posts) - len(by_webhook_id),
        "start_s": round(t_ready - t_start, 1),
        "drive_s": round(t_done - t_ready, 1),
        "api_calls": len(api.calls),
    }
    if os.environ.get("SCALEOUT_REPORT"):
        Path(os.environ["SCALEOUT_REPORT"]).write_text(json.dumps(report))
    record_property("scaleout", report)
    with capsys.disabled():
        print(f"\nscale-out: {report}", file=sys.stderr)

    # --- Every transition once ---------------------------------------------------------
    assert arrived, f"not everything arrived: {report}"
    assert transitions_duplicated == 0, [k for k, n in transition_keys.items() if n > 1]
    verbs = Counter((e.release_id, e.verb) for e in events if e.verb in TRANSITION_VERBS)
    assert verbs == {
        (release, "release.started"): 1,
        (release, "gate.passed"): 2,
        (release, "phase.advanced"): PHASES - 1,
        (release, "release.completed"): 1,
        (other, "release.started"): 1,
        (other, "rollback.started"): 1,
        (other, "rollback.completed"): 1,
    }
    advanced_to = [e.phase_id for e in events if e.verb == "phase.advanced"]
    assert advanced_to == phases[1:]
    assert [e.data.get("automatic") for e in events if e.verb == "phase.advanced"] == [True] + [False] * (PHASES - 2)
    assert set(Phase.objects.filter(release_id=release).values_list("status", flat=True)) == {"passed"}
    assert list(Release.objects.filter(pk__in=ours).order_by("pk").values_list("status", flat=True)) == [
        "completed",
        "rolled_back",
    ]

    # --- Every notice once ---------------------------------------------------------------
    assert notices_duplicated == 0, {mid: n for mid, n in ids.items() if n > 1}
    assert set(ids) == {f"<notice-{n.pk}@{MESSAGE_ID_DOMAIN}>" for n in sent}
    assert len(sent) == expected_mail, Counter((n.message.name, n.status) for n in notices)
    per_person = Counter((mm.to.lower(), mm.subject) for mm in mail)
    assert set(per_person.values()) == {1} and len(per_person) == expected_mail
    assert {n.cancelled_reason for n in notices if n.status != Notice.Status.SENT} == {"The release was rolled back."}
    assert sink.logins and all(ok for _user, ok in sink.logins), sink.logins

    # --- Every event to the webhook receiver, signed, under one webhook-id each -----------------
    assert hooks.unverified == []
    assert all(r["headers"].get("webhook-signature", "").startswith("v1,") for r in posts)
    assert all(len(found) == 1 for found in by_webhook_id.values()), dict(by_webhook_id)
    assert {next(iter(found)) for found in by_webhook_id.values()} == published
    deliveries = WebhookDelivery.objects.filter(event__release_id__in=ours)
    assert set(by_webhook_id) == set(deliveries.values_list("message_id", flat=True))

    # --- No secret in any log, answer or error page ------------------------------------------
    unsubscribe = mail[0].list_unsubscribe.strip("<>").rsplit("/u/", 1)[1]
    # Made with the planted SECRET_KEY: the key was in force where the notices were rendered.
    assert signing.loads(unsubscribe, key=secret_key, salt=unsubscribe_tokens.SALT)["s"] > 0
    canaries = [
        Canary("SECRET_KEY", secret_key, partial=True),
        Canary("SMTP password", smtp_password, partial=True),
        Canary("release manager's API token", manager_token, partial=True),
        Canary("approver's API token", approver_token, partial=True),
        Canary("webhook signing secret", webhook_secret, partial=True),
        Canary("ci_result gate token", gate_token, partial=True),
    ]
    unsubscribe_canaries = [
        Canary("unsubscribe token", unsubscribe),
        Canary("unsubscribe token signature", unsubscribe.rsplit(":", 1)[1]),
    ]
    logs = cluster.log_files()
    assert {p.name.split("-")[0] for p in logs} >= {"web0", "web1", "worker", "beat"}
    access = [p for p in logs if p.name.endswith("-access.log")]
    assert len(access) == 2 and all(" /api/v1/" in p.read_text() for p in access), "an access log is empty"
    assert "DEBUG" in (cluster.tmp_path / "web0-app.log").read_text(), "the chatty server logged no DEBUG"
    # Both workers ran tasks and both beats sent ticks: each of the two did its share.
    for path in logs:
        if path.name.startswith(("worker", "beat")):
            wanted = "succeeded" if path.name.startswith("worker") else "Sending due task"
            assert wanted in path.read_text(), f"{path.name} has no {wanted!r}"
    answers = [(f"{c.method} {c.path} answer from {c.server}", c.body) for c in api.calls if not c.reveals]
    sources = [*log_sources(logs), ("pytest's captured log", caplog.text), *answers]
    sources += [(f"webhook delivery {r['headers'].get('webhook-id')}", r["body"].decode()) for r in posts]
    leaks = find_leaks(canaries + unsubscribe_canaries, sources)
    # Notices carry their recipient's own unsubscribe link, and nothing else secret.
    leaks += find_leaks(canaries, [(f"email {mm.message_id}", mm.raw.decode(errors="replace")) for mm in mail])
    assert not leaks, "secrets leaked:\n" + "\n".join(str(leak) for leak in leaks[:40])
