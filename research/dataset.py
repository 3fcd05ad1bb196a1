"""From validated records to one table of effect sizes on a common scale.

Common scale: ``yi`` is the log of a ratio of events with the intervention to events without
it, so ``yi < 0`` means fewer crimes or crashes (a benefit). The CCTV reviews' relative effect
size (RES > 1 = benefit) is therefore negated. Estimates without a usable uncertainty stay in
the table with ``poolable = False`` and the reason, so nothing is silently dropped.
"""

from __future__ import annotations

import math
from operator import attrgetter
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import special

from research.effects import escalc, log_ratio_from_ci, log_ratio_from_se, relative_effect_size
from research.errors import InputError
from research.store.loader import Store, _collector_paused
from research.store.schema import EffectEstimate

COLUMNS = [
    "id", "study", "evaluation", "label", "source", "intervention", "outcome", "outcome_family", "subgroup", "arm",
    "measure",
    "estimate", "qualifier", "yi", "vi", "se", "percent_change", "ci_low_pct", "ci_high_pct", "significant",
    "design", "design_level", "rob_overall", "regression_to_mean", "setting", "country", "monitoring", "year", "n_units",
    "provenance", "derived", "poolable", "reason",
]


def _percent_to_log(pc: float) -> float:
    return math.log1p(pc / 100.0)


# Raw counts of an estimate -> escalc's arguments, per measure. Row 1 (a, b) is the group with the
# intervention, row 2 (c, d) the group without: events and non-events for RR and OR (metafor's ai, bi,
# ci, di), events and exposure (e.g. site-years) for IRR (x1i, t1i, x2i, t2i).
COUNT_LAYOUTS: dict[str, tuple[str, str, str, str]] = {
    "RR": ("ai", "bi", "ci", "di"),
    "OR": ("ai", "bi", "ci", "di"),
    "IRR": ("x1i", "t1i", "x2i", "t2i"),
}


_RATIO_ROUTE = ("RR", "OR", "IRR", "CMF", "ratio_after_before", "RES")
_Z95 = 1.959963984540054


def _fields(records: list, names: tuple[str, ...]) -> dict[str, list]:
    """Columns of some fields of the records, read in one pass."""
    return {name: list(map(attrgetter(name), records)) for name in names}


def _floats(values: list) -> np.ndarray:
    """A column of optional numbers as floats, NaN where not given."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


class _Routes:
    """The common-scale effect of every estimate, computed one route at a time on whole columns.

    ``yi``/``vi`` hold the numbers where ``has_yi``/``has_vi`` say one was computed (a computed NaN
    or infinity is kept, to be reported); ``reason`` says why one is missing; ``error`` holds the
    message of an estimate whose numbers cannot be used at all (reported for the first one)."""

    def __init__(self, estimates: list[EffectEstimate]):
        n = len(estimates)
        self.estimates = estimates
        self.yi = np.full(n, np.nan)
        self.vi = np.full(n, np.nan)
        self.has_yi = np.zeros(n, dtype=bool)
        self.has_vi = np.zeros(n, dtype=bool)
        self.reason = np.full(n, "", dtype=object)
        self.error: dict[int, str] = {}

    def set(self, rows: np.ndarray, yi, vi=None, reason: str = "") -> None:
        if rows.size == 0:
            return
        if yi is not None:
            self.yi[rows] = yi
            self.has_yi[rows] = True
        if vi is not None:
            self.vi[rows] = vi
            self.has_vi[rows] = True
        self.reason[rows] = reason

    def apply(self, rows: np.ndarray, compute: Callable[..., tuple], *columns: np.ndarray,
              sign: float = 1.0, factor: np.ndarray | None = None,
              variance: Callable[..., np.ndarray] | None = None) -> None:
        """``compute(*columns)`` on all ``rows`` at once; when it refuses the batch, row by row, so
        that each estimate that cannot be used gets its own message (as a one-row call gives it).
        ``variance(*columns)``, when given, replaces the variance ``compute`` returns."""
        if rows.size == 0:
            return
        args = [column[rows] for column in columns]
        factor = None if factor is None else factor[rows]
        good = np.ones(rows.size, dtype=bool)
        try:
            yi, vi = compute(*args)
        except InputError:
            yi, vi = np.full(rows.size, np.nan), np.full(rows.size, np.nan)
            for k, row in enumerate(rows):
                try:
                    yi[k], vi[k] = (np.asarray(v, dtype=float).reshape(-1)[0]
                                    for v in compute(*(arg[k:k + 1] for arg in args)))
                except InputError as exc:
                    self.error[int(row)] = f"estimate '{self.estimates[row].id}': {exc}"
                    good[k] = False
            rows, yi, vi = rows[good], yi[good], vi[good]
            if factor is not None:
                factor = factor[good]
        yi = np.asarray(yi, dtype=float)
        vi = np.asarray(vi, dtype=float) if variance is None else variance(*(arg[good] for arg in args))
        if factor is not None:
            vi = vi * factor
        self.set(rows, sign * yi if sign != 1.0 else yi, vi)


def _squared(se: np.ndarray) -> np.ndarray:
    """``se ** 2`` as a single estimate's call squares a numpy scalar (libm's pow), which can differ
    in the last bit from an array's ``se * se``: the table keeps the per-estimate values exactly."""
    return np.array([value ** 2 for value in se.tolist()], dtype=float)


def _ci_variance(level: float) -> Callable[..., np.ndarray]:
    """The variance log_ratio_from_ci gives one estimate: ((log high - log low) / (2 z)) ** 2."""
    z = special.ndtri(0.5 + level / 2)
    return lambda estimate, low, high: _squared((np.log(high) - np.log(low)) / (2 * z))


def _natural_se_variance(estimate: np.ndarray, se: np.ndarray) -> np.ndarray:
    """The variance log_ratio_from_se(..., "natural") gives one estimate: (se / estimate) ** 2."""
    return _squared(se / estimate)


def _log_effects(estimates: list[EffectEstimate]) -> _Routes:
    """(yi, vi, reason) of every estimate on the common scale, by route:

    counts (RR, OR, IRR through escalc; partial counts give a reason unless a ratio is reported),
    RES from counts, RES derived from an experimental and a control arm, a reported ratio with its
    standard error, with its confidence interval or with neither, a percent change with or without
    its interval, and no usable number. A ratio reported with its uncertainty is preferred to the
    counts (it may be adjusted, the counts are crude)."""
    out = _Routes(estimates)
    if not estimates:
        return out
    column = _fields(estimates, ("measure", "a", "b", "c", "d", "estimate", "se", "ci_low", "ci_high", "ci_level",
                                 "se_scale", "overdispersion", "derived_from"))
    measure = np.array(column["measure"], dtype=object)
    a, b, c, d = (_floats(column[name]) for name in "abcd")
    estimate, se, ci_low, ci_high = (_floats(column[name]) for name in ("estimate", "se", "ci_low", "ci_high"))
    level = np.array(column["ci_level"], dtype=float)
    se_scale = np.array(column["se_scale"], dtype=object)
    factor = np.array([v or 1.0 for v in column["overdispersion"]], dtype=float)
    n_derived = np.fromiter(map(len, column["derived_from"]), dtype=int, count=len(estimates))

    given = [~np.isnan(x) for x in (a, b, c, d)]
    any_count = given[0] | given[1] | given[2] | given[3]
    all_counts = given[0] & given[1] & given[2] & given[3]
    has_est, has_se, has_ci = ~np.isnan(estimate), ~np.isnan(se), ~np.isnan(ci_low)

    def rows(mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask)

    # Counts: RR, OR, IRR with counts, unless the record reports its own ratio with an uncertainty.
    counts_route = np.isin(measure, list(COUNT_LAYOUTS)) & any_count & ~(has_est & (has_se | has_ci))
    full = counts_route & all_counts
    for name, layout in COUNT_LAYOUTS.items():
        def from_counts(a_, b_, c_, d_, _name=name, _layout=layout):
            frame = escalc(_name, **dict(zip(_layout, (a_, b_, c_, d_))))
            return frame["yi"].to_numpy(), frame["vi"].to_numpy()
        out.apply(rows(full & (measure == name)), from_counts, a, b, c, d, factor=factor)
    incomplete = counts_route & ~all_counts & ~has_est  # with a reported ratio, that ratio is used below
    for i in rows(incomplete):
        missing = ", ".join(name for name, ok in zip("abcd", (g[i] for g in given)) if not ok)
        out.set(np.array([i]), None, None, f"counts incomplete: {missing} missing")
    rest = ~(full | incomplete)

    is_res = measure == "RES"
    res_counts = rest & is_res & all_counts
    out.apply(rows(res_counts), relative_effect_size, a, b, c, d, factor, sign=-1.0)
    res_derived = rest & is_res & ~all_counts & (n_derived == 2)
    rest &= ~(res_counts | res_derived)

    ratio = rest & np.isin(measure, _RATIO_ROUTE) & has_est
    sign = np.where(is_res, -1.0, 1.0)
    for scale in ("log", "natural"):
        for s in (1.0, -1.0):
            out.apply(rows(ratio & has_se & (se_scale == scale) & (sign == s)),
                      lambda e, v, _scale=scale: log_ratio_from_se(e, v, _scale), estimate, se, sign=s,
                      variance=_natural_se_variance if scale == "natural" else None)
    with_ci = ratio & ~has_se & has_ci
    for lev in np.unique(level[with_ci]):
        for s in (1.0, -1.0):
            out.apply(rows(with_ci & (level == lev) & (sign == s)),
                      lambda e, lo, hi, _lev=float(lev): log_ratio_from_ci(e, lo, hi, _lev), estimate, ci_low,
                      ci_high, sign=s, variance=_ci_variance(float(lev)))
    bare = rows(ratio & ~has_se & ~has_ci)
    out.set(bare, [sign[i] * math.log(estimate[i]) for i in bare], None,
            "no standard error or confidence interval reported")

    percent = rest & (measure == "percent_change") & has_est
    pc_ci = percent & has_ci
    ratios = [1 + x / 100.0 for x in (estimate, ci_low, ci_high)]
    for lev in np.unique(level[pc_ci]):
        out.apply(rows(pc_ci & (level == lev)),
                  lambda e, lo, hi, _lev=float(lev): log_ratio_from_ci(e, lo, hi, level=_lev), *ratios,
                  variance=_ci_variance(float(lev)))
    pc_bare = rows(percent & ~has_ci)
    out.set(pc_bare, [_percent_to_log(estimate[i]) for i in pc_bare], None,
            "no standard error or confidence interval reported")

    nothing = rows(rest & ~ratio & ~percent)
    out.reason[nothing] = np.where(measure[nothing] == "narrative", "narrative statement only", "no number reported")

    _derived_res(out, rows(res_derived))
    return out


def _derived_res(out: _Routes, derived: np.ndarray) -> None:
    """RES of estimates derived from an experimental and a control arm: log(E after/before) -
    log(C after/before), negative = relatively fewer events with the intervention. An arm that is
    derived itself is resolved first (derivations neither loop nor chain deeply: the store checks)."""
    if derived.size == 0:
        return
    position = {e.id: i for i, e in enumerate(out.estimates)}
    arms = {int(i): [position[arm] for arm in out.estimates[i].derived_from] for i in derived}
    pending = set(arms)
    while pending:
        ready = [i for i in sorted(pending) if not any(arm in pending for arm in arms[i])]
        if not ready:  # a loop the store check would have refused: leave those estimates unusable
            for i in pending:
                out.reason[i] = "an arm it is derived from has no usable uncertainty"
            return
        usable = []
        for i in ready:
            pending.discard(i)
            failed = next((arm for arm in arms[i] if arm in out.error), None)
            if failed is not None:
                out.error[i] = f"estimate '{out.estimates[i].id}': {out.error[failed]}"
            elif all(out.has_yi[arm] and out.has_vi[arm] for arm in arms[i]):
                usable.append(i)
            else:
                out.reason[i] = "an arm it is derived from has no usable uncertainty"
        if usable:
            idx = np.array(usable)
            experimental = np.array([arms[i][0] for i in usable])
            control = np.array([arms[i][1] for i in usable])
            out.set(idx, out.yi[experimental] - out.yi[control], out.vi[experimental] + out.vi[control])


def _percent(yi: np.ndarray) -> np.ndarray:
    """100 (e^yi - 1), with math.expm1 (numpy's expm1 can differ in the last bit)."""
    return np.array([100.0 * math.expm1(value) for value in yi.tolist()], dtype=float)


def effect_table(store: Store) -> pd.DataFrame:
    """One row per effect estimate in the store, with study design and risk of bias joined in."""
    with _collector_paused():  # many small objects, no cycles: the cyclic collector would only rescan the store
        return _effect_table(store)


def _effect_table(store: Store) -> pd.DataFrame:
    estimates = list(store["estimates"])
    studies = {s.id: s for s in store["studies"]}
    rob = {r.study: r for r in store["risk_of_bias"]}
    effects = _log_effects(estimates)
    yi, vi, has_yi, has_vi = effects.yi, effects.vi, effects.has_yi, effects.has_vi
    bad = (has_yi & ~np.isfinite(yi)) | (has_vi & ~np.isfinite(vi))
    if effects.error or bad.any():
        first = min(list(effects.error) + np.flatnonzero(bad).tolist())
        if first in effects.error:
            raise InputError(effects.error[first])
        est = estimates[first]
        fields = "a, b, c, d" if est.a is not None else "estimate, ci_low, ci_high, se"
        raise InputError(f"{store.origin.get(est.id, 'estimates')}: record '{est.id}': fields {fields}: "
                         "these numbers give no finite effect size (too extreme to compute)")
    est = _fields(estimates, ("id", "study", "evaluation", "source", "outcome", "outcome_family", "subgroup", "arm",
                              "measure", "estimate", "qualifier", "significant", "provenance", "derived_from"))
    # Study and risk of bias joined in: their fields once per study, then taken by position.
    study_list = list(studies.values())
    position = {study_id: k for k, study_id in enumerate(studies)}
    taken = np.array([position[study_id] for study_id in est["study"]], dtype=np.intp)
    study = _fields(study_list, ("id", "title", "intervention", "design", "setting", "country", "monitoring", "year",
                                 "n_units"))
    bias_of = [rob.get(s.id) for s in study_list]
    study["design_level"] = [b.design_level if b else None for b in bias_of]
    study["rob_overall"] = [b.overall if b else "unclear" for b in bias_of]
    study["regression_to_mean"] = [b.regression_to_mean if b else None for b in bias_of]

    def joined(name: str) -> list:
        values = np.empty(len(study_list), dtype=object)
        values[:] = study[name]
        return values[taken].tolist()

    both = has_yi & has_vi
    with np.errstate(invalid="ignore"):
        se = np.where(has_vi, np.sqrt(np.where(has_vi, vi, 0.0)), np.nan)
        half = _Z95 * se
        percent = np.where(has_yi, _percent(np.where(has_yi, yi, 0.0)), np.nan)
        ci_low = np.where(both, _percent(np.where(both, yi - half, 0.0)), np.nan)
        ci_high = np.where(both, _percent(np.where(both, yi + half, 0.0)), np.nan)
    arm = est["arm"]
    reasons = [reason if reason else ("a single arm, not a comparison" if a else "")
               for reason, a in zip(effects.reason.tolist(), arm)]
    study_ids = joined("id")
    columns = {
        "id": est["id"],
        "study": study_ids,
        "evaluation": [e or s for e, s in zip(est["evaluation"], study_ids)],
        "label": joined("title"),
        "source": est["source"],
        "intervention": joined("intervention"),
        "outcome": est["outcome"],
        "outcome_family": est["outcome_family"],
        "subgroup": est["subgroup"],
        "arm": arm,
        "measure": est["measure"],
        "estimate": _floats(est["estimate"]),
        "qualifier": est["qualifier"],
        "yi": np.where(has_yi, yi, np.nan),
        "vi": np.where(has_vi, vi, np.nan),
        "se": se,
        "percent_change": percent,
        "ci_low_pct": ci_low,
        "ci_high_pct": ci_high,
        "significant": est["significant"],
        **{name: joined(name) for name in ("design", "design_level", "rob_overall", "regression_to_mean", "setting",
                                           "country", "monitoring", "year", "n_units")},
        "provenance": est["provenance"],
        "derived": [bool(v) for v in est["derived_from"]],
        "poolable": (both & np.array([a is None for a in arm], dtype=bool)).tolist(),
        "reason": reasons,
    }
    frame = pd.DataFrame(columns if estimates else [], columns=COLUMNS)  # empty: object columns, as rows give
    for name in ("yi", "vi", "se", "estimate", "percent_change", "ci_low_pct", "ci_high_pct"):
        frame[name] = frame[name].astype(float)
    frame["design_level"] = frame["design_level"].astype("Int64")
    for name in ("poolable", "derived"):  # an empty store must still give boolean masks, not column lists
        frame[name] = frame[name].astype(bool)
    return frame


def select(frame: pd.DataFrame, where: str | None) -> pd.DataFrame:
    """Rows of the effect table matching a filter (see ``research.store.filter``; no SQL is run)."""
    if not where:
        return frame
    from research.store.filter import FilterError, parse_filter

    try:
        parsed = parse_filter(where, frame.columns)
        # rows as dicts of only the columns the filter reads: the same values, a fraction of the work
        mask = parsed.mask(frame[list(parsed.columns)].to_dict("records"))
    except FilterError as exc:
        raise InputError(f"analysis filter {where!r} is not valid: {exc}") from exc
    return frame[pd.Series(mask, index=frame.index, dtype=bool)].reset_index(drop=True)


def as_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame["yi"].to_numpy(dtype=float, copy=True), frame["vi"].to_numpy(dtype=float, copy=True)
