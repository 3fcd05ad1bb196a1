"""Priors: parsing, densities against scipy, sampling, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from research.bayes import (
    TURNER_PRESETS,
    FlatPrior,
    HalfCauchyPrior,
    HalfNormalPrior,
    LogNormalTau2Prior,
    NormalPrior,
    UniformPrior,
    parse_prior,
    turner_prior,
)
from research.errors import InputError

TAU_SPECS = ["halfnormal:0.5", "halfcauchy:0.3", "uniform:0,2", "lognormal:-2.56,1.74", "lognormal-turner:pain"]


@pytest.mark.parametrize("spec", TAU_SPECS)
def test_tau_spec_round_trips(spec):
    prior = parse_prior(spec, role="tau")
    assert parse_prior(prior.spec, role="tau") == prior


@pytest.mark.parametrize("spec", ["normal:-0.2,0.7", "flat"])
def test_mu_spec_round_trips(spec):
    prior = parse_prior(spec, role="mu")
    assert parse_prior(prior.spec, role="mu") == prior


@pytest.mark.parametrize("spec", TAU_SPECS)
def test_tau_densities_integrate_to_one(spec):
    prior = parse_prior(spec, role="tau")
    upper = prior.support[1] if math.isfinite(prior.support[1]) else np.inf
    total, _ = integrate.quad(lambda t: math.exp(prior.logpdf(t)), 0.0, upper, limit=400)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_densities_match_scipy():
    x = np.linspace(0.01, 3.0, 50)
    assert np.allclose(HalfNormalPrior(0.7).logpdf(x), stats.halfnorm.logpdf(x, scale=0.7))
    assert np.allclose(HalfCauchyPrior(0.4).logpdf(x), stats.halfcauchy.logpdf(x, scale=0.4))
    assert np.allclose(UniformPrior(0.0, 2.0).logpdf(x[x <= 2]), stats.uniform.logpdf(x[x <= 2], 0, 2))
    assert np.allclose(NormalPrior(0.3, 2.0).logpdf(x), stats.norm.logpdf(x, 0.3, 2.0))
    assert np.all(np.isneginf(HalfNormalPrior(0.7).logpdf(-x)))


def test_lognormal_prior_is_on_tau_squared():
    prior = LogNormalTau2Prior(-2.0, 1.2)
    # P(tau <= t) must equal P(tau^2 <= t^2) under log(tau^2) ~ Normal(-2, 1.2).
    for t in (0.05, 0.2, 0.6):
        mass, _ = integrate.quad(lambda s: math.exp(prior.logpdf(s)), 0.0, t)
        assert mass == pytest.approx(stats.norm.cdf((math.log(t**2) + 2.0) / 1.2), abs=1e-7)


@pytest.mark.parametrize("spec", TAU_SPECS + ["normal:0.1,0.4"])
def test_samples_follow_the_density(spec):
    prior = parse_prior(spec, role="mu" if spec.startswith("normal") else "tau")
    draws = prior.sample(np.random.default_rng(7), 4000)
    grid = np.linspace(draws.min(), draws.max(), 4001)
    lo = prior.support[0] if math.isfinite(prior.support[0]) else grid[0] - 10
    cdf = np.array([integrate.quad(lambda t: math.exp(prior.logpdf(t)), lo, g, limit=200)[0] for g in np.quantile(draws, [0.1, 0.5, 0.9])])
    assert np.allclose(cdf, [0.1, 0.5, 0.9], atol=0.03)


def test_turner_presets_resolve_by_outcome():
    assert "any" in TURNER_PRESETS
    for outcome, (meanlog, sdlog, _) in TURNER_PRESETS.items():
        prior = turner_prior(outcome)
        assert (prior.meanlog, prior.sdlog) == (meanlog, sdlog)
        assert prior.spec == f"lognormal-turner:{outcome}"
        # log(tau^2) has median meanlog, so tau has median exp(meanlog / 2).
        half, _ = integrate.quad(lambda t: math.exp(prior.logpdf(t)), 0.0, math.exp(meanlog / 2))
        assert half == pytest.approx(0.5, abs=1e-7)


@pytest.mark.parametrize(
    "text, role, message",
    [
        ("gamma:1,2", "tau", "unknown family"),
        ("normal:0", "mu", "takes 2"),
        ("halfnormal:-1", "tau", "positive"),
        ("halfnormal:abc", "tau", "numbers"),
        ("halfnormal:0.5", "mu", "cannot be used for mu"),
        ("normal:0,1", "tau", "cannot be used for tau"),
        ("uniform:-1,1", "tau", "cannot be negative"),
        ("uniform:2,1", "tau", "must exceed"),
        ("lognormal-turner:crime", "tau", "unknown outcome"),
    ],
)
def test_bad_priors_raise_input_errors(text, role, message):
    with pytest.raises(InputError, match=message):
        parse_prior(text, role=role)


def test_flat_prior_cannot_be_sampled():
    with pytest.raises(InputError):
        FlatPrior().sample(np.random.default_rng(0), 3)


def test_every_prior_has_a_basis_and_unsourced_ones_are_marked_judgement():
    from research.bayes.priors import prior_basis

    half_normal = prior_basis("halfnormal:0.5", "tau")
    assert half_normal.kind == "published" and "doi:10.1002/jrsm.1217" in half_normal.basis
    assert "judgement" in half_normal.basis  # using a clinical-trial prior here is itself a judgement
    assert prior_basis("lognormal-turner:pain", "tau").kind == "published"
    for spec, role in (("halfnormal:0.3", "tau"), ("uniform:0,2", "tau"), ("halfcauchy:0.5", "tau"), ("normal:0,1", "mu"), ("flat", "mu")):
        basis = prior_basis(spec, role)
        assert basis.kind == "judgement" and basis.basis, spec
    assert "0.14 to 7.1" in prior_basis("normal:0,1", "mu").basis
