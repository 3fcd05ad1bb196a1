"""MCMC models (nutpie): agreement with the exact path, diagnostics, cache, and what each model is for.

Small models and short runs; each model structure is compiled once per process.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from research.bayes import BiasClass, exact_meta, exact_meta_regression, mcmc_meta, transport
from research.errors import InputError
from research.pipeline.bayesian import mcmc_row
from research.results import McmcFit
from tests.test_results import undeclared
from tests.test_bayes_transport import moderated_frame

pytestmark = pytest.mark.slow


def effects(k, mu, tau, seed, vi_range=(0.01, 0.08)):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(*vi_range, k)
    return pd.DataFrame({"id": [f"s{i}" for i in range(k)], "yi": rng.normal(rng.normal(mu, tau, k), np.sqrt(vi)), "vi": vi})


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fits")


@pytest.fixture(scope="module")
def frame():
    return effects(8, -0.2, 0.15, seed=3)


@pytest.fixture(scope="module")
def fit(frame, cache):
    return mcmc_meta(frame, "random_effects", {"mu": "normal:0,1", "tau": "halfnormal:0.5"}, draws=1500, tune=1000, chains=2, seed=1, cache_dir=cache)


def test_mcmc_agrees_with_exact_within_monte_carlo_error(frame, fit):
    exact = exact_meta(frame, mu_prior="normal:0,1", tau_prior="halfnormal:0.5")
    assert fit.diagnostics.ok, fit.diagnostics.problems
    mcse = fit.mcse
    for name in ("mu", "tau"):
        sampled, truth = getattr(fit, name), getattr(exact, name)
        assert abs(sampled.mean - truth.mean) < 4 * mcse[f"{name}_mean"] + 1e-3
        assert abs(sampled.q025 - truth.q025) < 4 * mcse[f"{name}_q025"] + 1e-3
        assert abs(sampled.q975 - truth.q975) < 4 * mcse[f"{name}_q975"] + 1e-3
    ess = fit.diagnostics.ess_bulk_min
    p = exact.p_mu_below(0.0)
    assert abs(fit.p_mu_below(0.0) - p) < 4 * math.sqrt(p * (1 - p) / ess) + 1e-3
    pred, pred_exact = fit.predictive(), exact.predictive()
    assert abs(pred.q975 - pred_exact.q975) < 4 * pred_exact.sd / math.sqrt(ess)
    assert abs(fit.p_pred_below(0.0) - exact.p_pred_below(0.0)) < 4 * math.sqrt(p * (1 - p) / ess) + 1e-3


def test_every_output_carries_diagnostics(fit):
    out = fit.to_dict()
    assert set(out["diagnostics"]) >= {"rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "ok"}
    assert out["flag"] is None
    assert "R-hat" in fit.summary()
    assert set(out["mu"]) >= {"mean", "sd", "q025", "q975"} and set(out["predictive"]) >= {"mean", "q025", "q975"}
    row = mcmc_row(fit)  # as results.json stores it
    typed = McmcFit.model_validate(row)
    assert undeclared(typed) == [] and typed.to_dict() == row
    assert (typed.sampler.draws, typed.sampler.chains, typed.priors.tau) == (1500, 2, "halfnormal:0.5")


def test_fits_are_cached_by_data_model_priors_and_settings(frame, fit, cache):
    again = mcmc_meta(frame, "random_effects", {"mu": "normal:0,1", "tau": "halfnormal:0.5"}, draws=1500, tune=1000, chains=2, seed=1, cache_dir=cache)
    assert again.from_cache and again.cache_key == fit.cache_key
    assert again.mu.mean == fit.mu.mean and again.tau.q975 == fit.tau.q975
    other_seed = mcmc_meta(frame, "random_effects", {"mu": "normal:0,1", "tau": "halfnormal:0.5"}, draws=1500, tune=1000, chains=2, seed=2, cache_dir=cache)
    assert not other_seed.from_cache and other_seed.cache_key != fit.cache_key
    shifted = frame.assign(yi=frame["yi"] + 0.01)
    assert mcmc_meta(shifted, "random_effects", draws=50, tune=50, seed=1, cache_dir=None).cache_key != fit.cache_key


def test_a_cache_hit_needs_no_compiled_model(frame, fit, cache, monkeypatch):
    import research.bayes.mcmc as mcmc

    def no_compiling(*_args):
        raise AssertionError("a cached fit must not compile the model")

    monkeypatch.setattr(mcmc, "_compiled", no_compiling)
    again = mcmc_meta(frame, "random_effects", {"mu": "normal:0,1", "tau": "halfnormal:0.5"}, draws=1500, tune=1000, chains=2, seed=1, cache_dir=cache)
    assert again.from_cache and again.mu.mean == fit.mu.mean


def test_a_failing_fit_is_flagged_everywhere(frame):
    short = mcmc_meta(frame, "random_effects", draws=20, tune=10, chains=2, seed=1, cache_dir=None)
    assert not short.diagnostics.ok
    assert short.flag and short.flag.startswith("UNRELIABLE")
    assert short.to_dict()["flag"] == short.flag
    assert short.flag in short.summary()
    single = mcmc_meta(frame, "random_effects", draws=200, tune=200, chains=1, seed=1, cache_dir=None)
    assert "one chain" in single.flag


def test_robust_model_resists_an_outlier():
    frame = effects(10, -0.2, 0.05, seed=8, vi_range=(0.005, 0.02))
    frame.loc[len(frame)] = {"id": "outlier", "yi": 1.5, "vi": 0.005}
    normal = mcmc_meta(frame, "random_effects", draws=1000, tune=1000, seed=4, cache_dir=None)
    robust = mcmc_meta(frame, "robust", draws=1000, tune=1000, seed=4, cache_dir=None)
    assert robust.mu.mean < normal.mu.mean - 0.05
    assert abs(robust.mu.median - (-0.2)) < abs(normal.mu.median - (-0.2))
    assert robust.nu is not None and robust.to_dict()["nu"]["median"] > 0


def test_bias_adjustment_removes_the_bias_of_weaker_designs():
    rng = np.random.default_rng(12)
    k = 12
    design = np.array(["controlled_before_after", "before_after_no_control"] * (k // 2))
    vi = rng.uniform(0.005, 0.02, k)
    truth = rng.normal(0.0, 0.05, k) + np.where(design == "before_after_no_control", -0.4, 0.0)
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(k)], "yi": rng.normal(truth, np.sqrt(vi)), "vi": vi, "design": design})
    naive = mcmc_meta(frame, "random_effects", draws=1000, tune=1000, seed=5, cache_dir=None)
    adjusted = mcmc_meta(frame, "bias_adjusted", draws=1000, tune=1000, seed=5, cache_dir=None)
    assert adjusted.bias["uncontrolled"].mean < -0.2
    assert adjusted.mu.mean > naive.mu.mean + 0.1
    assert adjusted.mu.q025 < 0.0 < adjusted.mu.q975
    notes = " ".join(adjusted.design.notes)
    assert "uncontrolled: 6 studies" in notes and "regression_to_mean: no studies" in notes
    assert any("unbiased" in text for text in transport(adjusted).assumptions)


def test_bias_classes_follow_their_rules():
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "yi": [0.0] * 4, "vi": [0.1] * 4,
                          "design_level": [2, 3, 4, None], "rtm_risk": ["yes", "no", True, None], "rob_overall": ["high", "low", None, "high"]})
    rtm = BiasClass("rtm", (("rtm_risk", (True,)),), -0.1, 0.1)
    weak = BiasClass("weak", (("design_level", (1, 2)), ("rob_overall", ("high",))), 0.0, 0.2)
    assert rtm.members(frame).tolist() == [True, False, True, False]
    assert weak.members(frame).tolist() == [True, False, False, True]


@pytest.fixture(scope="module")
def moderated():
    return moderated_frame()


def test_meta_regression_agrees_with_the_exact_regression(moderated):
    sampled = mcmc_meta(moderated, "meta_regression", draws=1500, tune=1000, seed=6, cache_dir=None)
    exact = exact_meta_regression(moderated, ["setting", "monitoring"])
    ess = sampled.diagnostics.ess_bulk_min
    for name, marginal in exact.coefficients.items():
        assert abs(sampled.coefficients[name].mean - marginal.mean) < 4 * marginal.sd / math.sqrt(ess) + 1e-3
    target = {"setting": "car_park"}
    unknown = {"monitoring": {"active": 0.5, "passive": 0.5}}
    a, b = transport(sampled, target, unknown), transport(exact, target, unknown)
    assert abs(a.p_benefit - b.p_benefit) < 0.02
    assert a.breakdown["probability"].sum() == pytest.approx(1.0)


def test_meta_regression_keeps_studies_with_unreported_moderators(moderated):
    frame = moderated.copy()
    frame.loc[[1, 6], "monitoring"] = None
    sampled = mcmc_meta(frame, "meta_regression", draws=800, tune=800, seed=7, cache_dir=None)
    assert sampled.k == len(frame)
    assert any("2 studies without a value" in note for note in sampled.design.notes)
    # The level probabilities learn from the 14 studies that report monitoring (7 active, 7 passive).
    share = sampled.draws("p_monitoring").mean(axis=0)
    assert np.allclose(share, [0.5, 0.5], atol=0.15)
    with pytest.raises(InputError, match="neither known"):
        transport(sampled, {"setting": "car_park"})
