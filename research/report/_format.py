"""Small formatting helpers shared by the report's context builders: tolerant of missing or
malformed values (they become "not available", never an exception)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from research.verbal import format_percent_change, likelihood

NOT_AVAILABLE = "not available"


def _prob(value: Any) -> str:
    p = _float(value)
    return f"{100 * p:.0f}%" if p is not None and 0.0 <= p <= 1.0 else NOT_AVAILABLE


def _term(value: Any) -> str:
    p = _float(value)
    return likelihood(p).term if p is not None and 0.0 <= p <= 1.0 else NOT_AVAILABLE


def _pct(value: Any) -> str:
    return format_percent_change(_float(value), missing=NOT_AVAILABLE)


def _p(value: Any) -> str:
    p = _float(value)
    if p is None:
        return NOT_AVAILABLE
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _num(value: Any, digits: int) -> str:
    x = _float(value)
    return f"{x:.{digits}f}" if x is not None else NOT_AVAILABLE


def _pair(low: Any, high: Any, digits: int) -> str:
    a, b = _float(low), _float(high)
    return f"{a:.{digits}f} to {b:.{digits}f}" if a is not None and b is not None else NOT_AVAILABLE


def _signed(downgrade: int) -> str:
    return "0" if downgrade == 0 else f"{-downgrade:+d}"


def _count(value: Any) -> str:
    x = _float(value)
    return f"{int(x):,}" if x is not None else NOT_AVAILABLE


def _int(value: Any) -> int | None:
    if isinstance(value, str):
        value = value.replace(",", "")
    x = _float(value)
    return int(x) if x is not None else None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
