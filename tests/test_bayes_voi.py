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
    assert isinstance(a.rows, list) and not isinstance(a, list) and a[0]["gap_id"] == "g"  # a result object, not a list


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


# --- what the figure is, its assumptions, its sensitivity, and a decision ----------------------


def test_every_figure_carries_its_assumed_design_and_bias(frame):
    result = value_of_information(
        frame,
        [{"gap_id": "sites", "counts": {"before": 700, "after": 700, "control_before": 700, "control_after": 700, "overdispersion": 1.5}},
         {"gap_id": "elsewhere", "kind": "external", "new_study_se": 0.27, "n_studies": 5}],
        n_sim=100, seed=1,
    )
    rows = {row["gap_id"]: row for row in result}
    assert "control before 700" in rows["sites"]["assumed_design"] and "over-dispersion 1.5" in rows["sites"]["assumed_design"]
    assert "standard error 0.270" in rows["elsewhere"]["assumed_design"] and "5 new studies" in rows["elsewhere"]["assumed_design"]
    assert "judgement" in rows["sites"]["assumed_bias"]
    summary = result.summary()
    assert "expected relative narrowing of the 95% interval" in summary
    assert rows["sites"]["assumed_design"] in summary and rows["sites"]["assumed_bias"] in summary
    assert "no decision with costs declared" in summary
    assert result.to_dict()["measure"].startswith("expected relative narrowing")


def test_a_local_study_gets_a_non_zero_bias_sd_by_default():
    from research.bayes.voi import DEFAULT_TARGET_BIAS_SD

    controlled = GapScenario.from_dict({"gap_id": "c", "counts": {"before": 700, "after": 700, "control_before": 700, "control_after": 700}})
    uncontrolled = GapScenario.from_dict({"gap_id": "u", "counts": {"before": 7000, "after": 7000}})
    assert controlled.bias_sd_used == DEFAULT_TARGET_BIAS_SD["controlled"] > 0
    assert uncontrolled.bias_sd_used == DEFAULT_TARGET_BIAS_SD["uncontrolled"] > controlled.bias_sd_used
    assert controlled.variance() == pytest.approx(4 / 700 + 0.1**2)
    assert GapScenario.from_dict({"gap_id": "x", "new_vi": 0.01, "bias_sd": 0.0}).bias_sd_used == 0.0  # stated wins
    assert GapScenario.from_dict({"gap_id": "e", "kind": "external", "new_vi": 0.01}).bias_sd_used == 0.0


def test_bias_mean_enters_the_simulated_data(frame):
    """Corrected, a known mean bias costs nothing; ignored, it drags P(benefit) in its direction."""
    base = {"gap_id": "g", "new_vi": 0.01, "bias_sd": 0.05}
    runs = {b: value_of_information(frame, [{**base, "bias_mean": b}], n_sim=800, seed=4)[0] for b in (-0.3, 0.0, 0.3)}
    for b in (-0.3, 0.3):
        assert runs[b]["narrowing"] == pytest.approx(runs[0.0]["narrowing"], abs=1e-9)
        assert runs[b]["bias_mean"] == b
    now = runs[0.0]["p_benefit_now"]
    assert runs[-0.3]["p_benefit_mean_after_bias_ignored"] > now + 0.05  # an exaggerated benefit
    assert runs[0.3]["p_benefit_mean_after_bias_ignored"] < now - 0.05
    assert abs(runs[0.0]["p_benefit_mean_after_bias_ignored"] - now) < 0.05


def test_sensitivity_table_over_size_overdispersion_and_bias(frame):
    from research.bayes.voi import voi_sensitivity

    scenarios = [
        {"gap_id": "sites", "counts": {"before": 200, "after": 200, "control_before": 200, "control_after": 200, "overdispersion": 1.5}},
        {"gap_id": "more", "kind": "external", "new_vi": 0.02, "n_studies": 4},
    ]
    sens = voi_sensitivity(frame, scenarios, size_factors=(0.25, 4.0), overdispersions=(1.0, 3.0), bias_sds=(0.0, 0.3), n_sim=300, seed=2)
    table = sens.table.set_index(["factor", "value", "gap_id"])["narrowing"]
    declared = value_of_information(frame, scenarios, n_sim=300, seed=2).table.set_index("gap_id")["narrowing"]
    assert table[("declared", "as declared", "sites")] == pytest.approx(declared["sites"], abs=1e-12)
    assert table[("study size", "x0.25", "sites")] < table[("declared", "as declared", "sites")] < table[("study size", "x4", "sites")]
    assert table[("over-dispersion", "3", "sites")] < table[("over-dispersion", "1", "sites")]
    assert table[("over-dispersion", "3", "more")] == pytest.approx(table[("declared", "as declared", "more")], abs=1e-12)  # no counts
    assert table[("bias SD", "0.3", "sites")] < table[("bias SD", "0", "sites")]
    assert set(sens.table["factor"]) == {"declared", "study size", "over-dispersion", "bias SD"}
    assert "ranking changed" in sens.summary() and len(sens.to_dict()["rows"]) == len(sens.table)


def test_evsi_under_a_declared_decision(frame):
    """Perfect information about the target is worth the EVPI; a noisy study is worth less, never below zero."""
    from research.bayes.voi import Decision

    fit = exact_meta(frame)
    decision = {"events_without": 1000, "value_per_event": 1.0, "cost": 120.0, "unit": "test units", "basis": "test data"}
    result = value_of_information(frame, [{"gap_id": "perfect", "new_vi": 1e-8, "bias_sd": 0.0},
                                          {"gap_id": "noisy", "new_vi": 0.5, "bias_sd": 0.0}],
                                  n_sim=3000, seed=6, decision=decision, rank_by="evsi")
    draws = fit.draw(np.random.default_rng(9), 400_000)
    theta = np.random.default_rng(10).normal(draws[0], draws[1])  # predictive draws at a new site
    gain = 1000 * (1 - np.exp(theta)) - 120.0
    evpi = np.mean(np.maximum(gain, 0)) - max(gain.mean(), 0)
    assert result.evpi == pytest.approx(evpi, rel=0.03)
    assert result.net_benefit_now == pytest.approx(gain.mean(), rel=0.02, abs=0.5)
    rows = {row["gap_id"]: row for row in result}
    assert rows["perfect"]["evsi"] == pytest.approx(result.evpi, abs=4 * rows["perfect"]["mcse_evsi"] + 0.02 * result.evpi)
    assert 0 <= rows["noisy"]["evsi"] < rows["perfect"]["evsi"]
    assert result[0]["gap_id"] == "perfect"
    assert "opportunity loss" in result.summary() and result.to_dict()["decision"]["unit"] == "test units"
    with pytest.raises(InputError, match="needs a declared decision"):
        value_of_information(frame, [{"gap_id": "x", "new_vi": 0.1}], n_sim=50, rank_by="evsi")
    with pytest.raises(InputError, match="unit and the basis"):
        Decision(1000, 1.0, 10.0, "", "")


def test_gaps_without_a_voi_are_placed_by_the_stated_rule():
    from research.bayes.voi import GAP_RANK_RULE, gap_rank_key

    gaps = {
        "blocks": gap_rank_key("blocks", True, None, True, 0),
        "voi-small": gap_rank_key("voi-small", False, 0.2, True, 5),
        "voi-large": gap_rank_key("voi-large", False, 0.8, True, 0),
        "limits": gap_rank_key("limits", False, None, True, 9),
        "other-many": gap_rank_key("other-many", False, None, False, 4),
        "other-few": gap_rank_key("other-few", False, None, False, 1),
    }
    assert sorted(gaps, key=gaps.get) == ["blocks", "voi-large", "voi-small", "limits", "other-many", "other-few"]
    assert "could not produce any estimate" in GAP_RANK_RULE


def test_a_declared_decision_reaches_the_analysis_results(frame):
    """An analysis may declare a decision and its costs (test data); without one no EVSI is given."""
    from research.analyses import Analysis
    from research.pipeline.bayesian import value_of_information_rows

    base = {"id": "a", "title": "t", "question": "q", "intervention": "i", "outcome": "o", "where": "true",
            "value_of_information": [{"gap": "g", "description": "d", "new_study_se": 0.1}]}
    plain = Analysis.model_validate(base)
    declared = Analysis.model_validate({**base, "decision": {"events_without": 500, "value_per_event": 2.0, "cost": 150,
                                                              "unit": "test units", "basis": "test data"}})
    without = value_of_information_rows(plain, frame)
    with_decision = value_of_information_rows(declared, frame)
    assert without[0]["evsi"] is None and without[0]["evsi_loss"] is None
    assert with_decision[0]["evsi"] >= 0 and "opportunity loss" in with_decision[0]["evsi_loss"]
    assert with_decision[0]["assumed_bias"].startswith("bias Normal(0, 0.1^2)")  # the default for a target study
