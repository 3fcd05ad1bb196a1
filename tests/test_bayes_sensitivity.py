"""Prior sensitivity table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.bayes import exact_meta, prior_sensitivity


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(13)
    vi = rng.uniform(0.01, 0.1, 6)
    return pd.DataFrame({"id": list("abcdef"), "yi": rng.normal(rng.normal(-0.15, 0.2, 6), np.sqrt(vi)), "vi": vi})


def test_one_row_per_prior_pair_matching_single_fits(frame):
    table = prior_sensitivity(frame, ["normal:0,1", "normal:0,10"], ["halfnormal:0.5", "halfcauchy:0.5", "lognormal-turner:any"])
    assert len(table) == 6
    for row in table.itertuples():
        fit = exact_meta(frame, mu_prior=row.mu_prior, tau_prior=row.tau_prior)
        assert row.mu_mean == pytest.approx(fit.mu.mean)
        assert row.pred_q975 == pytest.approx(fit.predictive().q975)
        assert row.p_pred_below == pytest.approx(fit.p_pred_below(0.0))


def test_wider_half_normal_prior_moves_tau_up(frame):
    # Half-normal scales are ordered by likelihood ratio, so the posteriors are stochastically ordered.
    table = prior_sensitivity(frame, ["normal:0,1"], ["halfnormal:0.1", "halfnormal:0.5", "halfnormal:2"])
    assert table["tau_median"].is_monotonic_increasing
    assert table["tau_q975"].is_monotonic_increasing


def test_default_set_covers_several_families(frame):
    table = prior_sensitivity(frame)
    families = {spec.split(":")[0] for spec in table["tau_prior"]}
    assert {"halfnormal", "halfcauchy", "uniform", "lognormal-turner"} <= families
