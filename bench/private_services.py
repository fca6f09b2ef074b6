"""A PostgreSQL and a Redis of our own, on free loopback ports in a temporary folder, that a
fault run may stop and start at will (never the machine's shared servers on 5432 and 6379).

    with PrivatePostgres(folder / "pg") as pg, PrivateRedis(folder / "redis") as redis:
        pg.create_database("flightdeck_faults")
        url = pg.url("flightdeck_faults")            # postgres://postgres@127.0.0.1:<port>/…
        pg.restart(down_seconds=2)                   # pg_ctl stop -m fast, wait, start
        redis.restart(down_seconds=1)                # terminate, wait, start on the same port

No Django here: bench/faults.py and tests/reliability/test_faults.py both use it. initdb
refuses to run as root, so as root the PostgreSQL commands run as the `postgres` OS user
(runuser) in a folder handed to that user. The data folder is thrown away: fsync is off,
which changes nothing for a fast (clean) shutdown, the only kind a fault run does.
"""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PG_USER = "postgres"  # the OS user that owns the cluster when we run as root, and the role


class ServiceError(Exception):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_temp_root(prefix: str = "flightdeck-faults-") -> Path:
    """A fresh folder under the system temp folder that the postgres user may pass through."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o711)  # mkdtemp makes it 0700; as root, postgres must reach its own sub-folder
    return folder


def pg_bin_dir() -> Path | None:
    """FAULTS_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin, else the folder of initdb on PATH."""
    if os.environ.get("FAULTS_PG_BIN"):
        return Path(os.environ["FAULTS_PG_BIN"])
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_binaries() -> list[str]:
    """What a fault run needs and this machine lacks (empty: all there)."""
    missing = []
    bin_dir = pg_bin_dir()
    for name in ("initdb", "pg_ctl", "postgres"):
        if bin_dir is None or not (bin_dir / name).exists():
            missing.append(f"PostgreSQL {name} (set FAULTS_PG_BIN or install postgresql)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            missing.append("runuser (to run initdb as the postgres user)")
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            missing.append(f"the {PG_USER} OS user (initdb refuses root)")
    return missing


def _wait_port(port: int, *, up: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return
        time.sleep(0.05)
    raise ServiceError(f"port {port} did not go {'up' if up else 'down'} within {timeout:.0f} s")


class PrivatePostgres:
    """One throw-away cluster: initdb on start, pg_ctl for stop/start, the folder removed on close."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "run"
        self.log_path = self.folder / "postgres.log"
        self.bin = pg_bin_dir()
        self.as_root = os.geteuid() == 0
        self.starts = 0

    def _run(self, *args: str, timeout: float = 120) -> str:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.folder)
        if proc.returncode != 0:
            raise ServiceError(
                f"{' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{self.log_tail()}"
            )
        return proc.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def init(self) -> "PrivatePostgres":
        if self.bin is None:
            raise ServiceError("no PostgreSQL binaries (set FAULTS_PG_BIN)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.as_root:
            user = pwd.getpwnam(PG_USER)
            for path in (self.folder, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", PG_USER, "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} "
            "-c fsync=off -c full_page_writes=off -c max_connections=60 -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start")
        self.starts += 1

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, *, down_seconds: float = 2.0) -> tuple[float, float]:
        """Stop (fast: running transactions are rolled back, connections cut), stay down, start.
        Returns (seconds stopping took, seconds the start took)."""
        t0 = time.monotonic()
        self.stop("fast")
        t1 = time.monotonic()
        time.sleep(down_seconds)
        t2 = time.monotonic()
        self.start()
        return t1 - t0, time.monotonic() - t2

    def postmaster_pid(self) -> int:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def url(self, dbname: str) -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres", autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (ServiceError, subprocess.TimeoutExpired):
                pid = self.postmaster_pid()
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)  # our own postmaster only, by its pid
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "PrivatePostgres":
        try:
            self.init()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PrivateRedis:
    """redis-server in the foreground as our child, nothing saved; a restart loses every key."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.log_path = self.folder / "redis.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        cmd += ["--daemonize", "no", "--dir", str(self.folder), "--logfile", str(self.log_path)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            _wait_port(self.port, up=True, timeout=20)
        except ServiceError:
            self.stop()
            raise
        self.starts += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM: with --save "" it exits at once, keeping nothing
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        _wait_port(self.port, up=False, timeout=10)

    def restart(self, *, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "PrivateRedis":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
