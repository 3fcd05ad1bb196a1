"""The meta-analysis API beyond the metafor reference values: errors, options, invariances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.errors import ConvergenceError, InputError
from research.meta import Control, cumul, egger, leave1out, rma, selmodel, subgroup, trimfill

BCG = pd.read_csv(Path(__file__).parent / "reference" / "data" / "bcg.csv")
YI, VI = BCG["yi"].to_numpy(), BCG["vi"].to_numpy()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"yi": [0.1, np.nan, 0.3], "vi": [0.1, 0.1, 0.1]}, InputError, "yi: missing or infinite value for study 2"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.0, -0.1]}, InputError, "sampling variances must be > 0; not so for study 2, study 3"),
        ({"yi": [0.1], "vi": [0.1]}, InputError, "at least 2 studies"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.1, 0.1]}, InputError, "yi has 2 values but vi has 3"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.1], "mods": [1, 2]}, InputError, "too few studies: k = 2"),
        ({"yi": YI, "vi": VI, "mods": {"a": BCG["ablat"], "b": BCG["ablat"] * 2 + 1}}, InputError,
         "'b' is a linear combination of 'intercept', 'a'"),
        ({"yi": YI, "vi": VI, "mods": {"c": np.full(13, 4.0)}}, InputError, "'c' is constant"),
        ({"yi": YI, "vi": VI, "mods": {"a": BCG["ablat"].where(BCG.index != 5)}}, InputError,
         "moderator 'a': missing or infinite value for study 6"),
        ({"yi": YI, "vi": VI, "method": "REML", "control": Control(max_iter=1)}, ConvergenceError,
         "did not converge"),
        ({"yi": YI, "vi": VI, "tau2": -1.0}, InputError, "tau2 must be a finite value >= 0"),
        ({"yi": YI, "vi": VI, "level": 95}, InputError, "level must be between 0 and 1"),
    ],
)
def test_bad_input_raises_instead_of_returning_a_number(kwargs, error, message):
    with pytest.raises(error, match=message):
        rma(**kwargs)


def test_results_do_not_depend_on_study_order():
    order = np.random.default_rng(7).permutation(YI.size)
    for method in ("REML", "DL", "PM", "SJ"):
        a, b = rma(YI, VI, method=method).to_dict(), rma(YI[order], VI[order], method=method).to_dict()
        for key in ("estimate", "se", "tau2", "tau2_ci_low", "tau2_ci_high", "q", "i2"):
            assert a[key] == pytest.approx(b[key], rel=1e-8), (method, key)


def test_common_effect_model_is_inverse_variance_average():
    fit = rma(YI, VI, method="EE")
    w = 1 / VI
    assert fit.estimate == pytest.approx(np.sum(w * YI) / w.sum(), rel=1e-13)
    assert fit.se[0] == pytest.approx(np.sqrt(1 / w.sum()), rel=1e-13)
    assert fit.tau2 == 0 and fit.to_dict()["pi_low"] is None


def test_fixed_tau2_is_used_as_given():
    fit = rma(YI, VI, tau2=0.2)
    w = 1 / (VI + 0.2)
    assert fit.tau2 == 0.2 and fit.tau2_fixed
    assert fit.estimate == pytest.approx(np.sum(w * YI) / w.sum(), rel=1e-13)
    with pytest.raises(InputError, match="no estimated tau2"):
        fit.confint_tau2()


def test_knha_is_accepted_as_name_of_the_hksj_test():
    assert rma(YI, VI, test="knha").to_dict() == rma(YI, VI, test="hksj").to_dict()


def test_predict_with_new_moderator_values():
    fit = rma(YI, VI, mods={"ablat": BCG["ablat"]})
    pred = fit.predict({"ablat": [0.0, 50.0]})
    assert pred.pred == pytest.approx([fit.beta[0], fit.beta[0] + 50 * fit.beta[1]], rel=1e-13)
    assert np.all(pred.pi_low < pred.ci_low) and np.all(pred.ci_high < pred.pi_high)
    assert fit.predict().pred == pytest.approx(fit.fitted)
    with pytest.raises(InputError, match="no values for ablat"):
        fit.predict({"latitude": [1.0]})


def test_meta_regression_with_many_studies_fits():
    rng = np.random.default_rng(20261125)
    k = 10_000
    x = rng.normal(size=(k, 3))
    vi = rng.uniform(0.01, 0.2, size=k)
    yi = 0.2 + x @ np.array([0.1, -0.05, 0.0]) + rng.normal(0, np.sqrt(vi + 0.04))
    fit = rma(yi, vi, mods=x)
    assert fit.k == k and fit.p == 4
    assert abs(fit.beta[1] - 0.1) < 0.02 and abs(fit.tau2 - 0.04) < 0.01


def test_methods_needing_an_intercept_only_model_say_so():
    fit = rma(YI, VI, mods={"ablat": BCG["ablat"]})
    for call in (lambda: leave1out(fit), lambda: cumul(fit), lambda: trimfill(fit)):
        with pytest.raises(InputError, match="without moderators"):
            call()
    assert egger(fit).limit_estimate is None  # the test itself works with moderators


def test_selection_model_needs_studies_above_the_step():
    # all effects far above zero: every one-sided p-value is below .025, none above
    fit = rma(np.abs(YI) + 5, VI)
    with pytest.raises(InputError, match="no study has a p-value in 0.025 < p <= 1"):
        selmodel(fit, steps=(0.025,), alternative="greater")


def test_cumulative_analysis_follows_the_given_order():
    fit = rma(YI, VI, labels=BCG["label"])
    table = cumul(fit, order=BCG["year"])
    first_year = BCG.sort_values("year", kind="stable")["label"].iloc[0]
    assert table.index[0] == first_year
    assert table["estimate"].iloc[-1] == pytest.approx(fit.estimate, rel=1e-12)


def test_subgroup_errors_and_between_group_test():
    with pytest.raises(InputError, match="at least 2 studies"):
        subgroup(YI, VI, ["a"] * 12 + ["b"])
    with pytest.raises(InputError, match="at least two subgroups"):
        subgroup(YI, VI, ["a"] * 13)
    result = subgroup(YI, VI, BCG["alloc"])
    assert result.groups == ["random", "alternate", "systematic"]
    assert result.df_between == 2 and 0 <= result.p_between <= 1
    assert "Test of subgroup differences" in result.summary()


def test_every_small_study_result_prints_a_summary_with_its_numbers():
    fit = rma(np.array([0.1, 0.3, -0.2, 0.5, 0.4, 0.6, 0.05, 0.35]),
              np.array([0.01, 0.05, 0.02, 0.08, 0.06, 0.09, 0.01, 0.04]))
    egger = fit.egger()
    assert f"z = {egger.z:.4f}" in egger.summary() and f"b = {egger.limit_estimate:.4f}" in egger.summary()
    both = fit.pet_peese()
    assert f"Chosen: {both.chosen}" in both.summary()
    filled = fit.trimfill()
    assert f"on the {filled.side} side: {filled.k0}" in filled.summary()
    assert "not a corrected effect" in filled.summary()
    selection = fit.selmodel()
    text = selection.summary()
    assert "steps at p = 0.025;" in text and f"LRT({selection.lrt_df}) = {selection.lrt:.4f}" in text
    assert text.count(", k = ") == len(selection.k_per_interval)


def test_pet_peese_with_as_many_studies_as_coefficients_is_refused_not_divided_by_zero():
    fit = rma(np.array([-0.2, -0.1]), np.array([0.01, 0.02]))
    with pytest.raises(InputError, match="no degrees of freedom"):
        fit.pet_peese()
