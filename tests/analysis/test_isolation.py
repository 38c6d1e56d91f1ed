"""`analysis` stays a pure statistics library: importing it loads no web or database package,
and a command loads only what its spec needs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("flask", "werkzeug", "wtforms", "sqlalchemy", "flask_wtf", "flask_sqlalchemy")
HEAVY = ("statsmodels", "scipy.stats")  # loaded only for models, tests and a few intervals
OWN_REFERENCE = Path(__file__).parent / "reference"


def _loaded(code: str, packages: tuple[str, ...]) -> list[str]:
    """Modules of ``packages`` that a fresh interpreter has loaded after running ``code``."""
    code += ("\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules "
             f"if any(m == p or m.startswith(p + '.') for p in {packages!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_analysis_loads_no_flask_werkzeug_wtforms_or_sqlalchemy():
    code = "import analysis, analysis.__main__, analysis.inference, analysis.spec, analysis.models"
    assert _loaded(code, FORBIDDEN) == []


def test_a_rake_and_estimate_command_loads_neither_statsmodels_nor_scipy_stats(tmp_path):
    spec = {"data": str(OWN_REFERENCE / "poll_b.csv"), "design": {"weights": "base_weight"},
            "weighting": {"method": "rake", "margins": {"sex": {"female": 0.505, "male": 0.495}}},
            "estimates": [{"id": "yes", "variable": "calexit", "type": "proportion", "categories": ["yes"],
                           "by": "party"},
                          {"id": "trust", "variable": "trust", "type": "mean"}]}
    (tmp_path / "spec.yaml").write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    run = ["run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "result.json")]
    code = f"import analysis\nfrom analysis.__main__ import main\nassert main({run!r}) == 0"
    assert _loaded(code, HEAVY + FORBIDDEN) == []
    assert len(json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))["estimates"]) > 2


def test_a_model_loads_statsmodels_when_it_is_asked_for():
    spec = {"data": "poll_b.csv",
            "models": [{"id": "m", "family": "gaussian", "outcome": "trust", "predictors": ["party"]}]}
    code = f"import analysis\nassert analysis.run_spec({spec!r}, {str(OWN_REFERENCE)!r})['models']"
    assert "statsmodels" in _loaded(code, HEAVY)


def test_lazy_names_reach_every_export_and_submodule():
    code = ("import analysis\n"
            "assert all(getattr(analysis, name) is not None for name in analysis.__all__)\n"
            "assert analysis.export.Codebook and analysis.variance.linearized_covariance\n"
            "assert not hasattr(analysis, 'no_such_name')")
    assert {"analysis.export", "analysis.inference", "analysis.models"} <= set(_loaded(code, ("analysis",)))
