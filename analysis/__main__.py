"""Command line: ``python -m analysis run SPEC.yaml --out RESULT.json [--weights WEIGHTS.parquet]``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from analysis.spec import load_spec, run_spec

logger = logging.getLogger("analysis")

_WEIGHTS_SLOT = "\x00weights\x00"


def format_numbers(values: np.ndarray) -> bytes:
    """``values`` as a JSON array's inside: shortest round-trip decimals joined by commas.

    Arrow formats a million floats in one pass, several times faster than ``json.dumps``
    (which calls ``float.__repr__`` per number); each number reads back as the same float.
    Weights from raking or post-stratification take one value per cell, so when most values
    repeat, each distinct one (by its bits: 0.0 and -0.0 apart) is formatted once.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"{int((~np.isfinite(values)).sum())} weights are not finite numbers; JSON cannot hold them")
    if len(values) == 0:
        return b""
    codes, distinct = pd.factorize(values.view(np.uint64))
    distinct = distinct.view(np.float64)
    if len(distinct) > len(values) // 2:  # mostly distinct: gathering would cost more than it saves
        codes, distinct = None, values
    text = pc.cast(pa.array(distinct), pa.string())
    if (distinct == np.trunc(distinct)).any():  # Arrow writes 30.0 as "30", which JSON reads as an integer
        text = pc.if_else(pc.match_substring_regex(text, r"^-?\d+$"),
                          pc.binary_join_element_wise(text, pa.scalar(".0"), ""), text)
    if codes is not None:
        text = text.take(pa.array(codes))
    joined = pc.binary_join_element_wise(text, pa.scalar(""), ",")
    _, offsets, data = joined.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[[joined.offset, joined.offset + len(joined)]]
    return bytes(memoryview(data)[int(bounds[0]):int(bounds[1]) - 1])  # no comma after the last


def write_result(result: dict, out: Path, weights_file: Optional[Path] = None) -> None:
    """Write ``result`` as JSON (the contract's format); the weights in one cheap pass.

    With ``weights_file`` the weights go to that Parquet file instead (one float64 column
    ``weight``, data row order) and the JSON names it under ``weights_file``.
    """
    result = dict(result)
    weights = np.asarray(result.pop("weights"), dtype=float)
    if weights_file is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"weight": weights}), weights_file)
        text = json.dumps({"degf": result.pop("degf"), "weights_file": str(weights_file), **result},
                          indent=1, allow_nan=False)
        out.write_text(text + "\n", encoding="utf-8")
        return
    text = json.dumps({"degf": result.pop("degf"), "weights": _WEIGHTS_SLOT, **result}, indent=1, allow_nan=False)
    head, tail = text.split(json.dumps(_WEIGHTS_SLOT), 1)
    with open(out, "wb") as handle:
        handle.write(head.encode("utf-8") + b"[")
        handle.write(format_numbers(weights))
        handle.write(b"]" + tail.encode("utf-8") + b"\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Run an analysis spec.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="weight, estimate and model as SPEC.yaml says")
    run.add_argument("spec", type=Path, help="the spec file (YAML)")
    run.add_argument("--out", type=Path, required=True, help="where to write the result (JSON)")
    run.add_argument("--weights", type=Path, metavar="FILE.parquet",
                     help="write the final weights to this Parquet file (column `weight`) instead of into the JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.weights is not None and args.weights.suffix != ".parquet":
        parser.error(f"--weights {args.weights}: the weights file must end in .parquet")
    try:
        spec = load_spec(args.spec)
        result = run_spec(spec, args.spec.parent)
    except (OSError, ValueError) as error:
        logger.error("%s: %s", args.spec, error)
        return 1
    write_result(result, args.out, args.weights)
    logger.info("wrote %s (%d estimates)", args.out, len(result["estimates"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
