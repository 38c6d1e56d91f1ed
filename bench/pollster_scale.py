"""Big polls: what a pollster's pages and files cost at 1,000, 10,000 and 100,000 completes.

For each size the script creates a scratch PostgreSQL database (dropped afterwards), migrates
it, loads the default questionnaire, stores that many complete simulated respondents through
``flask simulate``'s bulk path (timed), signs a pollster in through the test client and times,
best of ``--repeat``, with the weighting cache emptied before each try:

- the floor: the survey's complete answers read into a DataFrame with one query;
- the weighting run (the form's POST), the results page, the fieldwork page, the banner page
  and its two files (default rows and columns) and every download of
  ``survey.reporting.publication.FILE_NAMES`` (bodies read to the end, streamed or not).

Each figure is printed as seconds, as a ratio to the floor of the same size (target: at most
``TARGET_FLOOR_RATIO``) and as a ratio to the same figure at the smallest size.

    python bench/pollster_scale.py                              # 1k, 10k and 100k completes
    python bench/pollster_scale.py --sizes 1000 --profile prof  # cProfile files of each operation
    python bench/pollster_scale.py --sizes 100000 --figures "fieldwork page"  # one page and the floor
    python bench/pollster_scale.py --sizes 60 --repeat 1 --json out.json  # fewer completes may leave a
                                                                       # target level without respondents
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import html
import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_FLOOR_RATIO = 3.0
PASSWORD = "a long benchmark password"
CROSS_BY = "party"


@contextlib.contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on ``server``, dropped on the way out."""
    name = f"pollster_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_site(database_url: str):
    """The site on ``database_url``, migrated, with the default survey and a pollster who owns it."""
    from flask_migrate import upgrade

    from survey import create_app
    from survey.accounts.passwords import create_pollster
    from survey.extensions import db
    from survey.questionnaires.loading import default_questionnaire_path, load_file
    from survey.questionnaires.sync import load_into_database

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench-only-secret", "PARADATA_SALT": "bench-only-salt",
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
    })
    with app.app_context():
        upgrade()
        survey = load_into_database(load_file(default_questionnaire_path()), db.session)
        survey.status = "open"
        survey.owners.append(create_pollster("bench@example.org", PASSWORD))
        db.session.commit()
        return app, survey.slug


def read_answers_floor(app, slug: str):
    """The floor: every answer of the survey's complete responses, one query, into a DataFrame
    the way pandas reads a query (``read_sql_query``, JSON values decoded by the driver)."""
    import pandas as pd

    from survey.extensions import db
    from survey.models import Answer, Response, Survey

    with app.app_context():
        statement = (
            sa.select(Answer.response_id, Answer.question_code, Answer.value)
            .join(Response, Response.id == Answer.response_id)
            .join(Survey, Survey.id == Response.survey_id)
            .where(Survey.slug == slug, Response.status == "complete")
        )
        return pd.read_sql_query(statement, db.session.connection())


def weighting_form() -> dict[str, Any]:
    from survey.responses.quality import ExclusionRules

    rules = ExclusionRules()
    return {"method": "rake", "calfun": "raking", "bound_low": "0.3", "bound_high": "3.0", "variance": "linearization",
            "speeder_share": str(rules.speeder_share), "exclude": list(rules.exclude)}


def operations(client, slug: str, run_id: int) -> dict[str, Callable[[], Any]]:
    """Each measured operation, as a call that does it completely (every body read to its end)."""
    from survey.reporting.publication import FILE_NAMES

    def get(path: str) -> Callable[[], int]:
        def fetch() -> int:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}")
            return len(response.get_data())
        return fetch

    def run_weighting() -> int:
        response = client.post(f"/pollster/surveys/{slug}/weighting/run", data=weighting_form())
        if response.status_code != 302:
            problem = re.search(r'id="problem">([^<]*)<', response.get_data(as_text=True))
            raise RuntimeError(f"the weighting run answered {response.status_code}: "
                               f"{html.unescape(problem.group(1)) if problem else 'see the form errors'}")
        return 0

    measured: dict[str, Callable[[], Any]] = {
        "weighting run": run_weighting,
        "results page": get(f"/pollster/surveys/{slug}/results?run={run_id}"),
        "fieldwork page": get(f"/pollster/surveys/{slug}/fieldwork"),
        "banner page": get(f"/pollster/surveys/{slug}/banner?run={run_id}"),
        "banner.xlsx": get(f"/pollster/surveys/{slug}/runs/{run_id}/banner.xlsx"),
        "banner.csv": get(f"/pollster/surveys/{slug}/runs/{run_id}/banner.csv"),
    }
    for name in FILE_NAMES:
        query = f"?by={CROSS_BY}" if name.startswith("crosstabs") else ""
        measured[f"download {name}"] = get(f"/pollster/surveys/{slug}/runs/{run_id}/files/{name}{query}")
    return measured


def best_time(action: Callable[[], Any], repeat: int, profile: Optional[Path] = None) -> dict[str, float]:
    """The fastest of ``repeat`` tries in wall time and in this process's CPU time (steadier on a
    shared machine; the database server's CPU is not in it), the weighting cache emptied first.
    With ``profile``, one more try runs under cProfile and is written there."""
    from survey.weighting import cache

    best = {"wall": float("inf"), "cpu": float("inf")}
    for _ in range(repeat):
        cache._local_cache.items.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        best["wall"] = min(best["wall"], time.perf_counter() - wall)
        best["cpu"] = min(best["cpu"], time.process_time() - cpu)
    if profile is not None:
        cache._local_cache.items.clear()
        profiler = cProfile.Profile()
        profiler.runcall(action)
        profiler.dump_stats(str(profile))
    return best


def measure(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure at ``size`` completes, in one scratch database."""
    from survey.extensions import db
    from survey.models import Survey, WeightingRun
    from survey.responses.simulate import simulate

    with scratch_database(args.postgres) as url:
        app, slug = make_site(url)
        with app.app_context():
            survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
            started = time.perf_counter()
            report = simulate(survey, size, seed=args.seed)
            simulate_seconds = time.perf_counter() - started
        client = app.test_client()
        signed_in = client.post("/pollster/login", data={"email": "bench@example.org", "password": PASSWORD})
        if signed_in.status_code != 302:
            raise RuntimeError(f"the bench pollster could not sign in ({signed_in.status_code})")
        measured = operations(client, slug, run_id=0)
        measured["weighting run"]()  # the run every page and file below shows
        with app.app_context():
            run_id = db.session.scalar(sa.select(sa.func.max(WeightingRun.id)))
        measured = operations(client, slug, run_id)
        unknown = set(args.figures or ()) - set(measured)
        if unknown:
            raise SystemExit(f"no figure named {', '.join(sorted(unknown))}; the figures: {', '.join(measured)}")
        figures = {"floor": best_time(lambda: read_answers_floor(app, slug), args.repeat)}
        for name, action in measured.items():
            if args.figures and name not in args.figures:
                continue
            profile = args.profile / f"{size}-{name.replace(' ', '_')}.prof" if args.profile else None
            figures[name] = best_time(action, args.repeat, profile)
        with app.app_context():
            db.engine.dispose()
    return {"completes": report.completed, "started": report.started, "simulate_seconds": simulate_seconds,
            "database": sa.make_url(url).database, "seconds": figures}


def print_results(results: list[dict[str, Any]]) -> None:
    base = results[0]
    print(f"\nTarget: every figure at most {TARGET_FLOOR_RATIO:g}x the floor (one query into a DataFrame), "
          "best of the tries, wall time and this process's CPU time.")
    for result in results:
        n, floor = result["completes"], result["seconds"]["floor"]
        print(f"\n{n:,} completes ({result['started']:,} started); simulate: {result['simulate_seconds']:.1f} s "
              f"({result['simulate_seconds'] / max(n, 1) * 1e3:.2f} ms a complete)")
        print(f"  {'figure':30} {'wall s':>8} {'x floor':>8} {'cpu s':>8} {'x floor':>8} "
              f"{'wall x at ' + format(base['completes'], ','):>16}")
        for name, seconds in result["seconds"].items():
            wall_ratio, cpu_ratio = seconds["wall"] / floor["wall"], seconds["cpu"] / floor["cpu"]
            growth = seconds["wall"] / base["seconds"][name]["wall"]
            over = [kind for kind, ratio in (("wall", wall_ratio), ("cpu", cpu_ratio)) if ratio > TARGET_FLOOR_RATIO]
            flag = f"  over target ({', '.join(over)})" if over else ""
            print(f"  {name:30} {seconds['wall']:8.3f} {wall_ratio:8.2f} {seconds['cpu']:8.3f} {cpu_ratio:8.2f} "
                  f"{growth:16.2f}{flag}")


def parse_arguments(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="completes per poll, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="tries per figure; the fastest is kept")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL server URL (a scratch database is made on it)")
    parser.add_argument("--profile", type=Path, help="folder for a cProfile file of each operation (one more try)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--figures", type=lambda text: text.split(","),
                        help='only these figures, comma-separated as printed (e.g. "fieldwork page"); the floor is always measured')
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_arguments(argv)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    results = []
    for size in (int(text) for text in args.sizes.split(",")):
        print(f"measuring {size:,} completes ...", flush=True)
        results.append(measure(size, args))
    print_results(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
