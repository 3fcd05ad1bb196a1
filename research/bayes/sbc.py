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
from research.parallel import Engine, run_tasks


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
    engine: Engine | None = None,
    chunk: int | None = None,
) -> SbcResult:
    """Run SBC with the study variances ``vi``; fit priors default to the simulation priors.

    Passing different ``fit_*`` priors shows what miscalibration looks like. ``engine`` (research.parallel)
    fits the replicates in parallel, ``chunk`` replicates per task (default: 1 for MCMC, 25 for exact);
    every simulated data set is drawn here first, so the result is the same on any engine.
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
    replicates = []
    for r in range(int(n_replicates)):
        mu = float(mu_prior.sample(rng, 1)[0])
        tau = float(tau_prior.sample(rng, 1)[0])
        y = rng.normal(rng.normal(mu, tau, vi.size), np.sqrt(vi))
        # the rank offsets of the MCMC path, drawn in the order a one-by-one loop would draw them
        offsets = rng.uniform(size=2) if method == "mcmc" else None
        replicates.append(_Replicate(r, mu, tau, y, offsets))
    options = dict(vi=vi, method=method, fit_mu=fit_mu, fit_tau=fit_tau, seed=seed, draws=draws, tune=tune,
                   chains=chains, kept_draws=kept_draws)
    size = max(1, int(chunk or (1 if method == "mcmc" else 25)))
    batches = [replicates[i:i + size] for i in range(0, len(replicates), size)]
    tasks = [(f"replicates {batch[0].index + 1}-{batch[-1].index + 1}", _positions, (batch,), options)
             for batch in batches]
    positions: list[tuple[float, float]] = []
    for outcome in run_tasks(tasks, engine or Engine()):
        if not outcome.ok:
            raise InputError(f"simulation-based calibration: {outcome.name} failed: {outcome.error}")
        positions.extend(outcome.value)
    mu_pos, tau_pos = zip(*positions) if positions else ((), ())
    return SbcResult(method, {"mu": np.asarray(mu_pos, dtype=float), "tau": np.asarray(tau_pos, dtype=float)}, int(bins))


@dataclass(frozen=True)
class _Replicate:
    """One simulated data set: the true values, the study estimates and (MCMC) the rank offsets."""

    index: int
    mu: float
    tau: float
    y: np.ndarray
    offsets: np.ndarray | None


def _positions(batch: list[_Replicate], *, vi, method, fit_mu, fit_tau, seed, draws, tune, chains,
               kept_draws) -> list[tuple[float, float]]:
    """Where the truth falls in the posterior of each replicate: (mu, tau) positions in [0, 1]."""
    ids = [f"sim{i + 1}" for i in range(vi.size)]
    out = []
    for rep in batch:
        if method == "exact":
            fit = exact_meta(rep.y, vi, mu_prior=fit_mu, tau_prior=fit_tau, ids=ids)
            out.append((fit.p_mu_below(rep.mu), float(fit.tau_cdf(rep.tau))))
            continue
        from research.bayes.mcmc import mcmc_meta

        frame = pd.DataFrame({"id": ids, "yi": rep.y, "vi": vi})
        fit = mcmc_meta(frame, "random_effects", {"mu": fit_mu, "tau": fit_tau}, draws=draws, tune=tune,
                        chains=chains, seed=seed * 100003 + rep.index, cache_dir=None)
        ranks = []
        for name, truth, offset in (("mu", rep.mu, rep.offsets[0]), ("tau", rep.tau, rep.offsets[1])):
            sample = fit.draws(name)
            step = max(1, sample.size // kept_draws)
            thinned = sample[::step][:kept_draws]
            # Rank among L draws takes L + 1 values; the offset spreads them evenly over (0, 1).
            ranks.append(float((np.sum(thinned < truth) + offset) / (thinned.size + 1)))
        out.append((ranks[0], ranks[1]))
    return out


__all__ = ["SbcResult", "simulation_based_calibration"]
