"""Exact posterior of the normal-normal random-effects model by integration over tau.

Model: y_i ~ Normal(theta_i, v_i), theta_i ~ Normal(mu, tau^2), with a normal (or flat)
prior on mu and any prior on tau. Given tau everything is Gaussian, so mu can be
integrated out in closed form; what is left is a one-dimensional posterior for tau,
which is integrated by Simpson's rule on nodes equally spaced in log(tau) between the
points where its mass has died away (found by locating the mode on the log scale). The
number of nodes doubles until two resolutions agree, and the fitted posterior repeats
that comparison for every reported quantity (``ExactPosterior.accuracy``), which sets
``diagnostics.ok``. The marginal of mu and the predictive distribution of a new study's
effect are normal mixtures over the nodes. No sampling: results are deterministic.
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
# The integration range ends where the posterior mass per unit of log(tau) has fallen this
# far (in log units) below its peak: a factor of about 1e-13, so the tails beyond hold
# a negligible share of the mass.
_TAIL_DROP = 30.0
# Spacing, in log(tau), of the scan that locates the posterior mass.
_SCAN_STEP = 0.1
# Nodes per posterior standard deviation of log(tau) near the mode, at least.
_NODES_PER_SD = 4
# Largest number of intervals the refinement may reach.
_MAX_INTERVALS = 2**17
# Two resolutions agree when every compared quantity moves by less than this (probabilities
# absolutely, other quantities relative to their posterior standard deviation or size).
ACCURACY_TOLERANCE = 1e-6
_SEARCH_WIDTH = 25.0  # initial half-width, in log(tau), of the scan for the posterior mass


@dataclass(frozen=True)
class TauGrid:
    """The posterior as a mixture over tau nodes: weights and the Gaussian mu | tau, y.

    Nodes are equally spaced in log(tau) and the weights are composite Simpson weights on
    that scale, so the half-resolution grid (every other node) gives a second estimate
    of every quantity, which the accuracy check compares.
    """

    tau: np.ndarray  # nodes
    weight: np.ndarray  # posterior probability attached to each node (sums to one)
    density: np.ndarray  # normalised posterior density of tau at each node
    mu_mean: np.ndarray  # E[mu | tau, y]
    mu_var: np.ndarray  # Var[mu | tau, y]
    log_evidence: float | None  # log p(y), when both priors are proper


@dataclass(frozen=True)
class TauIntegral:
    """Nodes equally spaced in log(tau), their Simpson weights and the normalised density.

    Unpacks as (nodes, weights, density, log normalising constant); ``refinements`` counts
    the doublings the two-resolution check asked for and ``agreement`` is the largest
    scaled difference between the last two resolutions.
    """

    nodes: np.ndarray
    weight: np.ndarray
    density: np.ndarray
    log_norm: float
    refinements: int
    agreement: float

    def __iter__(self):
        return iter((self.nodes, self.weight, self.density, self.log_norm))


def simpson_coefficients(intervals: int) -> np.ndarray:
    """Composite Simpson coefficients (1, 4, 2, 4, ..., 4, 1) / 3 for an even number of intervals."""
    if intervals % 2 or intervals < 2:
        raise ValueError("Simpson's rule needs an even number of intervals")
    c = np.full(intervals + 1, 2.0)
    c[1::2] = 4.0
    c[[0, -1]] = 1.0
    return c / 3.0



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


def data_spread(yi, vi) -> float:
    """A typical size of tau for these data (spread of the estimates plus a typical sampling error)."""
    return math.sqrt(float(np.var(yi)) + float(np.median(vi)))


@dataclass(frozen=True)
class _Range:
    lower: float  # log(tau) at the lower end
    upper: float  # log(tau) at the upper end
    width: float  # posterior standard deviation of log(tau) near the mode (local curvature)


def _log_mass(log_post, u):
    """Log posterior mass per unit of log(tau) at u = log(tau); -inf where undefined."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        values = np.asarray(log_post(np.exp(u)), dtype=float) + u
    return np.where(np.isfinite(values), values, -np.inf)


def _crossing(f, level, inside, outside):
    """The point between ``inside`` (f > level) and ``outside`` (f <= level) where f = level."""
    from scipy.optimize import brentq

    def g(u):
        return float(f(np.array([u]))[0]) - level

    if g(outside) > 0:
        return outside
    return float(brentq(g, min(inside, outside), max(inside, outside), xtol=1e-12, rtol=1e-12))


def _log_tau_range(log_post, spread: float, tau_prior: Prior) -> _Range:
    """Where the posterior of log(tau) has its mass: the mode, a local width and the ends.

    A scan on the log scale finds the peak, which is refined by a bounded search (so a
    peak narrower than the scan is still found); the ends are where the mass per unit of
    log(tau) has fallen ``_TAIL_DROP`` below the peak, or the prior's support ends.
    """
    from scipy.optimize import minimize_scalar

    support_lo, support_hi = tau_prior.support
    bounded_lo = support_lo > 0
    bounded_hi = math.isfinite(support_hi)
    centre = math.log(max(spread, tau_prior.scale_hint(), 1e-8))
    u_lo = math.log(support_lo) if bounded_lo else centre - _SEARCH_WIDTH
    u_hi = math.log(support_hi) if bounded_hi else centre + _SEARCH_WIDTH
    if bounded_hi and not bounded_lo:
        u_lo = min(u_lo, u_hi - 2 * _SEARCH_WIDTH)

    def f(u):
        return _log_mass(log_post, np.asarray(u, dtype=float))

    for _attempt in range(6):
        scan = np.linspace(u_lo, u_hi, int(math.ceil((u_hi - u_lo) / _SCAN_STEP)) + 1)
        values = f(scan)
        if not np.isfinite(values).any():
            raise InputError("exact posterior: the prior for tau gives no support where the data have likelihood")
        top = int(np.argmax(values))
        a, b = scan[max(top - 1, 0)], scan[min(top + 1, scan.size - 1)]
        best = minimize_scalar(lambda u: -float(f(np.array([u]))[0]), bounds=(a, b), method="bounded",
                               options={"xatol": 1e-12, "maxiter": 500})
        mode, peak = (float(best.x), -float(best.fun)) if -best.fun > values[top] else (float(scan[top]), float(values[top]))
        above = values > peak - _TAIL_DROP
        grow_lo = above[0] and not bounded_lo
        grow_hi = above[-1] and not bounded_hi
        if not (grow_lo or grow_hi):
            break
        # The mass has not died away at an open end of the scan: look further out.
        u_lo -= 2 * _SEARCH_WIDTH if grow_lo else 0.0
        u_hi += 2 * _SEARCH_WIDTH if grow_hi else 0.0
    else:
        raise InputError(
            "exact posterior: the posterior of tau does not vanish at large or small tau (improper or extremely "
            "heavy-tailed); use a proper, lighter-tailed prior for tau"
        )

    def end(level, side):
        """Where f falls to ``level`` going out from the mode to the low (-1) or high (+1) side."""
        hits = np.flatnonzero(values > level)
        if hits.size:
            outermost = hits[0] if side < 0 else hits[-1]
            inner = min(scan[outermost], mode) if side < 0 else max(scan[outermost], mode)
        else:
            inner = mode  # the peak is narrower than the scan and falls between its points
        outside = scan[scan < inner] if side < 0 else scan[scan > inner]
        if not outside.size:
            return float(scan[0] if side < 0 else scan[-1])  # a support boundary that holds mass
        return _crossing(f, level, inner, outside[-1] if side < 0 else outside[0])

    lower, upper = end(peak - _TAIL_DROP, -1), end(peak - _TAIL_DROP, +1)
    # Local width: half the distance between the points 1/2 log unit below the peak
    # (one standard deviation for a normal shape), searched only next to the mode.
    near = (scan >= mode - 3.0) & (scan <= mode + 3.0)
    local_scan, local_values = scan[near], values[near]
    left = local_scan[(local_scan < mode) & (local_values <= peak - 0.5)]
    right = local_scan[(local_scan > mode) & (local_values <= peak - 0.5)]
    half_lo = mode - _crossing(f, peak - 0.5, mode, left[-1]) if left.size else None
    half_hi = _crossing(f, peak - 0.5, mode, right[0]) - mode if right.size else None
    known = [h for h in (half_lo, half_hi) if h is not None and h > 0]
    width = min(known) if known else 1.0
    return _Range(float(lower), float(upper), float(max(width, 1e-300)))


def _simpson_summaries(u, log_mass, intervals):
    """Log normaliser, mean and sd of log(tau) by Simpson's rule on ``intervals`` intervals."""
    h = (u[-1] - u[0]) / intervals
    peak = log_mass.max()
    mass = np.exp(log_mass - peak) * simpson_coefficients(intervals) * h
    total = mass.sum()
    p = mass / total
    mean = float(np.sum(p * u))
    sd = float(math.sqrt(max(np.sum(p * (u - mean) ** 2), 0.0)))
    return float(peak + math.log(total)), mean, sd


def _agreement(fine, coarse) -> float:
    """Largest scaled difference of (log normaliser, mean and sd of log tau) between resolutions."""
    scale = max(fine[2], 1e-12)
    return max(abs(fine[0] - coarse[0]), abs(fine[1] - coarse[1]) / scale, abs(fine[2] - coarse[2]) / scale)


def integrate_tau(log_post, spread: float, tau_prior: Prior, points: int = 800,
                  tolerance: float = ACCURACY_TOLERANCE) -> TauIntegral:
    """Simpson's rule in log(tau) over the range that holds the posterior mass.

    The nodes are equally spaced in log(tau) between the ends found by ``_log_tau_range``,
    at least ``points`` intervals and ``_NODES_PER_SD`` per local standard deviation. The
    number of intervals doubles until the normalising constant and the mean and sd of
    log(tau) agree with the half-resolution values within ``tolerance``.
    """
    where = _log_tau_range(log_post, spread, tau_prior)
    span = where.upper - where.lower
    if span <= 0:
        raise InputError("exact posterior: the posterior of tau has no width to integrate over")
    intervals = max(int(points), int(math.ceil(span / where.width * _NODES_PER_SD)), 8)
    intervals = min(int(math.ceil(intervals / 4)) * 4, _MAX_INTERVALS)
    u = np.linspace(where.lower, where.upper, intervals + 1)
    values = _log_mass(log_post, u)
    refinements = 0
    while True:
        fine = _simpson_summaries(u, values, intervals)
        coarse = _simpson_summaries(u[::2], values[::2], intervals // 2)
        agreement = _agreement(fine, coarse)
        if agreement <= tolerance or intervals * 2 > _MAX_INTERVALS:
            break
        # Halve the spacing; the existing nodes are kept, only the midpoints are new.
        midpoints = 0.5 * (u[1:] + u[:-1])
        new_u = np.empty(2 * intervals + 1)
        new_values = np.empty_like(new_u)
        new_u[::2], new_u[1::2] = u, midpoints
        new_values[::2], new_values[1::2] = values, _log_mass(log_post, midpoints)
        u, values, intervals = new_u, new_values, 2 * intervals
        refinements += 1
    if not np.isfinite(values).any():
        raise InputError("exact posterior: the posterior of tau vanishes everywhere on the integration range")
    log_norm = fine[0]
    nodes = np.exp(u)
    h = (u[-1] - u[0]) / intervals
    weight = np.exp(values - log_norm) * simpson_coefficients(intervals) * h
    weight /= weight.sum()
    density = np.exp(values - u - log_norm)  # per unit of tau: mass per log(tau) divided by tau
    return TauIntegral(nodes, weight, density, log_norm, refinements, float(agreement))


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



# Reported quantities of the posterior agree between the grid and its half-resolution
# version within this (probabilities absolutely; locations in posterior standard
# deviations; tau quantiles and the evidence on the log scale).
DIAGNOSTIC_TOLERANCE = 1e-4


def _rule_coefficients(intervals: int) -> np.ndarray:
    """Simpson coefficients for an even number of intervals, trapezoid ones otherwise."""
    if intervals % 2 == 0:
        return simpson_coefficients(intervals)
    c = np.ones(intervals + 1)
    c[[0, -1]] = 0.5
    return c


def _panel_integral(g0, g1, g2, x, h):
    """Integral from a panel's start to x (in node spacings, 0..2) of the parabola through g0, g1, g2."""
    return h * (g0 * (x**3 / 6 - 0.75 * x**2 + x) - g1 * (x**3 / 3 - x**2) + g2 * (x**3 / 6 - 0.25 * x**2))


class _LogTauDistribution:
    """Cdf and quantiles of tau from its density at nodes equally spaced in log(tau).

    The mass per unit of log(tau) is taken as the parabola through each Simpson panel's
    three nodes, so the cdf at panel ends is the Simpson cumulative sum and the quantile
    solves a cubic within one panel.
    """

    def __init__(self, tau, density):
        u = np.log(tau)
        intervals = u.size - 1
        if intervals < 2 or intervals % 2 or not np.allclose(np.diff(u), (u[-1] - u[0]) / intervals, rtol=1e-6, atol=1e-12):
            raise ValueError("tau nodes must be equally spaced in log(tau), with an even number of intervals")
        self.u0, self.h = float(u[0]), float((u[-1] - u[0]) / intervals)
        g = np.asarray(density, dtype=float) * tau
        self.g0, self.g1, self.g2 = g[0:-1:2], g[1::2], g[2::2]
        cumulative = np.concatenate([[0.0], np.cumsum(_panel_integral(self.g0, self.g1, self.g2, 2.0, self.h))])
        self.total = float(cumulative[-1])
        self.cumulative = cumulative
        self.panels = self.g0.size

    def _at(self, panel, x):
        return self.cumulative[panel] + _panel_integral(self.g0[panel], self.g1[panel], self.g2[panel], x, self.h)

    def cdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            position = np.clip((np.log(np.maximum(x, 0.0)) - self.u0) / self.h, 0.0, 2.0 * self.panels)
        panel = np.clip(np.floor(position / 2.0).astype(int), 0, self.panels - 1)
        return np.clip(self._at(panel, position - 2.0 * panel) / self.total, 0.0, 1.0)

    def quantile(self, probs) -> np.ndarray:
        target = np.asarray(probs, dtype=float) * self.total
        panel = np.clip(np.searchsorted(self.cumulative, target, side="right") - 1, 0, self.panels - 1)
        lo, hi = np.zeros_like(target), np.full_like(target, 2.0)
        for _ in range(60):  # bisection to below float precision on [0, 2]
            mid = 0.5 * (lo + hi)
            below = self._at(panel, mid) < target
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return np.exp(self.u0 + (2.0 * panel + 0.5 * (lo + hi)) * self.h)


@dataclass(frozen=True)
class ShareOfSettings:
    """The share of new settings whose true effect is below ``threshold`` (log scale), with its interval.

    For given (mu, tau) the share is Phi((threshold - mu) / tau); it is uncertain because mu and
    tau are. ``mean`` equals the predictive probability P(new effect < threshold); ``low``/``high``
    are the posterior quantiles of the share itself.
    """

    threshold: float
    mean: float
    low: float
    high: float
    level: float

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "threshold_ratio": math.exp(self.threshold), "mean": self.mean,
                "low": self.low, "high": self.high, "level": self.level}


@dataclass(frozen=True)
class IntegrationAccuracy:
    """The reported quantities at full and at half resolution, and whether they agree."""

    ok: bool
    grid_points: int
    tolerance: float
    max_difference: float
    differences: dict[str, float]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "check": "grid vs half-resolution grid", "grid_points": self.grid_points,
                "tolerance": self.tolerance, "max_difference": self.max_difference, "differences": dict(self.differences)}


def _grid_summaries(tau, density, mu_mean, mu_var, log_evidence) -> dict[str, float]:
    """Reported quantities of a grid posterior; weights follow from the density at the nodes."""
    intervals = tau.size - 1
    u = np.log(tau)
    h = (u[-1] - u[0]) / intervals
    mass = density * tau * _rule_coefficients(intervals) * h
    weight = mass / mass.sum()
    mu_sd = np.sqrt(mu_var)
    pred_sd = np.sqrt(mu_var + tau**2)
    mu = mixture_marginal(weight, mu_mean, mu_sd)
    pred = mixture_marginal(weight, mu_mean, pred_sd)
    q = _LogTauDistribution(tau, density).quantile([0.025, 0.5, 0.975])
    out = {
        "mu_mean": mu.mean / mu.sd, "mu_sd": math.log(mu.sd), "mu_q025": mu.q025 / mu.sd, "mu_q975": mu.q975 / mu.sd,
        "pred_q025": pred.q025 / pred.sd, "pred_q975": pred.q975 / pred.sd,
        "p_mu_below_0": float(mixture_cdf(0.0, weight, mu_mean, mu_sd)),
        "p_pred_below_0": float(mixture_cdf(0.0, weight, mu_mean, pred_sd)),
        "tau_q025": math.log(q[0]), "tau_median": math.log(q[1]), "tau_q975": math.log(q[2]),
    }
    if log_evidence is not None:
        out["log_evidence"] = float(log_evidence) + math.log(float(mass.sum()))
    return out


def check_grid_accuracy(grid: TauGrid, tolerance: float = DIAGNOSTIC_TOLERANCE) -> IntegrationAccuracy:
    """Compare the reported quantities on the grid with those on every other node.

    The half-resolution rule is much less accurate than the full one, so agreement within
    ``tolerance`` bounds the error of the reported values well below it. Locations are
    compared in posterior standard deviations, spreads and tau quantiles on the log scale.
    """
    points = int(grid.tau.size)
    try:
        fine = _grid_summaries(grid.tau, grid.density, grid.mu_mean, grid.mu_var, 0.0 if grid.log_evidence is not None else None)
        half = slice(None, None, 2)
        coarse = _grid_summaries(grid.tau[half], grid.density[half], grid.mu_mean[half], grid.mu_var[half],
                                 0.0 if grid.log_evidence is not None else None)
    except ValueError:
        return IntegrationAccuracy(False, points, tolerance, math.inf, {})
    differences = {name: abs(fine[name] - coarse[name]) for name in fine}
    worst = max(differences.values())
    ok = bool(np.isfinite(worst) and worst <= tolerance)
    return IntegrationAccuracy(ok, points, tolerance, float(worst), differences)


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
    def _tau_distribution(self) -> _LogTauDistribution:
        return _LogTauDistribution(self.grid.tau, self.grid.density)

    def tau_cdf(self, x) -> np.ndarray:
        """Posterior P(tau <= x)."""
        return self._tau_distribution.cdf(x)

    def tau_quantile(self, probs) -> np.ndarray:
        return self._tau_distribution.quantile(probs)

    @cached_property
    def accuracy(self) -> IntegrationAccuracy:
        """Agreement of the reported quantities between the grid and its half-resolution version."""
        return check_grid_accuracy(self.grid)

    @property
    def flag(self) -> str | None:
        a = self.accuracy
        if a.ok:
            return None
        worst = max(a.differences, key=a.differences.get) if a.differences else "grid"
        return (f"numerical integration over tau is not accurate: {worst} changes by {a.max_difference:.2g} between "
                f"two grid resolutions (tolerance {a.tolerance:g})")

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

    def share_cdf(self, x: float, threshold: float = 0.0) -> float:
        """Posterior P(share of new settings with an effect below ``threshold`` <= x), exactly.

        share <= x  <=>  mu >= threshold - tau * z_x (z_x the standard normal quantile of x), and
        mu given tau is normal on every node of the grid.
        """
        from scipy.stats import norm

        if x <= 0.0:
            return 0.0
        if x >= 1.0:
            return 1.0
        g = self.grid
        bound = threshold - g.tau * norm.ppf(x)
        return float(np.sum(g.weight * norm.sf((bound - g.mu_mean) / np.sqrt(g.mu_var))))

    def share_benefiting(self, threshold: float = 0.0, level: float = 0.95) -> ShareOfSettings:
        """The share of new settings with an effect below ``threshold`` and its ``level`` interval."""
        from scipy.optimize import brentq

        if not 0 < level < 1:
            raise InputError(f"level must be between 0 and 1, got {level}")
        if self.moderators:
            raise InputError("the share of new settings is computed for the model without moderators")

        def quantile(p: float) -> float:
            low, high = 1e-12, 1.0 - 1e-12
            if self.share_cdf(low, threshold) >= p:
                return 0.0
            if self.share_cdf(high, threshold) <= p:
                return 1.0
            return float(brentq(lambda x: self.share_cdf(x, threshold) - p, low, high, xtol=1e-10))

        tail = (1.0 - level) / 2.0
        return ShareOfSettings(threshold=float(threshold), mean=self.p_pred_below(threshold),
                               low=quantile(tail), high=quantile(1.0 - tail), level=level)

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

    def to_inference_data(self, draws: int = 1000, chains: int = 4, seed: int = 0):
        """An ArviZ InferenceData of ``mu``, ``tau`` and ``theta_new`` (a new study's effect), so that
        ArviZ summaries and plots apply to the exact path as to MCMC fits.

        Each variable is drawn by inverse CDF from its exact marginal at stratified uniform
        probabilities (one per draw, shuffled across chains): the draws reproduce the marginals,
        not the dependence between mu and tau.

        >>> post = exact_meta([-0.89, -1.59, -1.35], [0.33, 0.19, 0.42])
        >>> idata = post.to_inference_data(draws=500, chains=2)
        >>> dict(idata.posterior.sizes)
        {'chain': 2, 'draw': 500}
        >>> abs(float(idata.posterior["mu"].mean()) - post.mu.mean) < 0.01
        True
        """
        from research.bayes._arviz import arviz, quiet

        if draws < 1 or chains < 1:
            raise InputError(f"to_inference_data: draws and chains must be at least 1, got {draws} and {chains}")
        rng = np.random.default_rng(seed)
        n = draws * chains

        def stratified() -> np.ndarray:
            return rng.permutation((np.arange(n) + rng.uniform(size=n)) / n)

        values = {"mu": self.mu_quantile(stratified()), "tau": self.tau_quantile(stratified()),
                  "theta_new": self.pred_quantile(stratified())}
        az = arviz()
        with quiet():
            return az.from_dict(posterior={k: np.asarray(v, dtype=float).reshape(chains, draws)
                                           for k, v in values.items()},
                                attrs={"method": "exact (inverse-CDF draws from the exact marginals)",
                                       "mu_prior": self.mu_prior.spec, "tau_prior": self.tau_prior.spec})

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
            "diagnostics": self.accuracy.to_dict(),
            "flag": self.flag,
        }

    def summary(self) -> str:
        return format_summary(
            title="Bayesian random-effects meta-analysis (exact, integration over tau)",
            k=self.k,
            priors={"mu": self.mu_prior.label, "tau": self.tau_prior.label},
            rows={"mu": self.mu, "tau": self.tau, "new setting": self.predictive()},
            probabilities={"P(mu < 0)": self.p_mu_below(0.0), "P(new setting < 0)": self.p_pred_below(0.0)},
            notes=[self._grid_note(), self.flag and f"*** {self.flag} ***"],
        )

    def _grid_note(self) -> str:
        a = self.accuracy
        note = (f"{self.grid.tau.size} tau nodes (log scale); half-resolution check "
                f"{'passed' if a.ok else 'FAILED'} (largest change {a.max_difference:.1g})")
        return note + (f"; log evidence {self.log_evidence:.3f}" if self.log_evidence is not None else "")

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


__all__ = ["ExactPosterior", "IntegrationAccuracy", "ShareOfSettings", "TauGrid", "TauIntegral", "check_grid_accuracy", "exact_meta",
           "format_summary", "integrate_tau", "tau_grid"]
