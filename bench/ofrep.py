"""OFREP figures for bench/run.py: flag evaluation cost in-process and through gunicorn.

Called after django.setup() and the seed, against the bench database:

- setup(): a handful of flags (one follows an in-progress seeded release whose current
  production phase is between 1 and 99%, so an evaluation takes the full path: segment
  check, then murmur3 bucketing), a segment that phase targets, and a production API key.
- queries_per_eval(): OFREP POSTs through Django's test client with CaptureQueriesContext,
  after one warm-up request (which compiles the snapshot and stamps the key's last use);
  goal 0.
- evals_per_second(): a tight loop of snapshot.current() + evaluate() over many targeting
  keys, best of three rounds; goal ≥ 100,000.
- request(): what bench/run.py's throughput part sends with wrk (a Lua script varying the
  targeting key per request) or the Python loader (a fixed body).
"""

import json
import time
from dataclasses import dataclass

FLAG_KEY = "bench-new-checkout"
CONTEXT = {"targetingKey": "user-42", "plan": "pro", "app_version": "2.4.0"}


@dataclass
class Setup:
    token: str
    flag_key: str
    release_slug: str
    exposure: int


def setup() -> Setup:
    """Replace any previous bench flags; returns the API key token and the flag measured."""
    from flags import services
    from flags.models import ApiKey, Flag, Segment
    from rollouts.models import Environment, Release, ReleaseStatus

    Flag.objects.all().delete()
    Segment.objects.all().delete()
    ApiKey.objects.all().delete()
    live = Release.objects.filter(status=ReleaseStatus.IN_PROGRESS).select_related("current_phase").order_by("pk")
    release = (
        live.filter(
            current_phase__environment=Environment.PRODUCTION,
            current_phase__exposure_percent__gt=0,
            current_phase__exposure_percent__lt=100,
        ).first()
        or live.first()
    )
    if release is None:
        raise RuntimeError("the seed has no release in progress to link the bench flag to")
    testers = services.segment_create(
        actor=None,
        key="bench-beta-testers",
        name="Beta testers",
        targeting_keys=[f"tester-{i}" for i in range(200)],
        rules=[{"attribute": "plan", "operator": "equals", "values": ["internal"]}],
    )
    services.phase_segments_set(phase_id=release.current_phase_id, segments=[testers], actor=None)
    services.flag_create(
        actor=None,
        key=FLAG_KEY,
        name="New checkout (bench)",
        type="boolean",
        variants={"on": True, "off": False},
        on_variant="on",
        off_variant="off",
        release=release,
    )
    for i, (type_, variants) in enumerate(
        [
            ("string", {"blue": "blue", "green": "green"}),
            ("integer", {"many": 50, "few": 10}),
            ("float", {"full": 3.0, "none": 0.0}),
            ("object", {"new": {"columns": 2}, "old": {"columns": 1}}),
        ]
    ):
        on, off = list(variants)
        services.flag_create(
            actor=None,
            key=f"bench-{type_}-{i}",
            name=f"Bench {type_}",
            type=type_,
            variants=variants,
            on_variant=on,
            off_variant=off,
            fixed_exposure=25 * (i + 1),
        )
    _key, token = services.api_key_create(actor=None, environment=Environment.PRODUCTION, name="bench")
    return Setup(
        token=token,
        flag_key=FLAG_KEY,
        release_slug=release.slug,
        exposure=release.current_phase.exposure_percent if release.current_phase else 0,
    )


def path(setup: Setup) -> str:
    return f"/ofrep/v1/evaluate/flags/{setup.flag_key}"


def headers(setup: Setup) -> dict[str, str]:
    return {"X-API-Key": setup.token, "Content-Type": "application/json"}


def body() -> bytes:
    return json.dumps({"context": CONTEXT}).encode()


# wrk: POST with a different targeting key on every request (headers come from -H).
WRK_REQUEST_LUA = r"""
wrk.method = "POST"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"context":{"targetingKey":"user-' .. n .. '","plan":"pro","app_version":"2.4.0"}}')
end
"""


def queries_per_eval(setup: Setup, requests: int = 200) -> tuple[float, dict]:
    """Average SQL queries per warm OFREP evaluation through Django (goal 0), and a sample answer."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    kw = {"content_type": "application/json", "HTTP_X_API_KEY": setup.token}
    first = client.post(path(setup), body(), **kw)
    if first.status_code != 200:
        raise RuntimeError(f"OFREP evaluation answered {first.status_code}: {first.content[:300]!r}")
    with CaptureQueriesContext(connection) as ctx:
        for i in range(requests):
            response = client.post(path(setup), json.dumps({"context": {"targetingKey": f"u{i}"}}), **kw)
            if response.status_code != 200:
                raise RuntimeError(f"OFREP evaluation answered {response.status_code}")
    return len(ctx.captured_queries) / requests, first.json()


def evals_per_second(setup: Setup, seconds: float = 1.0, rounds: int = 3) -> float:
    """Evaluations per second in one thread: snapshot lookup, segment check, bucketing."""
    from flags import evaluation, snapshot

    contexts = [{"targetingKey": f"user-{i}", "plan": "pro"} for i in range(10_000)]
    evaluate, current = evaluation.evaluate, snapshot.current
    best = 0.0
    for _ in range(rounds):
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds / rounds:
            for context in contexts:
                evaluate(current().flags[setup.flag_key], "production", context["targetingKey"], context)
            n += len(contexts)
        best = max(best, n / (time.perf_counter() - t0))
    return best
