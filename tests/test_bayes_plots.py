"""Plots of Bayesian results: the benefit area and labels come from the result; files are written."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from research.bayes import exact_meta, mcmc_meta
from research.plots.bayes import plot_mu_posterior, plot_predictive, plot_rank, plot_tau_posterior, plot_trace, posterior_plot


@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(4)
    vi = rng.uniform(0.01, 0.08, 7)
    frame = pd.DataFrame({"id": list("abcdefg"), "yi": rng.normal(-0.15, 0.2, 7), "vi": vi})
    return exact_meta(frame)


def test_mu_posterior_shades_the_benefit_area(fit):
    fig = plot_mu_posterior(fit)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"P(mu < 0) = {fit.p_mu_below(0.0):.3f}" in labels
    # The shaded polygon's area is the posterior probability of benefit.
    shaded = ax.collections[0].get_paths()[0].vertices
    x, y = shaded[:, 0], shaded[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    assert area == pytest.approx(fit.p_mu_below(0.0), abs=0.01)


def test_predictive_marks_the_interval(fit):
    fig = plot_predictive(fit)
    ax = fig.axes[0]
    vertical = sorted(line.get_xdata()[0] for line in ax.lines if line.get_xdata()[0] == line.get_xdata()[1])
    assert vertical == pytest.approx([fit.predictive().q025, fit.predictive().q975])


def test_posterior_plot_and_tau_plot_save(fit, tmp_path):
    fig = posterior_plot(fit, title="CCTV and crime")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig.savefig(tmp_path / "posterior.png")
    plot_tau_posterior(fit).savefig(tmp_path / "tau.png")
    assert (tmp_path / "posterior.png").stat().st_size > 0 and (tmp_path / "tau.png").stat().st_size > 0


@pytest.mark.slow
def test_trace_and_rank_plots_carry_the_flag(tmp_path):
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"id": list("abcdefg"), "yi": rng.normal(-0.15, 0.2, 7), "vi": rng.uniform(0.01, 0.08, 7)})
    short = mcmc_meta(frame, draws=30, tune=20, cache_dir=None)
    for draw in (plot_trace, plot_rank):
        fig = draw(short)
        assert short.flag in fig._suptitle.get_text()
        fig.savefig(tmp_path / f"{draw.__name__}.png")
    assert plot_mu_posterior(short).axes[0].get_title() == short.flag
