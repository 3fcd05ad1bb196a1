"""Difference in differences for counts: recovery, the 2x2 identity, the pre-trend check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from research.errors import InputError
from research.local import did_from_counts, difference_in_differences


def panel(effect=0.7, units=30, periods=8, start=5, pretrend=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(units):
        treated = u < units // 2
        level = rng.normal(0, 0.3)
        for p in range(periods):
            log_rate = math.log(20) + level + 0.03 * p + (pretrend * p if treated else 0.0)
            if treated and p >= start:
                log_rate += math.log(effect)
            rows.append({"unit": f"u{u}", "time": p, "treated": treated, "post": p >= start, "count": rng.poisson(math.exp(log_rate))})
    return pd.DataFrame(rows)


def test_recovers_the_effect_with_cluster_robust_errors():
    fit = difference_in_differences(panel())
    effect = fit.effect
    assert fit.fit.cov_type == "CR2"
    assert effect["ratio_low"] < 0.7 < effect["ratio_high"]
    assert fit.n_units == 30 and fit.n_treated == 15 and fit.n_periods == 8
    assert fit.flag is None


def test_intervals_cover_at_about_the_nominal_rate():
    hits = sum(
        (lambda e: e["ratio_low"] <= 0.8 <= e["ratio_high"])(difference_in_differences(panel(effect=0.8, seed=s), cov="model").effect)
        for s in range(60)
    )
    assert hits / 60 >= 0.85


def test_aggregated_two_by_two_equals_the_count_formula():
    data = panel(seed=3)
    totals = data.groupby(["treated", "post"], as_index=False)["count"].sum()
    totals["unit"] = np.where(totals["treated"], "T", "C")
    totals["time"] = totals["post"].astype(int)
    fit = difference_in_differences(totals, cov="model")
    t = totals.set_index(["treated", "post"])["count"]
    direct = did_from_counts(t[(True, False)], t[(True, True)], t[(False, False)], t[(False, True)])
    assert fit.as_effect()["yi"] == pytest.approx(direct["yi"], abs=1e-8)
    assert fit.as_effect()["vi"] == pytest.approx(direct["vi"], rel=1e-6)


def test_count_formula_is_the_inverse_of_the_reviews_relative_effect_size():
    a, b, c, d = 120, 90, 300, 310
    result = did_from_counts(a, b, c, d, overdispersion=2.0)
    res = (a * d) / (b * c)  # Farrington et al.: > 1 = fewer crimes
    assert result["ratio"] == pytest.approx(1 / res)
    assert result["vi"] == pytest.approx(2.0 * (1 / a + 1 / b + 1 / c + 1 / d))


def test_pre_trend_check_detects_diverging_trends():
    diverging = difference_in_differences(panel(pretrend=0.2, seed=4))
    assert diverging.pretrend["p_value"] < 0.01
    assert "trends differ" in diverging.flag
    parallel = difference_in_differences(panel(seed=4))
    assert parallel.pretrend["p_value"] > 0.01


def test_intervention_time_instead_of_a_post_column():
    data = panel(seed=6).drop(columns="post")
    fit = difference_in_differences(data, post=None, intervention_time=5)
    reference = difference_in_differences(panel(seed=6))
    assert fit.effect["log_estimate"] == pytest.approx(reference.effect["log_estimate"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.assign(treated=True), "both treated and control"),
        (lambda d: d.assign(post=False), "pre and post"),
        (lambda d: d.drop(columns="count"), "missing column"),
        (lambda d: d.assign(count=d["count"].astype(float).where(d.index != 3, 2.5)), "u0/3"),
        (lambda d: d.assign(treated=np.where(d.index == 0, ~d["treated"], d["treated"])), "both treated and control"),
    ],
)
def test_bad_panels(change, message):
    with pytest.raises(InputError, match=message):
        difference_in_differences(change(panel()))


def test_bad_counts_for_the_formula():
    with pytest.raises(InputError, match="after_control"):
        did_from_counts(10, 12, 30, 0)


# -- clustered errors for few units, staggered adoption (simulated test data) --------------------------

def correlated_panel(units, seed, effect=0.8, periods=8, start=4, rho=0.8, sd=0.3):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(units):
        treated = u < units // 2
        level, shock = rng.normal(0, 0.3), rng.normal(0, sd)
        for p in range(periods):
            if p:
                shock = rho * shock + rng.normal(0, sd * math.sqrt(1 - rho**2))
            log_rate = math.log(20) + level + 0.03 * p + shock + (math.log(effect) if treated and p >= start else 0.0)
            rows.append({"unit": f"u{u}", "time": p, "treated": treated, "post": p >= start, "count": rng.poisson(math.exp(log_rate))})
    return pd.DataFrame(rows)


def test_twelve_units_use_the_small_sample_correction():
    fit = difference_in_differences(correlated_panel(12, 1))
    effect = fit.effect
    assert fit.fit.cov_type == "CR2" and fit.flag is None or "trends differ" in (fit.flag or "")
    assert 1.0 < effect["df"] < 11.0  # Bell-McCaffrey degrees of freedom, below G - 1
    crude = difference_in_differences(correlated_panel(12, 1), cov="model")
    assert effect["se"] > crude.effect["se"]
    assert "not clustered" in crude.flag
    assert "t with" in fit.summary()


def test_clustering_needs_two_treated_and_two_control_units():
    data = correlated_panel(12, 2)
    one_treated = data[(~data["treated"]) | (data["unit"] == "u0")]
    with pytest.raises(InputError, match="at least 2 of each"):
        difference_in_differences(one_treated)


def staggered(seed=0, units=30, periods=10, never_treated=True):
    """Three cohorts (never, from period 4, from period 7); the effect grows with time since the start."""
    rng = np.random.default_rng(seed)
    starts = [None, 4, 7] if never_treated else [4, 7]
    rows = []
    for u in range(units):
        start = starts[u % len(starts)]
        level = rng.normal(0, 0.3)
        for p in range(periods):
            on = start is not None and p >= start
            effect = math.log(0.9) - 0.08 * (p - start) if on else 0.0
            rows.append({"unit": f"u{u}", "time": p, "treated": start is not None, "post": on,
                         "count": rng.poisson(math.exp(math.log(200) + level + 0.02 * p + effect))})
    return pd.DataFrame(rows)


def test_staggered_adoption_is_not_fed_to_two_way_fixed_effects():
    data = staggered()
    fit = difference_in_differences(data)
    assert fit.design.startswith("stacked") and fit.cohorts == {"4": 10, "7": 10}
    # The average effect on the treated over their post periods is about log 0.78 = -0.25;
    # two-way fixed effects on the same panel land near -0.20, pulled by already-treated controls.
    from research.local.did import _EFFECT, _fixed_effects
    from research.local.glm import fit_counts

    X = _fixed_effects(data, "unit", "time")
    X[_EFFECT] = (data["treated"] & data["post"]).astype(float).to_numpy()
    twfe = fit_counts(data["count"].to_numpy(), X, cov="model")
    assert abs(fit.effect["log_estimate"] - (-0.25)) < abs(twfe.params[twfe.index(_EFFECT)] - (-0.25))
    assert fit.effect["ci_low"] < -0.25 < fit.effect["ci_high"]
    assert fit.to_dict()["design"].startswith("stacked")


def test_staggered_adoption_refused_on_request_or_without_never_treated_units():
    with pytest.raises(InputError, match="start in different periods"):
        difference_in_differences(staggered(), staggered="refuse")
    one_control = staggered(never_treated=False).assign(treated=lambda d: d["unit"] != "u0")
    one_control = one_control.assign(post=one_control["post"] & one_control["treated"])
    with pytest.raises(InputError, match="at least 2 of each"):
        difference_in_differences(one_control)
    with pytest.raises(InputError, match="never-treated"):  # even when clustering is waived
        difference_in_differences(one_control, cov="model")


def test_treatment_that_switches_off_is_refused():
    data = staggered()
    data.loc[(data["unit"] == "u1") & (data["time"] == 9), "post"] = False
    with pytest.raises(InputError, match="untreated again"):
        difference_in_differences(data)


@pytest.mark.slow
def test_default_covers_with_twelve_units():
    hits = sum(
        (lambda e: e["ratio_low"] <= 0.8 <= e["ratio_high"])(difference_in_differences(correlated_panel(12, 50 + s)).effect)
        for s in range(80)
    )
    assert hits / 80 >= 0.88
