"""Finite mixtures of normal distributions.

The exact posterior of ``mu`` (and the predictive distribution of a new effect) is a
mixture of normals over a grid of tau values; posterior-draw summaries with a normal
likelihood are the same kind of object with equal weights. Everything here works on
arrays whose last axis indexes the mixture components, so many mixtures (e.g. one per
preposterior simulation) can be handled at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

# Bisection halves the bracket each step; 64 steps take any bracket below float precision.
_BISECTION_STEPS = 64


@dataclass(frozen=True)
class Marginal:
    """Summary of one scalar posterior or predictive distribution."""

    mean: float
    sd: float
    median: float
    q025: float
    q975: float

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "sd": self.sd, "median": self.median, "q025": self.q025, "q975": self.q975}

    @property
    def width(self) -> float:
        """Width of the central 95% interval."""
        return self.q975 - self.q025


def mixture_cdf(x, weights, means, sds):
    """P(X <= x) for a normal mixture; ``x`` broadcasts against the leading axes."""
    x = np.asarray(x, dtype=float)[..., None]
    return np.sum(weights * special.ndtr((x - means) / sds), axis=-1)


def mixture_pdf(x, weights, means, sds):
    x = np.asarray(x, dtype=float)[..., None]
    z = (x - means) / sds
    return np.sum(weights * np.exp(-0.5 * z * z) / (sds * np.sqrt(2.0 * np.pi)), axis=-1)


def mixture_moments(weights, means, sds):
    """Mean and standard deviation of a normal mixture (weights sum to one)."""
    mean = np.sum(weights * means, axis=-1)
    second = np.sum(weights * (sds**2 + means**2), axis=-1)
    return mean, np.sqrt(np.maximum(second - mean**2, 0.0))


def quantiles_by_bisection(cdf, probs, lower, upper):
    """Solve cdf(x) = p for each p by bisection.

    ``cdf`` maps an array of x (shape ``probs.shape``) to probabilities; ``lower`` and
    ``upper`` bracket every solution. Vectorised, so it solves many quantiles at once.
    """
    probs = np.asarray(probs, dtype=float)
    lo = np.broadcast_to(np.asarray(lower, dtype=float), probs.shape).copy()
    hi = np.broadcast_to(np.asarray(upper, dtype=float), probs.shape).copy()
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        below = cdf(mid) < probs
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
        if np.all(hi - lo <= 1e-12 * np.maximum(1.0, np.abs(mid))):
            break
    return 0.5 * (lo + hi)


def mixture_quantile(probs, weights, means, sds):
    """Quantiles of a normal mixture, or of many mixtures at once.

    With component arrays of shape (G,), returns an array shaped like ``probs``. With
    component arrays of shape (n, G) (n mixtures), ``probs`` must be 1-D (q,) and the
    result has shape (n, q).
    """
    probs = np.asarray(probs, dtype=float)
    weights, means, sds = (np.asarray(a, dtype=float) for a in (weights, means, sds))
    live = weights > 0
    lower = np.where(live, means - 12.0 * sds, np.inf).min(axis=-1)
    upper = np.where(live, means + 12.0 * sds, -np.inf).max(axis=-1)
    if weights.ndim == 1:
        return quantiles_by_bisection(lambda x: mixture_cdf(x, weights, means, sds), probs, lower, upper)
    if probs.ndim != 1:
        raise ValueError("for many mixtures, probs must be one-dimensional")
    grid_probs = np.broadcast_to(probs[None, :], (weights.shape[0], probs.size))
    w, m, s = weights[:, None, :], means[:, None, :], sds[:, None, :]
    return quantiles_by_bisection(
        lambda x: np.sum(w * special.ndtr((x[..., None] - m) / s), axis=-1), grid_probs, lower[:, None], upper[:, None]
    )


def mixture_marginal(weights, means, sds) -> Marginal:
    mean, sd = mixture_moments(weights, means, sds)
    q025, median, q975 = mixture_quantile(np.array([0.025, 0.5, 0.975]), weights, means, sds)
    return Marginal(float(mean), float(sd), float(median), float(q025), float(q975))


def draws_marginal(draws) -> Marginal:
    """Summary of a one-dimensional array of posterior or predictive draws."""
    draws = np.asarray(draws, dtype=float).ravel()
    q025, median, q975 = np.quantile(draws, [0.025, 0.5, 0.975])
    return Marginal(float(draws.mean()), float(draws.std(ddof=1)), float(median), float(q025), float(q975))
