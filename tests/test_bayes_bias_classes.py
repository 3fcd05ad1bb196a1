"""Bias classes of the bias-adjusted model: sources, one flaw counted once, store-driven membership,
and the robust model saying when nu is its prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.bayes.models import (
    DEFAULT_BIAS_CLASSES,
    ModelSpec,
    bias_memberships,
    bias_prior_variants,
    build_design,
    parse_bias_prior,
)


def test_every_default_class_states_its_basis_and_a_sensitivity_range():
    for bias in DEFAULT_BIAS_CLASSES:
        assert bias.basis.startswith("judgement:"), bias.name
        assert len(bias.sensitivity_sd) >= 2 and min(bias.sensitivity_sd) < bias.prior_sd < max(bias.sensitivity_sd)
        assert bias.to_dict()["basis"] == bias.basis
    variants = bias_prior_variants()
    assert variants[0][0] == "declared"
    assert len(variants) == 1 + sum(len(c.sensitivity_sd) for c in DEFAULT_BIAS_CLASSES)
    name, changed = variants[1]
    assert "uncontrolled prior SD 0.1" == name and changed[0].prior_sd == 0.1 and changed[1] == DEFAULT_BIAS_CLASSES[1]
    # Overriding a prior keeps the class's basis, rule and exclusions.
    overridden = parse_bias_prior("high_risk_of_bias:0,0.3")
    assert overridden[1].prior_sd == 0.3 and overridden[1].excludes == ("uncontrolled",) and overridden[1].basis


def test_an_uncontrolled_study_rated_high_risk_is_shifted_once():
    frame = pd.DataFrame({
        "id": ["uncontrolled-high", "controlled-high", "uncontrolled-low", "controlled-low"],
        "yi": [-0.4, -0.2, -0.3, -0.1], "vi": [0.02] * 4,
        "design": ["before_after_no_control", "controlled_before_after", "before_after_no_control", "controlled_before_after"],
        "design_level": [2, 3, 2, 3],
        "rob_overall": ["high", "high", "some_concerns", "low"],
    })
    hits = bias_memberships(frame, DEFAULT_BIAS_CLASSES)
    assert hits["uncontrolled"].tolist() == [True, False, True, False]
    assert hits["high_risk_of_bias"].tolist() == [False, True, False, False]
    design = build_design(frame, ModelSpec.named("bias_adjusted"))
    assert design.bias_members.sum(axis=1).tolist() == [1, 1, 1, 0]


def test_regression_to_the_mean_class_is_driven_by_a_store_field():
    """The class's column exists in the store's risk-of-bias records and in the effect table."""
    from research.dataset import COLUMNS
    from research.store.schema import RiskOfBias

    rtm = [c for c in DEFAULT_BIAS_CLASSES if c.name == "regression_to_mean"][0]
    columns = {column for column, _ in rtm.rule}
    assert columns <= set(RiskOfBias.model_fields) and columns <= set(COLUMNS)
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "yi": [0.0] * 4, "vi": [0.1] * 4,
                          "regression_to_mean": ["not_corrected", "corrected", None, "unclear"]})
    assert rtm.members(frame).tolist() == [True, False, False, False]


def test_effect_table_carries_the_regression_to_the_mean_judgement(tmp_path):
    from tests.conftest import MINIMAL_STORE, write_store

    from research.dataset import effect_table
    from research.store.loader import load_store

    records = {k: list(v) for k, v in MINIMAL_STORE.items()}
    records["studies"] = records["studies"] + [
        {"id": "study-2", "title": "Study two", "source": "src-b", "design": "before_after_no_control", "intervention": "CCTV"}
    ]
    records["estimates"] = records["estimates"] + [dict(records["estimates"][0], id="est-2", study="study-2")]
    records["risk_of_bias"] = [
        {"id": "rob-1", "study": "study-1", "design_level": 3, "overall": "some_concerns", "rationale": "test data",
         "regression_to_mean": "corrected"},
        {"id": "rob-2", "study": "study-2", "design_level": 2, "overall": "high", "rationale": "test data",
         "regression_to_mean": "not_corrected"},
    ]
    table = effect_table(load_store(write_store(tmp_path / "evidence", records)))
    assert table.set_index("id")["regression_to_mean"].to_dict() == {"est-1": "corrected", "est-2": "not_corrected"}
    rtm = [c for c in DEFAULT_BIAS_CLASSES if c.name == "regression_to_mean"][0]
    assert rtm.members(table).tolist() == [False, True]


def _robust_result(nu_draws: np.ndarray, k: int = 4):
    import arviz as az

    from research.bayes.mcmc import Diagnostics, McmcResult
    from research.bayes.models import MetaPriors

    frame = pd.DataFrame({"id": [f"s{i}" for i in range(k)], "yi": np.linspace(-0.3, 0.1, k), "vi": [0.02] * k})
    spec = ModelSpec.named("robust")
    design = build_design(frame, spec)
    n = nu_draws.size
    rng = np.random.default_rng(0)
    idata = az.from_dict(posterior={"mu": rng.normal(-0.1, 0.1, (1, n)), "tau": np.abs(rng.normal(0, 0.2, (1, n))),
                                    "nu": nu_draws.reshape(1, n)})
    diagnostics = Diagnostics(1.0, 1000.0, 1000.0, 0, n, 1, True, ())
    return McmcResult(spec, MetaPriors(), design, idata, diagnostics, {"seed": 0, "tune": 100}, "test", False)


def test_robust_model_says_when_nu_is_only_its_prior():
    rng = np.random.default_rng(1)
    from_prior = _robust_result(rng.gamma(2.0, 1 / 0.1, 4000))
    assert from_prior.nu_learning["learned"] is False
    assert "assumed, not learned" in from_prior.nu_learning["note"] and "k = 4" in from_prior.nu_learning["note"]
    assert "nu (= its prior, not learned)" in from_prior.summary()
    learned = _robust_result(rng.gamma(50.0, 1 / 10.0, 4000))  # concentrated near 5: the data spoke
    assert learned.nu_learning["learned"] is True
    normal = _robust_result(rng.gamma(2.0, 1 / 0.1, 4000))
    normal.spec = ModelSpec.named("random_effects")
    assert normal.nu_learning is None


def test_prior_posterior_distance_is_the_kolmogorov_statistic():
    from scipy import stats

    from research.bayes.mcmc import prior_posterior_distance

    draws = np.random.default_rng(2).normal(0.3, 1.0, 5000)
    expected = stats.kstest(draws, stats.norm.cdf).statistic
    assert prior_posterior_distance(draws, stats.norm.cdf) == pytest.approx(expected, abs=1e-12)
