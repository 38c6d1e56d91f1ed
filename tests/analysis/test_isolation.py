"""`analysis` stays a pure statistics library: importing it loads no web or database package."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("flask", "werkzeug", "wtforms", "sqlalchemy", "flask_wtf", "flask_sqlalchemy")


def test_importing_analysis_loads_no_flask_werkzeug_wtforms_or_sqlalchemy():
    code = (
        "import json, sys, analysis, analysis.__main__, analysis.inference, analysis.spec\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
