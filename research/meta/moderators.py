"""Moderators for a meta-regression from a table of estimates: continuous and categorical.

:func:`moderator_matrix` turns named columns of a table into the columns that :func:`research.meta.rma`
and :func:`research.meta.rma_mv` take as ``mods``: a continuous moderator as it is, a categorical one
as indicator columns in treatment coding, as R's ``model.matrix`` builds them for metafor's
``rma(mods = ~ x + g)``: the first level in sorted order is the reference (unless another is named),
each other level gets a column named ``<moderator><level>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from research.errors import InputError

__all__ = ["moderator_matrix"]


def _rows(table, mask: np.ndarray, labels: Sequence[str] | None) -> str:
    idx = np.flatnonzero(mask)
    names = [str(labels[i]) if labels is not None else f"row {i + 1}" for i in idx[:5]]
    return ", ".join(names) + (f" and {idx.size - 5} more" if idx.size > 5 else "")


def moderator_matrix(
    table,
    continuous: Sequence[str] = (),
    categorical: Sequence[str] = (),
    *,
    reference: Mapping[str, str] | None = None,
    labels: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Moderator columns (name -> values) for ``rma(mods=...)``, continuous first, then categorical.

    ``table``: a data frame (or mapping of columns). ``reference``: the reference level of a
    categorical moderator (default: the first in sorted order). ``labels`` name the rows in errors.
    A missing value, a continuous moderator that is not numeric, or a categorical one with a single
    level is an error naming the moderator and the rows.
    """
    reference = dict(reference or {})
    columns = getattr(table, "columns", None)
    available = list(columns) if columns is not None else list(table)
    out: dict[str, np.ndarray] = {}
    for name in [*continuous, *categorical]:
        if name not in available:
            raise InputError(f"moderator {name!r} is not a column (columns: {', '.join(map(str, available))})")
    overlap = set(continuous) & set(categorical)
    if overlap:
        raise InputError(f"moderator(s) {', '.join(sorted(overlap))} declared both continuous and categorical")
    for name in continuous:
        raw = list(table[name])
        values = np.array([np.nan if v is None else v for v in raw], dtype=object)
        try:
            numbers = values.astype(float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"continuous moderator {name!r} has values that are not numbers; "
                             "declare it categorical") from exc
        bad = ~np.isfinite(numbers)
        if bad.any():
            raise InputError(f"moderator {name!r}: no value for {_rows(table, bad, labels)}")
        out[name] = numbers
    for name in categorical:
        raw = list(table[name])
        missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in raw])
        if missing.any():
            raise InputError(f"moderator {name!r}: no value for {_rows(table, missing, labels)}")
        values = [str(v) for v in raw]
        levels = sorted(set(values))
        if len(levels) < 2:
            raise InputError(f"categorical moderator {name!r} has a single level ({levels[0]!r}) among these "
                             "estimates, so it cannot explain differences between them")
        base = reference.get(name, levels[0])
        if base not in levels:
            raise InputError(f"reference level {base!r} of moderator {name!r} is not among its levels "
                             f"({', '.join(levels)})")
        for level in levels:
            if level != base:
                out[f"{name}{level}"] = np.array([float(v == level) for v in values])
    unknown = set(reference) - set(categorical)
    if unknown:
        raise InputError(f"reference level given for {', '.join(sorted(unknown))}, which is not a categorical moderator")
    return out
