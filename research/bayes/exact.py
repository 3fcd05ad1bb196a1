"""Exact posterior of the normal-normal random-effects model by integration over tau.

Model: y_i ~ Normal(theta_i, v_i), theta_i ~ Normal(mu, tau^2), with a normal (or flat)
prior on mu and any prior on tau. Given tau everything is Gaussian, so mu can be
integrated out in closed form; what is left is a one-dimensional posterior for tau,
which is evaluated on an adaptive grid (the approach of R's bayesmeta, with a plain
trapezoid rule instead of its divergence-bounded discretisation). The marginal of mu
and the predictive distribution of a new study's effect are then normal mixtures over
the grid. No sampling: results are deterministic and take milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from research.bayes.frame import check_effects
from research.bayes.mixture import (
    Marginal,
    mixture_cdf,
    mixture_marginal,
    mixture_pdf,
    mixture_quantile,
)
from research.bayes.priors import FlatPrior, HalfNormalPrior, NormalPrior, Prior, parse_prior
from research.errors import InputError

_LOG_2PI = math.log(2.0 * math.pi)
# Grid ends are placed where the posterior mass per unit of log(tau) has fallen this far
# (in log units) below its peak, i.e. by a factor of about 1e-17.
_TAIL_DROP = 40.0


@dataclass(frozen=True)
class TauGrid:
    """The posterior as a mixture over tau nodes: weights and the Gaussian mu | tau, y."""

    tau: np.ndarray  # nodes
    weight: np.ndarray  # posterior probability attached to each node (sums to one)
    density: np.ndarray  # normalised posterior density of tau at each node
    mu_mean: np.ndarray  # E[mu | tau, y]
    mu_var: np.ndarray  # Var[mu | tau, y]
    log_evidence: float | None  # log p(y), when both priors are proper


def _conditional_mu(yi, vi, tau, mu_prior):
    """Mean, variance and log marginal likelihood log p(y | tau), one value per tau node."""
    w = 1.0 / (vi[None, :] + tau[:, None] ** 2)
    precision = w.sum(axis=1)
    weighted = (w * yi[None, :]).sum(axis=1)
    if isinstance(mu_prior, NormalPrior):
        prior_precision = 1.0 / mu_prior.sd**2
        precision = precision + prior_precision
        weighted = weighted + mu_prior.mean * prior_precision
    mean = weighted / precision
    # p(y | tau) = p(y | mu, tau) p(mu) / p(mu | y, tau), evaluated at mu = mean.
    loglik = np.sum(-0.5 * (_LOG_2PI - np.log(w)) - 0.5 * w * (yi[None, :] - mean[:, None]) ** 2, axis=1)
    if isinstance(mu_prior, NormalPrior):
        loglik += -0.5 * _LOG_2PI - math.log(mu_prior.sd) - 0.5 * ((mean - mu_prior.mean) / mu_prior.sd) ** 2
    loglik -= -0.5 * (_LOG_2PI - np.log(precision))
    return mean, 1.0 / precision, loglik


def _grid_range(log_post, spread: float, tau_prior: Prior) -> tuple[float, float, float]:
    """Lower support bound, and lower and upper ends of the region that holds the posterior mass.

    ``log_post`` maps tau values to the unnormalised log posterior density of tau.
    """
    support_lo, support_hi = tau_prior.support
    support_lo = max(0.0, support_lo)
    reference = max(spread, tau_prior.scale_hint(), 1e-8)
    low, high = reference * 1e-7, reference * 1e4
    for _attempt in range(3):
        coarse = np.geomspace(max(low, support_lo if support_lo > 0 else low), min(high, support_hi), 241)
        if math.isfinite(support_hi):
            coarse = np.unique(np.append(coarse, support_hi))
        with np.errstate(invalid="ignore", divide="ignore"):
            mass = log_post(coarse) + np.log(coarse)
        mass = np.where(np.isfinite(mass), mass, -np.inf)
        if not np.isfinite(mass).any():
            raise InputError("exact posterior: the prior for tau gives no support where the data have likelihood")
        keep = np.flatnonzero(mass > mass.max() - _TAIL_DROP)
        top = keep[-1]
        if top < coarse.size - 1 or coarse[-1] >= support_hi:
            upper = coarse[min(top + 1, coarse.size - 1)]
            lower = coarse[max(keep[0] - 1, 0)]
            return support_lo, float(lower), float(upper)
        high *= 1e4  # the tail still carries mass at the end of the range: look further out
    raise InputError(
        "exact posterior: the posterior of tau does not vanish at large tau (improper or extremely heavy-tailed); "
        "use a proper, lighter-tailed prior for tau"
    )


def data_spread(yi, vi) -> float:
    """A typical size of tau for these data (spread of the estimates plus a typical sampling error)."""
    return math.sqrt(float(np.var(yi)) + float(np.median(vi)))


def integrate_tau(log_post, spread: float, tau_prior: Prior, points: int = 800):
    """Grid over tau where the posterior has its mass, with trapezoid weights.

    Returns (nodes, weights summing to one, normalised density at nodes, log of the
    normalising constant).
    """
    support_lo, lower, upper = _grid_range(log_post, spread, tau_prior)
    start = support_lo
    for _zoom in range(4):
        # A uniform part resolves mass near zero, a geometric part resolves small tau on log scale.
        nodes = np.concatenate([np.linspace(start, upper, points), np.geomspace(max(lower, upper * 1e-9), upper, points)])
        nodes = np.unique(nodes[(nodes >= start) & (nodes <= upper)])
        with np.errstate(invalid="ignore", divide="ignore"):
            values = log_post(nodes)
        values = np.where(np.isfinite(values), values, -np.inf)
        held = np.flatnonzero(values > values.max() - _TAIL_DROP)
        if held.size >= points // 4:
            break
        # The mass sits on a few nodes only (a very narrow posterior): zoom in on it.
        start = nodes[max(held[0] - 1, 0)]
        lower, upper = max(start, nodes[max(held[0] - 1, 0)]), nodes[min(held[-1] + 1, nodes.size - 1)]
    peak = values.max()
    unnormalised = np.exp(values - peak)
    # Trapezoid rule on the uneven grid: each node carries half of each neighbouring interval.
    gaps = np.diff(nodes)
    span = np.zeros_like(nodes)
    span[:-1] += 0.5 * gaps
    span[1:] += 0.5 * gaps
    mass = unnormalised * span
    total = mass.sum()
    return nodes, mass / total, unnormalised / total, float(peak + math.log(total))


def tau_grid(yi, vi, mu_prior: Prior, tau_prior: Prior, points: int = 800) -> TauGrid:
    """Evaluate the posterior of tau on a grid dense where its mass is, and mu | tau, y there."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)

    def log_post(tau):
        return tau_prior.logpdf(tau) + _conditional_mu(yi, vi, tau, mu_prior)[2]

    nodes, weight, density, log_norm = integrate_tau(log_post, data_spread(yi, vi), tau_prior, points)
    mean, var, _ = _conditional_mu(yi, vi, nodes, mu_prior)
    proper = mu_prior.proper and tau_prior.proper
    return TauGrid(nodes, weight, density, mean, var, log_norm if proper else None)


def check_exact_inputs(yi, vi, mu_prior, tau_prior):
    yi = np.asarray(yi, dtype=float).ravel()
    vi = np.asarray(vi, dtype=float).ravel()
    if yi.shape != vi.shape:
        raise InputError(f"exact posterior: yi has {yi.size} values but vi has {vi.size}")
    if yi.size == 0:
        raise InputError("exact posterior: no effect estimates")
    if not (np.isfinite(yi).all() and np.isfinite(vi).all()):
        raise InputError("exact posterior: yi and vi must be finite numbers")
    if (vi <= 0).any():
        raise InputError(f"exact posterior: sampling variance vi must be > 0 (row {int(np.argmax(vi <= 0)) + 1})")
    mu_prior = parse_prior(mu_prior, role="mu")
    tau_prior = parse_prior(tau_prior, role="tau")
    if isinstance(mu_prior, FlatPrior) and yi.size < 2:
        raise InputError("exact posterior: a flat prior for mu needs at least two estimates; use normal:M,S")
    if not isinstance(mu_prior, (NormalPrior, FlatPrior)):
        raise InputError(f"exact posterior: mu prior must be normal or flat, got {mu_prior.spec}")
    return yi, vi, mu_prior, tau_prior


class ExactPosterior:
    """Posterior of (mu, tau) and of a new study's effect, from ``exact_meta``.

    Quantities are on the analysis (log) scale; benefit means an effect below zero.
    """

    method = "exact"
    model = "random_effects"
    flag: str | None = None  # no sampler, nothing to flag; present for a uniform interface
    moderators: list = []

    def __init__(self, yi, vi, ids, mu_prior: Prior, tau_prior: Prior, grid: TauGrid):
        self.yi = np.asarray(yi, dtype=float)
        self.vi = np.asarray(vi, dtype=float)
        self.ids = list(ids)
        self.mu_prior = mu_prior
        self.tau_prior = tau_prior
        self.grid = grid

    @property
    def k(self) -> int:
        return int(self.yi.size)

    @property
    def log_evidence(self) -> float | None:
        """log p(y) under the model and priors (None when a prior is improper)."""
        return self.grid.log_evidence

    # -- components of the mixtures -------------------------------------------------
    def _mu_components(self):
        return self.grid.weight, self.grid.mu_mean, np.sqrt(self.grid.mu_var)

    def _pred_components(self):
        return self.grid.weight, self.grid.mu_mean, np.sqrt(self.grid.mu_var + self.grid.tau**2)

    def _pred_parts(self, covariates: dict | None):
        """Components of the predictive mixture at a site; a meta-regression uses the covariates."""
        _no_covariates(covariates)
        return self._pred_components()

    # -- marginals ------------------------------------------------------------------
    @cached_property
    def mu(self) -> Marginal:
        return mixture_marginal(*self._mu_components())

    @cached_property
    def _predictive(self) -> Marginal:
        return mixture_marginal(*self._pred_components())

    def predictive(self, covariates: dict | None = None) -> Marginal:
        """Distribution of the true effect in a new setting (with these covariates, for a meta-regression)."""
        return mixture_marginal(*self._pred_parts(covariates)) if covariates else self._predictive

    @cached_property
    def tau(self) -> Marginal:
        g = self.grid
        mean = float(np.sum(g.weight * g.tau))
        sd = float(math.sqrt(max(np.sum(g.weight * g.tau**2) - mean**2, 0.0)))
        q025, median, q975 = self.tau_quantile([0.025, 0.5, 0.975])
        return Marginal(mean, sd, float(median), float(q025), float(q975))

    @cached_property
    def _tau_table(self):
        """Cumulative probability at each node and the density rescaled to match it.

        The density is taken as linear between nodes, so the cdf is exact for that
        interpolant and quadratic inside each interval.
        """
        g = self.grid
        pieces = 0.5 * (g.density[1:] + g.density[:-1]) * np.diff(g.tau)
        total = pieces.sum()
        cumulative = np.concatenate([[0.0], np.cumsum(pieces)]) / total
        return cumulative, g.density / total

    def tau_cdf(self, x) -> np.ndarray:
        """Posterior P(tau <= x)."""
        g = self.grid
        cumulative, density = self._tau_table
        x = np.clip(np.asarray(x, dtype=float), g.tau[0], g.tau[-1])
        j = np.clip(np.searchsorted(g.tau, x, side="right") - 1, 0, g.tau.size - 2)
        h = g.tau[j + 1] - g.tau[j]
        dx = x - g.tau[j]
        slope = (density[j + 1] - density[j]) / h
        return np.clip(cumulative[j] + density[j] * dx + 0.5 * slope * dx * dx, 0.0, 1.0)

    def tau_quantile(self, probs) -> np.ndarray:
        g = self.grid
        cumulative, density = self._tau_table
        probs = np.asarray(probs, dtype=float)
        j = np.clip(np.searchsorted(cumulative, probs, side="right") - 1, 0, g.tau.size - 2)
        h = g.tau[j + 1] - g.tau[j]
        need = probs - cumulative[j]
        d0 = density[j]
        slope = (density[j + 1] - d0) / h
        # Solve d0*x + slope*x^2/2 = need for x in [0, h] (the stable root form).
        root = np.sqrt(np.maximum(d0 * d0 + 2.0 * slope * need, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(d0 + root > 0, 2.0 * need / (d0 + root), 0.0)
        return g.tau[j] + np.clip(step, 0.0, h)

    def mu_quantile(self, probs) -> np.ndarray:
        return mixture_quantile(np.asarray(probs, dtype=float), *self._mu_components())

    def pred_quantile(self, probs) -> np.ndarray:
        return mixture_quantile(np.asarray(probs, dtype=float), *self._pred_components())

    def p_mu_below(self, threshold: float = 0.0) -> float:
        """Posterior probability that the mean effect is below ``threshold`` (0 = any benefit)."""
        return float(mixture_cdf(threshold, *self._mu_components()))

    def p_pred_below(self, threshold: float = 0.0, covariates: dict | None = None) -> float:
        """Probability that the effect in a new setting is below ``threshold``."""
        return float(mixture_cdf(threshold, *self._pred_parts(covariates)))

    def predictive_cdf(self, x, covariates: dict | None = None) -> np.ndarray:
        """P(new effect <= x) at the points ``x``."""
        return mixture_cdf(x, *self._pred_parts(covariates))

    def density(self, x, quantity: str = "mu") -> np.ndarray:
        """Posterior density of "mu", "tau" or "predictive" at the points ``x``."""
        x = np.asarray(x, dtype=float)
        if quantity == "mu":
            return mixture_pdf(x, *self._mu_components())
        if quantity == "predictive":
            return mixture_pdf(x, *self._pred_parts(None))
        if quantity == "tau":
            g = self.grid
            return np.interp(x, g.tau, g.density, left=0.0, right=0.0)
        raise ValueError(f"quantity must be 'mu', 'tau' or 'predictive', got {quantity!r}")

    def _study_centre(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance, per tau node, of the average effect that study ``i`` is shrunk towards."""
        return self.grid.mu_mean, self.grid.mu_var

    def study_effects(self) -> pd.DataFrame:
        """Shrunken estimates of each study's true effect theta_i given all the data."""
        g = self.grid
        rows = []
        for i, study in enumerate(self.ids):
            centre_mean, centre_var = self._study_centre(i)
            shrink = self.vi[i] / (self.vi[i] + g.tau**2)
            means = shrink * centre_mean + (1.0 - shrink) * self.yi[i]
            sds = np.sqrt((1.0 - shrink) * self.vi[i] + shrink**2 * centre_var)
            m = mixture_marginal(g.weight, means, sds)
            rows.append({"id": study, "yi": self.yi[i], "vi": self.vi[i], **m.to_dict()})
        return pd.DataFrame(rows)

    def draw(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Independent draws of (mu, tau) from the posterior."""
        g = self.grid
        index = rng.choice(g.tau.size, size=size, p=g.weight)
        tau = g.tau[index]
        mu = rng.normal(g.mu_mean[index], np.sqrt(g.mu_var[index]))
        return mu, tau

    # -- reporting ------------------------------------------------------------------
    def to_dict(self) -> dict:
        pred = self.predictive()
        return {
            "method": self.method,
            "model": self.model,
            "k": self.k,
            "mu_prior": self.mu_prior.spec,
            "tau_prior": self.tau_prior.spec,
            "mu": self.mu.to_dict(),
            "tau": self.tau.to_dict(),
            "predictive": pred.to_dict(),
            "p_mu_below_0": self.p_mu_below(0.0),
            "p_pred_below_0": self.p_pred_below(0.0),
            "log_evidence": self.log_evidence,
            "diagnostics": {"ok": True, "grid_points": int(self.grid.tau.size)},
            "flag": None,
        }

    def summary(self) -> str:
        return format_summary(
            title="Bayesian random-effects meta-analysis (exact, integration over tau)",
            k=self.k,
            priors={"mu": self.mu_prior.label, "tau": self.tau_prior.label},
            rows={"mu": self.mu, "tau": self.tau, "new setting": self.predictive()},
            probabilities={"P(mu < 0)": self.p_mu_below(0.0), "P(new setting < 0)": self.p_pred_below(0.0)},
            notes=[f"grid of {self.grid.tau.size} tau nodes; log evidence {self.log_evidence:.3f}" if self.log_evidence is not None else f"grid of {self.grid.tau.size} tau nodes"],
        )

    def __repr__(self) -> str:
        return f"ExactPosterior(k={self.k}, mu={self.mu.mean:.4g}, tau={self.tau.median:.4g})"


def _no_covariates(covariates: dict | None) -> None:
    if covariates:
        raise InputError("the random-effects model has no moderators; fit a meta-regression to use covariates")


def format_summary(title, k, priors, rows: dict[str, Marginal], probabilities: dict[str, float], notes=()) -> str:
    """A plain-text results table in the statsmodels style, shared by exact and MCMC results."""
    label = max([22] + [len(name) + 2 for name in list(rows) + list(probabilities)])
    width = label + 56
    lines = ["=" * width, title.center(width), "=" * width]
    lines.append(f"Estimates: {k:<8d}" + "   ".join(f"prior {name}: {text}" for name, text in priors.items()))
    lines.append("-" * width)
    header = f"{'':<{label}}{'mean':>10}{'sd':>10}{'2.5%':>10}{'median':>10}{'97.5%':>10}"
    lines.append(header)
    lines.append("-" * width)
    for name, m in rows.items():
        line = f"{name:<{label}}{m.mean:>10.4f}{m.sd:>10.4f}{m.q025:>10.4f}{m.median:>10.4f}{m.q975:>10.4f}"
        lines.append(line)
    lines.append("-" * width)
    for name, p in probabilities.items():
        lines.append(f"{name:<{label}}{p:>10.4f}")
    for note in notes:
        if note:
            lines.append(note)
    lines.append("=" * width)
    return "\n".join(lines)


def exact_meta(
    yi,
    vi=None,
    mu_prior: Prior | str = NormalPrior(0.0, 1.0),
    tau_prior: Prior | str = HalfNormalPrior(0.5),
    ids=None,
    grid_points: int = 800,
) -> ExactPosterior:
    """Exact Bayesian random-effects meta-analysis.

    ``yi`` may be a DataFrame with ``yi``/``vi`` (and ``id``) columns, or an array with
    ``vi`` given separately. Priors may be objects or strings such as "normal:0,1" and
    "halfnormal:0.5".
    """
    if isinstance(yi, pd.DataFrame):
        frame = check_effects(yi)
        ids = frame["id"].tolist()
        yi, vi = frame["yi"].to_numpy(dtype=float), frame["vi"].to_numpy(dtype=float)
    elif vi is None:
        raise InputError("exact_meta: give vi (sampling variances) with yi")
    yi, vi, mu_prior, tau_prior = check_exact_inputs(yi, vi, mu_prior, tau_prior)
    if ids is None:
        ids = [f"row{i + 1}" for i in range(yi.size)]
    grid = tau_grid(yi, vi, mu_prior, tau_prior, points=grid_points)
    return ExactPosterior(yi, vi, ids, mu_prior, tau_prior, grid)


__all__ = ["ExactPosterior", "TauGrid", "exact_meta", "tau_grid", "format_summary"]
