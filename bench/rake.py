"""Raking benchmark: ``analysis.rake`` against weightipy on synthetic opt-in panels.

Both libraries rake the same synthetic respondents, in the same run, to the five margins of
the reference cases (age group, sex, race, education, region; see
``../shared/reference/analysis/a1_rake_linearization.yaml``). The sample is skewed the way an
opt-in panel is (older, whiter, more educated, more Bay Area than the state) and the
variables are correlated, so raking needs real iterations.

For each size the script

1. times both (best of ``--repeats``, the two alternating so that load from other
   processes hits both alike) and prints the times, the ratio per repeat and its spread;
2. checks that both reach every target share (max |achieved - target| over all levels,
   computed here from the returned weights, not from either library's report);
3. measures the peak memory of our rake in a fresh subprocess per size: the growth of
   the process's maximum resident set size during the rake and tracemalloc's peak.

    .venv/bin/python bench/rake.py                 # 100,000 and 1,000,000 rows, 5 repeats
    .venv/bin/python bench/rake.py --quick         # 2,000 and 20,000 rows, 2 repeats
    .venv/bin/python bench/rake.py --sizes 1000000 --repeats 9 --json rake.json

Both start from equal input weights (weightipy has no design weights). Our tolerance is the
default (every margin within 1e-10, relative); weightipy runs with its defaults (it stops
when the weights stop changing by more than 1% from one sweep to the next). The exit status
is 1 when either library misses a margin by more than ``--margin-tolerance``; the speed and
memory targets are reported, not enforced.
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis import SurveyDesign, rake  # noqa: E402

POPULATION = 30_000_000
SPEED_TARGET = 3.0  # ours at least this many times faster than weightipy at 1,000,000 rows
MEMORY_TARGET_MB = 1024

# The target margins of the reference cases (a1_rake_linearization.yaml).
TARGET_MARGINS: dict[str, dict[str, float]] = {
    "age_group": {"18-29": 0.21, "30-44": 0.27, "45-64": 0.32, "65+": 0.20},
    "sex": {"female": 0.505, "male": 0.495},
    "race": {"white": 0.36, "hispanic": 0.36, "asian": 0.16, "black": 0.06, "other": 0.06},
    "education": {"hs_or_less": 0.37, "some_college": 0.29, "ba_plus": 0.34},
    "region": {"bay_area": 0.19, "los_angeles": 0.26, "southern": 0.27, "central_valley": 0.18, "north": 0.10},
}

# Sample shares of an opt-in panel: too old, too white, too educated, too much Bay Area.
_PANEL_AGE = [0.10, 0.22, 0.38, 0.30]
_PANEL_SEX = [0.56, 0.44]
_PANEL_RACE = [0.55, 0.20, 0.14, 0.05, 0.06]
# Education and region depend on race and age so that the margins interact.
_PANEL_EDUCATION_BY_RACE = [
    [0.18, 0.30, 0.52],
    [0.45, 0.33, 0.22],
    [0.15, 0.25, 0.60],
    [0.30, 0.38, 0.32],
    [0.28, 0.36, 0.36],
]
_PANEL_REGION_BY_AGE = [
    [0.34, 0.26, 0.20, 0.12, 0.08],
    [0.30, 0.27, 0.21, 0.13, 0.09],
    [0.26, 0.24, 0.24, 0.15, 0.11],
    [0.22, 0.22, 0.26, 0.16, 0.14],
]


def _draw_conditional(rng: np.random.Generator, parent: np.ndarray, table: list[list[float]]) -> np.ndarray:
    """One code per row drawn from the row of ``table`` picked by ``parent``."""
    cumulative = np.cumsum(np.asarray(table), axis=1)
    cumulative[:, -1] = 1.0
    u = rng.random(len(parent))
    return (u[:, None] > cumulative[parent]).sum(axis=1)


def synthetic_respondents(n: int, seed: int = 20261125) -> pd.DataFrame:
    """``n`` synthetic opt-in panel respondents with the five weighting variables (text)."""
    rng = np.random.default_rng(seed)
    age = rng.choice(4, size=n, p=_PANEL_AGE)
    race = rng.choice(5, size=n, p=_PANEL_RACE)
    codes = {
        "age_group": age,
        "sex": rng.choice(2, size=n, p=_PANEL_SEX),
        "race": race,
        "education": _draw_conditional(rng, race, _PANEL_EDUCATION_BY_RACE),
        "region": _draw_conditional(rng, age, _PANEL_REGION_BY_AGE),
    }
    # Plain text columns, as answers read from the database or a CSV arrive.
    return pd.DataFrame(
        {v: np.asarray(list(TARGET_MARGINS[v]), dtype=object)[c] for v, c in codes.items()}
    )


def max_margin_error(frame: pd.DataFrame, weights: np.ndarray, margins: Mapping[str, Mapping[str, float]]) -> float:
    """Largest |achieved share - target share| over every level of every margin."""
    weights = np.asarray(weights, dtype=float)
    total = weights.sum()
    worst = 0.0
    for variable, shares in margins.items():
        achieved = pd.Series(weights).groupby(frame[variable].to_numpy()).sum() / total
        for level, target in shares.items():
            worst = max(worst, abs(float(achieved.get(level, 0.0)) - target))
    return worst


def rake_ours(frame: pd.DataFrame) -> np.ndarray:
    """Final weights from ``analysis.rake`` (design made from the frame, as a user would)."""
    return rake(SurveyDesign(frame), TARGET_MARGINS, population=POPULATION).weights


def rake_weightipy(frame: pd.DataFrame) -> np.ndarray:
    """Final weights from weightipy's RIM raking (``weight(df, scheme_from_dict(...))``)."""
    import weightipy

    scheme = weightipy.scheme_from_dict(TARGET_MARGINS, name="bench")
    return weightipy.weight(frame, scheme).to_numpy(dtype=float)


def _timed(function: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame) -> tuple[float, np.ndarray]:
    gc.collect()
    start = time.perf_counter()
    weights = function(frame)
    return time.perf_counter() - start, weights


def compare(n: int, repeats: int) -> dict:
    """Time both libraries on ``n`` rows, alternating, and check both reach the margins."""
    frame = synthetic_respondents(n)
    ours_times, theirs_times = [], []
    ours = theirs = None
    for _ in range(repeats):
        seconds, ours = _timed(rake_ours, frame)
        ours_times.append(seconds)
        seconds, theirs = _timed(rake_weightipy, frame)
        theirs_times.append(seconds)
    ratios = [t / o for o, t in zip(ours_times, theirs_times)]
    return {
        "rows": n,
        "cells": int(frame.drop_duplicates().shape[0]),
        "ours_seconds": min(ours_times),
        "weightipy_seconds": min(theirs_times),
        "ratio_of_best": min(theirs_times) / min(ours_times),
        "ratio_per_repeat": {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)},
        "ours_all_seconds": ours_times,
        "weightipy_all_seconds": theirs_times,
        "ours_max_margin_error": max_margin_error(frame, ours, TARGET_MARGINS),
        "weightipy_max_margin_error": max_margin_error(frame, theirs, TARGET_MARGINS),
    }


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak resident set size of this process (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_probe(n: int) -> dict:
    """Peak memory of one rake of ``n`` rows in THIS process (run it in a fresh one).

    ``rss_growth_mb``: how far the peak resident set size rose above the resident size
    before the rake (the data made first; the peak is reset just before, on Linux);
    ``tracemalloc_peak_mb``: the peak of memory allocated during a second rake (numpy arrays
    included); ``process_peak_mb``: the whole process, data and interpreter included.
    """
    frame = synthetic_respondents(n)
    gc.collect()
    if _reset_peak_rss():
        before = _status_kib("VmRSS")
        rake_ours(frame)
        growth = _status_kib("VmHWM") - before
    else:  # the lifetime peak: a lower bound of the rake's own growth
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rake_ours(frame)
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    gc.collect()
    tracemalloc.start()
    rake_ours(frame)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": n,
        "rss_growth_mb": growth / 1024,  # kernel figures are in KiB
        "tracemalloc_peak_mb": peak / 2**20,
        "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "data_mb": frame.memory_usage(deep=True).sum() / 2**20,
    }


def measure_memory(n: int) -> dict:
    """:func:`memory_probe` in a fresh interpreter, so earlier runs do not pollute it."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--memory-probe", str(n)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(done.stdout)


def machine() -> dict:
    import weightipy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "weightipy": weightipy.__version__,
        "cpu": _cpu_name(),
        "cores": len(__import__("os").sched_getaffinity(0)),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _report(result: dict, memory: dict, margin_tolerance: float) -> None:
    spread = result["ratio_per_repeat"]
    print(
        f"{result['rows']:>10,} rows, {result['cells']} cells\n"
        f"  analysis.rake  best {result['ours_seconds']:.3f} s   "
        f"(all: {', '.join(f'{s:.3f}' for s in result['ours_all_seconds'])})\n"
        f"  weightipy      best {result['weightipy_seconds']:.3f} s   "
        f"(all: {', '.join(f'{s:.3f}' for s in result['weightipy_all_seconds'])})\n"
        f"  ratio weightipy/ours: {result['ratio_of_best']:.1f}x of the best times; per repeat "
        f"min {spread['min']:.1f}x, median {spread['median']:.1f}x, max {spread['max']:.1f}x\n"
        f"  max |achieved - target| share: ours {result['ours_max_margin_error']:.2e}, "
        f"weightipy {result['weightipy_max_margin_error']:.2e} (tolerance {margin_tolerance:g})\n"
        f"  our peak memory: +{memory['rss_growth_mb']:.0f} MB peak RSS over the RSS before the rake, "
        f"tracemalloc peak {memory['tracemalloc_peak_mb']:.0f} MB, whole process "
        f"{memory['process_peak_mb']:.0f} MB (data {memory['data_mb']:.0f} MB)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 rows, 2 repeats")
    parser.add_argument("--margin-tolerance", type=float, default=1e-6)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe)))
        return 0
    sizes, repeats = ([2_000, 20_000], 2) if args.quick else (args.sizes, args.repeats)

    about = machine()
    print(f"raking on five margins; {about['cpu']}, {about['cores']} cores, Python {about['python']}, "
          f"numpy {about['numpy']}, pandas {about['pandas']}, weightipy {about['weightipy']}; {about['date']}")
    results, ok = [], True
    for n in sizes:
        result = compare(n, repeats)
        result["memory"] = measure_memory(n)
        _report(result, result["memory"], args.margin_tolerance)
        ok &= max(result["ours_max_margin_error"], result["weightipy_max_margin_error"]) < args.margin_tolerance
        results.append(result)
    largest = results[-1]
    print(
        f"targets at {largest['rows']:,} rows: >= {SPEED_TARGET:g}x weightipy "
        f"({'met' if largest['ratio_of_best'] >= SPEED_TARGET else 'MISSED'}), peak memory < {MEMORY_TARGET_MB} MB "
        f"({'met' if largest['memory']['process_peak_mb'] < MEMORY_TARGET_MB else 'MISSED'})"
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": about, "results": results}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
