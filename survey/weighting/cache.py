"""``analysis.spec.run`` on a spec and a run's frame, cached under the spec and the frame's hash.

In Redis when ``REDIS_URL`` is set (shared by every worker, as ``SpecResult.to_dict()``),
otherwise the result objects themselves in a small in-process LRU, so a page view recomputes
only when its inputs change."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import pandas as pd
from flask import current_app

from analysis.spec import SpecResult, run
from survey.weighting.settings import WeightingError

log = logging.getLogger(__name__)


class _LRU:
    def __init__(self, size: int = 32):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: str) -> Optional[SpecResult]:
        with self.lock:
            if key not in self.items:
                return None
            self.items.move_to_end(key)
            return self.items[key]

    def set(self, key: str, value: SpecResult) -> None:
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


def frame_hash(frame: pd.DataFrame) -> str:
    """A hash of the frame's column names, types and every value (index included)."""
    digest = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def cache_key(spec: Mapping[str, Any], frame: pd.DataFrame) -> str:
    text = json.dumps(spec, sort_keys=True, default=str) + frame_hash(frame)
    return "survey:analysis:v3:" + hashlib.sha256(text.encode()).hexdigest()  # v3: SpecResult.to_dict()


def run_analysis(spec: Mapping[str, Any], frame: pd.DataFrame) -> SpecResult:
    """``analysis.spec.run`` on this spec and frame, cached until either changes.

    Raises ``WeightingError`` with the analysis module's own message when the targets or
    options do not fit the data; warnings (such as non-convergence) are in the result's
    ``warnings`` rather than lost.
    """
    key = cache_key(spec, frame)
    client = _redis()
    if client is None:
        cached = _local_cache.get(key)
        if cached is not None:
            return cached
    else:
        text = client.get(key)
        if text is not None:
            return SpecResult.from_dict(json.loads(text))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kept in result.warnings
        try:
            result = run(spec, frame)
        except (ValueError, KeyError, np.linalg.LinAlgError) as error:
            raise WeightingError(str(error).strip("'\"")) from error
        except ArithmeticError as error:  # e.g. an interval for a share of exactly 0 or 1
            log.exception("analysis failed on spec %s", spec.get("data"))
            raise WeightingError(
                f"the analysis could not compute every estimate ({type(error).__name__}: {error}); "
                "an answer given by everyone or no one in a group can cause this, try another interval method"
            ) from error
    if client is not None:
        client.set(key, json.dumps(result.to_dict()), ex=CACHE_SECONDS)
    else:
        _local_cache.set(key, result)
    return result
