"""Checks on the effect-size frame that every Bayesian model takes.

One row per effect estimate on the log scale, positive = more events (so benefit is
``yi < 0``), with columns ``id``, ``yi``, ``vi`` and optional moderators (``setting``,
``monitoring``, ``design``, ``design_level``, ``rob_overall``, ``regression_to_mean``). Bad input
raises ``InputError`` naming the source, the row id and the column.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError

# Values that mean "not reported" for a categorical moderator.
MISSING_LEVELS = {"", "unknown", "unclear", "nan", "none", "na", "n/a"}


def check_effects(frame: pd.DataFrame, source: str = "effects", min_rows: int = 1) -> pd.DataFrame:
    """Return a clean copy with float ``yi``/``vi`` and string ``id``; raise on bad rows."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{source}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in ("yi", "vi") if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}; columns are {', '.join(map(str, frame.columns))}")
    out = frame.copy()
    if "id" not in out.columns:
        out["id"] = [f"row{i + 1}" for i in range(len(out))]
    out["id"] = [str(v) if not _is_missing(v) else f"row{i + 1}" for i, v in enumerate(out["id"])]
    duplicated = out["id"][out["id"].duplicated()].tolist()
    if duplicated:
        raise InputError(f"{source}: duplicate id(s) {', '.join(duplicated[:5])}")
    for column in ("yi", "vi"):
        values = pd.to_numeric(out[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = out.loc[bad, "id"].iloc[0]
            raise InputError(f"{source}: record {row}: field {column}: not a finite number ({out.loc[bad, column].iloc[0]!r})")
        out[column] = values.astype(float)
    nonpositive = out["vi"] <= 0
    if nonpositive.any():
        row = out.loc[nonpositive, "id"].iloc[0]
        raise InputError(f"{source}: record {row}: field vi: sampling variance must be > 0")
    if len(out) < min_rows:
        raise InputError(f"{source}: needs at least {min_rows} effect estimate(s), got {len(out)}")
    return out.reset_index(drop=True)


def read_effects_csv(path: Path | str, yi: str = "yi", vi: str | None = "vi", se: str | None = None, id_column: str = "id") -> pd.DataFrame:
    """Read an effect-size CSV and rename the chosen columns to ``yi``/``vi``/``id``.

    Give either ``vi`` (a variance column) or ``se`` (a standard-error column).
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file: {exc}") from exc
    wanted = [yi] + ([se] if se else [vi])
    absent = [c for c in wanted if c not in frame.columns]
    if absent:
        raise InputError(f"{path}: no column(s) {', '.join(absent)}; columns are {', '.join(map(str, frame.columns))}")
    out = frame.copy()
    if id_column in out.columns and id_column != "id":
        out = out.drop(columns=["id"], errors="ignore").rename(columns={id_column: "id"})
    values = {"yi": out[yi]}
    if se:
        se_values = pd.to_numeric(out[se], errors="coerce")
        values["vi"] = se_values**2
    else:
        values["vi"] = out[vi]
    out = out.drop(columns=[c for c in ("yi", "vi") if c not in wanted], errors="ignore")
    for name, column in values.items():
        out[name] = column
    return check_effects(out, source=str(path))


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return bool(pd.isna(value)) if not isinstance(value, (list, tuple, dict)) else False


def category(value) -> str | None:
    """A moderator value as a clean level name, or None when it is not reported."""
    if _is_missing(value):
        return None
    text = str(value).strip()
    return None if text.lower() in MISSING_LEVELS else text


def numeric_vector(frame: pd.DataFrame, column: str, source: str = "effects") -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row = frame.loc[bad, "id"].iloc[0]
        raise InputError(f"{source}: record {row}: field {column}: numeric moderator is missing or not a number")
    return values
