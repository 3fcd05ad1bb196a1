"""Small formatting helpers shared by the report's context builders: a missing value (None, NaN)
becomes "not available", never an exception. The results they format are typed (research.results);
``as_float`` and its kin also accept what a hand-written results file may hold."""

from __future__ import annotations

import math
from typing import Any

from research.verbal import format_percent_change, likelihood

NOT_AVAILABLE = "not available"


def prob_text(value: Any) -> str:
    p = as_float(value)
    return f"{100 * p:.0f}%" if p is not None and 0.0 <= p <= 1.0 else NOT_AVAILABLE


def likelihood_term(value: Any) -> str:
    p = as_float(value)
    return likelihood(p).term if p is not None and 0.0 <= p <= 1.0 else NOT_AVAILABLE


def pct_text(value: Any) -> str:
    return format_percent_change(as_float(value), missing=NOT_AVAILABLE)


def p_text(value: Any) -> str:
    p = as_float(value)
    if p is None:
        return NOT_AVAILABLE
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def num_text(value: Any, digits: int) -> str:
    x = as_float(value)
    return f"{x:.{digits}f}" if x is not None else NOT_AVAILABLE


def pair_text(low: Any, high: Any, digits: int) -> str:
    a, b = as_float(low), as_float(high)
    return f"{a:.{digits}f} to {b:.{digits}f}" if a is not None and b is not None else NOT_AVAILABLE


def signed_downgrade(downgrade: int) -> str:
    return "0" if downgrade == 0 else f"{-downgrade:+d}"


def count_text(value: Any) -> str:
    x = as_float(value)
    return f"{int(x):,}" if x is not None else NOT_AVAILABLE


def as_int(value: Any) -> int | None:
    if isinstance(value, str):
        value = value.replace(",", "")
    x = as_float(value)
    return int(x) if x is not None else None


def as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def text_of(value: Any) -> str:
    return "" if value is None else str(value).strip()
