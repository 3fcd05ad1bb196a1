"""Value of information by preposterior simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.bayes import GapScenario, exact_meta, value_of_information
from research.bayes.voi import target_after
from research.bayes.mixture import mixture_cdf, mixture_quantile
from research.errors import InputError


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(5)
    k = 8
    vi = rng.uniform(0.01, 0.1, k)
    yi = rng.normal(rng.normal(-0.2, 0.15, k), np.sqrt(vi))
    return pd.DataFrame({"id": [f"s{i}" for i in range(k)], "yi": yi, "vi": vi})


@pytest.mark.parametrize("kind, new_y", [("target", [[0.35]]), ("external", [[0.35, -0.6]])])
def test_grid_update_equals_a_full_refit(frame, kind, new_y):
    """Adding studies by reweighting the grid gives the same answer as refitting with them."""
    fit = exact_meta(frame, grid_points=800)
    g = fit.grid
    v = 0.02
    weights, means, sds = target_after(g.weight, g.mu_mean, g.mu_var, g.tau**2, np.array(new_y), v, kind)
    y_new = np.asarray(new_y[0])
    augmented = pd.concat([frame, pd.DataFrame({"id": [f"new{j}" for j in range(y_new.size)], "yi": y_new, "vi": v})], ignore_index=True)
    refit = exact_meta(augmented, grid_points=800)
    if kind == "target":
        expected = refit.study_effects().iloc[-1]
        q025, q975 = expected["q025"], expected["q975"]
        p = None
    else:
        q025, q975 = refit.predictive().q025, refit.predictive().q975
        p = refit.p_pred_below(0.0)
    lo, hi = mixture_quantile(np.array([0.025, 0.975]), weights[0], means[0], sds[0])
    assert lo == pytest.approx(q025, abs=2e-4)
    assert hi == pytest.approx(q975, abs=2e-4)
    if p is not None:
        assert float(mixture_cdf(0.0, weights[0], means[0], sds[0])) == pytest.approx(p, abs=2e-4)


def test_posterior_probability_is_a_martingale(frame):
    """Averaged over the data it may bring, the future P(benefit) equals today's."""
    result = value_of_information(
        frame,
        [{"gap_id": "local", "kind": "target", "new_vi": 0.01}, {"gap_id": "three", "kind": "external", "new_vi": 0.02, "n_studies": 3}],
        n_sim=1500,
        seed=2,
    )
    for row in result:
        assert row["p_benefit_mean_after"] == pytest.approx(row["p_benefit_now"], abs=4 * row["mcse_p_benefit_mean_after"])


def test_more_precise_data_are_worth_more(frame):
    scenarios = [
        {"gap_id": "small", "kind": "target", "new_vi": 0.1},
        {"gap_id": "large", "kind": "target", "new_vi": 0.005},
        {"gap_id": "elsewhere", "kind": "external", "new_vi": 0.005},
    ]
    result = value_of_information(frame, scenarios, n_sim=600, seed=1)
    order = [row["gap_id"] for row in result]
    assert order[0] == "large"
    table = result.table.set_index("gap_id")
    assert table.loc["large", "narrowing"] > table.loc["small", "narrowing"] > 0
    # Data on the target itself beat an equally precise study elsewhere.
    assert table.loc["large", "narrowing"] > table.loc["elsewhere", "narrowing"]
    assert list(result.table["rank"]) == [1, 2, 3]
    assert "narrowing" in result.summary()


def test_counts_and_bias_set_the_effective_variance():
    scenario = GapScenario.from_dict(
        {"gap_id": "sites", "counts": {"before": 300, "after": 240, "control_before": 900, "control_after": 880, "overdispersion": 1.5}, "bias_sd": 0.1}
    )
    expected = (1 / 300 + 1 / 240 + 1 / 900 + 1 / 880) * 1.5 + 0.1**2
    assert scenario.variance() == pytest.approx(expected)


def test_declared_analysis_names_are_accepted(frame):
    a = value_of_information(frame, [{"gap": "g", "description": "d", "new_study_se": 0.1}], n_sim=200, seed=3)
    b = value_of_information(frame, [{"gap_id": "g", "description": "d", "new_vi": 0.01}], n_sim=200, seed=3)
    assert a[0].keys() == b[0].keys()
    for key, value in a[0].items():
        assert value == (pytest.approx(b[0][key], rel=1e-12) if isinstance(value, float) else b[0][key])
    assert isinstance(a, list) and a[0]["gap_id"] == "g"


@pytest.mark.parametrize(
    "scenario, message",
    [
        ({"gap_id": "x", "new_vi": 0.1, "counts": {"before": 1, "after": 2}}, "exactly one"),
        ({"gap_id": "x"}, "exactly one"),
        ({"gap_id": "x", "new_vi": 0.1, "kind": "somewhere"}, "kind"),
        ({"gap_id": "x", "new_vi": 0.1, "n_studies": 2}, "one study"),
        ({"gap_id": "x", "new_vi": -1}, "new_vi"),
        ({"gap_id": "x", "counts": {"before": 10}}, "before and after"),
        ({"gap_id": "x", "counts": {"before": 10, "after": 0}}, "count after"),
        ({"gap_id": "x", "new_vi": 0.1, "colour": "red"}, "unknown field"),
        ({"new_vi": 0.1}, "gap_id"),
    ],
)
def test_bad_scenarios(frame, scenario, message):
    with pytest.raises(InputError, match=message):
        value_of_information(frame, [scenario], n_sim=50)


def test_duplicate_gap_ids(frame):
    with pytest.raises(InputError, match="unique"):
        value_of_information(frame, [{"gap_id": "a", "new_vi": 0.1}, {"gap_id": "a", "new_vi": 0.2}], n_sim=50)
