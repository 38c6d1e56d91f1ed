"""bench/pollster_scale.py works: at a few hundred completes (enough for the default targets to be met) every figure is measured, and its
scratch databases are dropped. The real sizes (1k, 10k, 100k) run outside pytest."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from survey.reporting.publication import FILE_NAMES
from tests.support.site import POSTGRES_SERVER
from tests.reliability.conftest import ROOT


@pytest.mark.slow
def test_every_figure_at_two_tiny_sizes(tmp_path):
    admin = sa.create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        admin.connect().close()
    except sa.exc.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_SERVER}: {error.orig}")
    report = tmp_path / "scale.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pollster_scale.py"), "--sizes", "200,300", "--repeat", "1",
         "--postgres", POSTGRES_SERVER, "--json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(report.read_text())
    assert [result["completes"] for result in results] == [200, 300]
    expected = {"floor", "weighting run", "results page", "fieldwork page", "banner page", "banner.xlsx", "banner.csv",
                *(f"download {name}" for name in FILE_NAMES)}
    for result in results:
        assert set(result["seconds"]) == expected
        assert all(figure["wall"] > 0 and figure["cpu"] >= 0 for figure in result["seconds"].values())
    assert "x floor" in run.stdout and "300 completes" in run.stdout
    with admin.connect() as connection:
        left = connection.scalars(sa.text("SELECT datname FROM pg_database")).all()
    assert not {result["database"] for result in results} & set(left)
