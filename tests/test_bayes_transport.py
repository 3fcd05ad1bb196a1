"""Transport to a target setting on the exact models (the MCMC path is tested with the MCMC fits)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from research.bayes import exact_meta, exact_meta_regression, transport
from research.errors import InputError


def moderated_frame() -> pd.DataFrame:
    """16 simulated effects whose size depends on setting and monitoring."""
    rng = np.random.default_rng(21)
    k = 16
    setting = np.array(["city_centre", "car_park", "residential", "car_park"] * 4)
    monitoring = np.array(["active", "passive"] * 8)
    base = {"city_centre": -0.1, "car_park": -0.45, "residential": 0.0}
    truth = np.array([base[s] for s in setting]) + np.where(monitoring == "active", -0.1, 0.0) + rng.normal(0, 0.08, k)
    vi = rng.uniform(0.01, 0.06, k)
    return pd.DataFrame({"id": [f"s{i}" for i in range(k)], "yi": rng.normal(truth, np.sqrt(vi)), "vi": vi,
                         "setting": setting, "monitoring": monitoring})


@pytest.fixture(scope="module")
def frame():
    return moderated_frame()


@pytest.fixture(scope="module")
def fit(frame):
    return exact_meta_regression(frame, ["setting", "monitoring"])


def test_random_effects_transport_is_the_predictive(frame):
    posterior = exact_meta(frame)
    result = transport(posterior)
    assert result.predictive.q025 == pytest.approx(posterior.predictive().q025, abs=1e-9)
    assert result.p_benefit == pytest.approx(posterior.p_pred_below(0.0), abs=1e-12)
    with pytest.raises(InputError, match="not moderators of the model"):
        transport(posterior, {"setting": "car_park"})


def test_known_covariates_give_the_conditional_predictive(fit):
    result = transport(fit, {"setting": "car_park", "monitoring": "active"})
    direct = fit.predictive({"setting": "car_park", "monitoring": "active"})
    assert result.predictive.median == pytest.approx(direct.median, abs=1e-8)
    assert result.predictive.q975 == pytest.approx(direct.q975, abs=1e-8)
    assert result.p_benefit == pytest.approx(fit.p_pred_below(0.0, {"setting": "car_park", "monitoring": "active"}), abs=1e-12)


def test_unknown_covariate_is_a_mixture_over_its_levels(fit):
    probs = {"active": 0.7, "passive": 0.3}
    result = transport(fit, {"setting": "car_park"}, {"monitoring": probs})
    table = result.breakdown.set_index("monitoring")
    # Law of total probability and of total expectation.
    assert result.p_benefit == pytest.approx(sum(p * table.loc[lv, "p_benefit"] for lv, p in probs.items()), abs=1e-10)
    assert result.predictive.mean == pytest.approx(sum(p * table.loc[lv, "mean"] for lv, p in probs.items()), abs=1e-10)
    assert table["q025"].min() <= result.predictive.q025 <= table["q025"].max()
    # The mixture is at least as wide as its narrowest component.
    assert result.predictive.q975 - result.predictive.q025 >= (table["q975"] - table["q025"]).min()
    uniform = transport(fit, {"setting": "car_park"}, {"monitoring": "uniform"})
    assert uniform.unknown["monitoring"] == {"active": 0.5, "passive": 0.5}


def test_every_moderator_must_be_stated(fit):
    with pytest.raises(InputError, match="neither known"):
        transport(fit, {"setting": "car_park"})
    with pytest.raises(InputError, match="sum to"):
        transport(fit, {"setting": "car_park"}, {"monitoring": {"active": 0.7, "passive": 0.2}})
    with pytest.raises(InputError, match="not in the data"):
        transport(fit, {"setting": "motorway"}, {"monitoring": "uniform"})
    with pytest.raises(InputError, match="both as known and as unknown"):
        transport(fit, {"setting": "car_park", "monitoring": "active"}, {"monitoring": "uniform"})


def test_frame_input_fits_on_the_stated_covariates(frame, fit):
    result = transport(frame, "Almaty", known={"setting": "car_park", "country": "Kazakhstan"}, unknown={"monitoring": {"active": 0.7, "passive": 0.3}})
    direct = transport(fit, {"setting": "car_park"}, {"monitoring": {"active": 0.7, "passive": 0.3}})
    assert result.p_benefit == pytest.approx(direct.p_benefit, abs=1e-10)
    assert result.target == "Almaty"
    assert any("country" in text for text in result.assumptions)
    as_plain = result.to_dict()  # a plain result object: no Mapping behaviour
    assert not isinstance(result, Mapping)
    assert as_plain["p_benefit"] == result.p_benefit
    assert as_plain["ratio"]["median"] == pytest.approx(np.exp(result.predictive.median))
    assert "Almaty" in result.summary()


# --- transport bias, numeric covariate priors, studies without a moderator ----------------------


def test_transport_bias_widens_the_prediction_by_convolution(frame):
    """Adding Normal(0, s^2) to the predictive: checked against a brute-force convolution."""
    posterior = exact_meta(frame)
    plain = transport(posterior)
    wide = transport(posterior, transport_sd=0.3, transport_sd_basis="test judgement")
    rng = np.random.default_rng(3)
    w, m, s = posterior._pred_parts(None)
    component = rng.choice(w.size, size=400_000, p=w)
    draws = rng.normal(m[component], s[component]) + rng.normal(0.0, 0.3, component.size)
    assert wide.p_benefit == pytest.approx(np.mean(draws < 0), abs=4e-3)
    assert wide.predictive.q975 == pytest.approx(np.quantile(draws, 0.975), abs=0.01)
    assert wide.predictive.sd == pytest.approx(np.sqrt(plain.predictive.sd**2 + 0.09), abs=1e-9)
    assert wide.predictive.width > plain.predictive.width
    assert abs(wide.p_benefit - 0.5) < abs(plain.p_benefit - 0.5)
    assert wide.to_dict()["transport_sd"] == 0.3 and "test judgement" in wide.summary()
    assert any("Normal(0, 0.3^2)" in a for a in wide.assumptions)
    assert any("no transport bias declared" in a for a in plain.assumptions)
    with pytest.raises(InputError, match="transport_sd must be >= 0"):
        transport(posterior, transport_sd=-0.1)


def test_transport_sensitivity_table_moves_monotonically(fit):
    from research.bayes.transport import transport_sensitivity

    table = transport_sensitivity(fit, {"setting": "car_park"}, {"monitoring": "uniform"}, transport_sd=0.15,
                                  transport_sd_basis="judgement").table
    assert list(table["transport_sd"]) == sorted(table["transport_sd"]) and 0.15 in set(table["transport_sd"])
    assert table.loc[table["declared"], "transport_sd"].tolist() == [0.15]
    assert (table["q975"] - table["q025"]).is_monotonic_increasing
    # The effect at a car park is a clear benefit: more transport uncertainty can only pull P towards 1/2.
    assert table["p_benefit"].is_monotonic_decreasing


def numeric_frame() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    k = 14
    speed = rng.uniform(30, 90, k)
    vi = rng.uniform(0.005, 0.03, k)
    truth = -0.2 - 0.01 * (speed - 60) + rng.normal(0, 0.05, k)
    return pd.DataFrame({"id": [f"n{i}" for i in range(k)], "yi": rng.normal(truth, np.sqrt(vi)), "vi": vi, "speed": speed})


def test_numeric_covariate_with_a_prior_is_integrated_out():
    frame = numeric_frame()
    fit = exact_meta_regression(frame, ["speed"])
    result = transport(fit, unknown={"speed": "normal:50,8"})
    # Brute force: draw the covariate from its prior, then from the conditional predictive.
    rng = np.random.default_rng(4)
    xs = rng.normal(50, 8, 4000)
    p = np.mean([fit.p_pred_below(0.0, {"speed": x}) for x in xs[:1500]])
    assert result.p_benefit == pytest.approx(p, abs=0.01)
    means = np.array([fit.predictive({"speed": x}).mean for x in xs[:400]])
    assert result.predictive.mean == pytest.approx(means.mean(), abs=0.01)
    assert result.numeric_priors == {"speed": "Normal(50, 8)"}
    assert "Normal(50, 8)" in result.summary()
    # A prior is wider than knowing the value: the interval widens.
    at_mean = transport(fit, {"speed": 50})
    assert result.predictive.width > at_mean.predictive.width
    uniform = transport(fit, unknown={"speed": {"uniform": [40, 60]}})
    assert uniform.numeric_priors == {"speed": "Uniform(40, 60)"}
    beyond = transport(fit, unknown={"speed": "uniform:10,120"})
    assert any("beyond the studied range" in a for a in beyond.assumptions)
    with pytest.raises(InputError, match="numeric moderator 'speed'"):
        transport(fit, unknown={"speed": {"fast": 0.5, "slow": 0.5}})


def test_studies_without_a_moderator_are_not_dropped_silently(frame):
    gappy = frame.copy()
    gappy.loc[[3, 8], "monitoring"] = None
    with pytest.raises(InputError, match=r"monitoring: s3, s8"):
        transport(gappy, "Target", known={"setting": "car_park"}, unknown={"monitoring": "uniform"})
    result = transport(gappy, "Target", known={"setting": "car_park"}, unknown={"monitoring": "uniform"}, missing="drop")
    assert any("s3, s8" in a for a in result.assumptions)
