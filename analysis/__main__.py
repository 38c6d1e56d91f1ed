"""Command line: ``python -m analysis run SPEC.yaml --out RESULT.json``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from analysis.spec import load_spec, run_spec

logger = logging.getLogger("analysis")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Run an analysis spec.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="weight, estimate and model as SPEC.yaml says")
    run.add_argument("spec", type=Path, help="the spec file (YAML)")
    run.add_argument("--out", type=Path, required=True, help="where to write the result (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        spec = load_spec(args.spec)
        result = run_spec(spec, args.spec.parent)
    except (OSError, ValueError) as error:
        logger.error("%s: %s", args.spec, error)
        return 1
    args.out.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    logger.info("wrote %s (%d estimates)", args.out, len(result["estimates"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
