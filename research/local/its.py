"""Interrupted time series for a city's own event counts.

Segmented log-linear count regression:

    log E[y_t] = b0 + b1 t + b2 post_t + b3 (t - t0) post_t + seasonal terms + log(exposure_t)

with ``t`` the period number, ``t0`` the first period after the intervention, Fourier
seasonal terms with period ``season`` and ``harmonics`` pairs. ``exp(b2)`` is the level
change (rate ratio at the intervention), ``exp(b3)`` the change in trend per period.

Defaults follow what a short monthly series can support: quasi-Poisson counts; errors
correlated over time (a latent AR(1) process plus count noise, fitted by REML, with t
intervals), because a test for autocorrelation in 24 + 24 months has little power and
intervals that trust it undercover; a Breusch-Godfrey test of the residuals is reported.
A series is refused when a segment has fewer than ``MIN_SEGMENT`` periods, when seasonal
terms are asked for with fewer than two full cycles, or when too few periods are left
per coefficient.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.errors import InputError
from research.local.glm import (
    WIDTH,
    CountFit,
    breusch_godfrey,
    breusch_godfrey_whitened,
    check_counts,
    fit_ar1,
    fit_counts,
    log_effect,
)

_LEVEL, _SLOPE = "level_change", "slope_change"
# Periods needed before and after the intervention (a common minimum for segmented regression).
MIN_SEGMENT = 8
# Residual degrees of freedom needed after the coefficients and the two correlation parameters.
MIN_RESIDUAL_DF = 10
# Fewer periods than this per coefficient is flagged: the fit is close to saturated.
PERIODS_PER_COEFFICIENT = 5
AUTOCORRELATION = ("ar1", "test", "hac", "none")
# Level of the autocorrelation test.
TEST_LEVEL = 0.05


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
    autocorrelation: str = "ar1"
    autocorrelation_test: dict | None = None  # Breusch-Godfrey on the residuals of the independence fit
    remaining_autocorrelation: dict | None = None  # the same test after modelling the correlation

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
                                    harmonics=self.harmonics if self.season else 0, level_change=self.level_change,
                                    trend_change=self.trend_change, autocorrelation=self.autocorrelation,
                                    autocorrelation_test=self.autocorrelation_test,
                                    remaining_autocorrelation=self.remaining_autocorrelation, rho=self.fit.rho,
                                    coefficients=len(self.fit.names))

    @property
    def flag(self) -> str | None:
        problems = []
        if self.fit.overdispersed and self.fit.cov_type == "nonrobust":
            problems.append(f"overdispersion {self.fit.dispersion:.2f}: Poisson intervals are too narrow; use family negbin or quasipoisson")
        test = self.autocorrelation_test
        if self.autocorrelation == "none" and test and test["p_value"] < TEST_LEVEL:
            problems.append(f"residuals are autocorrelated (Breusch-Godfrey p = {test['p_value']:.3g}): intervals are too narrow")
        left = self.remaining_autocorrelation
        if left and left["p_value"] < TEST_LEVEL:
            problems.append(f"autocorrelation remains after modelling it (Breusch-Godfrey p = {left['p_value']:.3g})")
        p = len(self.fit.names)
        if self.fit.n < PERIODS_PER_COEFFICIENT * p:
            problems.append(f"{self.fit.n} periods for {p} coefficients: the model is close to saturated")
        return "; ".join(problems) or None

    def summary(self) -> str:
        lc = self.level_change
        lines = [
            f"periods before: {self.n_before}   after: {self.n_after}   season: {self.season or 'none'}"
            f"   harmonics: {self.harmonics if self.season else 0}",
            f"dispersion (Pearson chi2/df of Poisson fit): {self.fit.dispersion:.3f}" + (f"   NB alpha: {self.fit.alpha:.4f}" if self.fit.alpha is not None else ""),
            self._autocorrelation_line(),
            "-" * WIDTH,
            self.coefficients().to_string(float_format=lambda v: f"{v:.4f}"),
            "-" * WIDTH,
            f"level change: rate ratio {lc['ratio']:.3f} [{lc['ratio_low']:.3f}, {lc['ratio_high']:.3f}], p = {lc['p_value']:.4g}",
        ]
        if self.trend_change:
            tc = self.trend_change
            lines.append(f"trend change per period: ratio {tc['ratio']:.4f} [{tc['ratio_low']:.4f}, {tc['ratio_high']:.4f}]")
        return self.fit.report_text("Interrupted time series", lines, self.flag)


    def _autocorrelation_line(self) -> str:
        test = self.autocorrelation_test
        text = (f"autocorrelation: Breusch-Godfrey (order {test['order']}) p = {test['p_value']:.3g}, lag-1 "
                f"{test['lag1']:.2f}" if test else "autocorrelation: not tested")
        return text + f"   errors: {self.fit.cov_type}" + (f", t with {self.fit.df:.0f} df" if self.fit.df else "")


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
    family: str = "quasipoisson",
    season: int | None = 12,
    harmonics: int = 2,
    exposure=None,
    slope_change: bool = True,
    hac_lags: int | None = None,
    level: float = 0.95,
    autocorrelation: str = "ar1",
) -> ITSResult:
    """Fit a segmented count regression to one series.

    ``dates`` are the period dates (strictly increasing; with ``season=12`` they must be
    consecutive months). ``intervention_date`` is the first date of the post period (or an
    integer index when no dates are given). ``season=None`` asserts there is no seasonal
    pattern; otherwise the series needs at least two full cycles.

    ``autocorrelation``: "ar1" (default) models errors correlated over time; "test" does so
    only when a Breusch-Godfrey test rejects independence at 5% (this pre-test has little
    power in short series and its intervals undercover, see benchmarks/bench_local_coverage.py);
    "hac" uses Newey-West standard errors (``hac_lags`` lags; giving ``hac_lags`` implies
    it); "none" trusts independence and flags the fit if the test rejects.
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
    if hac_lags:
        autocorrelation = "hac"
    if autocorrelation not in AUTOCORRELATION:
        raise InputError(f"interrupted time series: autocorrelation must be one of {', '.join(AUTOCORRELATION)}, got {autocorrelation!r}")
    y = check_counts(counts, "interrupted time series", labels)
    n = y.size
    t0 = _intervention_index(dates, intervention_date)
    if t0 < MIN_SEGMENT or n - t0 < MIN_SEGMENT:
        raise InputError(
            f"interrupted time series: {t0} periods before and {n - t0} after the intervention; at least "
            f"{MIN_SEGMENT} are needed in each segment to estimate a level and a trend")
    if exposure is not None:
        exposure = pd.to_numeric(pd.Series(exposure), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if exposure.size != n or not np.all(np.isfinite(exposure)) or np.any(exposure <= 0):
            raise InputError("interrupted time series: exposure must be positive numbers, one per period")
    if season is not None and season < 2:
        season = None
    if season and n < 2 * season:
        raise InputError(
            f"interrupted time series: {n} periods are fewer than two full seasonal cycles ({2 * season}); seasonal "
            "terms could not be told apart from the intervention. Give a longer series, or season=None (--season 0) "
            "only if the counts have no seasonal pattern")
    t = np.arange(n, dtype=float)
    post = (t >= t0).astype(float)
    X = pd.DataFrame({"intercept": 1.0, "trend": t, _LEVEL: post})
    if slope_change:
        X[_SLOPE] = (t - t0) * post
    if season:
        for h in range(1, int(harmonics) + 1):
            X[f"sin{h}"] = np.sin(2 * np.pi * h * t / season)
            X[f"cos{h}"] = np.cos(2 * np.pi * h * t / season)
    needed = X.shape[1] + 2 + MIN_RESIDUAL_DF
    if n < needed:
        raise InputError(
            f"interrupted time series: {n} periods are too few for {X.shape[1]} coefficients; at least {needed} are "
            "needed (fewer harmonics, no slope change or a longer series)")
    independent = fit_counts(y, X, family=family, exposure=exposure, cov="model")
    # First order has the most power against the AR(1) alternative; the check after
    # modelling the correlation looks further back for what AR(1) misses.
    test = breusch_godfrey(independent, y, X, 1)
    order = min(12, max(2, (n - X.shape[1]) // 4))
    remaining = None
    use_ar = autocorrelation == "ar1" or (autocorrelation == "test" and test["p_value"] < TEST_LEVEL)
    if use_ar:
        fit = fit_ar1(y, X, independent, exposure=exposure)
        remaining = breusch_godfrey_whitened(fit, y, X, order)
    elif autocorrelation == "hac":
        fit = fit_counts(y, X, family=family, exposure=exposure, cov="hac", hac_lags=hac_lags or _default_lags(n))
    else:
        fit = independent
        if family == "quasipoisson" or fit.family == "negbin":
            fit.df = float(n - X.shape[1])
    no_intervention = X.copy()
    no_intervention[_LEVEL] = 0.0
    if slope_change:
        no_intervention[_SLOPE] = 0.0
    offset = 0 if exposure is None else np.log(exposure)
    counterfactual = np.exp(no_intervention.to_numpy() @ fit.params + offset)
    return ITSResult(fit, labels or list(range(n)), t0, season, int(harmonics), slope_change, counterfactual, level,
                     "ar1" if use_ar else autocorrelation, test, remaining)


def _default_lags(n: int) -> int:
    """Newey-West's rule of thumb for the number of lags."""
    return max(1, int(math.floor(4 * (n / 100) ** (2 / 9))))
