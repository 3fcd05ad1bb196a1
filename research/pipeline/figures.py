"""The figures of one analysis as SVG text (drawn by research.plots; no statistics here)."""

from __future__ import annotations

import io

import pandas as pd

from research.analyses import Analysis

RATIO_AXIS = "ratio with / without (< 1 = fewer events)"


def svg_text(figure) -> str:
    """A matplotlib figure as SVG markup, closed afterwards; stable between builds."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "sightline"}):  # stable element ids between builds
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def pooled_figures(analysis: Analysis, frame: pd.DataFrame, fit) -> dict[str, str]:
    """Forest and funnel plots of the frequentist fit."""
    from research.plots.meta import forest_plot, funnel_plot

    labels = [f"{row.label} ({row.outcome})" for row in frame.itertuples()]
    return {
        "forest": svg_text(forest_plot(fit, labels=labels, ratio=True, xlabel=RATIO_AXIS, title=analysis.title)),
        "funnel": svg_text(funnel_plot(fit, ratio=True, xlabel=RATIO_AXIS)),
    }


def posterior_figures(posterior) -> dict[str, str]:
    """The exact posterior of the average change and the predictive distribution for a new setting."""
    from research.plots.bayes import plot_mu_posterior, plot_predictive

    return {"posterior": svg_text(plot_mu_posterior(posterior)), "predictive": svg_text(plot_predictive(posterior))}


def trace_figure(fit) -> dict[str, str]:
    """The trace plot of one MCMC fit, keyed by its model."""
    from research.plots.bayes import plot_trace

    return {f"trace_{fit.model}": svg_text(plot_trace(fit))}
