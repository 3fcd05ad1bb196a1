"""Comparing results with reference values (from metafor, see conformance/metafor_reference.R).

``compare(actual, expected)`` walks the expected structure (dicts, lists, numbers, strings,
booleans, None) and lists every place where ``actual`` differs, so one failing test shows all
discrepancies at once. ``table_view`` puts a results table into the reference layout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-10


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def compare(actual: Any, expected: Any, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
            path: str = "") -> list[str]:
    """Differences between ``actual`` and ``expected``: |a - e| <= atol + rtol * |e| for numbers.

    Only what ``expected`` contains is checked (extra keys in ``actual`` are fine). A missing
    expected value (None / NaN) must be missing in ``actual`` too.
    """
    where = path or "<root>"
    if isinstance(actual, np.generic):
        actual = actual.item()
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{where}: expected a mapping, got {type(actual).__name__}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += compare(actual[key], value, rtol, atol, f"{path}.{key}")
        return problems
    if isinstance(expected, (list, tuple)):
        if isinstance(actual, np.ndarray):
            actual = actual.tolist()
        if not isinstance(actual, Sequence) or isinstance(actual, str):
            return [f"{where}: expected a list, got {type(actual).__name__}"]
        if len(actual) != len(expected):
            return [f"{where}: length {len(actual)} != expected {len(expected)}"]
        problems = []
        for i, (a, e) in enumerate(zip(actual, expected)):
            problems += compare(a, e, rtol, atol, f"{path}[{i}]")
        return problems
    if _missing(expected):
        return [] if _missing(actual) else [f"{where}: expected missing, got {actual!r}"]
    if isinstance(expected, (bool, str)):
        return [] if actual == expected else [f"{where}: {actual!r} != expected {expected!r}"]
    if isinstance(expected, (int, float)):
        if _missing(actual) or isinstance(actual, (str, bool)) or not isinstance(actual, (int, float)):
            return [f"{where}: expected {expected!r}, got {actual!r}"]
        if math.isinf(expected) or math.isinf(actual):
            return [] if actual == expected else [f"{where}: {actual!r} != expected {expected!r}"]
        if abs(actual - expected) <= atol + rtol * abs(expected):
            return []
        rel = abs(actual - expected) / abs(expected) if expected else math.inf
        return [f"{where}: {actual!r} != expected {expected!r} (relative difference {rel:.2e})"]
    return [] if actual == expected else [f"{where}: {actual!r} != expected {expected!r}"]


def assert_matches(actual: Any, expected: Any, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                   what: str = "") -> None:
    """Raise AssertionError listing every difference (see :func:`compare`)."""
    problems = compare(actual, expected, rtol, atol)
    if problems:
        head = f"{what}: " if what else ""
        shown = "\n  ".join(problems[:40])
        more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        raise AssertionError(f"{head}{len(problems)} value(s) differ from the reference:\n  {shown}{more}")


def table_view(frame: pd.DataFrame) -> dict[str, list]:
    """A results table as column -> list (the layout of the reference files)."""
    out = {}
    for column in frame.columns:
        values = frame[column].to_numpy()
        out[column] = [bool(v) for v in values] if values.dtype == bool else [float(v) for v in values]
    return out
