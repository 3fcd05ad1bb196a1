"""Interrupted time series: recovering known effects from simulated monthly counts (independent errors
unless a test says otherwise), the defaults for autocorrelated and seasonal series, and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from research.errors import InputError
from research.local import interrupted_time_series

N, T0 = 60, 36
DATES = pd.date_range("2015-01-01", periods=N, freq="MS")


def rates(level=0.8, slope=0.0, base=50.0, trend=0.004, season=0.25):
    t = np.arange(N)
    post = t >= T0
    return np.exp(np.log(base) + trend * t + math.log(level) * post + slope * (t - T0) * post + season * np.sin(2 * np.pi * t / 12))


def test_recovers_a_level_change():
    counts = np.random.default_rng(0).poisson(rates(level=0.75))
    fit = interrupted_time_series(counts, DATES, DATES[T0], family="poisson", slope_change=False, autocorrelation="none")
    change = fit.level_change
    assert change["ratio_low"] < 0.75 < change["ratio_high"]
    assert abs(change["log_estimate"] - math.log(0.75)) < 0.1
    assert fit.n_before == T0 and fit.n_after == N - T0
    assert fit.as_effect()["yi"] < 0  # fewer events is negative on the analysis scale


def test_poisson_intervals_cover_the_truth_at_about_the_nominal_rate():
    mean = rates(level=0.8)
    hits, estimates = 0, []
    for seed in range(120):
        fit = interrupted_time_series(np.random.default_rng(seed).poisson(mean), DATES, DATES[T0], family="poisson", slope_change=False, autocorrelation="none")
        change = fit.level_change
        hits += change["ratio_low"] <= 0.8 <= change["ratio_high"]
        estimates.append(change["log_estimate"])
    assert 0.88 <= hits / 120 <= 1.0
    assert abs(np.mean(estimates) - math.log(0.8)) < 0.02


def test_recovers_a_trend_change():
    counts = np.random.default_rng(3).poisson(rates(level=1.0, slope=-0.02, base=200))
    fit = interrupted_time_series(counts, DATES, DATES[T0], family="poisson", autocorrelation="none")
    trend = fit.trend_change
    assert trend["ratio_low"] < math.exp(-0.02) < trend["ratio_high"]
    late = fit.effect_after(23)
    assert late["ratio_low"] < math.exp(-0.02 * 23) < late["ratio_high"]


def gamma_poisson(mean, alpha, seed):
    rng = np.random.default_rng(seed)
    return rng.poisson(mean * rng.gamma(1 / alpha, alpha, mean.size))


def test_negative_binomial_handles_overdispersion():
    mean = rates(level=0.8, base=80)
    poisson_hits = negbin_hits = 0
    alphas = []
    for seed in range(60):
        counts = gamma_poisson(mean, 0.05, seed)
        poisson = interrupted_time_series(counts, DATES, DATES[T0], family="poisson", slope_change=False, autocorrelation="none")
        negbin = interrupted_time_series(counts, DATES, DATES[T0], family="negbin", slope_change=False, autocorrelation="none")
        poisson_hits += poisson.level_change["ratio_low"] <= 0.8 <= poisson.level_change["ratio_high"]
        negbin_hits += negbin.level_change["ratio_low"] <= 0.8 <= negbin.level_change["ratio_high"]
        if negbin.fit.alpha is not None:
            alphas.append(negbin.fit.alpha)
        if seed == 0:
            assert poisson.flag and "overdispersion" in poisson.flag
    assert negbin_hits / 60 >= 0.85
    assert poisson_hits < negbin_hits  # Poisson intervals are too narrow here
    assert 0.02 < np.median(alphas) < 0.1


def test_quasipoisson_and_hac_widen_intervals_under_overdispersion():
    counts = gamma_poisson(rates(base=80), 0.05, 1)
    plain = interrupted_time_series(counts, DATES, DATES[T0], family="poisson", slope_change=False, autocorrelation="none").level_change
    quasi = interrupted_time_series(counts, DATES, DATES[T0], family="quasipoisson", slope_change=False, autocorrelation="none").level_change
    assert quasi["log_estimate"] == pytest.approx(plain["log_estimate"])
    assert quasi["se"] > plain["se"]
    hac = interrupted_time_series(counts, DATES, DATES[T0], family="poisson", slope_change=False, hac_lags=3)
    assert hac.fit.cov_type == "HAC" and hac.level_change["se"] != plain["se"]


def test_exposure_is_an_offset():
    # Twice the days after the intervention and twice the counts: no change in the rate.
    exposure = np.where(np.arange(N) >= T0, 2.0, 1.0)
    counts = np.random.default_rng(5).poisson(rates(level=1.0) * exposure)
    fit = interrupted_time_series(counts, DATES, DATES[T0], family="poisson", exposure=exposure, slope_change=False)
    assert fit.level_change["ratio_low"] < 1.0 < fit.level_change["ratio_high"]
    assert fit.counterfactual.shape == (N,)


def test_poisson_data_under_negbin_falls_back_to_poisson():
    counts = np.random.default_rng(7).poisson(rates())
    fit = interrupted_time_series(counts, DATES, DATES[T0], family="negbin")
    assert fit.fit.family in ("negbin", "poisson")
    if fit.fit.family == "poisson":
        assert "Poisson model used" in fit.summary()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dates": DATES.delete(10)}, "counts but"),
        ({"counts": np.append(np.ones(N - 1), -1)}, "not a non-negative whole number"),
        ({"intervention_date": DATES[1]}, "needed in each segment"),
        ({"intervention_date": "2030-01-01"}, "needed in each segment"),
        ({"intervention_date": "not a date"}, "not a date"),
        ({"dates": DATES[::-1]}, "strictly increasing"),
    ],
)
def test_bad_series(kwargs, message):
    args = {"counts": np.ones(N), "dates": DATES, "intervention_date": DATES[T0]} | kwargs
    with pytest.raises(InputError, match=message):
        interrupted_time_series(args["counts"], args["dates"], args["intervention_date"])


def test_monthly_series_with_a_gap_is_refused():
    dates = DATES.delete(20).append(pd.DatetimeIndex(["2020-01-01"]))
    with pytest.raises(InputError, match="gap"):
        interrupted_time_series(np.ones(N), dates, DATES[T0])
