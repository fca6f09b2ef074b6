"""Load generators: wrk when installed, else a multi-threaded http.client loop.

Both count responses by exact status, because wrk's own "Non-2xx or 3xx" line would let
a 302 to the login page pass as success.
"""

import http.client
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Per-thread status counters, summed in done(); printed as one line we parse.
WRK_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0; last_bad = 0 end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1; last_bad = status end
end
function done(summary, latency, requests)
  local o, b, lb = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); b = b + t:get("bad")
    if t:get("last_bad") ~= 0 then lb = t:get("last_bad") end
  end
  io.write(string.format("BENCH_STATUS ok=%d bad=%d last_bad=%d\n", o, b, lb))
  io.write(string.format("BENCH_LATENCY p50=%.3f p99=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass
class LoadResult:
    rps: float
    ok: int
    bad: int
    errors: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    bad_statuses: dict = field(default_factory=dict)
    raw: str = ""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, *, duration: float, connections: int, threads: int, headers: dict[str, str], lua: str = ""
) -> LoadResult:
    """`lua` goes before the status counters: e.g. a request() function for POST bodies (bench/ofrep.py)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua + WRK_LUA)
        script = fh.name
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s"]
    cmd += ["-s", script]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    finally:
        Path(script).unlink(missing_ok=True)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    status = re.search(r"BENCH_STATUS ok=(\d+) bad=(\d+) last_bad=(\d+)", out)
    if not rps or not status:
        raise RuntimeError(f"could not parse wrk output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    lat = re.search(r"BENCH_LATENCY p50=([\d.]+) p99=([\d.]+)", out)
    bad = int(status.group(2))
    return LoadResult(
        rps=float(rps.group(1)),
        ok=int(status.group(1)),
        bad=bad,
        errors=errors,
        p50_ms=float(lat.group(1)) if lat else None,
        p99_ms=float(lat.group(2)) if lat else None,
        bad_statuses={int(status.group(3)): bad} if bad else {},
        raw=out,
    )


def run_python(
    url: str,
    *,
    duration: float,
    connections: int,
    headers: dict[str, str],
    method: str = "GET",
    body: bytes | None = None,
) -> LoadResult:
    """Keep-alive http.client loops in threads; bounded by `duration`. Slower than wrk (GIL)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    deadline = time.monotonic() + duration
    lock = threading.Lock()
    totals = {"ok": 0, "bad": 0, "errors": 0}
    bad_statuses: dict[int, int] = {}
    latencies: list[float] = []

    def worker():
        ok = bad = errors = 0
        mine_bad: dict[int, int] = {}
        mine_lat: list[float] = []
        conn = None
        while time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                t0 = time.perf_counter()
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                mine_lat.append(time.perf_counter() - t0)
                if resp.status == 200:
                    ok += 1
                else:
                    bad += 1
                    mine_bad[resp.status] = mine_bad.get(resp.status, 0) + 1
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                errors += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            totals["ok"] += ok
            totals["bad"] += bad
            totals["errors"] += errors
            latencies.extend(mine_lat)
            for k, v in mine_bad.items():
                bad_statuses[k] = bad_statuses.get(k, 0) + v

    started = time.monotonic()
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=duration + 30)
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000 if latencies else None

    return LoadResult(
        rps=(totals["ok"] + totals["bad"]) / elapsed,
        ok=totals["ok"],
        bad=totals["bad"],
        errors=totals["errors"],
        p50_ms=pct(50),
        p99_ms=pct(99),
        bad_statuses=bad_statuses,
    )


def run_load(
    url: str,
    *,
    tool: str,
    duration: float,
    connections: int,
    threads: int,
    headers: dict[str, str],
    method: str = "GET",
    body: bytes | None = None,
    lua: str = "",
):
    """GET by default; a POST gives `body` to the Python loader and `lua` (which sets it) to wrk."""
    if tool == "wrk":
        return run_wrk(url, duration=duration, connections=connections, threads=threads, headers=headers, lua=lua)
    return run_python(url, duration=duration, connections=connections, headers=headers, method=method, body=body)
