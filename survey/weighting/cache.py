"""``run_spec`` on a spec and its data, cached under the spec and the data's hash.

In Redis when ``REDIS_URL`` is set (shared by every worker), otherwise in a small in-process
LRU, so a page view recomputes only when its inputs change."""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import numpy as np
from flask import current_app

from analysis import ConvergenceWarning
from analysis.spec import run_spec
from survey.weighting.settings import WeightingError

log = logging.getLogger(__name__)


class _LRU:
    def __init__(self, size: int = 32):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: str) -> Optional[str]:
        with self.lock:
            if key not in self.items:
                return None
            self.items.move_to_end(key)
            return self.items[key]

    def set(self, key: str, value: str) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_local_cache = _LRU()
CACHE_SECONDS = 24 * 3600


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("results_redis")
    if client is None:
        import redis

        client = current_app.extensions["results_redis"] = redis.Redis.from_url(url)
    return client


def cache_key(spec: Mapping[str, Any], data_hash: str) -> str:
    text = json.dumps(spec, sort_keys=True, default=str) + data_hash
    return "survey:analysis:v2:" + hashlib.sha256(text.encode()).hexdigest()  # v2: results carry "converged"


def run_analysis(spec: Mapping[str, Any], csv_bytes: bytes) -> dict[str, Any]:
    """``run_spec`` on this spec and data file, cached until either changes.

    Raises ``WeightingError`` with the analysis module's own message when the targets or
    options do not fit the data; warnings (such as non-convergence) are returned under
    ``"warnings"`` rather than lost.
    """
    key = cache_key(spec, hashlib.sha256(csv_bytes).hexdigest())
    client = _redis()
    cached = client.get(key) if client is not None else _local_cache.get(key)
    if cached is not None:
        return json.loads(cached)
    with tempfile.TemporaryDirectory(prefix="weighting-") as folder:
        (Path(folder) / spec["data"]).write_bytes(csv_bytes)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = run_spec(copy.deepcopy(dict(spec)), folder)
            except (ValueError, KeyError, np.linalg.LinAlgError) as error:
                raise WeightingError(str(error).strip("'\"")) from error
            except ArithmeticError as error:  # e.g. an interval for a share of exactly 0 or 1
                log.exception("analysis failed on spec %s", spec.get("data"))
                raise WeightingError(
                    f"the analysis could not compute every estimate ({type(error).__name__}: {error}); "
                    "an answer given by everyone or no one in a group can cause this, try another interval method"
                ) from error
    result = json.loads(json.dumps(result, default=_plain))
    result["warnings"] = sorted({str(w.message) for w in caught})
    result["converged"] = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    text = json.dumps(result)
    if client is not None:
        client.set(key, text, ex=CACHE_SECONDS)
    else:
        _local_cache.set(key, text)
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a cached result")
