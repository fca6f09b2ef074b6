"""Flightdeck benchmark: dashboard query counts, gunicorn throughput, engine lag
(auto-advance and gate-failure rollback with a real Celery worker and beat; bench/lag.py),
stakeholder notices (outbox drain rate and lag to a loopback SMTP sink; bench/comms.py), and
OFREP flag evaluation (queries per evaluation, evaluations per second in-process, and req/s
of one evaluation through gunicorn against the same /healthz baseline; bench/ofrep.py).

    .venv/bin/python bench/run.py            # 2,000 releases, 10 s per load run
    .venv/bin/python bench/run.py --quick    # 200 releases, 3 s per load run

stdout carries only `name: value` lines; progress goes to stderr. See bench/README.md.
"""

import argparse
import contextlib
import http.client
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"  # git-ignored: gunicorn log, profiles
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/flightdeck_bench"
SMALL = 20  # releases for the "does the query count grow?" comparison

# The project root first, always: bench/comms.py must not shadow the app package `comms`
# (python puts the script's folder, bench/, at the front of sys.path).
sys.path.insert(0, str(ROOT))
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(1, str(ROOT / "bench"))

import load  # noqa: E402  (bench/load.py; no Django needed)


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def emit(name: str, value) -> None:
    print(f"{name}: {value}", flush=True)


class BenchError(Exception):
    pass


# --- Environment and database ---------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--releases", type=int, help="releases to seed, 5 phases × 3 gates each (default 2000)")
    p.add_argument("--duration", type=float, help="seconds of load per page, split over the rounds (default 10)")
    p.add_argument("--rounds", type=int, default=5, help="alternating dashboard/baseline rounds (default 5)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up load per endpoint (default 2)")
    p.add_argument("--quick", action="store_true", help="defaults of 200 releases, 3 s runs, 1 s warm-up")
    p.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_WORKERS", 2)), help="gunicorn workers (Procfile: 2)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("WEB_THREADS", 4)),
        help="threads per worker, gthread when > 1 (Procfile: 4); 1 = sync workers, no keep-alive",
    )
    p.add_argument("--connections", type=int, default=8, help="concurrent client connections")
    p.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto", help="load generator")
    p.add_argument("--skip-load", action="store_true", help="only seed and count queries")
    p.add_argument("--profile", action="store_true", help="cProfile the dashboard in-process (stderr + bench/out)")
    p.add_argument("--skip-lag", action="store_true", help="skip the engine lag part (real Celery worker and beat)")
    p.add_argument("--lag-phases", type=int, help="auto-advancing phases for the advance lag (default 50, quick 10)")
    p.add_argument("--lag-rollbacks", type=int, help="failing metric gates for the rollback lag (default 40, quick 10)")
    p.add_argument("--lag-spread", type=float, help="seconds over which they fall due (default 25, quick 10)")
    p.add_argument("--skip-comms", action="store_true", help="skip the notice part (outbox drain and lag)")
    p.add_argument("--skip-ofrep", action="store_true", help="skip the OFREP flag evaluation figures")
    p.add_argument(
        "--skip-faults", action="store_true", help="skip the fault runs (private Redis and PostgreSQL restarted)"
    )
    p.add_argument(
        "--skip-scaleout", action="store_true", help="skip the two-server scale-out run (needs PostgreSQL and Redis)"
    )
    p.add_argument(
        "--scaleout-stakeholders", type=int, help="stakeholders in the scale-out run (default 100, quick 10)"
    )
    p.add_argument("--scaleout-phases", type=int, help="phases of its release (default 5, quick 3)")
    p.add_argument("--comms-notices", type=int, help="due notices for the drain rate (default 5000, quick 1000)")
    p.add_argument("--comms-lag-notices", type=int, help="notices for the lag (default 500, quick 100)")
    p.add_argument("--comms-lag-spread", type=float, help="seconds their due times spread over (default 120, quick 20)")
    p.add_argument(
        "--celery-concurrency",
        type=int,
        default=int(os.environ.get("CELERY_CONCURRENCY", 2)),
        help="worker processes for the lag part (Procfile: 2)",
    )
    p.add_argument(
        "--allow-wipe",
        action="store_true",
        help="allow wiping a DATABASE_URL whose database name does not contain 'bench'",
    )
    args = p.parse_args(argv)
    quick = {"releases": 200, "duration": 3.0, "warmup": 1.0}
    full = {"releases": 2000, "duration": 10.0, "warmup": 2.0}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:  # explicit options win over --quick
            setattr(args, name, value)
    if args.releases < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--releases must be ≥ 1, --duration > 0, --warmup ≥ 0")
    if any(v is not None and v < 1 for v in (args.lag_phases, args.lag_rollbacks)) or args.celery_concurrency < 1:
        p.error("--lag-phases, --lag-rollbacks and --celery-concurrency must be ≥ 1")
    if args.lag_spread is not None and not 0 <= args.lag_spread <= 600:
        p.error("--lag-spread must be between 0 and 600 seconds")
    if any(v is not None and v < 5 for v in (args.comms_notices, args.comms_lag_notices)):
        p.error("--comms-notices and --comms-lag-notices must be ≥ 5")
    if args.comms_lag_spread is not None and not 0 <= args.comms_lag_spread <= 600:
        p.error("--comms-lag-spread must be between 0 and 600 seconds")
    return args


def bench_env(args) -> dict[str, str]:
    """The environment for this process, migrate and gunicorn alike."""
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    # Production runs with Redis as the shared cache (sessions, roles, page versions).
    env.setdefault("CACHE_URL", "redis://127.0.0.1:6379/3")
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["DEBUG"] = "false"
    env["DB_CONN_MAX_AGE"] = "600"
    env.setdefault("LOG_LEVEL", "WARNING")
    return env


def check_wipe_allowed(url: str, allow: bool) -> None:
    parts = urlsplit(url)
    name = Path(unquote(parts.path)).name if parts.scheme == "sqlite" else unquote(parts.path.lstrip("/"))
    if "bench" not in name.lower() and not allow:
        raise BenchError(
            f"DATABASE_URL names database {name!r}; the bench wipes all releases in it. "
            "Use a database whose name contains 'bench' (the default is flightdeck_bench) or pass --allow-wipe."
        )


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in url if it is missing (via the `postgres` database)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        return
    import psycopg
    from psycopg import sql

    name = unquote(parts.path.lstrip("/"))
    conninfo = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username) if parts.username else "postgres",
        "dbname": "postgres",
        "connect_timeout": 10,
    }
    if parts.password:
        conninfo["password"] = unquote(parts.password)
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            log(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def migrate(env: dict[str, str]) -> None:
    log("manage.py migrate")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        stdout=sys.stderr,
        stderr=sys.stderr,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"manage.py migrate failed ({proc.returncode})")


# --- In-process measurements ----------------------------------------------------------


class SqlTimer:
    """connection.execute_wrapper that adds up time spent in the database driver."""

    def __init__(self):
        self.seconds = 0.0
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - t0
            self.count += 1


def count_queries(client, path: str, *, cold: bool = True) -> tuple[int, list[str]]:
    """Queries of one GET. cold: with the cache emptied first, so cached pages and roles are
    built from the database as on the first load after a change; warm: served as readers get it."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    try:
        client.get(path)  # warm: first request of a process may do one-off work
        if cold:
            cache.clear()
            client.get("/healthz")
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
    except Exception as exc:  # the app raised: say which page, keep the traceback on stderr
        raise BenchError(f"GET {path} in-process raised {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise BenchError(f"GET {path} in-process answered {response.status_code}, expected 200")
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


@contextlib.contextmanager
def render_timer():
    """Add up wall time spent in outermost Django template renders (includes render-time SQL)."""
    from django.template.backends.django import Template

    original = Template.render
    state = {"seconds": 0.0, "depth": 0}

    def timed(self, *args, **kwargs):
        state["depth"] += 1
        t0 = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            state["depth"] -= 1
            if state["depth"] == 0:
                state["seconds"] += time.perf_counter() - t0

    Template.render = timed
    try:
        yield state
    finally:
        Template.render = original


def time_view(client, path: str, *, seconds: float = 2.0, max_requests: int = 300) -> dict[str, float]:
    """Per in-process request (one thread, no HTTP): wall, SQL and template-render milliseconds.

    Best of five rounds, so other work on the machine inflates it less.
    """
    from django.db import connection

    client.get(path)
    rounds = []
    for _ in range(5):
        timer, n = SqlTimer(), 0
        t0 = time.perf_counter()
        with connection.execute_wrapper(timer), render_timer() as render:
            while n < max_requests and time.perf_counter() - t0 < seconds / 5:
                client.get(path)
                n += 1
        wall = time.perf_counter() - t0
        rounds.append(
            {
                "ms": 1000 * wall / n,
                "sql_ms": 1000 * timer.seconds / n,
                "render_ms": 1000 * render["seconds"] / n,
                "queries": timer.count / n,
                "n": n,
            }
        )
    return min(rounds, key=lambda r: r["ms"])


def profile_view(client, path: str, requests: int = 100) -> None:
    import cProfile
    import pstats

    OUT.mkdir(exist_ok=True)
    client.get(path)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(requests):
        client.get(path)
    prof.disable()
    target = OUT / "dashboard.prof"
    prof.dump_stats(target)
    log(f"cProfile of {requests} × GET {path} written to {target}; top functions by cumulative time:")
    stats = pstats.Stats(prof, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


# --- gunicorn -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env, port: int, args, log_path: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    cmd = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    cmd += ["config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)]
    cmd += ["--threads", str(args.threads), "--log-level", "warning", "--error-logfile", "-"]
    log(f"starting gunicorn: {' '.join(cmd[1:])}")
    with open(log_path, "wb") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    log(f"stopping gunicorn (pid {proc.pid})")
    proc.send_signal(signal.SIGTERM)  # the master stops its workers
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: master and workers only
        proc.wait(timeout=5)


def http_get(port: int, path: str, headers=None, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def http_post(port: int, path: str, body: bytes, headers: dict, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen, port: int, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited ({proc.returncode}):\n{log_tail(log_path)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_get(port, "/healthz", timeout=2)[0] == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{log_tail(log_path)}")


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def measure(port: int, path: str, *, args, tool: str, headers, label: str, post=None):
    """`post` = (body for the Python loader, Lua that makes wrk POST) for a POST endpoint."""
    url = f"http://127.0.0.1:{port}{path}"
    kw = {"tool": tool, "connections": args.connections, "threads": 1, "headers": headers}
    if post is not None:
        kw.update(method="POST", body=post[0], lua=post[1])
    if args.warmup > 0:
        log(f"warm-up {label}: {args.warmup:g} s")
        warm = load.run_load(url, duration=args.warmup, **kw)
        check_statuses(warm, label)
    log(f"measuring {label}: {args.duration:g} s, {args.connections} connections ({tool})")
    result = load.run_load(url, duration=args.duration, **kw)
    check_statuses(result, label)
    log(
        f"{label}: {result.rps:.1f} req/s, {result.ok} × 200, p50 {result.p50_ms or 0:.1f} ms, "
        f"p99 {result.p99_ms or 0:.1f} ms, socket errors {result.errors}"
    )
    return result


def check_statuses(result, label: str) -> None:
    if result.bad or result.ok == 0:
        raise BenchError(
            f"{label}: {result.bad} responses were not 200 (statuses {result.bad_statuses}), {result.ok} were;"
            f" the numbers would be meaningless.\n{result.raw}"
        )
    if result.errors > max(10, result.ok // 100):
        raise BenchError(f"{label}: {result.errors} socket errors against {result.ok} answers.\n{result.raw}")


# --- Main -----------------------------------------------------------------------------


def loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def run(args) -> list[str]:
    """Measure and emit; returns the failures that did not stop the run."""
    failures: list[str] = []
    started = time.monotonic()
    if loadavg() > 0.5:
        log(f"note: load average is {loadavg():.2f} before the bench; other work on this machine skews req/s")
    env = bench_env(args)
    os.environ.update(
        {k: env[k] for k in ("DATABASE_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "DB_CONN_MAX_AGE")}
    )
    os.environ.setdefault("LOG_LEVEL", env["LOG_LEVEL"])
    url = env["DATABASE_URL"]
    log(f"database: {urlsplit(url)._replace(netloc=urlsplit(url).hostname or '').geturl()}")
    check_wipe_allowed(url, args.allow_wipe)
    ensure_database(url)
    migrate(env)

    import django

    django.setup()
    import seed
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    if settings.DEBUG:
        raise BenchError("DEBUG is on; the bench measures production settings")
    log(f"connected to {connection.vendor} database {connection.settings_dict['NAME']}")

    # Query counts: small, then full size.
    t0 = time.monotonic()
    users = seed.seed(SMALL)
    cache.clear()  # the seed writes in bulk, past the events that move cached pages' version
    client = Client()
    client.force_login(users.manager)
    small_queries, _ = count_queries(client, "/")
    api_small = importlib.import_module("bench.api").list_queries(users.manager, log)  # GET /api/v1/releases
    log(f"{SMALL} releases seeded in {time.monotonic() - t0:.1f} s; dashboard: {small_queries} queries")

    log(f"seeding {args.releases} releases × {seed.PHASES_PER_RELEASE} phases × {seed.GATES_PER_PHASE} gates")
    t0 = time.monotonic()
    users = seed.seed(args.releases)
    cache.clear()
    seed_seconds = time.monotonic() - t0
    log(f"seeded in {seed_seconds:.1f} s: {seed.counts()}")
    if connection.vendor == "postgresql":  # what autovacuum would have done by now: stats, visibility map
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    client = Client()
    client.force_login(users.manager)
    big_queries, big_sql = count_queries(client, "/")
    api_big = importlib.import_module("bench.api").list_queries(users.manager, log)
    cached_queries, _ = count_queries(client, "/", cold=False)
    if big_queries != small_queries:
        log(f"dashboard query count grows: {small_queries} with {SMALL} releases, {big_queries} with {args.releases}")
        for i, q in enumerate(big_sql, 1):
            log(f"  q{i}: {q[:300]}")
    else:
        log(f"dashboard queries with {args.releases} releases: {big_queries} (same as with {SMALL})")

    from rollouts.models import Release, ReleaseStatus

    slug = Release.objects.filter(status=ReleaseStatus.IN_PROGRESS).order_by("pk").values_list("slug", flat=True)[0]
    try:
        release_queries, _ = count_queries(client, f"/releases/{slug}/")
    except BenchError as exc:  # report it, measure the rest, exit non-zero at the end
        traceback.print_exception(exc.__cause__ or exc, file=sys.stderr)
        log(f"FAILED: {exc}")
        failures.append(str(exc))
        release_queries = "error"

    dash_t = time_view(client, "/")
    health_t = time_view(client, "/healthz")
    other = dash_t["ms"] - dash_t["sql_ms"] - dash_t["render_ms"]
    log(
        f"in-process (1 thread, no HTTP, best of 5 rounds): dashboard {dash_t['ms']:.2f} ms/request: "
        f"SQL {dash_t['sql_ms']:.2f} ms ({dash_t['queries']:.0f} queries), template render "
        f"{dash_t['render_ms']:.2f} ms, other Python (ORM rows → objects, view, middleware) {other:.2f} ms; "
        f"/healthz {health_t['ms']:.2f} ms (SQL {health_t['sql_ms']:.2f} ms)"
    )
    if args.profile:
        profile_view(client, "/")

    ofrep_setup = None
    if not args.skip_ofrep:
        ofrep_bench = importlib.import_module("bench.ofrep")  # bench/ofrep.py
        ofrep_setup = ofrep_bench.setup()
        ofrep_queries, sample = ofrep_bench.queries_per_eval(ofrep_setup)
        evals = ofrep_bench.evals_per_second(ofrep_setup)
        log(
            f"OFREP: flag {ofrep_setup.flag_key} follows {ofrep_setup.release_slug} at {ofrep_setup.exposure}%; "
            f"sample answer {json.dumps(sample)}; {ofrep_queries:.2f} queries per evaluation; "
            f"{evals:,.0f} evaluations/s in-process"
        )

    emit("releases", args.releases)
    emit("seed_seconds", f"{seed_seconds:.1f}")
    emit(f"dashboard_queries_{SMALL}", small_queries)
    emit(f"dashboard_queries_{args.releases}", big_queries)
    emit(f"dashboard_queries_cached_{args.releases}", cached_queries)
    emit(f"api_list_queries_{SMALL}", api_small)
    emit(f"api_list_queries_{args.releases}", api_big)
    emit("release_page_queries", release_queries)
    emit("dashboard_inprocess_ms", f"{dash_t['ms']:.2f}")
    emit("dashboard_inprocess_sql_ms", f"{dash_t['sql_ms']:.2f}")
    emit("dashboard_inprocess_render_ms", f"{dash_t['render_ms']:.2f}")
    emit("baseline_inprocess_ms", f"{health_t['ms']:.2f}")
    if ofrep_setup is not None:
        emit("ofrep_queries_per_eval", f"{ofrep_queries:.2f}")
        emit("eval_per_s_inprocess", f"{evals:.0f}")

    if not args.skip_load:
        # The cookies a signed-in browser sends: its session and its CSRF cookie.
        cookie = "; ".join(
            f"{name}={client.cookies[name].value}"
            for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
            if name in client.cookies
        )
        connection.close()
        throughput(args, env, cookie, ofrep_setup)
    if not args.skip_lag:
        import lag  # bench/lag.py: real Celery worker and beat against the same database

        try:
            failures += lag.run(args, env, emit, log)
        except lag.LagError as exc:  # report it; the figures above stand
            log(f"FAILED: {exc}")
            failures.append(str(exc))
    if not args.skip_comms:
        # bench/comms.py as bench.comms: a plain `import comms` is the app package.
        comms_bench = importlib.import_module("bench.comms")
        failures += comms_bench.run(args, env, emit, log)
    if not args.skip_scaleout:
        # bench/scaleout.py: tests/reliability/test_scaleout.py at bench size, in its own pytest.
        failures += importlib.import_module("bench.scaleout").run(args, env, emit, log)
    if not args.skip_faults:
        # bench/faults.py in a child process of its own, against its own PostgreSQL and Redis.
        failures += importlib.import_module("bench.faults").run(args, emit, log)
    emit("total_seconds", f"{time.monotonic() - started:.1f}")
    return failures


def throughput(args, env, cookie: str, ofrep_setup=None) -> None:
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if load.have_wrk() else "python"
        if tool == "python":
            log("wrk not found (apt-get install -y wrk); using the slower Python loader")
    elif tool == "wrk" and not load.have_wrk():
        raise BenchError("--tool wrk but wrk is not installed (apt-get install -y wrk)")
    OUT.mkdir(exist_ok=True)
    log_path = OUT / "gunicorn.log"
    port = free_port()
    proc = start_gunicorn(env, port, args, log_path)
    try:
        wait_ready(proc, port, log_path)
        headers = {"Cookie": cookie}
        status, resp_headers, body = http_get(port, "/", headers=headers)
        if status != 200 or b'class="release-row' not in body:
            raise BenchError(
                f"GET / with the bench session answered {status} {resp_headers.get('location', '')}; "
                "expected the dashboard (200 with release rows)"
            )
        rows = body.count(b'<li class="release-row')
        log(f"GET / is the dashboard: 200, {len(body)} bytes, {rows} release rows")
        ofrep_bench = importlib.import_module("bench.ofrep") if ofrep_setup is not None else None
        if ofrep_bench is not None:
            ofrep_path, ofrep_headers = ofrep_bench.path(ofrep_setup), ofrep_bench.headers(ofrep_setup)
            status, _, answer = http_post(port, ofrep_path, ofrep_bench.body(), ofrep_headers)
            if status != 200 or b'"reason"' not in answer:
                raise BenchError(f"POST {ofrep_path} answered {status}: {answer[:300]!r}")
            log(f"POST {ofrep_path} answers {answer.decode()}")
        load_before = loadavg()
        # Alternate short rounds of each, so a load that comes and goes on this shared
        # machine weighs on both sides alike; report the median round of each.
        rounds = max(1, args.rounds)
        round_args = argparse.Namespace(**{**vars(args), "duration": args.duration / rounds})
        dashes, bases, ofreps = [], [], []
        for _ in range(rounds):
            dashes.append(measure(port, "/", args=round_args, tool=tool, headers=headers, label="dashboard"))
            bases.append(measure(port, "/healthz", args=round_args, tool=tool, headers={}, label="baseline /healthz"))
            if ofrep_bench is not None:
                post = (ofrep_bench.body(), ofrep_bench.WRK_REQUEST_LUA)
                ofreps.append(
                    measure(
                        port, ofrep_path, args=round_args, tool=tool, headers=ofrep_headers, label="OFREP", post=post
                    )
                )
        dash = sorted(dashes, key=lambda m: m.rps)[len(dashes) // 2]
        base = sorted(bases, key=lambda m: m.rps)[len(bases) // 2]
        ofrep = sorted(ofreps, key=lambda m: m.rps)[len(ofreps) // 2] if ofreps else None
        if proc.poll() is not None:
            raise BenchError(f"gunicorn died during the run:\n{log_tail(log_path)}")
    finally:
        stop_gunicorn(proc)
    emit("loadavg_1m_before_load", f"{load_before:.2f}")
    emit("load_tool", tool)
    emit("gunicorn", f"workers={args.workers} threads={args.threads} connections={args.connections}")
    emit("dashboard_rps", f"{dash.rps:.1f}")
    emit("baseline_rps", f"{base.rps:.1f}")
    emit("dashboard_rps_ratio", f"{dash.rps / base.rps:.2f}")
    emit("rps_rounds", len(dashes))
    emit("dashboard_p50_ms", f"{dash.p50_ms:.1f}")
    emit("baseline_p50_ms", f"{base.p50_ms:.1f}")
    if ofrep is not None:
        emit("ofrep_rps", f"{ofrep.rps:.1f}")
        emit("ofrep_rps_ratio", f"{ofrep.rps / base.rps:.2f}")
        emit("ofrep_p50_ms", f"{ofrep.p50_ms:.1f}")


def main(argv=None) -> int:
    args = parse_args(argv)

    def on_term(signum, frame):
        raise SystemExit(128 + signum)  # unwinds through the finally that stops gunicorn

    signal.signal(signal.SIGTERM, on_term)
    try:
        failures = run(args)
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    for failure in failures:
        log(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
