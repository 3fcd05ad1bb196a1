"""Multilevel models (rma_mv) against metafor 3.8 rma.mv (reference values from conformance/metafor_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.errors import InputError
from research.meta import rma, rma_mv
from research.meta.conformance import assert_matches

REFERENCE = Path(__file__).parent / "reference"
CASES = json.loads((REFERENCE / "multilevel.json").read_text())["cases"]


def _data(case: dict) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / case["data"])


def _fit(case: dict):
    data = _data(case)
    return rma_mv(data["yi"], data["vi"], random={name: data[name] for name in case["random"]},
                  nested=case["nested"], mods=data[case["mods"]] if case["mods"] else None,
                  method=case["method"], test=case["test"])


def _case_id(case: dict) -> str:
    sep = "/" if case["nested"] else "+"
    mods = "+".join(case["mods"]) or "int"
    return f"{case['dataset']}-{sep.join(case['random'])}-{case['method']}-{case['test']}-{mods}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rma_mv_matches_metafor(case):
    fit = _fit(case)
    expected = dict(case["expected"])
    # profile-likelihood bounds: metafor refits each point with its optimiser's default tolerance
    bounds = {key: expected.pop(key) for key in ("sigma2_ci_low", "sigma2_ci_high")}
    expected.pop("i2")
    assert_matches(fit.to_dict(), expected, rtol=1e-6, what=_case_id(case))
    assert fit.to_dict()["components"] == [("/" if case["nested"] else "+").join(case["random"][: j + 1])
                                           if case["nested"] else name for j, name in enumerate(case["random"])]
    assert_matches(fit.to_dict(), bounds, rtol=1e-5, what=_case_id(case) + " sigma2 CI")
    # I² is in percent: a component metafor leaves at about 1e-11 instead of 0 shows as about 1e-8 %
    assert_matches(fit.to_dict(), {"i2": case["expected"]["i2"]}, atol=1e-6, what=_case_id(case) + " I2")
    # metafor's optimiser (nlminb) stops up to about 1e-6 (relative) short of the maximum; ours goes on
    assert fit.ll >= case["expected"]["ll"] - 1e-10


def test_reference_covers_two_level_reml_and_ml_with_both_tests():
    kinds = {(c["dataset"], c["method"], c["test"], bool(c["mods"])) for c in CASES}
    for method in ("REML", "ML"):
        for test in ("z", "t"):
            assert ("konstantopoulos2011", method, test, False) in kinds
            assert ("konstantopoulos2011", method, test, True) in kinds


def test_component_names_follow_the_nesting():
    case = next(c for c in CASES if c["dataset"] == "konstantopoulos2011" and not c["mods"])
    fit = _fit(case)
    assert [c.name for c in fit.components] == ["district", "district/school"]
    assert [c.n_levels for c in fit.components] == case["expected"]["n_levels"]


def test_one_estimate_per_cluster_and_no_outer_variance_is_the_random_effects_model():
    data = pd.read_csv(REFERENCE / "data" / "konstantopoulos2011.csv")
    single = rma(data["yi"], data["vi"], method="REML")
    multi = rma_mv(data["yi"], data["vi"], random={"study": data["study"]}, method="REML")
    assert multi.sigma2[0] == pytest.approx(single.tau2, rel=1e-6)
    assert multi.estimate == pytest.approx(single.estimate, rel=1e-6)
    assert multi.se[0] == pytest.approx(single.se[0], rel=1e-6)


def test_fixed_component_and_single_cluster():
    data = pd.read_csv(REFERENCE / "data" / "konstantopoulos2011.csv")
    random = {"district": data["district"], "school": data["school"]}
    fixed = rma_mv(data["yi"], data["vi"], random=random, sigma2=[None, 0.0])
    assert fixed.components[1].fixed and fixed.sigma2[1] == 0
    # with the inner variance fixed at 0 the model has one random effect per district
    assert fixed.sigma2[0] > 0 and fixed.n_parameters == 2
    one = rma_mv(data["yi"], data["vi"], random={"all": ["x"] * len(data), "study": data["study"]})
    assert one.sigma2[0] == 0 and one.components[0].fixed and "single cluster" in one.notes[0]


def test_summary_names_components_and_tests():
    case = next(c for c in CASES if c["mods"] and c["test"] == "t")
    text = _fit(case).summary().as_text()
    assert "district/school" in text and "Test of moderators: F(1, 54)" in text and "tval" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "DL"}, "choose REML or ML"),
        ({"test": "hksj"}, "choose 'z' or 't'"),
        ({"random": {"a": [1, 2, 3]}}, "3 values for 4 estimates"),
        ({"random": {"a": [1, 1, 2, None]}}, "no value for study 4"),
        ({"random": {"a": [1, 1, 2, 2], "b": ["x", "x", "y", "y"]}, "nested": False}, "same clusters"),
        ({"random": [1, 2, 3, 4]}, "give a mapping"),
        ({"sigma2": [-1.0]}, "must be >= 0"),
    ],
)
def test_invalid_input_raises_clear_error(kwargs, message):
    args = {"random": {"a": [1, 1, 2, 2]}, **kwargs}
    with pytest.raises(InputError, match=message):
        rma_mv(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.01, 0.02, 0.01, 0.02]), **args)


def test_cli_meta_random_matches_metafor(capsys):
    from research.cli import main

    case = next(c for c in CASES if c["dataset"] == "konstantopoulos2011" and c["mods"] and c["method"] == "ML"
                and c["test"] == "t")
    code = main(["meta", str(REFERENCE / case["data"]), "--yi", "yi", "--vi", "vi", "--random", "district,school",
                 "--mods", "year", "--method", "ML", "--test", "t", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    expected = {k: case["expected"][k] for k in ("estimate", "se", "sigma2", "q", "qm", "coefficients")}
    assert_matches(result, expected)
    assert result["components"] == ["district", "district/school"] and result["df"] == 54


def test_cli_meta_random_refuses_bias_checks_and_unknown_columns(capsys):
    from research.cli import main

    data = str(REFERENCE / "data" / "konstantopoulos2011.csv")
    assert main(["meta", data, "--yi", "yi", "--vi", "vi", "--random", "district", "--bias"]) == 2
    assert "--bias apply to models without --random" in " ".join(capsys.readouterr().err.split())
    assert main(["meta", data, "--yi", "yi", "--vi", "vi", "--random", "region"]) == 2
    assert "--random 'region' is not a column" in " ".join(capsys.readouterr().err.split())
