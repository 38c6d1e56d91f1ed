"""Every reference case (spec + data + R `survey` result) reproduced within the README's tolerances.

Cases are discovered: every ``*.yaml`` with a sibling ``*.expected.json`` in the shared
reference folder beside the repository and in ``tests/analysis/reference/`` (our own cases,
made with the same ``make_expected.R``). R is never called here.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from analysis import WeightingError, run_spec
from analysis.__main__ import main

SHARED = Path(__file__).parents[3] / "shared/reference/analysis"
OURS = Path(__file__).parent / "reference"
ESTIMATE_FIELDS = {"estimate": ("rel", 1e-6), "se": ("rel", 1e-6), "ci_low": ("abs", 1e-6),
                   "ci_high": ("abs", 1e-6), "deff": ("rel", 1e-4)}
TEST_FIELDS = {"statistic": ("rel", 1e-6), "difference": ("rel", 1e-6), "se": ("rel", 1e-6), "ndf": ("rel", 1e-6),
               "ddf": ("rel", 1e-6), "df": ("rel", 1e-6), "p_value": ("abs", 1e-6)}
COEFFICIENT_FIELDS = {"estimate": ("rel", 1e-6), "se": ("rel", 1e-6), "ci_low": ("abs", 1e-6),
                      "ci_high": ("abs", 1e-6), "p_value": ("abs", 1e-6)}


def _cases() -> list:
    specs = [p for folder in (SHARED, OURS) if folder.is_dir() for p in sorted(folder.glob("*.yaml"))]
    cases = [pytest.param(p, id=f"{p.parent.name}/{p.stem}") for p in specs if p.with_suffix(".expected.json").exists()]
    if not SHARED.is_dir():  # said in the report, not passed over in silence
        reason = f"the shared reference cases are not beside this checkout ({SHARED})"
        cases.append(pytest.param(None, marks=pytest.mark.skip(reason=reason), id="shared-absent"))
    return cases


def _close(got, expected, rule: tuple[str, float]) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    kind, tol = rule
    scale = abs(expected) if kind == "rel" else 1.0
    # R writes 15 significant digits: a limit of a total in the billions carries 1e-5 of rounding
    printed = 1e-14 * abs(expected)
    return math.isclose(got, expected, rel_tol=0, abs_tol=max(tol * scale, printed)) or got == expected


def _compare(got: dict, expected: dict) -> list[str]:
    problems = []
    if got["degf"] != expected["degf"]:
        problems.append(f"degf {got['degf']} != {expected['degf']}")
    if len(got["weights"]) != len(expected["weights"]):
        problems.append("weights: different lengths")
    else:
        for i, (a, b) in enumerate(zip(got["weights"], expected["weights"])):
            if not _close(a, b, ("rel", 1e-6)):
                problems.append(f"weight of row {i}: {a} != {b}")
                break
    ours = {(e["id"], e["domain"]): e for e in got["estimates"]}
    if len(ours) != len(expected["estimates"]):
        problems.append(f"{len(ours)} estimates, expected {len(expected['estimates'])}")
    for e in expected["estimates"]:
        key = (e["id"], e["domain"])
        if key not in ours:
            problems.append(f"missing estimate {key}")
            continue
        for field, rule in ESTIMATE_FIELDS.items():
            if not _close(ours[key][field], e[field], rule):
                problems.append(f"{key} {field}: {ours[key][field]!r} != {e[field]!r}")
        if "n" in e and ours[key].get("n") != e["n"]:
            problems.append(f"{key} n: {ours[key].get('n')!r} != {e['n']!r}")
    problems += _compare_tests(got.get("tests", []), expected.get("tests", []))
    models = {m["id"]: m for m in got.get("models", [])}
    for m in expected.get("models", []):
        if m["id"] not in models:
            problems.append(f"missing model {m['id']}")
            continue
        mine = models[m["id"]]
        if mine["df_residual"] != m["df_residual"]:
            problems.append(f"{m['id']} df_residual {mine['df_residual']} != {m['df_residual']}")
        if "n" in m and mine["n"] != m["n"]:
            problems.append(f"{m['id']} n {mine['n']} != {m['n']}")
        terms = {c["term"]: c for c in mine["coefficients"]}
        if set(terms) != {c["term"] for c in m["coefficients"]}:
            problems.append(f"{m['id']} terms {sorted(terms)} differ")
            continue
        for c in m["coefficients"]:
            for field, rule in COEFFICIENT_FIELDS.items():
                if not _close(terms[c["term"]][field], c[field], rule):
                    problems.append(f"{m['id']} {c['term']} {field}: {terms[c['term']][field]!r} != {c[field]!r}")
    return problems


def _test_key(test: dict) -> tuple:
    return (test["id"], test.get("a"), test.get("b"))


def _compare_tests(got: list, expected: list) -> list[str]:
    """Tests matched on id (pairwise on id, a, b): a missing or an unexpected one is a mismatch."""
    problems = []
    ours = {_test_key(t): t for t in got}
    theirs = {_test_key(t): t for t in expected}
    problems += [f"unexpected test {key}" for key in ours.keys() - theirs.keys()]
    for key, t in theirs.items():
        if key not in ours:
            problems.append(f"missing test {key}")
            continue
        for field, rule in TEST_FIELDS.items():
            if field in t and not _close(ours[key].get(field), t[field], rule):
                problems.append(f"test {key} {field}: {ours[key].get(field)!r} != {t[field]!r}")
    return problems


@pytest.mark.parametrize("spec_path", _cases())
def test_reference_case(spec_path: Path) -> None:
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    expected = json.loads(spec_path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    if "error" in expected:  # R could not weight: neither may we (R's message is not compared)
        with pytest.raises(WeightingError, match=r"^weighting \("):
            run_spec(spec, spec_path.parent)
        return
    problems = _compare(run_spec(spec, spec_path.parent), expected)
    assert not problems, "\n".join(problems[:20])


def test_comparison_catches_a_wrong_number() -> None:
    expected = {"degf": 9, "weights": [1.0, 2.0],
                "estimates": [{"id": "a", "domain": None, "estimate": 0.5, "se": 0.1, "ci_low": 0.3,
                               "ci_high": 0.7, "deff": None}]}
    wrong = json.loads(json.dumps(expected))
    wrong["estimates"][0]["se"] = 0.1 * (1 + 2e-6)
    assert _compare(expected, expected) == []
    problems = _compare(wrong, expected)
    assert len(problems) == 1 and problems[0].startswith("('a', None) se:")


def test_command_line_writes_the_result(tmp_path: Path) -> None:
    case = next((p for folder in (SHARED, OURS) if folder.is_dir() for p in sorted(folder.glob("*.yaml"))
                 if p.with_suffix(".expected.json").exists()), None)
    if case is None:
        pytest.skip(f"no reference cases: {SHARED} is absent")
    out = tmp_path / "result.json"
    assert main(["run", str(case), "--out", str(out)]) == 0
    expected = json.loads(case.with_suffix(".expected.json").read_text(encoding="utf-8"))
    assert _compare(json.loads(out.read_text(encoding="utf-8")), expected) == []
