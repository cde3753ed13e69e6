"""Real PostgreSQL and Redis servers on loopback, each kept in a folder of its own.

`dalrn serve --backend postgres` and the tests start them from Debian's packages
(PostgreSQL 15 under /usr/lib/postgresql/15/bin, `redis-server`). Each server listens on
127.0.0.1 only and asks for a password generated at its first start; the folder keeps the
server's data, its log and `server.json` (0600: port, user, password, pid), so a later
start in the same folder finds the running server and reuses it, and a stopped one comes
back with its data.

PostgreSQL refuses to run as root: when we are root, its commands run as the user
`postgres` (`runuser`), which owns the data folder and must be able to reach the folder.
Redis keeps an append-only file (fsync every second), so the dispute queue survives a
restart of the server; `durable=False` keeps nothing on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

HOST = "127.0.0.1"
STATE_FILE = "server.json"
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGRES_USER = "dalrn"
POSTGRES_OS_USER = "postgres"
# The gateway's tables live in `dalrn`, Prefect's in `prefect`: one role owns both.
DATABASES = ("dalrn", "prefect")
START_TIMEOUT_S = 90.0


@dataclass
class LocalServer:
    """A PostgreSQL or Redis server on 127.0.0.1 whose data, log and state live in `folder`."""

    kind: str  # "postgres" or "redis"
    folder: Path
    port: int
    pid: int
    user: str
    password: str
    host: str = HOST

    @property
    def url(self) -> str:
        """Redis: `redis://...`; PostgreSQL: the SQLAlchemy (psycopg) URL of the `dalrn` database."""
        if self.kind == "redis":
            return f"redis://{self.user}:{self.password}@{self.host}:{self.port}/0"
        return self.database_url("dalrn")

    @property
    def asyncpg_url(self) -> str:
        """The URL Prefect's server takes (`PREFECT_API_DATABASE_CONNECTION_URL`): asyncpg, `prefect`."""
        if self.kind != "postgres":
            raise AttributeError("only a PostgreSQL server has an asyncpg URL")
        return self.database_url("prefect", driver="asyncpg")

    def database_url(self, database: str, driver: str = "psycopg") -> str:
        """The SQLAlchemy URL of `database` on this PostgreSQL server through `driver`."""
        if self.kind != "postgres":
            raise AttributeError("only a PostgreSQL server has databases")
        return f"postgresql+{driver}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def running(self) -> bool:
        """Whether the recorded process is alive and the port answers."""
        return _alive(self.pid, self.kind) and _port_open(self.host, self.port)

    def stop(self) -> None:
        """Stop the server (its data stays in the folder); no-op when it is not running."""
        if self.kind == "postgres":
            if _alive(self.pid, "postgres"):
                _as_owner([str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-t", "60",
                           "-m", "fast", "stop"], timeout=90)
        else:
            _terminate(self.pid, "redis")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def postgres_available() -> str | None:
    """None when PostgreSQL can be started here, else the reason it cannot."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (POSTGRES_BIN / name).exists()]
    if missing:
        return f"PostgreSQL's {', '.join(missing)} not found in {POSTGRES_BIN} (Debian: apt-get install postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            return f"running as root needs the user {POSTGRES_OS_USER!r} to own PostgreSQL's data (none here)"
        if shutil.which("runuser") is None:
            return "running as root needs `runuser` to start PostgreSQL as an unprivileged user"
    return None


def redis_available() -> str | None:
    """None when redis-server can be started here, else the reason it cannot."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian: apt-get install redis-server)"
    return None


def start_postgres(folder: Path, port: int | None = None) -> LocalServer:
    """PostgreSQL on 127.0.0.1 with its cluster in `folder`/data and the databases `dalrn` and `prefect`.

    Reuses the server already running from `folder` (on `port`, when given); otherwise
    initializes the cluster on first use (password auth, scram-sha-256) and starts it.
    """
    reason = postgres_available()
    if reason:
        raise RuntimeError(reason)
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    found = _reuse(folder, "postgres", port)
    if found is not None:
        return found
    state = _read_state(folder)
    password = state.get("password") or secrets.token_urlsafe(24)
    data = folder / "data"
    _check_reachable(folder)
    if not (data / "PG_VERSION").exists():
        _init_cluster(folder, data, password)
    port = port or free_port()
    log = folder / "postgres.log"
    log.touch()
    _give_to_owner(log)
    # No Unix socket: every client, local tools included, comes over loopback TCP with the password.
    _as_owner([str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(START_TIMEOUT_S)),
               "-o", f"-p {port} -c listen_addresses={HOST} -c unix_socket_directories=''", "start"],
              timeout=START_TIMEOUT_S + 30)
    pid = int((data / "postmaster.pid").read_text().split()[0])
    server = LocalServer("postgres", folder, port, pid, POSTGRES_USER, password)
    _write_state(server)
    _create_databases(server)
    return server


def start_redis(folder: Path, port: int | None = None, *, durable: bool = True) -> LocalServer:
    """redis-server on 127.0.0.1 with its files in `folder`, behind a password.

    `durable`: an append-only file fsynced every second (what the dispute queue needs to
    survive a restart); without it nothing is kept on disk. Reuses the server already
    running from `folder` (on `port`, when given).
    """
    reason = redis_available()
    if reason:
        raise RuntimeError(reason)
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    found = _reuse(folder, "redis", port)
    if found is not None:
        return found
    state = _read_state(folder)
    password = state.get("password") or secrets.token_urlsafe(24)
    port = port or free_port()
    pid_file = folder / "redis.pid"
    pid_file.unlink(missing_ok=True)
    persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if durable else ["--appendonly", "no"]
    config = "\n".join([
        f"bind {HOST}", f"port {port}", f"dir {folder}", f"requirepass {password}",
        "protected-mode yes", "daemonize yes", f"pidfile {pid_file}", f"logfile {folder / 'redis.log'}",
        'save ""',  # no RDB snapshots: the append-only file (or nothing) is the persistence
        # A queue must never lose entries to eviction.
        "maxmemory-policy noeviction",
    ]) + "\n"
    conf = folder / "redis.conf"  # the password goes in a 0600 file, never on a command line
    _write_private(conf, config)
    subprocess.run([shutil.which("redis-server") or "redis-server", str(conf), *persistence],
                   check=True, capture_output=True, timeout=30)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (pid_file.exists() and pid_file.read_text().strip() and _port_open(HOST, port)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not answer on {HOST}:{port} within {START_TIMEOUT_S:.0f} s "
                               f"(log: {folder / 'redis.log'})")
        time.sleep(0.05)
    server = LocalServer("redis", folder, port, int(pid_file.read_text().strip()), "default", password)
    _wait_redis_ready(server, deadline)
    _write_state(server)
    return server


def _wait_redis_ready(server: LocalServer, deadline: float) -> None:
    """Wait until the server has loaded its append-only file and answers PING."""
    import redis

    client = redis.Redis.from_url(server.url, socket_timeout=5)
    try:
        while True:
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {server.port} did not get ready") from None
                time.sleep(0.05)
    finally:
        client.close()


def _reuse(folder: Path, kind: str, port: int | None) -> LocalServer | None:
    """The server recorded in `folder` when it still runs; one on another port than asked is stopped."""
    state = _read_state(folder)
    if state.get("kind") != kind:
        return None
    server = LocalServer(kind, folder, int(state["port"]), int(state["pid"]), state["user"], state["password"])
    if not server.running():
        return None
    if port is not None and port != server.port:
        server.stop()
        return None
    return server


def _read_state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((folder / STATE_FILE).read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_state(server: LocalServer) -> None:
    state = {"kind": server.kind, "port": server.port, "pid": server.pid, "user": server.user,
             "password": server.password}
    _write_private(server.folder / STATE_FILE, json.dumps(state, indent=2) + "\n")


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (also when the file already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _owner_prefix() -> list[str]:
    return ["runuser", "-u", POSTGRES_OS_USER, "--"] if os.geteuid() == 0 else []


def _as_owner(command: list[str], timeout: float, env: dict[str, str] | None = None) -> None:
    """Run a PostgreSQL command as the cluster's owner; a failure says what the command printed."""
    done = subprocess.run([*_owner_prefix(), *command], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-800:]}")


def _give_to_owner(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, POSTGRES_OS_USER, POSTGRES_OS_USER)


def _check_reachable(folder: Path) -> None:
    """As root, PostgreSQL runs as `postgres`, which must be able to enter `folder`."""
    if os.geteuid() != 0:
        return
    probe = subprocess.run([*_owner_prefix(), "test", "-x", str(folder)], capture_output=True, timeout=30,
                           check=False)
    if probe.returncode != 0:
        raise RuntimeError(f"PostgreSQL runs as the user {POSTGRES_OS_USER!r} (it refuses root), which cannot "
                           f"enter {folder}: choose a data folder whose parents others may enter "
                           f"(chmod o+x), for example under /tmp or /var/lib")


def _init_cluster(folder: Path, data: Path, password: str) -> None:
    if data.exists():
        shutil.rmtree(data)  # an initdb that stopped half-way leaves a folder initdb refuses
    data.mkdir(mode=0o700)
    _give_to_owner(data)
    # initdb reads the superuser's password from a file the owner can read; it is removed at once.
    pwfile = folder / "initdb-password"
    _write_private(pwfile, password + "\n")
    _give_to_owner(pwfile)
    try:
        _as_owner([str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", POSTGRES_USER, "--pwfile", str(pwfile),
                   "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8"], timeout=180)
    finally:
        pwfile.unlink(missing_ok=True)
    _write_state(LocalServer("postgres", folder, 0, 0, POSTGRES_USER, password))


def _create_databases(server: LocalServer) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            connection = psycopg.connect(host=server.host, port=server.port, user=server.user,
                                         password=server.password, dbname="postgres", autocommit=True,
                                         connect_timeout=5)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with connection:
        existing = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in existing:
                connection.execute(f'CREATE DATABASE "{name}"')  # names are our constants, not input


def _alive(pid: int, kind: str) -> bool:
    """Whether `pid` is a live process of `kind` (its command line names it): pids get reused."""
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return (b"redis-server" if kind == "redis" else b"postgres") in cmdline


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _terminate(pid: int, kind: str, timeout_s: float = 30.0) -> None:
    """SIGTERM (Redis flushes its append-only file and exits), then wait for the process to go."""
    if not _alive(pid, kind):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid, kind):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
