"""Effect sizes and their sampling variances (the escalc step).

:func:`escalc` is the one entry point for raw data: like metafor's ``escalc`` it returns a data
frame carrying ``yi`` and ``vi`` (the input frame with the two columns added when ``data`` is
given). It covers metafor's measures for 2x2 tables, rates, means, correlations and proportions,
plus three measures of this project: ``RES`` (relative effect size of an area-based evaluation),
``RATIO-CI`` and ``RATIO-SE`` (a reported ratio with its confidence interval or standard error).
The helpers :func:`relative_effect_size`, :func:`log_ratio_from_ci` and :func:`log_ratio_from_se`
return ``(yi, vi)`` pairs: floats for scalar input, numpy arrays otherwise.

Ratios (risk ratio, odds ratio, rate ratio, relative effect size, crash modification factor) are on
the log scale. Formulas and zero-cell rules follow metafor's ``escalc`` so that results can be
checked against it: by default 1/2 is added to every cell of a 2x2 table that has a zero cell
(``add=0.5, to="only0"``) and tables with zero events in both groups are kept (``drop00=False``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import special

from research.errors import InputError

__all__ = [
    "MEASURES",
    "PROJECT_MEASURES",
    "escalc",
    "log_ratio_from_ci",
    "log_ratio_from_se",
    "relative_effect_size",
]


def _as_array(name: str, value, *, allow_nan: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not numeric ({value!r})") from exc
    if not allow_nan and np.isnan(arr).any():
        raise InputError(f"{name}: missing value (NaN) at position(s) {_positions(np.isnan(arr))}")
    if np.isinf(arr).any():
        raise InputError(f"{name}: infinite value at position(s) {_positions(np.isinf(arr))}")
    return arr


def _positions(mask: np.ndarray) -> str:
    idx = np.flatnonzero(np.atleast_1d(mask))
    shown = ", ".join(str(i) for i in idx[:10])
    return shown + (", ..." if idx.size > 10 else "")


def _out(*arrays: np.ndarray, scalar: bool):
    if scalar:
        return tuple(float(np.asarray(a).reshape(-1)[0]) for a in arrays)
    return tuple(np.atleast_1d(a) for a in arrays)


def _is_scalar(*values) -> bool:
    return all(np.ndim(v) == 0 for v in values if v is not None)


def _broadcast(**named) -> dict[str, np.ndarray]:
    try:
        shaped = np.broadcast_arrays(*named.values())
    except ValueError as exc:
        lengths = ", ".join(f"{k}={np.shape(v)}" for k, v in named.items())
        raise InputError(f"inputs have different lengths ({lengths})") from exc
    return {k: np.array(v, dtype=float) for k, v in zip(named, shaped)}


# --------------------------------------------------------------------------- reported estimates


def log_ratio_from_ci(estimate, ci_low, ci_high, level: float = 0.95):
    """Log ratio and its variance from a reported ratio with a symmetric-on-log-scale CI.

    The standard error is the CI width on the log scale divided by 2 * z_{(1+level)/2}.
    """
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    scalar = _is_scalar(estimate, ci_low, ci_high)
    est = _as_array("estimate", estimate)
    low = _as_array("ci_low", ci_low)
    high = _as_array("ci_high", ci_high)
    v = _broadcast(estimate=est, ci_low=low, ci_high=high)
    est, low, high = v["estimate"], v["ci_low"], v["ci_high"]
    for name, arr in (("estimate", est), ("ci_low", low), ("ci_high", high)):
        if (arr <= 0).any():
            raise InputError(f"{name}: a ratio must be > 0 (position(s) {_positions(arr <= 0)})")
    if (low >= high).any():
        raise InputError(f"ci_low must be below ci_high (position(s) {_positions(low >= high)})")
    outside = (est < low) | (est > high)
    if outside.any():
        raise InputError(f"estimate lies outside its confidence interval (position(s) {_positions(outside)})")
    z = special.ndtri(0.5 + level / 2)  # the normal quantile, without loading scipy.stats
    se = (np.log(high) - np.log(low)) / (2 * z)
    return _out(np.log(est), se**2, scalar=scalar)


def log_ratio_from_se(estimate, se, se_scale: str = "log"):
    """Log ratio and its variance from a ratio (e.g. a crash modification factor) and its SE.

    ``se_scale="log"``: ``se`` is already the SE of the log ratio.
    ``se_scale="natural"``: ``se`` is the SE of the ratio itself; the delta method gives
    SE(log ratio) = se / estimate.
    """
    if se_scale not in ("log", "natural"):
        raise InputError(f"se_scale must be 'log' or 'natural', got {se_scale!r}")
    scalar = _is_scalar(estimate, se)
    v = _broadcast(estimate=_as_array("estimate", estimate), se=_as_array("se", se))
    est, se_arr = v["estimate"], v["se"]
    if (est <= 0).any():
        raise InputError(f"estimate: a ratio must be > 0 (position(s) {_positions(est <= 0)})")
    if (se_arr <= 0).any():
        raise InputError(f"se must be > 0 (position(s) {_positions(se_arr <= 0)})")
    se_log = se_arr if se_scale == "log" else se_arr / est
    return _out(np.log(est), se_log**2, scalar=scalar)


def relative_effect_size(a, b, c, d, overdispersion=1.0):
    """Log relative effect size of an area-based before/after evaluation with a control area.

    ``a``, ``b``: crimes before and after in the experimental area; ``c``, ``d``: before and after in
    the control area. RES = (a*d)/(b*c) (values above 1 mean relatively fewer crimes after in the
    experimental area); var(log RES) = (1/a + 1/b + 1/c + 1/d) * overdispersion. A count of zero
    adds 1/2 to all four counts of that evaluation, as escalc does for 2x2 tables.
    ``overdispersion``: one factor >= 1, or one per evaluation.
    """
    scalar = _is_scalar(a, b, c, d, overdispersion)
    yi, vi = _relative(a, b, c, d, overdispersion, add=None, to="only0", drop00=False)
    return _out(yi, vi, scalar=scalar)


def _relative(a, b, c, d, overdispersion, *, add, to, drop00) -> tuple[np.ndarray, np.ndarray]:
    factor = _as_array("overdispersion", overdispersion)
    if (factor < 1.0).any():
        raise InputError(f"overdispersion must be a finite factor >= 1, got {overdispersion}")
    cells = _need("RES", ai=a, bi=b, ci=c, di=d)
    yi, vi = _binary("OR", **cells, n1i=None, n2i=None, add=add, to=to, drop00=drop00, vtype="LS")
    try:
        vi = vi * factor
    except ValueError as exc:
        raise InputError(f"overdispersion: {factor.size} factors for {vi.size} evaluations") from exc
    return yi, vi


# --------------------------------------------------------------------------- escalc


_ZERO_CELL_RULES = ("all", "only0", "if0all", "none")


def _zero_cell_adjust(cells: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """Add ``add`` to the cells chosen by ``to`` (one of ``_ZERO_CELL_RULES``, checked by escalc)."""
    if to == "none" or add == 0:
        return cells
    if to == "all":
        return [x + add for x in cells]
    has_zero = np.zeros(cells[0].shape, dtype=bool)
    for x in cells:
        has_zero |= x == 0
    if to == "only0":
        return [np.where(has_zero, x + add, x) for x in cells]
    return [x + add for x in cells] if has_zero.any() else cells  # if0all


def _need(measure: str, **given) -> dict[str, np.ndarray]:
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise InputError(f"escalc({measure!r}) needs {', '.join(missing)}")
    arrays = {k: _as_array(k, v) for k, v in given.items()}
    return _broadcast(**arrays)


def _two_by_two(measure, ai, bi, ci, di, n1i, n2i):
    if bi is None and ai is not None and n1i is not None:
        bi = np.asarray(n1i, dtype=float) - np.asarray(ai, dtype=float)
    if di is None and ci is not None and n2i is not None:
        di = np.asarray(n2i, dtype=float) - np.asarray(ci, dtype=float)
    cells = _need(measure, ai=ai, bi=bi, ci=ci, di=di)
    for name, x in cells.items():
        if (x < 0).any():
            raise InputError(f"{name}: counts must be >= 0 (position(s) {_positions(x < 0)})")
    return cells["ai"], cells["bi"], cells["ci"], cells["di"]


def _check_vtype(measure: str, vtype: str, allowed: tuple[str, ...]) -> None:
    if vtype not in allowed:
        raise InputError(f"escalc({measure!r}): vtype must be one of {', '.join(allowed)}, got {vtype!r}")


def _binary(measure, *, ai, bi, ci, di, n1i, n2i, add, to, drop00, vtype, **_):
    a, b, c, d = _two_by_two(measure, ai, bi, ci, di, n1i, n2i)
    if measure == "AS" and add is None:
        add = 0.0
    add = 0.5 if add is None else add
    dropped = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0)) if drop00 else np.zeros(a.shape, bool)
    a, b, c, d = _zero_cell_adjust([a, b, c, d], add, to)
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = a / n1, c / n2
        if measure == "RR":
            _check_vtype(measure, vtype, ("LS",))
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "OR":
            _check_vtype(measure, vtype, ("LS",))
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RD":
            _check_vtype(measure, vtype, ("LS", "UB"))
            yi = p1 - p2
            unbiased = vtype == "UB"
            vi = p1 * (1 - p1) / (n1 - unbiased) + p2 * (1 - p2) / (n2 - unbiased)
        elif measure == "AS":
            _check_vtype(measure, vtype, ("LS",))
            yi = np.arcsin(np.sqrt(p1)) - np.arcsin(np.sqrt(p2))
            vi = 1 / (4 * n1) + 1 / (4 * n2)
        else:  # PETO
            _check_vtype(measure, vtype, ("LS",))
            n = n1 + n2
            events, non_events = a + c, b + d
            expected = events * n1 / n
            hyper_var = events * non_events * (n1 / n) * (n2 / n) / (n - 1)
            yi = (a - expected) / hyper_var
            vi = 1 / hyper_var
    yi = np.where(dropped, np.nan, yi)
    vi = np.where(dropped, np.nan, vi)
    return yi, vi


def _rates(measure, *, x1i, x2i, t1i, t2i, add, to, drop00, vtype, **_):
    v = _need(measure, x1i=x1i, x2i=x2i, t1i=t1i, t2i=t2i)
    x1, x2, t1, t2 = v["x1i"], v["x2i"], v["t1i"], v["t2i"]
    if ((x1 < 0) | (x2 < 0)).any():
        raise InputError("x1i, x2i: counts must be >= 0")
    if ((t1 <= 0) | (t2 <= 0)).any():
        raise InputError("t1i, t2i: person-times must be > 0")
    _check_vtype(measure, vtype, ("LS",))
    add = 0.5 if add is None else add
    dropped = (x1 == 0) & (x2 == 0) if drop00 else np.zeros(x1.shape, bool)
    x1, x2 = _zero_cell_adjust([x1, x2], add, to)
    with np.errstate(divide="ignore", invalid="ignore"):
        r1, r2 = x1 / t1, x2 / t2
        if measure == "IRR":
            yi, vi = np.log(r1) - np.log(r2), 1 / x1 + 1 / x2
        else:
            yi, vi = r1 - r2, r1 / t1 + r2 / t2
    return np.where(dropped, np.nan, yi), np.where(dropped, np.nan, vi)


def _small_sample_correction(m: np.ndarray) -> np.ndarray:
    # exact Hedges correction c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))
    with np.errstate(invalid="ignore"):
        return np.where(m <= 1, np.nan, np.exp(special.gammaln(m / 2) - np.log(np.sqrt(m / 2)) - special.gammaln((m - 1) / 2)))


def _means(measure, *, m1i, m2i, sd1i, sd2i, n1i, n2i, vtype, **_):
    v = _need(measure, m1i=m1i, m2i=m2i, sd1i=sd1i, sd2i=sd2i, n1i=n1i, n2i=n2i)
    m1, m2, s1, s2, n1, n2 = (v[k] for k in ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
    if ((s1 < 0) | (s2 < 0)).any():
        raise InputError("sd1i, sd2i: standard deviations must be >= 0")
    if ((n1 <= 0) | (n2 <= 0)).any():
        raise InputError("n1i, n2i: group sizes must be > 0")
    df = n1 + n2 - 2
    pooled_sd = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / df)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "MD":
            _check_vtype(measure, vtype, ("LS", "UB", "HO"))
            yi = m1 - m2
            vi = pooled_sd**2 * (1 / n1 + 1 / n2) if vtype == "HO" else s1**2 / n1 + s2**2 / n2
        elif measure == "SMD":
            _check_vtype(measure, vtype, ("LS", "UB", "LS2"))
            cm = _small_sample_correction(df)
            d = (m1 - m2) / pooled_sd
            yi = cm * d
            if vtype == "LS":
                vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
            elif vtype == "UB":
                vi = 1 / n1 + 1 / n2 + (1 - (df - 2) / (df * cm**2)) * yi**2
            else:
                vi = cm**2 * (1 / n1 + 1 / n2 + d**2 / (2 * (n1 + n2)))
        else:  # ROM
            _check_vtype(measure, vtype, ("LS", "HO"))
            if ((m1 <= 0) | (m2 <= 0)).any():
                raise InputError("m1i, m2i: means must be > 0 for the log ratio of means")
            yi = np.log(m1 / m2)
            if vtype == "LS":
                vi = s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)
            else:
                vi = pooled_sd**2 / (n1 * m1**2) + pooled_sd**2 / (n2 * m2**2)
    return yi, vi


def _correlations(measure, *, ri, ni, vtype, **_):
    v = _need(measure, ri=ri, ni=ni)
    r, n = v["ri"], v["ni"]
    if (np.abs(r) > 1).any():
        raise InputError(f"ri: correlations must lie in [-1, 1] (position(s) {_positions(np.abs(r) > 1)})")
    if (n <= 3).any():
        raise InputError(f"ni: sample sizes must be > 3 for a sampling variance (position(s) {_positions(n <= 3)})")
    _check_vtype(measure, vtype, ("LS",))
    if measure == "COR":
        return r, (1 - r**2) ** 2 / (n - 1)
    with np.errstate(divide="ignore"):
        return np.arctanh(r), 1 / (n - 3)


def _proportions(measure, *, xi, mi, ni, add, to, vtype, **_):
    if mi is None and xi is not None and ni is not None:
        mi = np.asarray(ni, dtype=float) - np.asarray(xi, dtype=float)
    v = _need(measure, xi=xi, mi=mi)
    x, m = v["xi"], v["mi"]
    if ((x < 0) | (m < 0)).any():
        raise InputError("xi, mi: counts must be >= 0")
    if ((x + m) <= 0).any():
        raise InputError("ni: group sizes must be > 0")
    add = 0.5 if add is None else add
    x, m = _zero_cell_adjust([x, m], add, to)
    n = x + m
    p = x / n
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "PR":
            _check_vtype(measure, vtype, ("LS", "UB"))
            return p, p * (1 - p) / (n - (vtype == "UB"))
        _check_vtype(measure, vtype, ("LS",))
        if measure == "PLN":
            return np.log(p), 1 / x - 1 / n
        return np.log(p / (1 - p)), 1 / x + 1 / m


_HANDLERS: dict[str, Callable] = {
    **dict.fromkeys(("RR", "OR", "RD", "AS", "PETO"), _binary),
    **dict.fromkeys(("IRR", "IRD"), _rates),
    **dict.fromkeys(("MD", "SMD", "ROM"), _means),
    **dict.fromkeys(("COR", "ZCOR"), _correlations),
    **dict.fromkeys(("PR", "PLN", "PLO"), _proportions),
}

#: Measures that :func:`escalc` computes, with the inputs each one needs.
MEASURES: dict[str, str] = {
    "RR": "log risk ratio: ai, bi, ci, di (or ai, n1i, ci, n2i)",
    "OR": "log odds ratio: ai, bi, ci, di (or ai, n1i, ci, n2i)",
    "RD": "risk difference: ai, bi, ci, di (or ai, n1i, ci, n2i)",
    "AS": "arcsine square-root risk difference: ai, bi, ci, di",
    "PETO": "Peto log odds ratio: ai, bi, ci, di",
    "IRR": "log incidence rate ratio: x1i, x2i, t1i, t2i",
    "IRD": "incidence rate difference: x1i, x2i, t1i, t2i",
    "MD": "mean difference: m1i, m2i, sd1i, sd2i, n1i, n2i",
    "SMD": "standardised mean difference (Hedges' g): m1i, m2i, sd1i, sd2i, n1i, n2i",
    "ROM": "log ratio of means: m1i, m2i, sd1i, sd2i, n1i, n2i",
    "COR": "raw correlation: ri, ni",
    "ZCOR": "Fisher z-transformed correlation: ri, ni",
    "PR": "raw proportion: xi, mi (or xi, ni)",
    "PLN": "log proportion: xi, mi (or xi, ni)",
    "PLO": "logit proportion: xi, mi (or xi, ni)",
    "RES": "log relative effect size of an area-based evaluation: ai, bi (experimental area before, after), "
           "ci, di (control area before, after); overdispersion",
    "RATIO-CI": "log of a reported ratio with its confidence interval: estimate, ci_low, ci_high; level",
    "RATIO-SE": "log of a reported ratio with its standard error: estimate, se; se_scale ('log' or 'natural')",
}

#: Measures of this project that metafor's escalc does not have (its zero-cell options apply to RES).
PROJECT_MEASURES = ("RES", "RATIO-CI", "RATIO-SE")


def _resolve(name: str, value, data: pd.DataFrame | None):
    """An input given as a column name of ``data`` becomes that column's values."""
    if not isinstance(value, str):
        return value
    if data is None:
        raise InputError(f"{name}={value!r} names a column, but no data frame was given (data=...)")
    if value not in data.columns:
        raise InputError(f"{name}: {value!r} is not a column (columns: {', '.join(map(str, data.columns))})")
    column = pd.to_numeric(data[value], errors="coerce")
    bad = column.isna() & data[value].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{name}: column {value!r}, row {row + 1} is not a number ({data[value].iloc[row]!r})")
    return column.to_numpy(dtype=float)


def escalc(
    measure: str,
    *,
    data: pd.DataFrame | None = None,
    ai=None,
    bi=None,
    ci=None,
    di=None,
    n1i=None,
    n2i=None,
    x1i=None,
    x2i=None,
    t1i=None,
    t2i=None,
    m1i=None,
    m2i=None,
    sd1i=None,
    sd2i=None,
    ri=None,
    ni=None,
    xi=None,
    mi=None,
    estimate=None,
    ci_low=None,
    ci_high=None,
    se=None,
    overdispersion=1.0,
    level: float = 0.95,
    se_scale: str = "log",
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    var_names: tuple[str, str] = ("yi", "vi"),
) -> pd.DataFrame:
    """Effect sizes ``yi`` and sampling variances ``vi`` as metafor's ``escalc`` computes them.

    Inputs follow metafor's names (see :data:`MEASURES`): numbers, arrays, or, with ``data``, names
    of its columns. Returns a data frame: ``data`` with the columns ``var_names`` (default yi, vi)
    added or replaced, or, without ``data``, a frame of just those two columns. The measure is kept
    in ``frame.attrs["measure"]``.

    ``add`` (default 1/2; 0 for "AS") is added to the cells chosen by ``to``: "only0" (tables with
    a zero cell), "all", "if0all" (every table if any has a zero cell) or "none". With
    ``drop00=True`` tables with no events (or only events) in both groups give NaN. ``level`` is
    the confidence level of a reported interval (RATIO-CI); ``se_scale`` says whether a reported
    standard error is on the log or the natural scale (RATIO-SE); ``overdispersion`` inflates the
    variance of RES (one factor or one per row).

    >>> es = escalc("RR", ai=[4, 6], bi=[119, 300], ci=[11, 29], di=[128, 274])
    >>> es.round(4).to_dict("list")
    {'yi': [-0.8893, -1.5854], 'vi': [0.3256, 0.1946]}
    """
    key = str(measure).upper()
    if key not in MEASURES:
        raise InputError(f"unknown measure {measure!r}; known: {', '.join(MEASURES)}")
    if to not in _ZERO_CELL_RULES:
        raise InputError(f"to must be one of {', '.join(map(repr, _ZERO_CELL_RULES))}, got {to!r}")
    if add is not None and (not np.isfinite(add) or add < 0):
        raise InputError(f"add must be a finite number >= 0, got {add}")
    if len(var_names) != 2 or var_names[0] == var_names[1]:
        raise InputError(f"var_names: two different column names, got {var_names!r}")
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, x1i=x1i, x2i=x2i, t1i=t1i, t2i=t2i, m1i=m1i,
                 m2i=m2i, sd1i=sd1i, sd2i=sd2i, ri=ri, ni=ni, xi=xi, mi=mi, estimate=estimate, ci_low=ci_low,
                 ci_high=ci_high, se=se, overdispersion=overdispersion)
    inputs = {name: _resolve(name, value, data) for name, value in given.items()}
    if key == "RES":
        yi, vi = _relative(*(_required(key, inputs, name) for name in ("ai", "bi", "ci", "di")),
                           inputs["overdispersion"], add=add, to=to, drop00=drop00)
    elif key == "RATIO-CI":
        yi, vi = log_ratio_from_ci(*(_required(key, inputs, n) for n in ("estimate", "ci_low", "ci_high")),
                                   level=level)
    elif key == "RATIO-SE":
        yi, vi = log_ratio_from_se(_required(key, inputs, "estimate"), _required(key, inputs, "se"),
                                   se_scale=se_scale)
    else:
        inputs.pop("overdispersion")
        yi, vi = _HANDLERS[key](key, **inputs, add=add, to=to, drop00=drop00, vtype=vtype)
    yi = np.atleast_1d(np.asarray(yi, dtype=float))
    vi = np.atleast_1d(np.asarray(vi, dtype=float))
    if data is not None:
        if len(data) != yi.size:
            raise InputError(f"data has {len(data)} rows but the inputs give {yi.size} effect sizes")
        frame = data.copy()
    else:
        frame = pd.DataFrame(index=pd.RangeIndex(yi.size))
    frame[var_names[0]] = yi
    frame[var_names[1]] = vi
    frame.attrs["measure"] = key
    return frame


def _required(measure: str, inputs: dict, name: str):
    if inputs.get(name) is None:
        missing = [n for n in _PROJECT_INPUTS[measure] if inputs.get(n) is None]
        raise InputError(f"escalc({measure!r}) needs {', '.join(missing)}")
    return inputs[name]


_PROJECT_INPUTS = {"RES": ("ai", "bi", "ci", "di"), "RATIO-CI": ("estimate", "ci_low", "ci_high"),
                   "RATIO-SE": ("estimate", "se")}


