"""Load test: simulated respondents complete the default survey against gunicorn, then the database is audited.

For each database backend (PostgreSQL in a scratch database this script creates and drops,
and SQLite in WAL mode in a temporary folder) the script

1. migrates the database and loads and opens the default questionnaire (``flask init-site``);
2. starts the site under gunicorn (``--workers``, ``--worker-class``) with the rate limiter's
   counters in Redis (``--redis-url``; its database is emptied first, so give the bench its own);
3. has ``--respondents`` simulated people take the survey, at most ``--concurrency`` at a time,
   page by page, as a browser would: each one GETs the page, reads the CSRF token, the signed
   visit field and the questions from the HTML, answers and POSTs;
4. reports requests per second and p50/p95/p99 latency (page submits apart from page views),
   every error, and the CPU per request of the gunicorn workers, the PostgreSQL backends and
   this client (they share the machine's cores);
5. audits the database: every completion the site acknowledged (the thank-you page) is stored
   exactly once with exactly the answers given, and nothing else is stored.

It also serves a bare Flask endpoint under the same gunicorn settings and drives it with the
same client at the same concurrency: that is the ceiling the site is compared with.

The limit on starting new responses (``RATELIMIT_START``) is raised to 1,000,000 a minute for
the run, because every simulated respondent comes from 127.0.0.1; the limiter still runs and
counts in Redis. Everything stays on loopback, and every request count is bounded.

    python bench/load.py                         # both backends, 200 respondents, 50 at a time
    python bench/load.py --backends sqlite --respondents 10 --concurrency 5 --no-ceiling --json out.json

The exit status is 1 when any request failed or the audit found a lost, altered, duplicated
or stray response; latency and throughput targets are reported, not enforced.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import html
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

import aiohttp
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
START_LIMIT_FOR_BENCH = "1000000 per minute"
TARGET_P95_SUBMIT_MS = 100.0
TARGET_CEILING_SHARE = 0.30
REQUEST_TIMEOUT_SECONDS = 30.0

INPUT = re.compile(r"<input\b([^>]*)>")
TEXTAREA = re.compile(r"<textarea\b([^>]*)>")
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')
RESUME_LINK = re.compile(r'class="resume-link"><a href="([^"]+)"')


# --------------------------------------------------------------------------- reading a page

@dataclass
class PageForm:
    """What a respondent's browser sees in a questionnaire page's form."""

    hidden: dict[str, str]
    choices: dict[str, list[str]]  # question field name -> offered values (radio and checkbox)
    multiple: set[str]  # the checkbox fields
    free: list[str]  # text inputs and text areas, by field name
    resume_link: Optional[str]


def read_form(page_html: str) -> PageForm:
    """The hidden fields, question fields and resume link of a respondent page."""
    form = PageForm(hidden={}, choices={}, multiple=set(), free=[], resume_link=None)
    for match in INPUT.finditer(page_html):
        attributes = {name: html.unescape(value) for name, value in ATTRIBUTE.findall(match.group(1))}
        name, kind = attributes.get("name", ""), attributes.get("type", "text")
        if kind == "hidden":
            form.hidden[name] = attributes.get("value", "")
        elif name.startswith("q_") and kind in ("radio", "checkbox"):
            form.choices.setdefault(name, []).append(attributes["value"])
            if kind == "checkbox":
                form.multiple.add(name)
        elif name.startswith("q_"):
            form.free.append(name)
    for match in TEXTAREA.finditer(page_html):
        attributes = dict(ATTRIBUTE.findall(match.group(1)))
        if attributes.get("name", "").startswith("q_"):
            form.free.append(attributes["name"])
    if link := RESUME_LINK.search(page_html):
        form.resume_link = html.unescape(link.group(1))
    return form


def choose_answers(form: PageForm, questionnaire, rng: random.Random, respondent: int) -> dict[str, Any]:
    """Answers a cooperative respondent gives, by field name: passes screeners and attention checks.

    Free text includes markup and non-ASCII letters, so escaping and encoding are exercised too.
    """
    answers: dict[str, Any] = {}
    for name, offered in form.choices.items():
        question = questionnaire.question(name[2:])
        if question.attention_check:
            answers[name] = question.attention_check
        elif name in form.multiple:
            answers[name] = rng.sample(offered, rng.randint(1, len(offered)))
        else:
            allowed = [value for value in offered if not question.ends_survey(value)]
            answers[name] = rng.choice(allowed)
    for name in form.free:
        question = questionnaire.question(name[2:])
        if question.type == "number":
            answers[name] = str(rng.randint(int(question.minimum), int(question.maximum)))
        else:
            answers[name] = f"Respondent {respondent}: <em>¡sí!</em> & \"quotes\""
    return answers


def stored_form(questionnaire, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers as the site must store them (codes, numbers, stripped text), by question code."""
    return {name[2:]: questionnaire.question(name[2:]).validate_answer(value) for name, value in answers.items()}


def token_hash(token: str) -> str:
    """The site stores only this hash of a resume token (see survey.responses.tokens.token_hash)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- the respondents

@dataclass
class Sample:
    kind: str  # "start" (consent), "view" (a page GET), "submit" (a page POST), "ceiling"
    seconds: float
    ok: bool


@dataclass
class Outcome:
    """What one simulated respondent did and what the site acknowledged."""

    number: int
    started: bool = False  # the consent was acknowledged (a response exists)
    resume_token: Optional[str] = None
    answers: dict[str, Any] = field(default_factory=dict)  # acknowledged answers, by question code
    pages: list[str] = field(default_factory=list)  # page ids whose submission was acknowledged
    completed: bool = False
    error: Optional[str] = None


class Client:
    """Timed requests with one cookie jar per respondent over a shared connection pool."""

    def __init__(self, base_url: str, connector: aiohttp.BaseConnector, samples: list[Sample], language: str):
        self.base_url = base_url
        self.samples = samples
        self.session = aiohttp.ClientSession(
            connector=connector,
            connector_owner=False,
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for an IP address host
            headers={"Accept-Language": language, "User-Agent": "bench/load.py"},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
        )

    async def request(self, kind: str, method: str, path: str, data=None, expect: int = 200) -> tuple[str, str]:
        """Send one request without following redirects; returns (body, Location) or raises naming the failure."""
        url = urljoin(self.base_url, path)
        started = time.perf_counter()
        try:
            async with self.session.request(method, url, data=data, allow_redirects=False) as response:
                body = await response.text()
                ok = response.status == expect
                location = response.headers.get("Location", "")
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            self.samples.append(Sample(kind, time.perf_counter() - started, False))
            raise RuntimeError(f"{method} {urlsplit(url).path}: {type(error).__name__}: {error}") from None
        self.samples.append(Sample(kind, time.perf_counter() - started, ok))
        if not ok:
            raise RuntimeError(f"{method} {urlsplit(url).path}: HTTP {status}, expected {expect}")
        return body, location

    async def close(self) -> None:
        await self.session.close()


async def take_survey(
    outcome: Outcome, client: Client, slug: str, questionnaire, rng: random.Random, think: float
) -> None:
    """Consent, then answer every page until the thank-you page; fills ``outcome`` as the site acknowledges."""
    consent = f"/s/{slug}/consent"
    page_html, _ = await client.request("start", "GET", consent)
    start = read_form(page_html)
    _, location = await client.request("start", "POST", consent, data={**start.hidden, "website": ""}, expect=302)
    outcome.started = True
    while True:
        path = urlsplit(location).path
        if path.endswith("/thanks"):
            await client.request("view", "GET", path)
            outcome.completed = True
            return
        page_html, _ = await client.request("view", "GET", path)
        form = read_form(page_html)
        outcome.resume_token = outcome.resume_token or (form.resume_link or "").rsplit("/", 1)[-1] or None
        answers = choose_answers(form, questionnaire, rng, outcome.number)
        if think:
            await asyncio.sleep(rng.uniform(0, 2 * think))
        fields = list({**form.hidden, "website": ""}.items())
        for name, value in answers.items():
            fields += [(name, item) for item in value] if isinstance(value, list) else [(name, value)]
        _, location = await client.request("submit", "POST", path, data=fields, expect=302)
        outcome.answers.update(stored_form(questionnaire, answers))
        outcome.pages.append(path.rsplit("/", 1)[-1])


async def run_respondents(
    base_url: str, slug: str, questionnaire, *, respondents: int, concurrency: int, think: float, seed: int,
    ramp: float = 0.0,
) -> tuple[list[Outcome], list[Sample], float]:
    """Run ``respondents`` people through the survey, ``concurrency`` at a time; returns outcomes, samples, seconds.

    They arrive evenly over the first ``ramp`` seconds (0: all at the same instant).
    """
    samples: list[Sample] = []
    outcomes = [Outcome(number) for number in range(respondents)]
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)

    async def one(outcome: Outcome) -> None:
        await asyncio.sleep(ramp * outcome.number / respondents)
        async with gate:
            client = Client(base_url, connector, samples, "es" if outcome.number % 3 == 0 else "en")
            try:
                await take_survey(outcome, client, slug, questionnaire, random.Random(seed + outcome.number), think)
            except RuntimeError as error:
                outcome.error = str(error)
            finally:
                await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(outcome) for outcome in outcomes))
    elapsed = time.perf_counter() - started
    await connector.close()
    return outcomes, samples, elapsed


async def run_ceiling(base_url: str, *, requests: int, concurrency: int) -> tuple[list[Sample], float]:
    """GET the bare endpoint ``requests`` times, ``concurrency`` at a time."""
    samples: list[Sample] = []
    connector = aiohttp.TCPConnector(limit=0)
    client = Client(base_url, connector, samples, "en")
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            with contextlib.suppress(RuntimeError):
                await client.request("ceiling", "GET", "/")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.close()
    await connector.close()
    return samples, elapsed


def bare_app():
    """The ceiling: a Flask app with one endpoint that does nothing (``gunicorn 'bench.load:bare_app()'``)."""
    from flask import Flask

    app = Flask("bare")

    @app.get("/")
    def ok():
        return "ok"

    return app


# --------------------------------------------------------------------------- the audit

@dataclass
class Audit:
    acknowledged: int
    stored_responses: int
    stored_complete: int
    lost: list[str]
    altered: list[str]
    duplicated: list[str]
    stray: list[str]

    @property
    def clean(self) -> bool:
        return not (self.lost or self.altered or self.duplicated or self.stray)


def audit(database_url: str, slug: str, outcomes: list[Outcome]) -> Audit:
    """Compare what the site acknowledged with what the database holds, response by response.

    lost: an acknowledged completion (or acknowledged page) missing or not complete;
    altered: stored answers differ from the acknowledged ones (missing, extra or changed);
    duplicated: a page timed twice, or more complete responses than acknowledged completions;
    stray: stored responses beyond those of respondents whose start the site acknowledged.
    """
    engine = sa.create_engine(database_url)
    metadata = sa.MetaData()
    responses, answers, visits, surveys = (
        sa.Table(name, metadata, autoload_with=engine) for name in ("responses", "answers", "page_visits", "surveys")
    )
    with engine.connect() as connection:
        survey_id = connection.scalar(sa.select(surveys.c.id).where(surveys.c.slug == slug))
        stored = {
            row.resume_token_hash: row
            for row in connection.execute(
                sa.select(responses.c.id, responses.c.resume_token_hash, responses.c.status).where(
                    responses.c.survey_id == survey_id
                )
            )
        }
        stored_answers: dict[int, dict[str, Any]] = defaultdict(dict)
        for row in connection.execute(sa.select(answers.c.response_id, answers.c.question_code, answers.c.value)):
            stored_answers[row.response_id][row.question_code] = row.value
        timed_pages: dict[int, Counter] = defaultdict(Counter)
        for row in connection.execute(sa.select(visits.c.response_id, visits.c.page)):
            timed_pages[row.response_id][row.page] += 1
    engine.dispose()

    lost, altered, duplicated = [], [], []
    known = set()
    for outcome in outcomes:
        if outcome.resume_token is None:
            continue  # never reached a page: at most its start was acknowledged (counted below)
        row = stored.get(token_hash(outcome.resume_token))
        if row is None:
            lost.append(f"respondent {outcome.number}: no stored response")
            continue
        known.add(row.resume_token_hash)
        if outcome.completed and row.status != "complete":
            lost.append(f"respondent {outcome.number}: acknowledged complete, stored {row.status}")
        if stored_answers[row.id] != outcome.answers:
            altered.append(f"respondent {outcome.number}: stored {stored_answers[row.id]} != acknowledged {outcome.answers}")
        twice = sorted(page for page, count in timed_pages[row.id].items() if count > 1)
        if twice:
            duplicated.append(f"respondent {outcome.number}: pages timed twice: {', '.join(twice)}")
        missing = sorted(set(outcome.pages) - set(timed_pages[row.id]))
        if missing:
            lost.append(f"respondent {outcome.number}: acknowledged pages without a visit: {', '.join(missing)}")
    acknowledged = sum(outcome.completed for outcome in outcomes)
    stored_complete = sum(row.status == "complete" for row in stored.values())
    if stored_complete > acknowledged:
        duplicated.append(f"{stored_complete} complete responses stored for {acknowledged} acknowledged completions")
    unmatched = len(stored) - len(known)
    cut_off = sum(outcome.started and outcome.resume_token is None for outcome in outcomes)
    stray = [] if unmatched <= cut_off else [
        f"{unmatched} stored responses match no respondent who reached a page ({cut_off} starts were cut off before one)"
    ]
    return Audit(acknowledged, len(stored), stored_complete, lost, altered, duplicated, stray)


# --------------------------------------------------------------------------- servers and databases

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


# --------------------------------------------------------------------------- where the CPU went

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


# --------------------------------------------------------------------------- reporting

def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def latency_summary(samples: list[Sample], kind: Optional[str] = None) -> dict[str, float]:
    chosen = [sample.seconds for sample in samples if kind is None or sample.kind == kind]
    return {
        "requests": len(chosen),
        "p50_ms": 1000 * percentile(chosen, 0.50),
        "p95_ms": 1000 * percentile(chosen, 0.95),
        "p99_ms": 1000 * percentile(chosen, 0.99),
    }


@dataclass
class BackendResult:
    backend: str
    respondents: int
    concurrency: int
    seconds: float
    requests_per_second: float
    submits_per_second: float
    errors: int
    error_examples: list[str]
    all_requests: dict[str, float]
    page_views: dict[str, float]
    page_submits: dict[str, float]
    audit: dict[str, Any]
    redis_keys: Optional[int]
    cpu_ms_per_request: Optional[dict[str, float]] = None  # server, postgresql, client
    ceiling_requests_per_second: Optional[float] = None
    ceiling_cpu_ms_per_request: Optional[dict[str, float]] = None
    ceiling_errors: Optional[int] = None
    ceiling_share: Optional[float] = None
    submit_ceiling_share: Optional[float] = None

    @property
    def sound(self) -> bool:
        return self.errors == 0 and self.audit["clean"]

    @property
    def cpu_share(self) -> Optional[float]:
        """The ceiling's CPU per request over the site's: the throughput ratio were both bound by CPU alone."""
        if not self.cpu_ms_per_request or not self.ceiling_cpu_ms_per_request:
            return None
        return sum(self.ceiling_cpu_ms_per_request.values()) / sum(self.cpu_ms_per_request.values())


def run_backend(backend: str, args: argparse.Namespace, questionnaire) -> list[BackendResult]:
    """Set up one backend, run every concurrency level against it, audit after each."""
    settings = ServerSettings(args.workers, args.worker_class, args.threads)
    results = []
    for concurrency in args.concurrency:
        with scratch_database(backend, args.postgres) as database_url:
            env = site_environment(database_url, args.redis_url)
            if args.redis_url:
                empty_redis(args.redis_url)
            prepare_site(env)
            with gunicorn("wsgi:app", env, settings) as server, redis_peak(args.redis_url) as limiter_keys:
                cpu_before = cpu_snapshot(server, database_url)
                outcomes, samples, seconds = asyncio.run(
                    run_respondents(
                        server.url, questionnaire.slug, questionnaire,
                        respondents=args.respondents, concurrency=concurrency, think=args.think, seed=args.seed,
                        ramp=args.ramp,
                    )
                )
                cpu = cpu_per_request(cpu_before, cpu_snapshot(server, database_url), len(samples))
            found = audit(database_url, questionnaire.slug, outcomes)
        submits = [sample for sample in samples if sample.kind == "submit"]
        errors = [outcome.error for outcome in outcomes if outcome.error]
        result = BackendResult(
            backend=backend,
            respondents=args.respondents,
            concurrency=concurrency,
            seconds=seconds,
            requests_per_second=len(samples) / seconds,
            submits_per_second=len(submits) / seconds,
            errors=len(errors),
            error_examples=errors[:5],
            all_requests=latency_summary(samples),
            page_views=latency_summary(samples, "view"),
            page_submits=latency_summary(samples, "submit"),
            audit={**asdict(found), "clean": found.clean},
            redis_keys=limiter_keys[0] if args.redis_url else None,
            cpu_ms_per_request=cpu,
        )
        if not args.no_ceiling:
            with gunicorn("bench.load:bare_app()", site_environment("sqlite://", None), settings) as server:
                cpu_before = cpu_snapshot(server, None)
                ceiling, ceiling_seconds = asyncio.run(
                    run_ceiling(server.url, requests=args.ceiling_requests, concurrency=concurrency)
                )
                result.ceiling_cpu_ms_per_request = cpu_per_request(cpu_before, cpu_snapshot(server, None), len(ceiling))
            result.ceiling_requests_per_second = len(ceiling) / ceiling_seconds
            result.ceiling_errors = sum(not sample.ok for sample in ceiling)
            result.ceiling_share = result.requests_per_second / result.ceiling_requests_per_second
            result.submit_ceiling_share = result.submits_per_second / result.ceiling_requests_per_second
        results.append(result)
        print_result(result, args)
    return results


def print_result(result: BackendResult, args: argparse.Namespace) -> None:
    audit_ = result.audit
    print(f"\n== {result.backend}: {result.respondents} respondents, {result.concurrency} at a time, "
          f"gunicorn {args.workers} x {args.worker_class} (threads {args.threads}), think {args.think:g} s, "
          f"arrivals over {args.ramp:g} s")
    print(f"   {result.all_requests['requests']} requests in {result.seconds:.1f} s: "
          f"{result.requests_per_second:.0f} requests/s, {result.submits_per_second:.0f} page submits/s, "
          f"{result.errors} errors")
    for label, summary in (("all requests", result.all_requests), ("page views", result.page_views),
                           ("page submits", result.page_submits)):
        print(f"   {label:13} p50 {summary['p50_ms']:6.1f} ms   p95 {summary['p95_ms']:6.1f} ms   "
              f"p99 {summary['p99_ms']:6.1f} ms   ({summary['requests']})")
    for example in result.error_examples:
        print(f"   error: {example}")
    print(f"   audit: {audit_['acknowledged']} acknowledged completions, {audit_['stored_complete']} stored complete, "
          f"{audit_['stored_responses']} stored responses; lost {len(audit_['lost'])}, altered {len(audit_['altered'])}, "
          f"duplicated {len(audit_['duplicated'])}, stray {len(audit_['stray'])}")
    for problem in (audit_["lost"] + audit_["altered"] + audit_["duplicated"] + audit_["stray"])[:5]:
        print(f"   audit problem: {problem}")
    if result.redis_keys is not None:
        print(f"   Redis held up to {result.redis_keys} rate-limit keys during the run (counters shared by all workers)")
    if result.cpu_ms_per_request:
        print(f"   CPU per request: {_cpu_text(result.cpu_ms_per_request)}")
    if result.ceiling_requests_per_second:
        print(f"   ceiling (bare Flask endpoint, same gunicorn): {result.ceiling_requests_per_second:.0f} requests/s "
              f"({result.ceiling_errors} errors); site/ceiling {result.ceiling_share:.0%} of requests, "
              f"{result.submit_ceiling_share:.0%} counting page submits alone")
        if result.ceiling_cpu_ms_per_request:
            print(f"   ceiling CPU per request: {_cpu_text(result.ceiling_cpu_ms_per_request)}")
        if result.cpu_share is not None:
            print(f"   site/ceiling by CPU per request (steadier when the machine's speed drifts between the two): "
                  f"{result.cpu_share:.0%}")
    if result.backend == "postgresql" and result.concurrency == 50:
        p95 = result.page_submits["p95_ms"]
        print(f"   target p95 page submit < {TARGET_P95_SUBMIT_MS:.0f} ms: {'met' if p95 < TARGET_P95_SUBMIT_MS else 'MISSED'}")
    if result.ceiling_share is not None:
        share = result.ceiling_share
        print(f"   target >= {TARGET_CEILING_SHARE:.0%} of the ceiling: {'met' if share >= TARGET_CEILING_SHARE else 'MISSED'}")


def _cpu_text(milliseconds: Mapping[str, float]) -> str:
    parts = [f"{role} {value:.2f} ms" for role, value in milliseconds.items() if role != "postgresql" or value]
    return ", ".join(parts) + f" (total {sum(milliseconds.values()):.2f} ms on {os.cpu_count()} cores)"


def parse_arguments(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="postgresql,sqlite", help="comma-separated: postgresql, sqlite")
    parser.add_argument("--respondents", type=int, default=200, help="people who take the survey per run")
    parser.add_argument("--concurrency", default="50", help="comma-separated respondents at a time, one run each")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds a respondent spends on a page")
    parser.add_argument("--ramp", type=float, default=0.0,
                        help="seconds over which respondents arrive, evenly (0: all at the same instant)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
                        help="PostgreSQL server on which a scratch database is created and dropped")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
                        help="Redis database for the limiter (emptied first); 'none' for in-memory limits")
    parser.add_argument("--ceiling-requests", type=int, default=3000)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the bare-endpoint ceiling")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(args.backends) - {"postgresql", "sqlite"}
    if unknown:
        parser.error(f"--backends: unknown {', '.join(sorted(unknown))}; choose postgresql and/or sqlite")
    args.concurrency = [int(level) for level in args.concurrency.split(",")]
    if args.redis_url.lower() in ("", "none"):
        args.redis_url = None
    if args.respondents < 1 or min(args.concurrency) < 1:
        parser.error("--respondents and --concurrency must be at least 1")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_arguments(argv)
    sys.stdout.reconfigure(line_buffering=True)  # each run's report as soon as it is made, even into a file
    from survey.questionnaires.loading import default_questionnaire_path, load_file

    questionnaire = load_file(default_questionnaire_path())
    print(f"Start limit raised to {START_LIMIT_FOR_BENCH!r} for the run (every respondent is 127.0.0.1); "
          f"limiter storage: {args.redis_url or 'memory (per worker)'}")
    results = [result for backend in args.backends for result in run_backend(backend, args, questionnaire)]
    if args.json:
        rows = [{**asdict(result), "sound": result.sound, "cpu_share": result.cpu_share} for result in results]
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(result.sound for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
