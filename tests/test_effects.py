"""Effect sizes against metafor 3.8 escalc (reference values from conformance/metafor_reference.R)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.effects import MEASURES, escalc, log_ratio_from_ci, log_ratio_from_se, relative_effect_size
from research.errors import InputError
from research.meta.conformance import assert_matches

REFERENCE = json.loads((Path(__file__).parent / "reference" / "effects.json").read_text())
DATA_DIR = Path(__file__).parent / "reference"


def _raw(dataset: str) -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / REFERENCE["data"][dataset])


def _case_id(case: dict) -> str:
    options = "-".join(f"{k}={v}" for k, v in case["options"].items()) if case["options"] else "default"
    return f"{case['dataset']}-{case['measure']}-{options}"


@pytest.mark.parametrize("case", REFERENCE["escalc"], ids=_case_id)
def test_escalc_matches_metafor(case):
    data = _raw(case["dataset"])
    inputs = {arg: data[column].to_numpy(dtype=float) for arg, column in case["args"].items()}
    frame = escalc(case["measure"], **inputs, **case["options"])
    assert list(frame.columns) == ["yi", "vi"] and frame.attrs["measure"] == case["measure"]
    assert_matches({"yi": frame["yi"].to_numpy(), "vi": frame["vi"].to_numpy()}, {"yi": case["yi"], "vi": case["vi"]},
                   rtol=1e-10, atol=1e-14)


def test_every_measure_is_covered_by_a_reference_case():
    covered = {case["measure"] for case in REFERENCE["escalc"]}
    assert covered == set(MEASURES)


@pytest.mark.parametrize("case", REFERENCE["relative_effect_size"],
                         ids=lambda c: f"{c['dataset']}-overdispersion={c['overdispersion']}")
def test_relative_effect_size_matches_escalc_log_odds_ratio(case):
    data = _raw(case["dataset"])
    cells = [data[case["cells"][name]].to_numpy(dtype=float) for name in "abcd"]
    yi, vi = relative_effect_size(*cells, overdispersion=case["overdispersion"])
    assert_matches({"yi": yi, "vi": vi}, {"yi": case["yi"], "vi": case["vi"]}, rtol=1e-10, atol=1e-14)


def test_log_ratio_from_ci_reproduces_published_conversion():
    case = REFERENCE["log_ratio_from_ci"]
    data = pd.read_csv(DATA_DIR / "data" / "hackshaw1998.csv")
    yi, vi = log_ratio_from_ci(data[case["estimate"]], data[case["ci_low"]], data[case["ci_high"]], level=case["level"])
    assert_matches({"yi": yi, "vi": vi}, {"yi": case["yi"], "vi": case["vi"]}, rtol=1e-10, atol=1e-14)


def test_relative_effect_size_zero_cell_adds_half_to_all_four_counts():
    with_zero = relative_effect_size(0, 4, 2, 3)
    shifted = relative_effect_size(0.5, 4.5, 2.5, 3.5)
    assert with_zero == pytest.approx(shifted, rel=1e-15)
    assert relative_effect_size(1, 4, 2, 3) != pytest.approx(relative_effect_size(1.5, 4.5, 2.5, 3.5))


def test_relative_effect_size_direction_and_overdispersion():
    # fewer crimes after in the experimental area than in the control area: RES > 1
    yi, vi = relative_effect_size(100, 50, 100, 100)
    assert yi == pytest.approx(math.log(2))
    assert vi == pytest.approx(1 / 100 + 1 / 50 + 1 / 100 + 1 / 100)
    _, vi_inflated = relative_effect_size(100, 50, 100, 100, overdispersion=3)
    assert vi_inflated == pytest.approx(3 * vi)


def test_log_ratio_from_se_natural_scale_uses_delta_method():
    estimates = np.array([0.52, 0.863, 1.4])
    se_log = np.array([0.3, 0.03, 0.12])
    yi, vi = log_ratio_from_se(estimates, se_log * estimates, se_scale="natural")
    assert np.allclose(yi, np.log(estimates), rtol=1e-15)
    assert np.allclose(vi, se_log**2, rtol=1e-12)
    yi_log, vi_log = log_ratio_from_se(0.52, 0.3)
    assert (yi_log, vi_log) == pytest.approx((math.log(0.52), 0.09))


def test_scalar_inputs_give_floats_and_arrays_give_arrays():
    assert isinstance(log_ratio_from_ci(0.8, 0.6, 1.1)[0], float)
    assert isinstance(relative_effect_size(10, 5, 8, 9)[1], float)
    yi, vi = relative_effect_size([10, 3], [5, 4], [8, 2], [9, 3])
    assert yi.shape == vi.shape == (2,)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: log_ratio_from_ci(0.8, 1.1, 0.6), "ci_low must be below ci_high"),
        (lambda: log_ratio_from_ci(1.5, 0.6, 1.1), "outside its confidence interval"),
        (lambda: log_ratio_from_ci(-0.8, 0.6, 1.1), "estimate: a ratio must be > 0"),
        (lambda: log_ratio_from_ci(0.8, 0.6, 1.1, level=95), "level must be between 0 and 1"),
        (lambda: log_ratio_from_se(0.8, 0.0), "se must be > 0"),
        (lambda: log_ratio_from_se(0.8, 0.1, se_scale="percent"), "se_scale"),
        (lambda: relative_effect_size(-1, 4, 2, 3), "counts must be >= 0"),
        (lambda: relative_effect_size(float("nan"), 4, 2, 3), "missing value"),
        (lambda: relative_effect_size(1, 4, 2, 3, overdispersion=0.5), "overdispersion"),
        (lambda: escalc("XYZ", ai=[1]), "unknown measure"),
        (lambda: escalc("OR", ai=[1, 2], bi=[3, 4], ci=[5, 6]), "needs di"),
        (lambda: escalc("OR", ai=[1, 2], bi=[3, 4, 5], ci=[5, 6], di=[1, 1]), "different lengths"),
        (lambda: escalc("OR", ai=[1], bi=[3], ci=[5], di=[1], to="some"), "to must be one of"),
        (lambda: escalc("ZCOR", ri=[0.5, 1.2], ni=[20, 30]), "correlations must lie in"),
        (lambda: escalc("SMD", m1i=[1], m2i=[0], sd1i=[1], sd2i=[1], n1i=[10], n2i=[10], vtype="XX"), "vtype"),
    ],
)
def test_invalid_input_raises_clear_error(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_escalc_with_data_adds_yi_and_vi_to_the_frame_as_metafor_does():
    data = _raw("bcg").set_index("trial")
    frame = escalc("RR", data=data, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    assert list(frame.columns) == [*data.columns, "yi", "vi"]
    assert frame.index.equals(data.index) and frame.attrs["measure"] == "RR"
    case = next(c for c in REFERENCE["escalc"] if c["dataset"] == "bcg" and c["measure"] == "RR")
    assert_matches(frame["yi"].to_numpy(), case["yi"], rtol=1e-10, atol=1e-14)
    assert "yi" not in data.columns  # the input frame is left as it was
    renamed = escalc("RR", data=data, ai="tpos", bi="tneg", ci="cpos", di="cneg", var_names=("lrr", "v"))
    assert list(renamed.columns[-2:]) == ["lrr", "v"]


def test_relative_effect_size_takes_one_overdispersion_factor_per_evaluation():
    frame = escalc("RES", ai=[100, 100], bi=[50, 80], ci=[100, 90], di=[100, 95], overdispersion=[1.0, 3.0])
    single = [relative_effect_size(a, b, c, d) for a, b, c, d in ((100, 50, 100, 100), (100, 80, 90, 95))]
    assert frame["vi"].tolist() == pytest.approx([single[0][1], 3 * single[1][1]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: escalc("RR", ai="tpos", bi=[1], ci=[1], di=[1]), "no data frame was given"),
        (lambda: escalc("RR", data=_raw("bcg"), ai="nope", bi="tneg", ci="cpos", di="cneg"), "'nope' is not a column"),
        (lambda: escalc("RES", ai=[1], bi=[2], ci=[3]), "needs di"),
        (lambda: escalc("RATIO-CI", estimate=[0.8]), "needs ci_low, ci_high"),
        (lambda: escalc("RES", ai=[1, 2], bi=[2, 2], ci=[3, 2], di=[1, 1], overdispersion=[1, 2, 3]), "3 factors"),
    ],
)
def test_escalc_input_errors_name_the_argument(call, message):
    with pytest.raises(InputError, match=message):
        call()


# --------------------------------------------------------------------------- store estimates given as counts


def _count_table(tmp_path, *estimates):
    import copy

    from research.dataset import effect_table
    from research.store import load_store
    from tests.conftest import MINIMAL_STORE, write_store

    records = copy.deepcopy(MINIMAL_STORE)
    base = {"study": "study-1", "source": "src-b", "where_read": "Table 1", "quote": "test data", "outcome": "crashes",
            "provenance": "primary"}
    records["estimates"] += [{**base, **fields} for fields in estimates]
    return effect_table(load_store(write_store(tmp_path / "evidence", records))).set_index("id")


def test_store_counts_become_effect_sizes_by_measure(tmp_path):
    table = _count_table(
        tmp_path,
        {"id": "est-rr", "measure": "RR", "a": 4, "b": 119, "c": 11, "d": 128},
        {"id": "est-or", "measure": "OR", "a": 4, "b": 119, "c": 11, "d": 128, "overdispersion": 2},
        {"id": "est-irr", "measure": "IRR", "a": 9, "b": 413, "c": 19, "d": 398},
        {"id": "est-zero", "measure": "RR", "a": 0, "b": 40, "c": 2, "d": 34},
    )
    rr = escalc("RR", ai=4, bi=119, ci=11, di=128)
    assert (table.loc["est-rr", "yi"], table.loc["est-rr", "vi"]) == pytest.approx((rr["yi"][0], rr["vi"][0]))
    odds = escalc("OR", ai=4, bi=119, ci=11, di=128)
    assert table.loc["est-or", "vi"] == pytest.approx(2 * odds["vi"][0])
    rate = escalc("IRR", x1i=9, t1i=413, x2i=19, t2i=398)
    assert table.loc["est-irr", "yi"] == pytest.approx(rate["yi"][0])
    # a zero cell: 1/2 is added to all four cells, as in metafor
    assert table.loc["est-zero", "yi"] == pytest.approx(math.log((0.5 / 41) / (2.5 / 37)))
    assert table.loc[["est-rr", "est-or", "est-irr", "est-zero"], "poolable"].all()


def test_reported_ratio_with_uncertainty_is_preferred_to_counts(tmp_path):
    table = _count_table(
        tmp_path,
        {"id": "est-both", "measure": "RR", "a": 4, "b": 119, "c": 11, "d": 128, "estimate": 0.5, "ci_low": 0.3,
         "ci_high": 0.8},
        {"id": "est-partial", "measure": "RR", "a": 4, "c": 11},
    )
    assert table.loc["est-both", "yi"] == pytest.approx(math.log(0.5))
    row = table.loc["est-partial"]
    assert not row.poolable and "counts incomplete: b, d missing" in row.reason
