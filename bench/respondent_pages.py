"""CPU per respondent page view and per page submit, in one process, against a bare Flask endpoint.

The site runs in this process on a scratch PostgreSQL database with its production settings
(CSRF on, the limiter on, the pool's check of idle connections), driven through Flask's test
client by respondents who answer the default survey as ``bench/load.py``'s do. The CPU
time of this process is counted around each request, so the database server's and the
network's share is left out; the same test client GETting a bare Flask endpoint is the
floor. Quicker and steadier than ``load.py`` for comparing two versions of the code: run it
with ``PYTHONPATH=<another checkout>`` to measure that checkout's ``survey`` package.

    .venv/bin/python bench/respondent_pages.py --respondents 30 --breakdown
    PYTHONPATH=/tmp/older-checkout .venv/bin/python bench/respondent_pages.py --respondents 30
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.datastructures import MultiDict

sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: another checkout may be measured

from loadtest.pages import choose_answers, read_form  # noqa: E402
from loadtest.servers import prepare_site, scratch_database, site_environment  # noqa: E402


def walk(client, slug: str, questionnaire, number: int, spent: dict[str, list[float]], profile) -> None:
    """One respondent from consent to the thank-you page; adds each page view's and submit's CPU seconds."""
    consent = f"/s/{slug}/consent"
    form = read_form(client.get(consent).get_data(as_text=True))
    location = client.post(consent, data={**form.hidden, "website": ""}).location
    rng = random.Random(number)
    while not urlsplit(location).path.endswith("/thanks"):
        path = urlsplit(location).path
        page = timed(spent["view"], profile, client.get, path)
        assert page.status_code == 200, (path, page.status_code)
        form = read_form(page.get_data(as_text=True))
        fields = list({**form.hidden, "website": ""}.items())
        for name, value in choose_answers(form, questionnaire, rng, number).items():
            fields += [(name, item) for item in value] if isinstance(value, list) else [(name, value)]
        submitted = timed(spent["submit"], profile, client.post, path, data=MultiDict(fields))
        assert submitted.status_code == 302, (path, submitted.status_code, submitted.get_data(as_text=True)[:500])
        location = submitted.location
    assert client.get(urlsplit(location).path).status_code == 200


COUNTING = [False, ""]  # the breakdown counts only the timed page views and submits (and which)


def timed(into: list[float], profile, call, *args, **kwargs):
    COUNTING[:] = True, "view" if call.__name__ == "get" else "submit"
    started = time.process_time()
    if profile is not None:
        profile.enable()
    result = call(*args, **kwargs)
    if profile is not None:
        profile.disable()
    into.append(time.process_time() - started)
    COUNTING[0] = False
    return result


# --breakdown: process CPU inside these calls (inclusive: the view contains the queries and the rendering).
BREAKDOWN = (
    ("flask.app:Flask.wsgi_app", "the whole request inside Flask"),
    ("flask.sessions:SecureCookieSessionInterface.open_session", "reading the signed session cookie"),
    ("flask.app:Flask.preprocess_request", "before_request: CSRF check, limiter, language, body limit"),
    ("flask.app:Flask.dispatch_request", "the view"),
    ("survey.responses.service:survey_response_and_progress", "survey, response and progress read (locked: submit)"),
    ("survey.responses.service:progress", "- of which the progress read after the lock (submit)"),
    ("sqlalchemy.pool.base:Pool.connect", "pool checkout (and its idle check)"),
    ("survey.respond.routes:page_form", "page_form (form class cached, instance built)"),
    ("survey.responses.service:save_page", "save_page: plan, write, COMMIT"),
    ("flask.templating:_render", "Jinja rendering"),
    ("flask.app:Flask.process_response", "after_request: headers, session cookie"),
    ("flask.app:Flask.do_teardown_appcontext", "teardown: session removed, ROLLBACK, connection returned"),
)


def instrument() -> dict[str, dict[str, float]]:
    """Wrap each BREAKDOWN target so that it adds its process CPU seconds to the returned dicts (by kind of request)."""
    import functools
    import importlib

    spent: dict[str, dict[str, float]] = {"view": {}, "submit": {}}
    for target, _ in BREAKDOWN:
        module_name, path = target.split(":")
        owner = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        original = getattr(owner, name)

        def wrapped(*args, _original=original, _target=target, **kwargs):
            started = time.process_time()
            try:
                return _original(*args, **kwargs)
            finally:
                if COUNTING[0]:
                    by_target = spent[COUNTING[1]]
                    by_target[_target] = by_target.get(_target, 0.0) + time.process_time() - started

        setattr(owner, name, functools.wraps(original)(wrapped))
    return spent


def bare_cpu(requests: int) -> float:
    from loadtest.client import bare_app

    client = bare_app().test_client()
    for _ in range(200):
        client.get("/")
    started = time.process_time()
    for _ in range(requests):
        client.get("/")
    return (time.process_time() - started) / requests


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of respondents, each with its bare floor")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--profile", help="write a cProfile file of the page views and submits here")
    parser.add_argument("--breakdown", action="store_true", help="print the CPU inside the main parts of a request")
    args = parser.parse_args(argv)

    with scratch_database("postgresql", args.postgres) as database_url:
        env = site_environment(database_url, None)
        prepare_site(env)
        os.environ.update(env)
        from survey import create_app, warm_up
        from survey.questionnaires.loading import default_questionnaire_path, load_file

        import survey

        print(f"survey package: {Path(survey.__file__).parent}", flush=True)
        app = create_app()
        warm_up(app)
        gc.freeze()
        questionnaire = load_file(default_questionnaire_path())
        parts = instrument() if args.breakdown else None
        statements = {"view": 0, "submit": 0}
        if args.breakdown:
            import sqlalchemy as sa

            @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
            def count(*_):
                if COUNTING[0]:
                    statements[COUNTING[1]] += 1
        profile = cProfile.Profile(time.process_time) if args.profile else None
        walk(app.test_client(), questionnaire.slug, questionnaire, -1, {"view": [], "submit": []}, None)  # warm
        for round_number in range(1, args.rounds + 1):
            spent: dict[str, list[float]] = {"view": [], "submit": []}
            for number in range(args.respondents):
                walk(app.test_client(), questionnaire.slug, questionnaire, number, spent, profile)
            floor = bare_cpu(2000)
            view = sum(spent["view"]) / len(spent["view"])
            submit = sum(spent["submit"]) / len(spent["submit"])
            both = (sum(spent["view"]) + sum(spent["submit"])) / (len(spent["view"]) + len(spent["submit"]))
            print(f"round {round_number}: page view {view * 1e3:.2f} ms, submit {submit * 1e3:.2f} ms "
                  f"({len(spent['view'])} each), bare {floor * 1e3:.3f} ms; site/bare {both / floor:.1f}x; "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
            if parts is not None:
                print(f"  statements through SQLAlchemy per page view {statements['view'] / len(spent['view']):.1f} "
                      f"(a page view's one read on PostgreSQL goes through the driver), "
                      f"per submit {statements['submit'] / len(spent['submit']):.1f} (besides COMMIT)")
                print("     view   submit  (ms of CPU per request, inclusive)")
                for target, label in BREAKDOWN:
                    view_ms, submit_ms = (parts[kind].get(target, 0.0) / len(spent[kind]) * 1e3 for kind in parts)
                    print(f"  {view_ms:7.2f}  {submit_ms:7.2f}  {label}")
                for kind in parts:
                    parts[kind].clear()
                statements.update(view=0, submit=0)
        if profile is not None:
            profile.dump_stats(args.profile)
        with app.app_context():
            from survey.extensions import db

            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
