"""Exact random-effects posterior: checked against brute-force 2-D quadrature and conjugate limits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from research.bayes import exact_meta, parse_prior
from research.errors import InputError


def simulated(k=7, mu=-0.2, tau=0.15, seed=11):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.12, k)
    yi = rng.normal(rng.normal(mu, tau, k), np.sqrt(vi))
    return yi, vi


def brute_force(yi, vi, mu_prior, tau_prior, mu_range=(-3, 3), tau_max=3.0, n_mu=1601, n_tau=1601):
    """Joint posterior on a dense (mu, tau) grid from the likelihood with theta integrated out;
    nothing from the exact module is used."""
    mu = np.linspace(*mu_range, n_mu)
    tau = np.linspace(0.0, tau_max, n_tau)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    log_post = parse_prior(mu_prior, "mu").logpdf(M) + parse_prior(tau_prior, "tau").logpdf(T)
    for y, v in zip(yi, vi):
        s2 = v + T**2
        log_post = log_post - 0.5 * np.log(2 * np.pi * s2) - 0.5 * (y - M) ** 2 / s2
    peak = log_post[np.isfinite(log_post)].max()
    dens = np.exp(log_post - peak)
    cell = (mu[1] - mu[0]) * (tau[1] - tau[0])
    w_mu, w_tau = np.ones(n_mu), np.ones(n_tau)
    w_mu[[0, -1]] = w_tau[[0, -1]] = 0.5  # trapezoid
    weights = dens * np.outer(w_mu, w_tau)
    total = weights.sum()
    p = weights / total
    mu_mean = np.sum(p * M)
    tau_mean = np.sum(p * T)
    pred_below_0 = np.sum(p * special.ndtr((0.0 - M) / np.maximum(T, 1e-12)) * (T > 0) + p * (M < 0) * (T == 0))
    return {
        "mu_mean": mu_mean,
        "mu_sd": math.sqrt(np.sum(p * M**2) - mu_mean**2),
        "tau_mean": tau_mean,
        "tau_sd": math.sqrt(np.sum(p * T**2) - tau_mean**2),
        "p_mu_below_0": np.sum(p * (M < 0)) + 0.5 * np.sum(p * (M == 0)),
        "p_pred_below_0": pred_below_0,
        "log_evidence": peak + math.log(total * cell),
    }


PRIOR_PAIRS = [
    ("normal:0,1", "halfnormal:0.5"),
    ("normal:0,10", "halfcauchy:0.5"),
    ("normal:-0.5,0.3", "uniform:0,2"),
    ("normal:0,1", "lognormal-turner:any"),
]


@pytest.mark.parametrize("mu_prior, tau_prior", PRIOR_PAIRS)
def test_exact_matches_brute_force_quadrature(mu_prior, tau_prior):
    yi, vi = simulated()
    fit = exact_meta(yi, vi, mu_prior=mu_prior, tau_prior=tau_prior)
    ref = brute_force(yi, vi, mu_prior, tau_prior)
    assert fit.mu.mean == pytest.approx(ref["mu_mean"], abs=2e-4)
    assert fit.mu.sd == pytest.approx(ref["mu_sd"], abs=2e-4)
    assert fit.tau.mean == pytest.approx(ref["tau_mean"], abs=5e-4)
    assert fit.tau.sd == pytest.approx(ref["tau_sd"], abs=5e-4)
    assert fit.p_mu_below(0.0) == pytest.approx(ref["p_mu_below_0"], abs=5e-4)
    assert fit.p_pred_below(0.0) == pytest.approx(ref["p_pred_below_0"], abs=5e-4)
    assert fit.log_evidence == pytest.approx(ref["log_evidence"], abs=2e-3)


def test_flat_mu_prior_matches_brute_force_up_to_a_constant():
    yi, vi = simulated(k=5, seed=3)
    fit = exact_meta(yi, vi, mu_prior="flat", tau_prior="halfnormal:1")
    ref = brute_force(yi, vi, "flat", "halfnormal:1", mu_range=(-4, 4))
    assert fit.mu.mean == pytest.approx(ref["mu_mean"], abs=2e-4)
    assert fit.tau.mean == pytest.approx(ref["tau_mean"], abs=5e-4)
    assert fit.log_evidence is None  # improper prior: no evidence


def test_fixed_tau_limit_is_the_conjugate_normal_posterior():
    yi, vi = simulated(k=6, seed=5)
    tau0 = 0.2
    # log(tau^2) ~ N(log(tau0^2), 1e-6): tau is pinned at tau0.
    fit = exact_meta(yi, vi, mu_prior="normal:0.1,0.8", tau_prior=f"lognormal:{math.log(tau0**2)},1e-6")
    w = 1 / (vi + tau0**2)
    precision = w.sum() + 1 / 0.8**2
    mean = (np.sum(w * yi) + 0.1 / 0.8**2) / precision
    sd = math.sqrt(1 / precision)
    assert fit.mu.mean == pytest.approx(mean, abs=1e-6)
    assert fit.mu.sd == pytest.approx(sd, abs=1e-6)
    assert fit.mu.q025 == pytest.approx(stats.norm.ppf(0.025, mean, sd), abs=1e-6)
    assert fit.predictive().q975 == pytest.approx(stats.norm.ppf(0.975, mean, math.sqrt(sd**2 + tau0**2)), abs=1e-5)
    assert fit.tau.median == pytest.approx(tau0, rel=1e-5)


def test_common_effect_limit():
    yi, vi = simulated(k=6, seed=8)
    fit = exact_meta(yi, vi, mu_prior="normal:0,100", tau_prior="uniform:0,1e-7")
    w = 1 / vi
    mean = np.sum(w * yi) / (w.sum() + 1e-4)
    assert fit.mu.mean == pytest.approx(mean, abs=1e-6)
    assert fit.mu.sd == pytest.approx(math.sqrt(1 / (w.sum() + 1e-4)), abs=1e-6)


def test_quantiles_invert_the_cdfs():
    yi, vi = simulated()
    fit = exact_meta(yi, vi)
    probs = np.array([0.01, 0.2, 0.5, 0.9, 0.995])
    assert np.allclose([fit.p_mu_below(q) for q in fit.mu_quantile(probs)], probs, atol=1e-9)
    assert np.allclose([fit.p_pred_below(q) for q in fit.pred_quantile(probs)], probs, atol=1e-9)
    assert np.allclose(fit.tau_cdf(fit.tau_quantile(probs)), probs, atol=1e-9)


def test_densities_integrate_to_one():
    yi, vi = simulated()
    fit = exact_meta(yi, vi)
    x = np.linspace(-12, 12, 8001)
    assert np.trapezoid(fit.density(x, "mu"), x) == pytest.approx(1.0, abs=1e-6)
    assert np.trapezoid(fit.density(x, "predictive"), x) == pytest.approx(1.0, abs=1e-6)
    t = np.linspace(0, fit.grid.tau[-1], 20001)
    assert np.trapezoid(fit.density(t, "tau"), t) == pytest.approx(1.0, abs=1e-4)


def test_study_effects_shrink_towards_the_mean():
    yi, vi = simulated(k=8, tau=0.05)
    fit = exact_meta(yi, vi, ids=[f"s{i}" for i in range(8)])
    effects = fit.study_effects()
    assert effects["id"].tolist() == [f"s{i}" for i in range(8)]
    lo = np.minimum(effects["yi"], fit.mu.mean)
    hi = np.maximum(effects["yi"], fit.mu.mean)
    assert np.all((effects["mean"] >= lo - 1e-9) & (effects["mean"] <= hi + 1e-9))
    # With tau pinned far above the sampling errors there is almost no shrinkage.
    wide = exact_meta(yi, vi, tau_prior="lognormal:2,1e-6").study_effects()
    assert np.allclose(wide["mean"], yi, atol=0.01)


def test_draws_follow_the_posterior():
    yi, vi = simulated()
    fit = exact_meta(yi, vi)
    mu, tau = fit.draw(np.random.default_rng(1), 20000)
    assert mu.mean() == pytest.approx(fit.mu.mean, abs=4 * fit.mu.sd / math.sqrt(20000))
    assert tau.mean() == pytest.approx(fit.tau.mean, abs=4 * fit.tau.sd / math.sqrt(20000))


def test_frame_input_and_contract():
    yi, vi = simulated()
    frame = pd.DataFrame({"id": [f"e{i}" for i in range(yi.size)], "yi": yi, "vi": vi})
    fit = exact_meta(frame, mu_prior="normal:0,1", tau_prior="halfnormal:0.5")
    out = fit.to_dict()
    for key in ("mu", "tau"):
        assert set(out[key]) >= {"mean", "sd", "q025", "q975"}
    assert set(out["predictive"]) >= {"mean", "q025", "q975"}
    assert out["p_mu_below_0"] == pytest.approx(fit.p_mu_below(0.0))
    assert out["flag"] is None and out["diagnostics"]["ok"] is True
    assert fit.ids == frame["id"].tolist()
    assert "P(mu < 0)" in fit.summary()


def test_more_heterogeneity_widens_the_predictive_interval():
    yi, vi = simulated()
    narrow = exact_meta(yi, vi, tau_prior="halfnormal:0.1").predictive()
    wide = exact_meta(yi, vi, tau_prior="halfnormal:2").predictive()
    assert wide.q975 - wide.q025 > narrow.q975 - narrow.q025


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"id": ["a", "b"], "yi": [0.1, 0.2], "vi": [0.1, 0.0]}), "record b: field vi"),
        (pd.DataFrame({"id": ["a", "b"], "yi": [0.1, None], "vi": [0.1, 0.1]}), "record b: field yi"),
        (pd.DataFrame({"id": ["a", "b"], "yi": [0.1, 0.2]}), "missing column"),
        (pd.DataFrame({"id": ["a", "a"], "yi": [0.1, 0.2], "vi": [0.1, 0.1]}), "duplicate id"),
    ],
)
def test_bad_frames_name_the_record(frame, message):
    with pytest.raises(InputError, match=message):
        exact_meta(frame)


def test_flat_prior_needs_two_studies():
    with pytest.raises(InputError, match="at least two"):
        exact_meta([0.1], [0.05], mu_prior="flat")


def test_mismatched_lengths():
    with pytest.raises(InputError, match="yi has 2"):
        exact_meta([0.1, 0.2], [0.05])


def whole_plane_quadrature(yi, vi, mu_sd, tau_scale, tau_density="halfcauchy", n=2001):
    """Posterior summaries by a 2-D trapezoid rule over the whole (mu, tau) half-plane, written from
    the model's densities alone (no closed form for mu): tau = s z / (1 - z) with z in [0, 1) and
    mu = sinh(w) / 2, so heavy tails in both directions are covered with fine steps near zero."""
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    z = np.linspace(0.0, 1.0, n)[:-1]
    tau = tau_scale * z / (1.0 - z)
    dtau = tau_scale / (1.0 - z) ** 2
    w = np.linspace(-7.0, 7.0, n)
    mu = 0.5 * np.sinh(w)
    dmu = 0.5 * np.cosh(w)
    if tau_density == "halfcauchy":
        log_prior_tau = np.log(2.0 / (math.pi * tau_scale)) - np.log1p((tau / tau_scale) ** 2)
    else:
        log_prior_tau = np.log(2.0) + stats.norm.logpdf(tau, 0.0, tau_scale)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    log_post = -0.5 * (M / mu_sd) ** 2 + log_prior_tau[None, :]
    for y, v in zip(yi, vi):
        s2 = v + T * T
        log_post = log_post - 0.5 * np.log(s2) - 0.5 * (y - M) ** 2 / s2
    edge_mu, edge_tau = np.ones(n), np.ones(n - 1)
    edge_mu[[0, -1]] = edge_tau[0] = 0.5  # trapezoid ends (the integrand vanishes at z = 1)
    p = np.exp(log_post - log_post.max()) * np.outer(dmu * edge_mu, dtau * edge_tau)
    p /= p.sum()
    M[n // 2, :] = 0.0  # the middle node is mu = 0, where the indicator takes half weight
    below = (M < 0) + 0.5 * (M == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pred = np.where(T > 0, special.ndtr(-M / T), below)
    return {
        "mu_mean": float(np.sum(p * M)),
        "p_mu_below_0": float(np.sum(p * below)),
        "p_pred_below_0": float(np.sum(p * pred)),
        "p_tau_below_half": float(np.sum(p * ((T < 0.5) + 0.5 * (T == 0.5)))),
    }


SMALL_K_CASES = [
    # k, yi, vi, sd of the normal prior on mu, tau prior
    ([-0.2], [0.01], 10.0, "halfcauchy:0.5"),  # the old grid gave P(new < 0) = 0.90 here; the truth is 0.66
    ([-0.3], [0.04], 1.0, "halfcauchy:0.5"),
    ([-0.3, 0.1], [0.04, 0.02], 10.0, "halfcauchy:0.5"),
    ([-0.25, -0.05], [0.02, 0.05], 1.0, "halfnormal:0.5"),
]


@pytest.mark.parametrize("yi, vi, mu_sd, tau_prior", SMALL_K_CASES)
def test_small_k_and_heavy_tailed_priors_match_two_dimensional_quadrature(yi, vi, mu_sd, tau_prior):
    family, scale = tau_prior.split(":")
    fit = exact_meta(yi, vi, mu_prior=f"normal:0,{mu_sd:g}", tau_prior=tau_prior)
    ref = whole_plane_quadrature(yi, vi, mu_sd, float(scale), family)
    assert fit.p_pred_below(0.0) == pytest.approx(ref["p_pred_below_0"], abs=1e-5)
    assert fit.p_mu_below(0.0) == pytest.approx(ref["p_mu_below_0"], abs=2e-5)  # the indicator limits the reference
    assert fit.mu.mean == pytest.approx(ref["mu_mean"], abs=1e-5)
    assert float(fit.tau_cdf(0.5)) == pytest.approx(ref["p_tau_below_half"], abs=1e-5)
    assert fit.to_dict()["diagnostics"]["ok"] is True and fit.flag is None


def test_nodes_sit_where_the_heavy_tailed_posterior_has_its_mass():
    fit = exact_meta([-0.2], [0.01], mu_prior="normal:0,10", tau_prior="halfcauchy:0.5")
    q025, median, q975 = fit.tau_quantile([0.025, 0.5, 0.975])
    inside = fit.grid.tau[(fit.grid.tau >= q025) & (fit.grid.tau <= q975)]
    assert inside.size >= 50  # the old grid had no node between 0 and 5e5 here
    assert fit.grid.weight[(fit.grid.tau >= q025) & (fit.grid.tau <= q975)].sum() == pytest.approx(0.95, abs=2e-3)


def test_accuracy_check_fails_on_a_coarse_grid_and_says_so():
    from research.bayes.exact import TauGrid, _conditional_mu, check_grid_accuracy, data_spread, integrate_tau

    yi, vi = np.array([-0.2]), np.array([0.01])
    mu_prior, tau_prior = parse_prior("normal:0,10", "mu"), parse_prior("halfcauchy:0.5", "tau")

    def log_post(tau):
        return tau_prior.logpdf(tau) + _conditional_mu(yi, vi, tau, mu_prior)[2]

    coarse = integrate_tau(log_post, data_spread(yi, vi), tau_prior, points=8, tolerance=math.inf)
    mean, var, _ = _conditional_mu(yi, vi, coarse.nodes, mu_prior)
    accuracy = check_grid_accuracy(TauGrid(coarse.nodes, coarse.weight, coarse.density, mean, var, coarse.log_norm))
    assert accuracy.ok is False and accuracy.max_difference > accuracy.tolerance
    fine = exact_meta(yi, vi, mu_prior="normal:0,10", tau_prior="halfcauchy:0.5")
    assert fine.accuracy.ok is True and fine.accuracy.max_difference < fine.accuracy.tolerance
    # An exact posterior built on the coarse grid carries the failure into its flag and diagnostics.
    from research.bayes.exact import ExactPosterior

    rough = ExactPosterior(yi, vi, ["a"], mu_prior, tau_prior,
                           TauGrid(coarse.nodes, coarse.weight, coarse.density, mean, var, coarse.log_norm))
    assert rough.to_dict()["diagnostics"]["ok"] is False
    assert "not accurate" in rough.flag and "not accurate" in rough.summary()


def test_refinement_doubles_the_grid_until_two_resolutions_agree():
    from research.bayes.exact import _conditional_mu, data_spread, integrate_tau

    yi, vi = simulated(k=40, tau=0.3, seed=2)
    mu_prior, tau_prior = parse_prior("normal:0,1", "mu"), parse_prior("halfcauchy:0.5", "tau")

    def log_post(tau):
        return tau_prior.logpdf(tau) + _conditional_mu(yi, vi, tau, mu_prior)[2]

    loose = integrate_tau(log_post, data_spread(yi, vi), tau_prior, points=8, tolerance=1e-3)
    tight = integrate_tau(log_post, data_spread(yi, vi), tau_prior, points=8, tolerance=1e-9)
    assert tight.nodes.size > loose.nodes.size and tight.refinements > loose.refinements
    assert tight.agreement <= 1e-9 < loose.agreement or loose.agreement <= 1e-3


def test_the_share_of_new_settings_that_benefit_has_an_interval_matching_draws():
    from scipy.stats import norm

    from research.bayes import exact_meta

    yi = np.log([0.86, 0.81, 0.70, 0.90])
    vi = np.array([0.001, 0.07, 0.02, 0.01])
    posterior = exact_meta(yi, vi, mu_prior="normal:0,1", tau_prior="halfnormal:0.5")
    mu, tau = posterior.draw(np.random.default_rng(7), 200_000)
    for threshold in (0.0, math.log(0.9)):
        share = posterior.share_benefiting(threshold)
        draws = norm.cdf((threshold - mu) / tau)
        assert share.mean == pytest.approx(draws.mean(), abs=3e-3)
        assert share.mean == pytest.approx(posterior.p_pred_below(threshold), abs=1e-12)
        assert share.low == pytest.approx(np.quantile(draws, 0.025), abs=5e-3)
        assert share.high == pytest.approx(np.quantile(draws, 0.975), abs=5e-3)
        assert share.low < share.mean < share.high
    # a meaningful benefit (a fall of at least 10%) is rarer than any benefit
    assert posterior.share_benefiting(math.log(0.9)).mean < posterior.share_benefiting(0.0).mean
