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


def test_report_puts_the_declared_priors_beside_alternatives(frame):
    from research.bayes.sensitivity import prior_sensitivity_report

    report = prior_sensitivity_report(frame, "normal:0,1", "halfnormal:0.5")
    table = report.table
    assert table["declared"].sum() == 1
    headline = report.headline
    fit = exact_meta(frame, mu_prior="normal:0,1", tau_prior="halfnormal:0.5")
    assert headline["p_pred_below"] == pytest.approx(fit.p_pred_below(0.0))
    assert headline["pred_ratio_q975"] == pytest.approx(np.exp(fit.predictive().q975))
    # Every default tau prior and a vaguer mu prior appear, each pair once.
    assert set(table["tau_prior"]) >= {"halfcauchy:0.5", "uniform:0,2", "lognormal-turner:any"}
    assert "normal:0,10" in set(table["mu_prior"])
    assert not table.duplicated(["mu_prior", "tau_prior"]).any()
    low, high = report.ranges["p_pred_below"]
    assert low == pytest.approx(table["p_pred_below"].min()) and high == pytest.approx(table["p_pred_below"].max())
    assert low <= headline["p_pred_below"] <= high and low < high
    # The declared priors carry their basis.
    kinds = {b.role: b.kind for b in report.bases}
    assert kinds == {"mu": "judgement", "tau": "published"}
    assert "doi:10.1002/jrsm.1217" in report.summary()
    plain = report.to_dict()
    assert plain["declared"] == {"mu": "normal:0,1", "tau": "halfnormal:0.5"} and len(plain["rows"]) == len(table)


def test_an_analysis_may_state_its_own_prior_basis(frame):
    from research.bayes.sensitivity import prior_sensitivity_report

    report = prior_sensitivity_report(frame, "normal:0,1", "halfcauchy:0.3", bases={"tau": "judgement: our elicitation"})
    tau = [b for b in report.bases if b.role == "tau"][0]
    assert tau.kind == "judgement" and tau.basis == "judgement: our elicitation"
