"""The site under gunicorn on a scratch database, its rate limiter in Redis, and the CPU each process used."""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent  # the checkout: gunicorn and flask run from here
START_LIMIT_FOR_BENCH = "1000000 per minute"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class ServerSettings:
    workers: int = 4
    worker_class: str = "sync"
    threads: int = 1


@dataclass(frozen=True)
class Served:
    url: str  # base URL on loopback
    pid: int  # the gunicorn master; its children are the workers


@contextlib.contextmanager
def gunicorn(app_spec: str, env: Mapping[str, str], settings: ServerSettings) -> Iterator[Served]:
    """Serve ``app_spec`` on a free loopback port; yields its URL and master pid and stops the server after."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", app_spec,
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(settings.workers),
        "--worker-class", settings.worker_class,
        "--threads", str(settings.threads),
        "--chdir", str(ROOT),
        "--backlog", "2048",
        "--preload",  # import once in the master (pandas & co. take seconds), fork ready workers
        "--log-level", "warning",
        "--no-control-socket",  # one shared socket path for every gunicorn on the machine, and a slow exit
    ]
    server = subprocess.Popen(command, env=dict(env), start_new_session=True)
    try:
        wait_until_serving(port, server)
        yield Served(f"http://127.0.0.1:{port}", server.pid)
    finally:
        # The run is over; workers finish what they are writing (SIGTERM), but unloading pandas
        # & co. on exit takes seconds, so after a short grace the whole process group is killed.
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_until_serving(port: int, server: subprocess.Popen, timeout: float = 120.0) -> None:
    """Return once the port answers HTTP; raise if the server exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode} before serving")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if connection.recv(12).startswith(b"HTTP/"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on 127.0.0.1:{port} within {timeout:.0f} s")


@contextlib.contextmanager
def scratch_database(backend: str, postgres_server: str) -> Iterator[str]:
    """A new empty database (PostgreSQL: created on the server and dropped after; SQLite: a temp file)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="survey-load-") as folder:
            yield f"sqlite:///{folder}/survey.db"
        return
    server = sa.make_url(postgres_server)
    name = f"survey_load_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def site_environment(database_url: str, redis_url: Optional[str]) -> dict[str, str]:
    """The environment of the site under test: fresh secrets, the bench's start limit, Redis for the limiter."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "PARADATA_SALT": secrets.token_hex(32),
        "RATELIMIT_START": START_LIMIT_FOR_BENCH,
        "POLLSTER_EMAIL": "bench@localhost",
        "POLLSTER_PASSWORD": secrets.token_urlsafe(24),
    }
    env.pop("SURVEY_ENV", None)  # production cookies are Secure-only, and the bench speaks plain HTTP
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def prepare_site(env: Mapping[str, str]) -> None:
    """Migrate, load and open the default questionnaire, exactly as a new deployment does."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "init-site"],
        cwd=ROOT, env=dict(env), check=True, stdout=subprocess.DEVNULL,
    )


def empty_redis(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


@contextlib.contextmanager
def redis_peak(redis_url: Optional[str]) -> Iterator[list[int]]:
    """The most keys Redis held while the block ran (the limiter's counters expire with their window)."""
    peak = [0]
    if not redis_url:
        yield peak
        return
    import redis

    client, stop = redis.Redis.from_url(redis_url), threading.Event()

    def watch() -> None:
        while True:
            peak[0] = max(peak[0], client.dbsize())
            if stop.wait(0.5):
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield peak
    finally:
        stop.set()
        watcher.join()
        peak[0] = max(peak[0], client.dbsize())  # a run shorter than one poll still counts its keys


def _processes() -> Iterator[tuple[int, int, str, float]]:
    """(pid, parent pid, command line, CPU seconds so far) of every process /proc shows."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        yield int(entry.name), int(fields[1]), command, (int(fields[11]) + int(fields[12])) / tick


def cpu_snapshot(server: Served, database_url: Optional[str]) -> Optional[dict[str, dict[int, float]]]:
    """CPU seconds used so far by the server's workers, the database's PostgreSQL backends and this client.

    Taken before and after a run, the difference says where the machine's cores went: the
    client shares them with the server, so the ceiling is partly the client's own limit.
    None where there is no /proc (not Linux).
    """
    if not Path("/proc/self/stat").exists():
        return None
    database = sa.make_url(database_url).database if database_url and database_url.startswith("postgresql") else None
    snapshot: dict[str, dict[int, float]] = {"server": {}, "postgresql": {}, "client": {0: time.process_time()}}
    for pid, parent, command, seconds in _processes():
        if pid == server.pid or parent == server.pid:
            snapshot["server"][pid] = seconds
        elif database and command.startswith("postgres: ") and f" {database} " in command:
            snapshot["postgresql"][pid] = seconds
    return snapshot


def cpu_per_request(before, after, requests: int) -> Optional[dict[str, float]]:
    """Milliseconds of CPU per request for each role, from two ``cpu_snapshot``s (processes new since count from 0)."""
    if before is None or after is None or not requests:
        return None
    return {
        role: 1000 * sum(seconds - before[role].get(pid, 0.0) for pid, seconds in after[role].items()) / requests
        for role in after
    }
