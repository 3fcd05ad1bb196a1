"""Plots of Bayesian meta-analysis results (exact or MCMC).

Each function takes a result object, draws on a given matplotlib Axes or a new Figure,
and returns the Figure. Nothing here computes statistics beyond evaluating densities the
result provides.
"""

from __future__ import annotations

import warnings

import numpy as np
from matplotlib.figure import Figure

BENEFIT_COLOUR = "#2a9d8f"
LINE_COLOUR = "#264653"
PRIOR_COLOUR = "#e76f51"


def _axes(ax, size=(6.0, 3.6)):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _span(result, quantity: str) -> np.ndarray:
    marginal = result.mu if quantity == "mu" else result.predictive() if quantity == "predictive" else result.tau
    pad = 1.5 * (marginal.q975 - marginal.q025) + 1e-9
    lower = marginal.q025 - pad
    if quantity == "tau":
        lower = 0.0
    return np.linspace(lower, marginal.q975 + pad, 600)


def plot_mu_posterior(result, threshold: float = 0.0, ax=None) -> Figure:
    """Posterior density of mu with the area below ``threshold`` (benefit) shaded and labelled."""
    fig, ax = _axes(ax)
    x = _span(result, "mu")
    density = result.density(x, "mu")
    ax.plot(x, density, color=LINE_COLOUR, lw=1.8, label="posterior of mu")
    below = x <= threshold
    p = result.p_mu_below(threshold)
    ax.fill_between(x[below], density[below], color=BENEFIT_COLOUR, alpha=0.45, label=f"P(mu < {threshold:g}) = {p:.3f}")
    ax.axvline(threshold, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("mean effect mu (log ratio; < 0 = fewer events)")
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=8)
    _flag(ax, result)
    return fig


def plot_predictive(result, threshold: float = 0.0, ax=None) -> Figure:
    """Predictive density of the effect in a new setting, with mu for comparison."""
    fig, ax = _axes(ax)
    x = _span(result, "predictive")
    pred = result.density(x, "predictive")
    ax.plot(x, result.density(x, "mu"), color="grey", lw=1.0, ls="--", label="mean effect mu")
    ax.plot(x, pred, color=LINE_COLOUR, lw=1.8, label="new setting")
    below = x <= threshold
    p = result.p_pred_below(threshold)
    ax.fill_between(x[below], pred[below], color=BENEFIT_COLOUR, alpha=0.35, label=f"P(new < {threshold:g}) = {p:.3f}")
    m = result.predictive()
    for bound in (m.q025, m.q975):
        ax.axvline(bound, color=LINE_COLOUR, lw=0.8, ls=":")
    ax.set_xlabel("effect (log ratio; < 0 = fewer events); dotted: 95% predictive interval")
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=8)
    _flag(ax, result)
    return fig


def plot_tau_posterior(result, ax=None, show_prior: bool = True) -> Figure:
    """Posterior density of the between-study standard deviation tau, with its prior."""
    fig, ax = _axes(ax)
    x = _span(result, "tau")
    ax.plot(x, result.density(x, "tau"), color=LINE_COLOUR, lw=1.8, label="posterior")
    prior = getattr(result, "tau_prior", None) or getattr(getattr(result, "priors", None), "tau", None)
    if show_prior and prior is not None:
        ax.plot(x, np.exp(prior.logpdf(x)), color=PRIOR_COLOUR, lw=1.0, ls="--", label=f"prior {prior.label}")
    ax.set_xlabel("between-study sd tau")
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=8)
    return fig


def posterior_plot(result, title: str | None = None, threshold: float = 0.0) -> Figure:
    """Two panels: the posterior of mu with P(benefit) shaded, and the predictive distribution."""
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot_mu_posterior(result, threshold=threshold, ax=left)
    plot_predictive(result, threshold=threshold, ax=right)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _mcmc_names(result, var_names):
    if var_names is not None:
        return list(var_names)
    return [n for n in ("mu", "tau", "nu", "beta", "bias", "bias_spread") if n in result.idata.posterior]


def plot_trace(result, var_names=None) -> Figure:
    """Trace and density per chain (arviz) for an MCMC result."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # arviz 0.23 on matplotlib 3.11
        axes = az.plot_trace(result.idata, var_names=_mcmc_names(result, var_names), compact=True)
    return _finish(np.asarray(axes).ravel()[0].figure, result)


def plot_rank(result, var_names=None) -> Figure:
    """Rank plots (arviz): flat histograms per chain indicate good mixing."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        axes = az.plot_rank(result.idata, var_names=_mcmc_names(result, var_names))
    return _finish(np.asarray(axes).ravel()[0].figure, result)


def _finish(fig, result):
    if result.flag:
        fig.suptitle(result.flag, color="firebrick", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95 if result.flag else 1))
    return fig


def _flag(ax, result) -> None:
    flag = getattr(result, "flag", None)
    if flag:
        ax.set_title(flag, color="firebrick", fontsize=8)
