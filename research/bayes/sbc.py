"""Simulation-based calibration (Talts et al. 2018) for the random-effects model.

Draw (mu, tau) from the prior, simulate study estimates, fit, and record where the true
value falls in its posterior. If the fitting is right, those positions are uniform on
[0, 1]. For the exact path the position is the posterior cdf at the truth; for MCMC it
is the rank of the truth among thinned posterior draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from research.bayes.exact import exact_meta
from research.bayes.priors import HalfNormalPrior, NormalPrior, Prior, parse_prior
from research.errors import InputError


@dataclass
class SbcResult:
    """Positions of the true values in their posteriors (uniform on [0, 1] when calibrated)."""

    method: str
    positions: dict[str, np.ndarray]
    bins: int

    @property
    def n_replicates(self) -> int:
        return int(next(iter(self.positions.values())).size)

    def pvalues(self) -> dict[str, float]:
        """Chi-square test of uniformity of the binned positions, per parameter."""
        out = {}
        for name, u in self.positions.items():
            counts, _ = np.histogram(u, bins=self.bins, range=(0.0, 1.0))
            out[name] = float(stats.chisquare(counts).pvalue)
        return out

    def histogram(self) -> pd.DataFrame:
        rows = {}
        for name, u in self.positions.items():
            rows[name], _ = np.histogram(u, bins=self.bins, range=(0.0, 1.0))
        return pd.DataFrame(rows, index=[f"{i / self.bins:.2f}-{(i + 1) / self.bins:.2f}" for i in range(self.bins)])

    def to_dict(self) -> dict:
        return {"method": self.method, "n_replicates": self.n_replicates, "bins": self.bins, "pvalues": self.pvalues(),
                "histogram": self.histogram().to_dict(orient="list")}

    def summary(self) -> str:
        p = self.pvalues()
        lines = [f"Simulation-based calibration ({self.method}, {self.n_replicates} replicates, {self.bins} bins)"]
        lines.append(self.histogram().to_string())
        lines.append("uniformity p-values: " + ", ".join(f"{k} {v:.3g}" for k, v in p.items()))
        return "\n".join(lines)


def simulation_based_calibration(
    vi,
    mu_prior: Prior | str = NormalPrior(0.0, 0.5),
    tau_prior: Prior | str = HalfNormalPrior(0.5),
    n_replicates: int = 200,
    method: str = "exact",
    seed: int = 0,
    fit_mu_prior: Prior | str | None = None,
    fit_tau_prior: Prior | str | None = None,
    bins: int = 10,
    draws: int = 400,
    tune: int = 400,
    chains: int = 2,
    kept_draws: int = 99,
) -> SbcResult:
    """Run SBC with the study variances ``vi``; fit priors default to the simulation priors.

    Passing different ``fit_*`` priors shows what miscalibration looks like.
    """
    vi = np.asarray(vi, dtype=float)
    if vi.ndim != 1 or vi.size < 1 or not (vi > 0).all():
        raise InputError("simulation-based calibration: vi must be a non-empty list of positive variances")
    if method not in ("exact", "mcmc"):
        raise InputError("simulation-based calibration: method must be 'exact' or 'mcmc'")
    mu_prior, tau_prior = parse_prior(mu_prior, "mu"), parse_prior(tau_prior, "tau")
    fit_mu = parse_prior(fit_mu_prior, "mu") if fit_mu_prior is not None else mu_prior
    fit_tau = parse_prior(fit_tau_prior, "tau") if fit_tau_prior is not None else tau_prior
    rng = np.random.default_rng(seed)
    ids = [f"sim{i + 1}" for i in range(vi.size)]
    mu_pos, tau_pos = [], []
    for r in range(int(n_replicates)):
        mu = float(mu_prior.sample(rng, 1)[0])
        tau = float(tau_prior.sample(rng, 1)[0])
        y = rng.normal(rng.normal(mu, tau, vi.size), np.sqrt(vi))
        if method == "exact":
            fit = exact_meta(y, vi, mu_prior=fit_mu, tau_prior=fit_tau, ids=ids)
            mu_pos.append(fit.p_mu_below(mu))
            tau_pos.append(float(fit.tau_cdf(tau)))
        else:
            from research.bayes.mcmc import mcmc_meta

            frame = pd.DataFrame({"id": ids, "yi": y, "vi": vi})
            fit = mcmc_meta(frame, "random_effects", {"mu": fit_mu, "tau": fit_tau}, draws=draws, tune=tune, chains=chains,
                            seed=seed * 100003 + r, cache_dir=None)
            for name, truth, store in (("mu", mu, mu_pos), ("tau", tau, tau_pos)):
                sample = fit.draws(name)
                step = max(1, sample.size // kept_draws)
                thinned = sample[::step][:kept_draws]
                # Rank among L draws takes L + 1 values; the offset spreads them evenly over (0, 1).
                store.append((np.sum(thinned < truth) + rng.uniform()) / (thinned.size + 1))
    return SbcResult(method, {"mu": np.asarray(mu_pos), "tau": np.asarray(tau_pos)}, int(bins))


__all__ = ["SbcResult", "simulation_based_calibration"]
