"""Forest and funnel plots show what the fitted model says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.errors import InputError
from research.meta import rma, trimfill
from research.plots.meta import forest_plot, funnel_plot

BCG = pd.read_csv(Path(__file__).parent / "reference" / "data" / "bcg.csv")


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def test_forest_plot_rows_labels_and_pooled_diamond():
    fit = rma(BCG["yi"], BCG["vi"], labels=BCG["label"])
    fig = forest_plot(fit, ratio=True)
    ax = fig.axes[0]
    texts = _texts(fig)
    assert all(label in texts for label in BCG["label"])
    squares = ax.collections[1]  # the scatter of study estimates
    assert squares.get_offsets().shape == (13, 2)
    assert np.allclose(squares.get_offsets()[:, 0], np.exp(BCG["yi"]))
    assert ax.get_xscale() == "log"
    assert "Random effects (REML)" in texts
    pooled = f"{np.exp(fit.estimate):.2f} [{np.exp(fit.ci_low[0]):.2f}, {np.exp(fit.ci_high[0]):.2f}]  100.0%"
    assert pooled in texts
    assert any(t.startswith("Heterogeneity: tau\u00b2 = 0.313, I\u00b2 = 92%") for t in texts)


def test_forest_plot_label_count_must_match():
    fit = rma(BCG["yi"], BCG["vi"])
    with pytest.raises(InputError, match="3 labels for 13 studies"):
        forest_plot(fit, labels=["a", "b", "c"])


def test_funnel_plot_puts_precise_studies_on_top_and_marks_imputed_ones(tmp_path):
    filled = trimfill(rma(BCG["yi"], BCG["vi"]))
    fig = funnel_plot(filled)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert low > high == 0  # inverted: standard error 0 at the top
    studies, imputed = ax.collections[-2], ax.collections[-1]
    assert studies.get_offsets().shape[0] == 13
    assert imputed.get_offsets().shape[0] == filled.k0 == 1
    fig.savefig(tmp_path / "funnel.png")
    assert (tmp_path / "funnel.png").stat().st_size > 0
