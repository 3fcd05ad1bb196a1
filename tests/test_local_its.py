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


# -- defaults for short, autocorrelated and seasonal series (simulated test data) ----------------------

def autocorrelated_series(seed, n=48, t0=24, rho=0.6, sd=0.13, base=100.0):
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    x[0] = rng.normal(0, sd)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + rng.normal(0, sd * math.sqrt(1 - rho**2))
    t = np.arange(n)
    return rng.poisson(np.exp(math.log(base) + 0.005 * t + x + math.log(0.8) * (t >= t0) + 0.2 * np.sin(2 * np.pi * t / 12)))


def seasonal_series(seed, n=48, base=60.0):
    t = np.arange(n)
    return np.random.default_rng(seed).poisson(base * np.exp(0.3 * np.sin(2 * np.pi * t / 12) + 0.15 * np.cos(2 * np.pi * t / 12)))


def test_ten_months_are_refused():
    dates = pd.date_range("2020-01-01", periods=10, freq="MS")
    for season in (12, None):
        with pytest.raises(InputError, match="needed in each segment"):
            interrupted_time_series(np.full(10, 30), dates, dates[5], season=season)


def test_seasonal_terms_need_two_full_cycles():
    dates = pd.date_range("2020-01-01", periods=18, freq="MS")
    with pytest.raises(InputError, match="two full seasonal cycles"):
        interrupted_time_series(seasonal_series(0, n=18), dates, dates[9])


def test_too_many_coefficients_are_refused_and_near_saturation_is_flagged():
    dates = pd.date_range("2015-01-01", periods=26, freq="MS")
    with pytest.raises(InputError, match="too few for 16 coefficients"):
        interrupted_time_series(seasonal_series(1, n=26), dates, dates[13], harmonics=6)
    dates = pd.date_range("2015-01-01", periods=30, freq="MS")
    crowded = interrupted_time_series(seasonal_series(1, n=30), dates, dates[15])
    assert "close to saturated" in crowded.flag


def test_seasonal_series_shows_no_spurious_level_change():
    dates = pd.date_range("2015-01-01", periods=48, freq="MS")
    default = [interrupted_time_series(seasonal_series(s), dates, dates[24]).level_change for s in range(20)]
    assert sum(c["ratio_low"] <= 1.0 <= c["ratio_high"] for c in default) >= 18
    # Without the seasonal terms the same series show a level change that is not there.
    bare = [interrupted_time_series(seasonal_series(s), dates, dates[24], season=None, autocorrelation="none").level_change
            for s in range(20)]
    assert sum(c["ratio_low"] <= 1.0 <= c["ratio_high"] for c in bare) <= 14


def test_default_models_autocorrelation_and_reports_the_test():
    y = autocorrelated_series(4)
    fit = interrupted_time_series(y, DATES[:48], DATES[24])
    assert fit.fit.family == "quasipoisson" and fit.fit.cov_type == "AR(1)+noise" and fit.autocorrelation == "ar1"
    assert fit.fit.df == 48 - 8 - 2 and fit.level_change["df"] == 38
    out = fit.to_dict()
    assert set(out["autocorrelation_test"]) >= {"statistic", "order", "p_value", "lag1"}
    assert out["rho"] is not None and out["remaining_autocorrelation"] is not None
    independent = interrupted_time_series(y, DATES[:48], DATES[24], autocorrelation="none")
    assert fit.level_change["se"] > independent.level_change["se"]
    assert "Breusch-Godfrey" in fit.summary()


def test_the_pretest_switches_to_correlated_errors_only_when_it_rejects():
    strong = autocorrelated_series(5, rho=0.9, sd=0.3)
    tested = interrupted_time_series(strong, DATES[:48], DATES[24], autocorrelation="test")
    assert tested.autocorrelation_test["p_value"] < 0.05 and tested.fit.cov_type == "AR(1)+noise"
    flat = np.random.default_rng(6).poisson(rates(level=0.8)[:48])
    plain = interrupted_time_series(flat, DATES[:48], DATES[24], autocorrelation="test")
    if plain.autocorrelation_test["p_value"] >= 0.05:
        assert plain.fit.cov_type == "nonrobust" and plain.autocorrelation == "test"
    ignored = interrupted_time_series(strong, DATES[:48], DATES[24], autocorrelation="none")
    assert "autocorrelated" in ignored.flag


def test_unknown_autocorrelation_option_is_refused():
    with pytest.raises(InputError, match="autocorrelation must be one of"):
        interrupted_time_series(np.full(N, 30), DATES, DATES[T0], autocorrelation="gls")


@pytest.mark.slow
def test_default_covers_the_level_change_of_an_autocorrelated_series():
    hits = 0
    for seed in range(100):
        change = interrupted_time_series(autocorrelated_series(100 + seed), DATES[:48], DATES[24]).level_change
        hits += change["ratio_low"] <= 0.8 <= change["ratio_high"]
    assert hits >= 85  # Poisson with model-based errors covers about 60 of 100 here
