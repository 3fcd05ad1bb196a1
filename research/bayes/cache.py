"""On-disk cache of MCMC fits, keyed by a hash of data, model, priors and sampler settings."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from filelock import FileLock

DEFAULT_CACHE = Path(".cache/fits")  # relative to the working directory, ignored by git

# Bump when the model code changes in a way that makes stored fits stale.
CACHE_VERSION = 1


def fit_key(payload: dict) -> str:
    """A stable hash of a JSON-serialisable description of a fit."""
    text = json.dumps({"version": CACHE_VERSION, **payload}, sort_keys=True, default=_jsonable)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def load_fit(cache_dir: Path | str | None, key: str):
    """The stored InferenceData for ``key``, or None."""
    if cache_dir is None:
        return None
    path = Path(cache_dir) / f"{key}.nc"
    if not path.exists():
        return None
    from research.bayes._arviz import arviz
    az = arviz()

    try:
        return az.from_netcdf(path)
    except (OSError, ValueError):
        return None  # unreadable entry: refit and overwrite


def save_fit(cache_dir: Path | str | None, key: str, idata, meta: dict) -> None:
    """Write the fit atomically (temp file then rename) under a lock."""
    if cache_dir is None:
        return
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f"{key}.lock")):
        handle, tmp = tempfile.mkstemp(dir=folder, suffix=".nc.tmp")
        os.close(handle)
        try:
            idata.to_netcdf(tmp)
            os.replace(tmp, folder / f"{key}.nc")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        meta_tmp = folder / f"{key}.json.tmp"
        meta_tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=_jsonable) + "\n", encoding="utf-8")
        os.replace(meta_tmp, folder / f"{key}.json")
