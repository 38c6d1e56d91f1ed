"""The benchmarks in bench/ run end to end on a small sample, so they cannot rot unnoticed.

Times are not checked (that is the benchmark's job, on a quiet machine); what is checked is
that every code path runs and that the figures it reports are right.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
ROWS = 2_000


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rake_bench():
    pytest.importorskip("weightipy")
    return _load("rake")


def test_synthetic_panel_is_skewed_against_the_targets(rake_bench):
    frame = rake_bench.synthetic_respondents(ROWS)
    assert len(frame) == ROWS
    unweighted = rake_bench.max_margin_error(frame, np.ones(ROWS), rake_bench.TARGET_MARGINS)
    assert unweighted > 0.1  # an opt-in panel: raking has work to do


def test_rake_comparison_reaches_the_margins_with_both_libraries(rake_bench):
    result = rake_bench.compare(ROWS, repeats=1)
    assert result["ours_max_margin_error"] < 1e-8
    assert result["weightipy_max_margin_error"] < 1e-6
    assert result["ours_seconds"] > 0 and result["weightipy_seconds"] > 0
    assert result["ratio_of_best"] == pytest.approx(result["weightipy_seconds"] / result["ours_seconds"])


def test_both_libraries_give_the_same_raked_weights(rake_bench):
    frame = rake_bench.synthetic_respondents(ROWS)
    ours = rake_bench.rake_ours(frame)
    theirs = rake_bench.rake_weightipy(frame)
    # Same fixed point of IPF from equal starting weights; weightipy's weights average 1.
    np.testing.assert_allclose(ours / ours.mean(), theirs / theirs.mean(), rtol=1e-6)


def test_memory_probe_reports_the_peak_of_a_rake(rake_bench):
    # In this process (the benchmark runs it in a fresh one; starting one costs seconds here).
    memory = rake_bench.memory_probe(ROWS)
    assert memory["rows"] == ROWS
    assert 0 < memory["data_mb"] < memory["process_peak_mb"]
    assert 0 < memory["tracemalloc_peak_mb"] < memory["process_peak_mb"]


def test_estimates_benchmark_times_twenty_domain_estimates(rake_bench):
    estimates_bench = _load("estimates")
    result = estimates_bench.bench(ROWS, repeats=1)
    assert result["estimates"] == 20 and len(result["best_pass"]) == 20
    assert result["standard_errors_positive"]
    assert result["total_seconds_best"] == pytest.approx(sum(s for _, s in result["best_pass"]))


def test_whole_command_benchmark_times_every_command_against_the_floor(rake_bench, tmp_path):
    whole = _load("whole_command")
    result = whole.bench(ROWS, repeats=1, folder=tmp_path)
    figures = result["figures"]
    assert set(figures) == {"floor", "floor_pyarrow", "floor_rake_columns", "rake", "rake_20_domains", "weightipy"}
    assert figures["floor"]["ratio_wall_best"] == 1.0
    for figure in figures.values():
        assert figure["wall_best"] > 0 and figure["cpu_best"] > 0
        assert figure["ratio_wall_best"] == pytest.approx(figure["wall_best"] / figures["floor"]["wall_best"])
    assert result["weights_written"] == ROWS
    assert result["domain_estimates"] == 20 * 10  # 20 estimates over the 10 areas
    # the same raking fixed point, so the same weighted share (weightipy stops at 1% changes)
    assert result["rake_estimate"] == pytest.approx(result["weightipy_estimate"], rel=1e-4)
