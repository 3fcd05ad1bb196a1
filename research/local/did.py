"""Difference-in-differences for counts: treated vs control units, before vs after.

Panel form: log E[y_ut] = a_u + g_t + d * treated_u * post_t (+ log exposure), a count
regression with unit and period fixed effects; ``exp(d)`` is the rate ratio of the change
in treated units relative to control units (< 1 = fewer events). With a single 2x2
table of totals this reduces to ``did_from_counts``, the relative effect size of the
CCTV reviews inverted: log((b/a)/(d/c)) with variance 1/a + 1/b + 1/c + 1/d.

Standard errors are clustered by unit, always, with the CR2 small-sample correction and
Bell-McCaffrey degrees of freedom (t intervals), which keep close to nominal coverage with
a dozen units where plain clustered errors do not. When treated units start at different
times (staggered adoption), two-way fixed effects compare later-treated units with
already-treated ones and are biased when effects change over time; the estimate is then
a stacked design instead: one sub-panel per adoption cohort with the never-treated units
as the only controls, each with its own unit and period effects (Cengiz et al. 2019).
Without never-treated units a staggered panel is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from research.errors import InputError
from research.local.glm import CountFit, check_counts, fit_counts, log_effect

_EFFECT = "treated_x_post"
COVARIANCES = ("cr2", "cluster", "model")
# Clustered errors need at least this many treated and this many control units.
MIN_UNITS_PER_ARM = 2


def did_from_counts(before_treated, after_treated, before_control, after_control, overdispersion: float = 1.0, level: float = 0.95) -> dict:
    """Log rate ratio of the treated change relative to the control change, from four totals.

    Positive = more events; the variance is 1/a + 1/b + 1/c + 1/d (Poisson), multiplied by
    ``overdispersion`` when the counts vary more than Poisson.
    """
    counts = {"before_treated": before_treated, "after_treated": after_treated, "before_control": before_control, "after_control": after_control}
    for name, value in counts.items():
        if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value) and value > 0):
            raise InputError(f"difference in differences: {name} must be a positive count, got {value!r}")
    if not overdispersion >= 1:
        raise InputError("difference in differences: overdispersion must be >= 1")
    a, b, c, d = (float(v) for v in counts.values())
    yi = math.log((b / a) / (d / c))
    vi = (1 / a + 1 / b + 1 / c + 1 / d) * overdispersion
    z = stats.norm.ppf(0.5 + level / 2)
    se = math.sqrt(vi)
    return {"yi": yi, "vi": vi, "ratio": math.exp(yi), "ratio_low": math.exp(yi - z * se), "ratio_high": math.exp(yi + z * se)}


@dataclass
class DiDResult:
    fit: CountFit
    n_units: int
    n_treated: int
    n_periods: int
    pretrend: dict | None
    level: float = 0.95
    design: str = "two-way fixed effects"
    cohorts: dict | None = None  # adoption period -> number of units, for a staggered panel

    @property
    def effect(self) -> dict[str, float]:
        return self.fit.ratio({_EFFECT: 1.0}, self.level)

    def as_effect(self) -> dict[str, float]:
        """(yi, vi) on the log scale, positive = more events, for meta-analysis."""
        return log_effect(self.effect)

    @property
    def flag(self) -> str | None:
        problems = []
        if self.fit.cov_type == "nonrobust":
            problems.append("standard errors not clustered by unit: intervals ignore correlation within units")
            if self.fit.overdispersed:
                problems.append(f"overdispersion {self.fit.dispersion:.2f}: use family negbin or quasipoisson")
        if self.pretrend is not None and self.pretrend["p_value"] < 0.05:
            problems.append(f"treated and control trends differ before the intervention (p = {self.pretrend['p_value']:.3g})")
        return "; ".join(problems) or None

    def to_dict(self) -> dict:
        return self.fit.report_dict(self.flag, n_units=self.n_units, n_treated=self.n_treated, n_periods=self.n_periods,
                                    effect=self.effect, pretrend=self.pretrend, design=self.design,
                                    cohorts=self.cohorts)

    def summary(self) -> str:
        e = self.effect
        df = e.get("df")
        lines = [
            f"units: {self.n_units} ({self.n_treated} treated)   periods: {self.n_periods}   dispersion: {self.fit.dispersion:.3f}",
            f"design: {self.design}" + (" (adoption cohorts: " + ", ".join(f"{k}: {v} units" for k, v in self.cohorts.items()) + ")" if self.cohorts else "")
            + (f"   t with {df:.1f} df" if df else ""),
            f"effect: rate ratio {e['ratio']:.3f} [{e['ratio_low']:.3f}, {e['ratio_high']:.3f}], log {e['log_estimate']:.4f} (se {e['se']:.4f}), p = {e['p_value']:.4g}",
        ]
        if self.pretrend is not None:
            p = self.pretrend
            lines.append(f"pre-period trend difference (treated - control) per period: {p['log_estimate']:.4f} (se {p['se']:.4f}), p = {p['p_value']:.3g}")
        else:
            lines.append("pre-period trend check: not possible (fewer than 3 pre-periods)")
        return self.fit.report_text("Difference in differences", lines, self.flag)


def _indicator(series: pd.Series, name: str) -> np.ndarray:
    values = series.map(lambda v: v if isinstance(v, (bool, np.bool_)) else (str(v).strip().lower() in {"1", "true", "yes", "1.0"} if pd.notna(v) else None))
    if values.isna().any():
        raise InputError(f"difference in differences: column {name} has missing values")
    return values.astype(bool).to_numpy()


def _fixed_effects(frame: pd.DataFrame, unit: str, time: str) -> pd.DataFrame:
    units = pd.get_dummies(frame[unit].astype(str), prefix="unit", drop_first=True, dtype=float)
    periods = pd.get_dummies(frame[time].astype(str), prefix="time", drop_first=True, dtype=float)
    if "_stack" in frame:
        # Each stack's unit effects already span its own level: drop one period per further stack.
        firsts = frame.groupby("_stack")[time].first().astype(str)
        periods = periods.drop(columns=[f"time_{t}" for t in firsts if f"time_{t}" in periods.columns])
    return pd.concat([pd.DataFrame({"intercept": np.ones(len(frame))}, index=frame.index), units, periods], axis=1)


def difference_in_differences(
    data: pd.DataFrame,
    outcome: str = "count",
    unit: str = "unit",
    time: str = "time",
    treated: str = "treated",
    post: str | None = "post",
    intervention_time=None,
    exposure: str | None = None,
    family: str = "poisson",
    cov: str = "cr2",
    level: float = 0.95,
    staggered: str = "stack",
) -> DiDResult:
    """Count regression with unit and period fixed effects and a treated-by-post effect.

    Give ``post`` (a 0/1 column; with staggered adoption it marks each treated unit's own
    post periods) or ``intervention_time`` (periods >= it are post). ``cov``: "cr2"
    (default; "auto" is the same), "cluster" (CR1, t with G - 1 df) or "model" (not
    clustered, flagged). ``staggered``: "stack" (default) or "refuse". Periods must sort
    in time order.
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError("difference in differences: data must be a DataFrame")
    cov = "cr2" if cov == "auto" else cov
    if cov not in COVARIANCES:
        raise InputError(f"difference in differences: cov must be one of {', '.join(COVARIANCES)} (or auto), got {cov!r}")
    if staggered not in ("stack", "refuse"):
        raise InputError(f"difference in differences: staggered must be 'stack' or 'refuse', got {staggered!r}")
    needed = [outcome, unit, time, treated] + ([exposure] if exposure else []) + ([post] if intervention_time is None else [])
    missing = [c for c in needed if c is not None and c not in data.columns]
    if missing:
        raise InputError(f"difference in differences: missing column(s) {', '.join(missing)}")
    frame = data.reset_index(drop=True).copy()
    y = check_counts(frame[outcome], "difference in differences", [f"{u}/{t}" for u, t in zip(frame[unit], frame[time])])
    treated_flag = _indicator(frame[treated], treated)
    by_unit = pd.Series(treated_flag).groupby(frame[unit].to_numpy()).nunique()
    if (by_unit > 1).any():
        raise InputError(f"difference in differences: unit {by_unit[by_unit > 1].index[0]} is both treated and control")
    if intervention_time is not None:
        post_flag = (frame[time] >= intervention_time).to_numpy()
    else:
        post_flag = _indicator(frame[post], post)
    if treated_flag.all() or not treated_flag.any():
        raise InputError("difference in differences: need both treated and control units")
    if post_flag.all() or not post_flag.any():
        raise InputError("difference in differences: need both pre and post periods")
    expo = None
    if exposure:
        expo = pd.to_numeric(frame[exposure], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if not np.all(np.isfinite(expo)) or np.any(expo <= 0):
            raise InputError(f"difference in differences: column {exposure} must be positive numbers")
    n_units = int(frame[unit].nunique())
    n_treated = int(frame.loc[treated_flag, unit].nunique())
    if cov != "model" and min(n_treated, n_units - n_treated) < MIN_UNITS_PER_ARM:
        raise InputError(
            f"difference in differences: {n_treated} treated and {n_units - n_treated} control units; errors "
            f"clustered by unit need at least {MIN_UNITS_PER_ARM} of each (cov='model' ignores the clustering)")
    adoption = _adoption_times(frame, unit, time, treated_flag, post_flag)
    design, cohorts = "two-way fixed effects", None
    groups = frame[unit].astype(str).to_numpy()
    if len(set(adoption.values())) > 1:
        cohorts = {str(k): int(v) for k, v in pd.Series(adoption).value_counts().sort_index().items()}
        never = frame.loc[~treated_flag, unit].nunique()
        reason = (f"treated units start in different periods ({', '.join(cohorts)}): two-way fixed effects would "
                  "compare later-treated units with already-treated ones")
        if staggered == "refuse":
            raise InputError(f"difference in differences: {reason}; use staggered='stack'")
        if never < MIN_UNITS_PER_ARM:
            raise InputError(f"difference in differences: {reason}, and a stacked design needs at least "
                             f"{MIN_UNITS_PER_ARM} never-treated units (got {never})")
        frame, y, expo, treated_flag, post_flag, groups = _stack(frame, y, expo, unit, time, treated_flag, adoption)
        design = "stacked by adoption cohort, never-treated controls"
    X = _fixed_effects(frame, unit, time)
    X[_EFFECT] = (treated_flag & post_flag).astype(float)
    fit = fit_counts(y, X, family=family, exposure=expo, cov=cov, groups=groups if cov != "model" else None)

    # Pre-trend check on the pre-period only: does the treated group's trend differ?
    pretrend = None
    pre = ~post_flag
    order = {p: i for i, p in enumerate(sorted(data[time].unique()))}
    position_all = frame["_period"].map(order) if "_period" in frame else frame[time].map(order)
    if pd.Series(position_all[pre]).nunique() >= 3:
        sub = frame.loc[pre].reset_index(drop=True)
        Xp = _fixed_effects(sub, unit, time)
        Xp["treated_x_trend"] = treated_flag[pre].astype(float) * position_all[pre].to_numpy(dtype=float)
        pre_fit = fit_counts(y[pre], Xp, family=family, exposure=None if expo is None else expo[pre], cov=cov,
                             groups=groups[pre] if cov != "model" else None)
        pretrend = pre_fit.combination({"treated_x_trend": 1.0}, level)
    return DiDResult(fit, n_units, n_treated, int(data[time].nunique()), pretrend, level, design, cohorts)


def _adoption_times(frame, unit, time, treated_flag, post_flag) -> dict:
    """First treated period of each treated unit; a unit whose treatment switches off is refused."""
    adoption = {}
    on = treated_flag & post_flag
    for name, rows in frame.groupby(unit, sort=False).groups.items():
        rows = np.asarray(rows)
        if not treated_flag[rows[0]]:
            continue
        ordered = rows[np.argsort(frame.loc[rows, time].to_numpy(), kind="stable")]
        switch = on[ordered]
        if not switch.any():
            raise InputError(f"difference in differences: treated unit {name} has no post period")
        first = int(np.argmax(switch))
        if not switch[first:].all():
            raise InputError(f"difference in differences: unit {name} is treated, then untreated again; "
                             "treatment must stay on once it starts")
        if first == 0:
            raise InputError(f"difference in differences: treated unit {name} has no period before its treatment")
        adoption[name] = frame.loc[ordered[first], time]
    return adoption


def _stack(frame, y, expo, unit, time, treated_flag, adoption):
    """One sub-panel per adoption cohort: its units and the never-treated units, with stack-specific labels."""
    never = ~treated_flag
    pieces, counts, exposures, treated_parts, post_parts, group_parts = [], [], [], [], [], []
    units = frame[unit].to_numpy()
    for start in sorted(set(adoption.values())):
        cohort = np.array([adoption.get(u) == start for u in units]) & treated_flag
        rows = np.flatnonzero(cohort | never)
        piece = frame.iloc[rows].copy()
        piece["_period"] = piece[time]
        piece["_stack"] = str(start)
        piece[unit] = [f"{start}|{u}" for u in piece[unit]]
        piece[time] = [f"{start}|{t}" for t in piece["_period"]]
        pieces.append(piece)
        counts.append(y[rows])
        exposures.append(None if expo is None else expo[rows])
        treated_parts.append(cohort[rows])
        post_parts.append((frame[time].iloc[rows] >= start).to_numpy())
        group_parts.append(units[rows].astype(str))
    stacked = pd.concat(pieces, ignore_index=True)
    return (stacked, np.concatenate(counts), None if expo is None else np.concatenate(exposures),
            np.concatenate(treated_parts), np.concatenate(post_parts), np.concatenate(group_parts))
