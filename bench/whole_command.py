"""Whole-command benchmark: ``python -m analysis run`` as a user runs it, against the CSV read.

Users run whole commands, so each figure here is a fresh interpreter timed from start to
exit: imports, reading the CSV, weighting, estimates and writing the result. In ONE run,
alternating so that load from other processes hits all alike, the script times

* **floor**: ``import pandas; pandas.read_csv(poll.csv)``, the least any command that
  reads the poll with pandas pays;
* for comparison, the same read with pandas' pyarrow engine (``engine="pyarrow"``), and
  the C reader reading only the six columns the rake spec uses (as ``analysis run`` does);
* **rake**: ``python -m analysis run rake.yaml`` (read, rake to five margins, one
  proportion, write the result JSON with every weight);
* **rake + 20 domains**: the same with 20 linearized estimates over 10 domains (ten
  proportions, ten means, calibration residuals included);
* **weightipy**: a plain script that reads the CSV, rakes with weightipy, computes the
  same proportion and writes the weights as JSON;

and prints the best and median wall time and CPU time (user + system, steadier on a shared
machine) of each, and their ratios against the floor. The poll is ``bench/estimates.py``'s
synthetic panel written as CSV.

    .venv/bin/python bench/whole_command.py                      # 1,000,000 rows, 5 repeats
    .venv/bin/python bench/whole_command.py --rows 20000 --repeats 1
    .venv/bin/python bench/whole_command.py --json whole.json --keep /tmp/whole
    git archive OLD analysis | tar -x -C /tmp/old && .venv/bin/python bench/whole_command.py --before /tmp/old

Targets (reported, not enforced): rake <= 2x the floor (1.5x aimed for), rake + 20 domain
estimates <= 4x the floor.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from estimates import ANSWERS, DOMAIN, N_QUESTIONS, synthetic_poll  # noqa: E402
from rake import POPULATION, TARGET_MARGINS, machine  # noqa: E402

TARGETS = {"rake": 2.0, "rake_20_domains": 4.0}
RAKE_COLUMNS = [*TARGET_MARGINS, "q01"]

FLOOR_SCRIPT = """\
import sys
import pandas
usecols = sys.argv[3].split(",") if len(sys.argv) > 3 else None
pandas.read_csv(sys.argv[1], engine=sys.argv[2], usecols=usecols)
"""

WEIGHTIPY_SCRIPT = """\
import json, sys
import numpy as np
import pandas as pd
import weightipy

data = pd.read_csv(sys.argv[1])
margins = json.loads(sys.argv[2])
weights = weightipy.weight(data, weightipy.scheme_from_dict(margins, name="bench")).to_numpy(float)
weights = weights * float(sys.argv[3]) / weights.sum()
answered = data["q01"].notna().to_numpy()
share = weights[answered & (data["q01"] == "agree").to_numpy()].sum() / weights[answered].sum()
with open(sys.argv[4], "w") as out:
    json.dump({"estimate": float(share), "weights": weights.tolist()}, out)
"""


def write_inputs(folder: Path, rows: int) -> dict[str, list[str]]:
    """The poll CSV, the two specs and the weightipy script in ``folder``; the commands to time."""
    poll = folder / "poll.csv"
    synthetic_poll(rows).to_csv(poll, index=False)
    weighting = {"method": "rake", "population": POPULATION, "margins": TARGET_MARGINS}
    one = [{"id": "agree", "variable": RAKE_COLUMNS[-1], "type": "proportion", "categories": [ANSWERS[0]]}]
    twenty = []
    for q in range(1, N_QUESTIONS + 1):
        twenty.append({"id": f"q{q:02d}_{ANSWERS[0]}", "variable": f"q{q:02d}", "type": "proportion",
                       "categories": [ANSWERS[0]], "by": DOMAIN})
        twenty.append({"id": f"score{q:02d}", "variable": f"score{q:02d}", "type": "mean", "by": DOMAIN})
    for name, estimates in (("rake", one), ("rake_20_domains", twenty)):
        spec = {"data": poll.name, "weighting": weighting, "estimates": estimates}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    (folder / "floor.py").write_text(FLOOR_SCRIPT, encoding="utf-8")
    (folder / "weightipy_rake.py").write_text(WEIGHTIPY_SCRIPT, encoding="utf-8")
    python = sys.executable
    return {
        "floor": [python, str(folder / "floor.py"), str(poll), "c"],
        "floor_pyarrow": [python, str(folder / "floor.py"), str(poll), "pyarrow"],
        "floor_rake_columns": [python, str(folder / "floor.py"), str(poll), "c", ",".join(RAKE_COLUMNS)],
        "rake": [python, "-m", "analysis", "run", str(folder / "rake.yaml"), "--out", str(folder / "rake.json")],
        "rake_20_domains": [python, "-m", "analysis", "run", str(folder / "rake_20_domains.yaml"),
                            "--out", str(folder / "rake_20_domains.json")],
        "weightipy": [python, str(folder / "weightipy_rake.py"), str(poll), json.dumps(TARGET_MARGINS),
                      str(POPULATION), str(folder / "weightipy.json")],
    }


def run_once(command: list[str], code: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run of ``command`` with the ``analysis``
    package of the checkout ``code``; raises if it fails."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=code)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench(rows: int, repeats: int, folder: Path, before: Path | None = None) -> dict:
    """Time every command ``repeats`` times, alternating; figures and ratios against the floor.

    ``before``: another checkout (e.g. ``git archive`` of an older commit) whose ``analysis``
    runs the same two specs in the same run, as ``rake_before`` and ``rake_20_domains_before``.
    """
    commands = {name: (command, ROOT) for name, command in write_inputs(folder, rows).items()}
    if before is not None:
        for name in ("rake", "rake_20_domains"):
            command = commands[name][0][:-1] + [str(folder / f"{name}_before.json")]
            commands[f"{name}_before"] = (command, before.resolve())
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, (command, code) in commands.items():
            runs[name].append(run_once(command, code))
    figures = {}
    for name, times in runs.items():
        walls, cpus = [w for w, _ in times], [c for _, c in times]
        figures[name] = {"wall_best": min(walls), "wall_median": statistics.median(walls), "wall_all": walls,
                         "cpu_best": min(cpus), "cpu_median": statistics.median(cpus), "cpu_all": cpus}
    floor = figures["floor"]
    for name, figure in figures.items():
        figure["ratio_wall_best"] = figure["wall_best"] / floor["wall_best"]
        figure["ratio_wall_median"] = figure["wall_median"] / floor["wall_median"]
        figure["ratio_cpu_best"] = figure["cpu_best"] / floor["cpu_best"]
    result = json.loads((folder / "rake.json").read_text(encoding="utf-8"))
    theirs = json.loads((folder / "weightipy.json").read_text(encoding="utf-8"))
    return {
        "rows": rows, "repeats": repeats, "figures": figures,
        "rake_estimate": result["estimates"][0]["estimate"], "weightipy_estimate": theirs["estimate"],
        "weights_written": len(result["weights"]),
        "domain_estimates": len(json.loads((folder / "rake_20_domains.json").read_text(encoding="utf-8"))["estimates"]),
    }


def _report(result: dict) -> bool:
    figures, met = result["figures"], True
    print(f"{result['rows']:,} rows, {result['repeats']} repeats each, alternating; ratios against the floor")
    print(f"  {'command':<24} {'wall best':>10} {'median':>8} {'ratio':>7} {'ratio med':>10} "
          f"{'CPU best':>9} {'ratio':>7}")
    for name, f in figures.items():
        print(f"  {name:<24} {f['wall_best']:>9.2f}s {f['wall_median']:>7.2f}s {f['ratio_wall_best']:>6.2f}x "
              f"{f['ratio_wall_median']:>9.2f}x {f['cpu_best']:>8.2f}s {f['ratio_cpu_best']:>6.2f}x")
    for name, target in TARGETS.items():
        ratio = figures[name]["ratio_wall_best"]
        met &= ratio <= target
        print(f"  target {name}: <= {target:g}x the floor: {ratio:.2f}x ({'met' if ratio <= target else 'MISSED'})")
    print(f"  proportion agreeing (q01): ours {result['rake_estimate']:.6f}, "
          f"weightipy {result['weightipy_estimate']:.6f}")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the CSV, specs and results here and keep them")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--before", type=Path, help="also run the specs with the analysis package of this checkout")
    args = parser.parse_args(argv)
    about = machine()
    print(f"whole commands; {about['cpu']}, {about['cores']} cores, Python {about['python']}, pandas "
          f"{about['pandas']}, weightipy {about['weightipy']}; {about['date']}")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = bench(args.rows, args.repeats, args.keep, args.before)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            result = bench(args.rows, args.repeats, Path(scratch), args.before)
    _report(result)
    if args.json:
        args.json.write_text(json.dumps({"machine": about, "result": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
