"""Exact meta-regression: brute-force 3-D quadrature, the intercept-only limit, recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from research.bayes import exact_meta, exact_meta_regression, parse_prior
from research.errors import InputError


def two_group_frame(k=10, effects=(-0.3, 0.1), tau=0.1, seed=4):
    rng = np.random.default_rng(seed)
    group = np.array(["a", "b"] * (k // 2))
    vi = rng.uniform(0.01, 0.08, k)
    truth = np.where(group == "a", effects[0], effects[1]) + rng.normal(0, tau, k)
    return pd.DataFrame({"id": [f"s{i}" for i in range(k)], "yi": rng.normal(truth, np.sqrt(vi)), "vi": vi, "setting": group})


def test_matches_brute_force_quadrature_over_intercept_slope_and_tau():
    frame = two_group_frame()
    fit = exact_meta_regression(frame, ["setting"], mu_prior="normal:0,1", tau_prior="halfnormal:0.5", coef_prior="normal:0,1")
    reference = fit.reference["setting"]
    x = (frame["setting"] != reference).to_numpy(dtype=float)
    b0 = np.linspace(-1.5, 1.5, 161)
    b1 = np.linspace(-1.5, 1.5, 161)
    tau = np.linspace(0, 1.5, 301)
    B0, B1, T = np.meshgrid(b0, b1, tau, indexing="ij")
    log_post = parse_prior("normal:0,1", "mu").logpdf(B0) + parse_prior("normal:0,1", "mu").logpdf(B1) + parse_prior("halfnormal:0.5", "tau").logpdf(T)
    for y, v, xi in zip(frame["yi"], frame["vi"], x):
        s2 = v + T**2
        log_post = log_post - 0.5 * np.log(s2) - 0.5 * (y - B0 - B1 * xi) ** 2 / s2
    p = np.exp(log_post - log_post.max())
    p /= p.sum()
    slope = fit.coefficients[f"setting[{'b' if reference == 'a' else 'a'}]"]
    assert fit.mu.mean == pytest.approx(np.sum(p * B0), abs=2e-3)
    assert slope.mean == pytest.approx(np.sum(p * B1), abs=2e-3)
    assert fit.tau.mean == pytest.approx(np.sum(p * T), abs=3e-3)
    # P(new site at the other level < 0)
    other = {"setting": "b" if reference == "a" else "a"}
    brute = np.sum(p * special.ndtr(-(B0 + B1) / np.maximum(T, 1e-9)))
    assert fit.p_pred_below(0.0, other) == pytest.approx(brute, abs=3e-3)


def test_without_moderators_equals_the_random_effects_model():
    frame = two_group_frame()
    regression = exact_meta_regression(frame, [], mu_prior="normal:0,1", tau_prior="halfcauchy:0.5")
    plain = exact_meta(frame, mu_prior="normal:0,1", tau_prior="halfcauchy:0.5")
    for name in ("mean", "sd", "q025", "q975"):
        assert getattr(regression.mu, name) == pytest.approx(getattr(plain.mu, name), abs=1e-10)
        assert getattr(regression.tau, name) == pytest.approx(getattr(plain.tau, name), abs=1e-10)
    assert regression.log_evidence == pytest.approx(plain.log_evidence, abs=1e-10)


def test_recovers_a_moderator_effect():
    frame = two_group_frame(k=60, effects=(-0.4, 0.0), tau=0.05, seed=9)
    fit = exact_meta_regression(frame, ["setting"], tau_prior="halfnormal:0.5")
    difference = fit.coefficients["setting[b]"] if fit.reference["setting"] == "a" else fit.coefficients["setting[a]"]
    truth = 0.4 if fit.reference["setting"] == "a" else -0.4
    assert difference.q025 < truth < difference.q975
    assert abs(difference.mean - truth) < 0.1


def test_unreported_moderators_are_refused_by_name_unless_dropped_explicitly():
    frame = two_group_frame()
    frame.loc[2, "setting"] = None
    frame.loc[5, "setting"] = "unknown"
    with pytest.raises(InputError, match=r"2 of 10 studies do not report a moderator \(setting: s2, s5\)"):
        exact_meta_regression(frame, ["setting"])
    with pytest.raises(InputError, match="missing must be one of"):
        exact_meta_regression(frame, ["setting"], missing="impute")
    fit = exact_meta_regression(frame, ["setting"], missing="drop")
    assert fit.k == len(frame) - 2
    assert fit.dropped == ["s2", "s5"]
    assert any("s2, s5" in note for note in fit.notes)


def test_study_effects_lie_between_estimate_and_fitted_value():
    frame = two_group_frame()
    fit = exact_meta_regression(frame, ["setting"])
    effects = fit.study_effects()
    fitted = {lv: fit.predictive({"setting": lv}).mean for lv in ("a", "b")}
    for row, level in zip(effects.itertuples(), frame["setting"]):
        lo, hi = sorted([row.yi, fitted[level]])
        assert lo - 1e-9 <= row.mean <= hi + 1e-9


def test_errors():
    frame = two_group_frame()
    with pytest.raises(InputError, match="absent"):
        exact_meta_regression(frame, ["monitoring"])
    fit = exact_meta_regression(frame, ["setting"])
    with pytest.raises(InputError, match="not in the data"):
        fit.predictive({"setting": "c"})
    with pytest.raises(InputError, match="not moderators"):
        fit.predictive({"country": "KZ"})
    with pytest.raises(InputError, match="coefficient prior"):
        exact_meta_regression(frame, ["setting"], coef_prior="flat")
