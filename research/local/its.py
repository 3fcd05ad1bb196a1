"""Interrupted time series for a city's own event counts.

Segmented log-linear count regression:

    log E[y_t] = b0 + b1 t + b2 post_t + b3 (t - t0) post_t + seasonal terms + log(exposure_t)

with ``t`` the period number, ``t0`` the first period after the intervention, Fourier
seasonal terms with period ``season`` and ``harmonics`` pairs. ``exp(b2)`` is the level
change (rate ratio at the intervention), ``exp(b3)`` the change in trend per period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.errors import InputError
from research.local.glm import WIDTH, CountFit, check_counts, fit_counts, log_effect

_LEVEL, _SLOPE = "level_change", "slope_change"


@dataclass
class ITSResult:
    fit: CountFit
    dates: list
    t0: int
    season: int | None
    harmonics: int
    slope_change: bool
    counterfactual: np.ndarray
    level: float = 0.95

    @property
    def n_before(self) -> int:
        return self.t0

    @property
    def n_after(self) -> int:
        return self.fit.n - self.t0

    @property
    def level_change(self) -> dict[str, float]:
        """Rate ratio at the intervention (first post period vs the extrapolated trend)."""
        return self.fit.ratio({_LEVEL: 1.0}, self.level)

    @property
    def trend_change(self) -> dict[str, float] | None:
        """Multiplicative change of the trend per period after the intervention."""
        return self.fit.ratio({_SLOPE: 1.0}, self.level) if self.slope_change else None

    def effect_after(self, periods: int) -> dict[str, float]:
        """Rate ratio ``periods`` periods after the first post period (level plus trend change)."""
        weights = {_LEVEL: 1.0}
        if self.slope_change:
            weights[_SLOPE] = float(periods)
        return self.fit.ratio(weights, self.level)

    def as_effect(self, periods: int | None = None) -> dict[str, float]:
        """The effect as (yi, vi) on the log scale, positive = more events, for meta-analysis."""
        return log_effect(self.effect_after(periods) if periods is not None else self.level_change)

    def coefficients(self) -> pd.DataFrame:
        return self.fit.table(self.level)

    def to_dict(self) -> dict:
        return self.fit.report_dict(self.flag, n_before=self.n_before, n_after=self.n_after, season=self.season,
                                    harmonics=self.harmonics, level_change=self.level_change,
                                    trend_change=self.trend_change)

    @property
    def flag(self) -> str | None:
        if self.fit.overdispersed:
            return f"overdispersion {self.fit.dispersion:.2f}: Poisson intervals are too narrow; use family negbin or quasipoisson"
        return None

    def summary(self) -> str:
        lc = self.level_change
        lines = [
            f"periods before: {self.n_before}   after: {self.n_after}   season: {self.season or 'none'}"
            f"   harmonics: {self.harmonics if self.season else 0}",
            f"dispersion (Pearson chi2/df of Poisson fit): {self.fit.dispersion:.3f}" + (f"   NB alpha: {self.fit.alpha:.4f}" if self.fit.alpha is not None else ""),
            "-" * WIDTH,
            self.coefficients().to_string(float_format=lambda v: f"{v:.4f}"),
            "-" * WIDTH,
            f"level change: rate ratio {lc['ratio']:.3f} [{lc['ratio_low']:.3f}, {lc['ratio_high']:.3f}], p = {lc['p_value']:.4g}",
        ]
        if self.trend_change:
            tc = self.trend_change
            lines.append(f"trend change per period: ratio {tc['ratio']:.4f} [{tc['ratio_low']:.4f}, {tc['ratio_high']:.4f}]")
        return self.fit.report_text("Interrupted time series", lines, self.flag)


def _intervention_index(dates, intervention) -> int:
    if isinstance(intervention, (int, np.integer)) and not isinstance(intervention, bool):
        return int(intervention)  # an index into the series
    if dates is None:
        raise InputError("interrupted time series: give dates, or an integer intervention index")
    try:
        moment = pd.Timestamp(intervention)
    except (ValueError, TypeError) as exc:
        raise InputError(f"interrupted time series: intervention_date {intervention!r} is not a date") from exc
    after = np.flatnonzero(pd.DatetimeIndex(dates) >= moment)
    return int(after[0]) if after.size else len(dates)


def interrupted_time_series(
    counts,
    dates=None,
    intervention_date=None,
    family: str = "poisson",
    season: int | None = 12,
    harmonics: int = 2,
    exposure=None,
    slope_change: bool = True,
    hac_lags: int | None = None,
    level: float = 0.95,
) -> ITSResult:
    """Fit a segmented count regression to one series.

    ``dates`` are the period dates (strictly increasing; with ``season=12`` they must be
    consecutive months). ``intervention_date`` is the first date of the post period (or an
    integer index when no dates are given). ``hac_lags`` switches to Newey-West standard
    errors with that many lags.
    """
    if intervention_date is None:
        raise InputError("interrupted time series: intervention_date is required")
    labels = None
    if dates is not None:
        try:
            dates = pd.DatetimeIndex(pd.to_datetime(list(dates)))
        except (ValueError, TypeError) as exc:
            raise InputError(f"interrupted time series: dates are not readable as dates: {exc}") from exc
        if len(dates) != len(counts):
            raise InputError(f"interrupted time series: {len(counts)} counts but {len(dates)} dates")
        if not dates.is_monotonic_increasing or dates.has_duplicates:
            raise InputError("interrupted time series: dates must be strictly increasing")
        if season == 12:
            months = dates.year * 12 + dates.month
            jumps = np.flatnonzero(np.diff(months) != 1)
            if jumps.size:
                raise InputError(f"interrupted time series: monthly series has a gap or repeat after {dates[jumps[0]].date()}")
        labels = [d.date().isoformat() for d in dates]
    y = check_counts(counts, "interrupted time series", labels)
    n = y.size
    t0 = _intervention_index(dates, intervention_date)
    if t0 < 3 or n - t0 < 3:
        raise InputError(f"interrupted time series: need at least 3 periods before and after the intervention (got {t0} and {n - t0})")
    if exposure is not None:
        exposure = pd.to_numeric(pd.Series(exposure), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if exposure.size != n or not np.all(np.isfinite(exposure)) or np.any(exposure <= 0):
            raise InputError("interrupted time series: exposure must be positive numbers, one per period")
    if season is not None and season < 2:
        season = None
    t = np.arange(n, dtype=float)
    post = (t >= t0).astype(float)
    X = pd.DataFrame({"intercept": 1.0, "trend": t, _LEVEL: post})
    if slope_change:
        X[_SLOPE] = (t - t0) * post
    if season:
        for h in range(1, int(harmonics) + 1):
            X[f"sin{h}"] = np.sin(2 * np.pi * h * t / season)
            X[f"cos{h}"] = np.cos(2 * np.pi * h * t / season)
    if X.shape[1] >= n:
        raise InputError(f"interrupted time series: {n} periods are too few for {X.shape[1]} coefficients")
    cov = "hac" if hac_lags else "model"
    fit = fit_counts(y, X, family=family, exposure=exposure, cov=cov, hac_lags=hac_lags)
    no_intervention = X.copy()
    no_intervention[_LEVEL] = 0.0
    if slope_change:
        no_intervention[_SLOPE] = 0.0
    offset = 0 if exposure is None else np.log(exposure)
    counterfactual = np.exp(no_intervention.to_numpy() @ fit.params + offset)
    return ITSResult(fit, labels or list(range(n)), t0, season, int(harmonics), slope_change, counterfactual, level)
