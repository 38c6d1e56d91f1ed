"""Nothing lives in one worker's memory: two app instances (two workers, or two servers) on the same
database and Redis see the same sessions, rate-limit counters and cached results."""
from __future__ import annotations

import json
import uuid

import pytest
import redis
import sqlalchemy as sa

import survey.weighting.cache as analysis_cache
from survey.extensions import db
from survey.models import Pollster, Survey, WeightingRun
from survey.responses.quality import ExclusionRules
from survey.weighting.reference_data import california_adult_targets
from survey.weighting.runs import compute, create_run
from survey.weighting.settings import WeightingSettings
from tests.support.polls import seed_poll
from tests.support.respondents import Respondent, load_open_survey
from tests.support.site import app_for

REDIS_FOR_TESTS = "redis://127.0.0.1:6379/13"


@pytest.fixture
def shared_redis() -> str:
    try:
        redis.Redis.from_url(REDIS_FOR_TESTS, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_FOR_TESTS}: {error}")
    return REDIS_FOR_TESTS


@pytest.fixture
def two_workers(app, database_url, shared_redis):
    """Two instances of the site on one database and one Redis, and a client address of this test's own."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    sites = [
        app_for(database_url, REDIS_URL=shared_redis, RATELIMIT_ENABLED=True, RATELIMIT_START="2 per minute")
        for _ in range(2)
    ]
    clients = [site.test_client() for site in sites]
    for client in clients:
        client.environ_base["REMOTE_ADDR"] = address
    yield clients, address
    for site in sites:
        with site.app_context():
            db.session.remove()
            db.engine.dispose()
    store = redis.Redis.from_url(shared_redis)
    for key in store.scan_iter(f"*{address}*"):
        store.delete(key)


def test_start_limits_are_counted_in_redis_for_all_workers(app, two_workers, shared_redis):
    slug = load_open_survey(app)
    (first, second), address = two_workers
    assert [first.post(f"/s/{slug}/consent").status_code for _ in range(2)] == [400, 400]  # no start token: refused, but counted
    assert second.post(f"/s/{slug}/consent").status_code == 429
    [key] = redis.Redis.from_url(shared_redis).scan_iter(f"*{address}*respond.consent*")
    assert int(redis.Redis.from_url(shared_redis).get(key)) >= 2, "the counter is not in Redis"


def test_a_respondent_continues_on_another_worker(app, two_workers):
    slug = load_open_survey(app)
    (first, second), _ = two_workers
    browser = Respondent(first, slug)
    browser.start()
    browser.answer({"resident": "yes", "adult": "yes", "registered": "yes"})
    second.set_cookie("session", first.get_cookie("session").value)  # the same browser, another worker
    page = second.get(browser.page_path)
    assert page.status_code == 200 and browser.page_path.endswith("/where_you_live")
    assert 'name="visit"' in page.get_data(as_text=True)


def test_weighted_results_are_cached_in_redis_for_every_worker(app, two_workers, shared_redis, monkeypatch):
    slug = load_open_survey(app)
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
        seed_poll(survey, 120)
        pollster = Pollster(email="owner@example.org", password_hash="x")
        db.session.add(pollster)
        run = create_run(survey, WeightingSettings(california_adult_targets()), ExclusionRules(), pollster)
        db.session.commit()
        run_id = run.id
    cache = redis.Redis.from_url(shared_redis)
    for key in cache.scan_iter("survey:analysis:*"):  # an earlier run of this test left the same result
        cache.delete(key)
    (first_client, second_client), _ = two_workers
    with first_client.application.app_context():
        first = compute(db.session.get(WeightingRun, run_id), "logit", None)
    added = set(cache.scan_iter("survey:analysis:*"))
    assert added, "the first worker's result is not in Redis"

    def no_second_computation(*_args, **_kwargs):
        raise AssertionError("the second worker recomputed a result that is in Redis")

    monkeypatch.setattr(analysis_cache, "run", no_second_computation)
    with second_client.application.app_context():
        second = compute(db.session.get(WeightingRun, run_id), "logit", None)
    assert json.dumps(second.result.to_dict()) == json.dumps(first.result.to_dict())  # NaN included
    cache.delete(*added)
