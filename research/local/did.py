"""Difference-in-differences for counts: treated vs control units, before vs after.

Panel form: log E[y_ut] = a_u + g_t + d * treated_u * post_t (+ log exposure), a count
regression with unit and period fixed effects; ``exp(d)`` is the rate ratio of the change
in treated units relative to control units (< 1 = fewer events). With a single 2x2
table of totals this reduces to ``did_from_counts``, the relative effect size of the
CCTV reviews inverted: log((b/a)/(d/c)) with variance 1/a + 1/b + 1/c + 1/d.
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
# Cluster-robust standard errors need enough clusters; below this, use model-based ones.
MIN_CLUSTERS = 20


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

    @property
    def effect(self) -> dict[str, float]:
        return self.fit.ratio({_EFFECT: 1.0}, self.level)

    def as_effect(self) -> dict[str, float]:
        """(yi, vi) on the log scale, positive = more events, for meta-analysis."""
        return log_effect(self.effect)

    @property
    def flag(self) -> str | None:
        problems = []
        if self.fit.overdispersed:
            problems.append(f"overdispersion {self.fit.dispersion:.2f}: use family negbin or quasipoisson")
        if self.pretrend is not None and self.pretrend["p_value"] < 0.05:
            problems.append(f"treated and control trends differ before the intervention (p = {self.pretrend['p_value']:.3g})")
        return "; ".join(problems) or None

    def to_dict(self) -> dict:
        return self.fit.report_dict(self.flag, n_units=self.n_units, n_treated=self.n_treated, n_periods=self.n_periods,
                                    effect=self.effect, pretrend=self.pretrend)

    def summary(self) -> str:
        e = self.effect
        lines = [
            f"units: {self.n_units} ({self.n_treated} treated)   periods: {self.n_periods}   dispersion: {self.fit.dispersion:.3f}",
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
    cov: str = "auto",
    level: float = 0.95,
) -> DiDResult:
    """Two-way fixed-effects count regression with a treated-by-post effect.

    Give ``post`` (a 0/1 column) or ``intervention_time`` (periods >= it are post).
    ``cov="auto"`` clusters by unit when there are at least ``MIN_CLUSTERS`` units and
    otherwise uses model-based standard errors. Periods must sort in time order.
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError("difference in differences: data must be a DataFrame")
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
    X = _fixed_effects(frame, unit, time)
    X[_EFFECT] = (treated_flag & post_flag).astype(float)
    expo = None
    if exposure:
        expo = pd.to_numeric(frame[exposure], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if not np.all(np.isfinite(expo)) or np.any(expo <= 0):
            raise InputError(f"difference in differences: column {exposure} must be positive numbers")
    n_units = int(frame[unit].nunique())
    if cov == "auto":
        cov = "cluster" if n_units >= MIN_CLUSTERS else "model"
    fit = fit_counts(y, X, family=family, exposure=expo, cov=cov, groups=frame[unit] if cov == "cluster" else None)

    # Pre-trend check on the pre-period only: does the treated group's trend differ?
    pretrend = None
    pre = ~post_flag
    periods = sorted(frame.loc[pre, time].unique())
    if len(periods) >= 3:
        sub = frame.loc[pre].reset_index(drop=True)
        Xp = _fixed_effects(sub, unit, time)
        position = sub[time].map({p: i for i, p in enumerate(periods)}).to_numpy(dtype=float)
        Xp["treated_x_trend"] = treated_flag[pre].astype(float) * position
        pre_fit = fit_counts(y[pre], Xp, family=family, exposure=None if expo is None else expo[pre], cov=cov,
                             groups=sub[unit] if cov == "cluster" else None)
        pretrend = pre_fit.combination({"treated_x_trend": 1.0}, level)
    return DiDResult(fit, n_units, int(frame.loc[treated_flag, unit].nunique()), int(frame[time].nunique()), pretrend, level)
