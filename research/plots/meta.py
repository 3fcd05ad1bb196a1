"""Forest and funnel plots for fitted meta-analyses (matplotlib figures, no pyplot state).

Both take results from :mod:`research.meta` and return a ``matplotlib.figure.Figure``; save it
with ``fig.savefig(path)``. With ``ratio=True`` effects on the log scale (log risk ratios, log
relative effect sizes, log CMFs) are drawn as ratios on a logarithmic axis with the null at 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from research.errors import InputError

STUDY = "#1f2933"
POOLED = "#1b5e9b"
FILLED = "#b44b2f"
GUIDE = "#9aa5b1"


def _scale(values, ratio: bool):
    return np.exp(values) if ratio else np.asarray(values, dtype=float)


def _format(value: float, ratio: bool) -> str:
    # ratios near 1 need the second decimal; effects on other scales are shown the same way
    return f"{value:.2f}"


def forest_plot(
    result,
    labels: Sequence[str] | None = None,
    *,
    ratio: bool = False,
    xlabel: str | None = None,
    title: str | None = None,
    show_prediction: bool = True,
) -> Figure:
    """Forest plot: one row per study (square sized by weight, CI whisker) and the pooled diamond.

    The numbers printed on the right are the estimate, its CI and the weight. For an
    intercept-only model the pooled estimate is drawn as a diamond, with its prediction interval
    as a thin bar beneath.
    """
    k = result.k
    labels = list(result.labels if labels is None else labels)
    if len(labels) != k:
        raise InputError(f"labels: {len(labels)} labels for {k} studies")
    crit = stats.norm.isf((1 - result.level) / 2)
    se = np.sqrt(result.vi)
    low, high = result.yi - crit * se, result.yi + crit * se
    weights = result.weights
    pooled = result.intercept_only

    rows = k + (3 if pooled else 1)
    fig = Figure(figsize=(9.0, 0.32 * rows + 1.4))
    ax = fig.add_axes((0.30, 0.9 / (0.32 * rows + 1.4), 0.42, 1 - 1.3 / (0.32 * rows + 1.4)))
    y = np.arange(k)[::-1] + (3 if pooled else 1)

    size = 20 + 180 * weights / weights.max()
    ax.hlines(y, _scale(low, ratio), _scale(high, ratio), color=STUDY, linewidth=1)
    ax.scatter(_scale(result.yi, ratio), y, s=size, marker="s", color=STUDY, zorder=3)
    if pooled:
        est = result.estimate
        lo, hi = float(result.ci_low[0]), float(result.ci_high[0])
        diamond_x = _scale(np.array([lo, est, hi, est]), ratio)
        diamond_y = np.array([1.5, 1.8, 1.5, 1.2])
        ax.fill(diamond_x, diamond_y, color=POOLED, zorder=3)
        ax.axvline(_scale(est, ratio), color=POOLED, linewidth=0.8, linestyle=":", zorder=1)
        if show_prediction and result.method != "EE":
            pred = result.predict()
            ax.hlines(0.6, _scale(pred.pi_low[0], ratio), _scale(pred.pi_high[0], ratio), color=POOLED, linewidth=2)
    ax.axvline(1.0 if ratio else 0.0, color=GUIDE, linewidth=1, zorder=0)
    if ratio:
        _ratio_axis(ax)
    ax.set_ylim(0, y.max() + 1)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(xlabel or ("Ratio (log scale)" if ratio else "Effect size"))

    # text columns: labels on the left, numbers on the right (axes-fraction x, data y)
    transform = ax.get_yaxis_transform()
    ax.text(-0.02, y.max() + 0.7, "Study", transform=transform, ha="right", va="center", fontweight="bold")
    ax.text(1.02, y.max() + 0.7, f"Estimate [{round(100 * result.level)}% CI]   Weight", transform=transform,
            ha="left", va="center", fontweight="bold")
    for yi_, label, e, lo_, hi_, w in zip(y, labels, result.yi, low, high, weights):
        ax.text(-0.02, yi_, label, transform=transform, ha="right", va="center")
        ax.text(1.02, yi_, f"{_format(_scale(e, ratio), ratio)} [{_format(_scale(lo_, ratio), ratio)}, "
                f"{_format(_scale(hi_, ratio), ratio)}]   {w:4.1f}%", transform=transform, ha="left", va="center",
                family="monospace")
    if pooled:
        name = "Common effect" if result.method == "EE" else f"Random effects ({result.method})"
        ax.text(-0.02, 1.5, name, transform=transform, ha="right", va="center", fontweight="bold")
        ax.text(1.02, 1.5, f"{_format(_scale(result.estimate, ratio), ratio)} "
                f"[{_format(_scale(result.ci_low[0], ratio), ratio)}, {_format(_scale(result.ci_high[0], ratio), ratio)}]"
                "  100.0%", transform=transform, ha="left", va="center", family="monospace", fontweight="bold")
        if show_prediction and result.method != "EE":
            pred = result.predict()
            ax.text(-0.02, 0.6, "Prediction interval", transform=transform, ha="right", va="center", color=POOLED)
            ax.text(1.02, 0.6, f"[{_format(_scale(pred.pi_low[0], ratio), ratio)}, "
                    f"{_format(_scale(pred.pi_high[0], ratio), ratio)}]", transform=transform, ha="left",
                    va="center", family="monospace", color=POOLED)
    heterogeneity = (f"tau\u00b2 = {result.tau2:.3f}, I\u00b2 = {result.i2:.0f}%, "
                     f"Q({result.q_df}) = {result.q:.1f}, p {_p(result.q_p)}")
    fig.suptitle(title or "Forest plot", x=0.02, ha="left", fontweight="bold")
    fig.text(0.02, 0.015, f"Heterogeneity: {heterogeneity}", ha="left", va="bottom", fontsize=9, color="#52606d")
    return fig


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


_RATIO_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _ratio_axis(ax) -> None:
    """Logarithmic axis labelled with plain ratios (0.2, 0.5, 1, 2) instead of powers of ten."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    ticks = [t for t in _RATIO_TICKS if lo <= t <= hi] or [1]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t:g}" for t in ticks])


def funnel_plot(
    result,
    *,
    ratio: bool = False,
    xlabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """Funnel plot: effect against standard error (0 at the top) with the pseudo-confidence funnel.

    ``result`` is a fitted model or a trim-and-fill result; imputed studies of the latter are
    drawn as open circles and the funnel is centred on the adjusted estimate.
    """
    filled_yi = filled_vi = np.empty(0)
    if hasattr(result, "filled_yi"):  # a trim-and-fill result
        filled_yi, filled_vi = result.filled_yi, result.filled_vi
        fit = result.fit
        observed_yi, observed_vi = fit.yi[: fit.k - filled_yi.size], fit.vi[: fit.k - filled_vi.size]
    else:
        fit = result
        observed_yi, observed_vi = fit.yi, fit.vi
    if not fit.intercept_only:
        raise InputError("a funnel plot is drawn for models without moderators")
    centre = fit.estimate
    crit = stats.norm.isf((1 - fit.level) / 2)
    se_max = float(np.sqrt(np.concatenate([observed_vi, filled_vi]).max())) * 1.05
    se_grid = np.linspace(0, se_max, 100)

    fig = Figure(figsize=(6.0, 5.6))
    ax = fig.add_axes((0.13, 0.25, 0.82, 0.67))
    ax.fill_betweenx(se_grid, _scale(centre - crit * se_grid, ratio), _scale(centre + crit * se_grid, ratio),
                     color="#e4e7eb", zorder=0, label=f"{round(100 * fit.level)}% pseudo-confidence region")
    ax.plot(_scale(centre - crit * se_grid, ratio), se_grid, color=GUIDE, linewidth=0.8)
    ax.plot(_scale(centre + crit * se_grid, ratio), se_grid, color=GUIDE, linewidth=0.8)
    ax.axvline(_scale(centre, ratio), color=POOLED, linewidth=1.2, label="pooled estimate")
    ax.scatter(_scale(observed_yi, ratio), np.sqrt(observed_vi), color=STUDY, s=28, zorder=3, label="studies")
    if filled_yi.size:
        ax.scatter(_scale(filled_yi, ratio), np.sqrt(filled_vi), facecolors="white", edgecolors=FILLED, s=28,
                   zorder=3, label=f"imputed by trim-and-fill ({filled_yi.size})")
    ax.set_ylim(se_max, 0)  # most precise studies at the top
    if ratio:
        _ratio_axis(ax)
    ax.set_ylabel("Standard error")
    ax.set_xlabel(xlabel or ("Ratio (log scale)" if ratio else "Effect size"))
    ax.set_title(title or "Funnel plot", loc="left", fontweight="bold")
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    # legend below the axes so it never hides a study
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    return fig
