"""Simulated respondents over HTTP (aiohttp), and the bare endpoint that is the ceiling."""
from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

import aiohttp

from loadtest.pages import choose_answers, read_form, stored_form

REQUEST_TIMEOUT_SECONDS = 30.0


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


class Shadow:
    """A GET of the bare endpoint sent at the moment of each respondent request: the paired ceiling.

    The bare endpoint's CPU per request depends on how fast requests come (at the site's
    50 a second each one wakes idle workers and finds their caches cold; flat out it costs
    a third of that), so this compares the site's worker CPU with the bare endpoint's when
    both serve the same requests at the same moments, on the same machine at the same time.
    """

    def __init__(self, base_url: str, samples: list[Sample]):
        self.connector = aiohttp.TCPConnector(limit=0)
        self.client = Client(base_url, self.connector, samples, "en")
        self.pending: set[asyncio.Task] = set()

    def fire(self) -> None:
        task = asyncio.create_task(self._get())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _get(self) -> None:
        with contextlib.suppress(RuntimeError):  # counted as a failed sample
            await self.client.request("ceiling", "GET", "/")

    async def close(self) -> None:
        await asyncio.gather(*self.pending)
        await self.client.close()
        await self.connector.close()


class Client:
    """Timed requests with one cookie jar per respondent over a shared connection pool."""

    def __init__(
        self, base_url: str, connector: aiohttp.BaseConnector, samples: list[Sample], language: str,
        shadow: Optional[Shadow] = None,
    ):
        self.base_url = base_url
        self.samples = samples
        self.shadow = shadow
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
        if self.shadow is not None:
            self.shadow.fire()
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
    ramp: float = 0.0, shadow_url: Optional[str] = None, shadow_samples: Optional[list[Sample]] = None,
) -> tuple[list[Outcome], list[Sample], float]:
    """Run ``respondents`` people through the survey, ``concurrency`` at a time; returns outcomes, samples, seconds.

    They arrive evenly over the first ``ramp`` seconds (0: all at the same instant).
    ``shadow_url``: a bare endpoint that gets a GET with each of their requests (``Shadow``),
    sampled into ``shadow_samples``.
    """
    samples: list[Sample] = []
    outcomes = [Outcome(number) for number in range(respondents)]
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    shadow = Shadow(shadow_url, shadow_samples if shadow_samples is not None else []) if shadow_url else None

    async def one(outcome: Outcome) -> None:
        await asyncio.sleep(ramp * outcome.number / respondents)
        async with gate:
            client = Client(base_url, connector, samples, "es" if outcome.number % 3 == 0 else "en", shadow)
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
    if shadow is not None:
        await shadow.close()
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
    """The ceiling: a Flask app with one endpoint that does nothing (``gunicorn 'loadtest.client:bare_app()'``)."""
    from flask import Flask

    app = Flask("bare")

    @app.get("/")
    def ok():
        return "ok"

    return app
