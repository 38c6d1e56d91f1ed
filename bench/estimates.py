"""Estimates benchmark: linearized standard errors of 20 estimates over 10 domains.

A synthetic opt-in panel (``bench/rake.py``'s respondents) with ten categorical questions,
ten 0-10 scores (a few percent of answers missing in each) and a domain variable with ten
levels is raked to the five reference margins; then the script times, one by one,

* ``proportion(design, question, first answer, by=domain)`` for the ten questions and
* ``mean(design, score, by=domain)`` for the ten scores,

each with its linearized standard error (calibration residuals included), and prints the
time of every estimate (one call = ten domain estimates), their total, and the best total of
``--repeats``. ``--profile`` prints where one pass spends its time (cProfile).

    .venv/bin/python bench/estimates.py                  # 1,000,000 rows, 3 repeats
    .venv/bin/python bench/estimates.py --quick          # 20,000 rows, 1 repeat
    .venv/bin/python bench/estimates.py --rows 1000000 --profile
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rake import POPULATION, TARGET_MARGINS, machine, synthetic_respondents  # noqa: E402

from analysis import SurveyDesign, mean, proportion, rake  # noqa: E402

DOMAIN = "area"
N_DOMAINS = 10
N_QUESTIONS = 10
ANSWERS = ("agree", "neutral", "disagree", "not_sure")
MISSING_SHARE = 0.03


def synthetic_poll(n: int, seed: int = 20261126) -> pd.DataFrame:
    """Respondents with weighting variables, a 10-level domain, 10 questions and 10 scores."""
    rng = np.random.default_rng(seed)
    frame = synthetic_respondents(n)
    area = rng.integers(0, N_DOMAINS, size=n)
    columns = {DOMAIN: np.array([f"area_{k:02d}" for k in range(N_DOMAINS)], dtype=object)[area]}
    for q in range(1, N_QUESTIONS + 1):
        # Answers lean by area, so domain estimates differ.
        lean = rng.random(N_DOMAINS)[area]
        agree = rng.random(n) < 0.25 + 0.3 * lean
        other = rng.integers(1, len(ANSWERS), size=n)
        answers = np.asarray(ANSWERS, dtype=object)[np.where(agree, 0, other)]
        answers[rng.random(n) < MISSING_SHARE] = None
        columns[f"q{q:02d}"] = answers
        scores = np.clip(np.round(rng.normal(4 + 3 * lean, 2.5)), 0, 10)
        scores[rng.random(n) < MISSING_SHARE] = np.nan
        columns[f"score{q:02d}"] = scores
    return pd.concat([frame, pd.DataFrame(columns)], axis=1)


def estimate_calls(design: SurveyDesign) -> list[tuple[str, callable]]:
    """The 20 estimates: (label, zero-argument call)."""
    calls = []
    for q in range(1, N_QUESTIONS + 1):
        question, score = f"q{q:02d}", f"score{q:02d}"
        calls.append((f"proportion({question}={ANSWERS[0]}, by={DOMAIN})",
                      lambda v=question: proportion(design, v, ANSWERS[0], by=DOMAIN)))
        calls.append((f"mean({score}, by={DOMAIN})", lambda v=score: mean(design, v, by=DOMAIN)))
    return calls


def run_estimates(design: SurveyDesign) -> tuple[list[tuple[str, float]], list]:
    """Each estimate's (label, seconds) and its result, in order."""
    timings, results = [], []
    for label, call in estimate_calls(design):
        start = time.perf_counter()
        results.append(call())
        timings.append((label, time.perf_counter() - start))
    return timings, results


def bench(n: int, repeats: int) -> dict:
    """Rake ``n`` synthetic respondents, then time the 20 estimates ``repeats`` times."""
    frame = synthetic_poll(n)
    start = time.perf_counter()
    design = rake(SurveyDesign(frame), TARGET_MARGINS, population=POPULATION)
    rake_seconds = time.perf_counter() - start
    passes = []
    for _ in range(repeats):
        gc.collect()
        timings, results = run_estimates(design)
        passes.append(timings)
    best = min(passes, key=lambda p: sum(s for _, s in p))
    totals = [sum(s for _, s in p) for p in passes]
    per_estimate = [s for _, s in best]
    return {
        "rows": n,
        "domains": N_DOMAINS,
        "estimates": len(best),
        "rake_seconds": rake_seconds,
        "total_seconds_best": min(totals),
        "total_seconds_all": totals,
        "per_estimate_seconds": {"mean": float(np.mean(per_estimate)), "min": min(per_estimate), "max": max(per_estimate)},
        "best_pass": best,
        "standard_errors_positive": all(e.se > 0 for r in results for e in r),
    }


def profile(n: int, top: int = 25) -> str:
    """cProfile of one pass of the 20 estimates on ``n`` rows (the rake is not profiled)."""
    design = rake(SurveyDesign(synthetic_poll(n)), TARGET_MARGINS, population=POPULATION)
    profiler = cProfile.Profile()
    profiler.enable()
    run_estimates(design)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 1 repeat")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one pass")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    rows, repeats = (20_000, 1) if args.quick else (args.rows, args.repeats)

    about = machine()
    print(f"linearized estimates; {about['cpu']}, {about['cores']} cores, Python {about['python']}; {about['date']}")
    result = bench(rows, repeats)
    spread = result["per_estimate_seconds"]
    print(f"{rows:,} rows raked in {result['rake_seconds']:.2f} s; {result['estimates']} estimates x "
          f"{N_DOMAINS} domains, linearized SEs with calibration residuals")
    for label, seconds in result["best_pass"]:
        print(f"  {label:<40} {seconds:.3f} s")
    print(f"  total {result['total_seconds_best']:.2f} s (best of {repeats}: "
          f"{', '.join(f'{s:.2f}' for s in result['total_seconds_all'])}); per estimate "
          f"mean {spread['mean']:.3f} s, min {spread['min']:.3f} s, max {spread['max']:.3f} s")
    if args.profile:
        print(profile(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": about, "result": result}, indent=2))
    return 0 if result["standard_errors_positive"] else 1


if __name__ == "__main__":
    sys.exit(main())
