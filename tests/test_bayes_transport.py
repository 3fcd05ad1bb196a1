"""Transport to a target setting on the exact models (the MCMC path is tested with the MCMC fits)."""

from __future__ import annotations

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
    as_plain = dict(result)
    assert as_plain["p_benefit"] == result.p_benefit
    assert as_plain["ratio"]["median"] == pytest.approx(np.exp(result.predictive.median))
    assert "Almaty" in result.summary()
