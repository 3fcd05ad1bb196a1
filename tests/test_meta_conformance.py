"""The meta-analysis engine against reference values computed by metafor 3.8.

The reference files in tests/reference/ are written by conformance/metafor_reference.R (run
``make conformance`` to regenerate them); each holds the data set it was computed from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from research.meta import rma
from research.meta.bias import egger, pet_peese, selmodel, trimfill
from research.meta.conformance import assert_matches, table_view
from research.meta.moderators import moderator_matrix
from research.meta.subgroup import subgroup

REFERENCE = Path(__file__).parent / "reference"
# one file per data set with rma fits; effects.json, counts.json and multilevel.json have their own tests
DATASETS = sorted(p.stem for p in REFERENCE.glob("*.json") if "fits" in json.loads(p.read_text()))


def _load(name: str) -> tuple[dict, pd.DataFrame]:
    ref = json.loads((REFERENCE / f"{name}.json").read_text())
    return ref, pd.read_csv(REFERENCE / ref["data"])


_CACHE: dict[str, tuple[dict, pd.DataFrame]] = {}


def reference(name: str) -> tuple[dict, pd.DataFrame]:
    if name not in _CACHE:
        _CACHE[name] = _load(name)
    return _CACHE[name]


def _fit(data: pd.DataFrame, method: str, test: str, mods: list[str]):
    return rma(data["yi"], data["vi"], mods=data[mods] if mods else None, method=method, test=test,
               labels=data["label"])


def _cases(section: str) -> list:
    params = []
    for name in DATASETS:
        ref, _ = reference(name)
        entries = ref.get(section) or []
        for i, case in enumerate(entries):
            mods = "+".join(case.get("mods") or []) or "int"
            params.append(pytest.param(name, i, id=f"{name}-{case['method']}-{case['test']}-{mods}"))
    return params


def test_reference_files_cover_five_data_sets():
    assert len(DATASETS) >= 5
    for name in DATASETS:
        ref, data = reference(name)
        assert ref["metafor_version"].startswith("3.8")
        assert len(data) == ref["fits"][0]["expected"]["k"]


@pytest.mark.parametrize(("name", "index"), _cases("fits"))
def test_fit_matches_metafor(name, index):
    ref, data = reference(name)
    case = ref["fits"][index]
    fit = _fit(data, case["method"], case["test"], case["mods"])
    assert_matches(fit.to_dict(), case["expected"], what=f"{name} fit {index}")


@pytest.mark.parametrize(("name", "index"), _cases("diagnostics"))
def test_diagnostics_match_metafor(name, index):
    ref, data = reference(name)
    case = ref["diagnostics"][index]
    fit = _fit(data, case["method"], case["test"], case["mods"])
    actual = {"influence": table_view(fit.influence())}
    if "leave1out" in case:
        actual["leave1out"] = table_view(fit.leave1out())
        actual["cumul"] = table_view(fit.cumul())
    expected = {key: case[key] for key in ("influence", "leave1out", "cumul") if key in case}
    assert_matches(actual, expected, what=f"{name} diagnostics")


def _bias_params() -> list:
    return [pytest.param(name, id=name) for name in DATASETS if reference(name)[0].get("bias")]


@pytest.mark.parametrize("name", _bias_params())
def test_small_study_methods_match_metafor(name):
    ref, data = reference(name)
    case = ref["bias"]
    fit = _fit(data, case["method"], case["test"], [])
    actual = {
        "egger": egger(fit).to_dict(),
        "trimfill": trimfill(fit).to_dict(),
        "trimfill_r0": trimfill(fit, estimator="R0").to_dict(),
        "trimfill_q0": trimfill(fit, estimator="Q0").to_dict(),
        "pet_peese": pet_peese(fit).to_dict(),
    }
    expected = {key: case[key] for key in actual}
    assert_matches(actual, expected, what=f"{name} small-study methods")


@pytest.mark.parametrize("name", [p for p in _bias_params() if reference(p.values[0])[0]["bias"].get("selmodel")])
def test_selection_model_matches_metafor(name):
    ref, data = reference(name)
    case = ref["bias"]
    fit = _fit(data, case["method"], case["test"], [])
    model = selmodel(fit, steps=(0.025,), alternative=case["selmodel"]["alternative"]).to_dict()
    estimates = {k: v for k, v in case["selmodel"].items() if not k.startswith("se")}
    # standard errors come from numerical Hessians on both sides: agreement to 1e-5
    errors = {k: v for k, v in case["selmodel"].items() if k.startswith("se")}
    assert_matches(model, estimates, atol=1e-8, what=f"{name} 3PSM")
    assert_matches(model, errors, rtol=1e-5, atol=1e-8, what=f"{name} 3PSM standard errors")
    # metafor's default optimiser stops short of the maximum by about its own tolerance (its standard
    # errors then come from a Hessian at that other point, so only the estimates are compared)
    default = {k: v for k, v in case["selmodel_default"].items() if not k.startswith("se")}
    assert_matches(model, default, rtol=1e-3, atol=1e-5, what=f"{name} 3PSM vs metafor default")


@pytest.mark.parametrize("name", [n for n in DATASETS if reference(n)[0].get("subgroup")])
def test_subgroup_analysis_matches_metafor(name):
    ref, data = reference(name)
    case = ref["subgroup"]
    result = subgroup(data["yi"], data["vi"], data[case["column"]], method=case["method"], test=case["test"],
                      labels=data["label"])
    assert_matches(result.to_dict(), case["expected"], what=f"{name} subgroups")


# --------------------------------------------------------------------------- store estimates given as counts

COUNTS = json.loads((REFERENCE / "counts.json").read_text())


def _counts_store(tmp_path: Path, case: dict) -> Path:
    """Test data: one study and one estimate per row of a metadat data set, the counts as a-d."""
    from research.dataset import COUNT_LAYOUTS
    from tests.conftest import write_store

    raw = pd.read_csv(REFERENCE / COUNTS["data"][case["dataset"]])
    cells = dict(zip("abcd", (case["args"][name] for name in COUNT_LAYOUTS[case["measure"]])))
    source = {"id": "src-metadat", "kind": "dataset", "citation": f"metadat::dat.{case['dataset']} (test data)"}
    studies, estimates = [], []
    for i, row in raw.iterrows():
        studies.append({"id": f"study-{i + 1}", "title": f"row {i + 1}", "source": "src-metadat",
                        "year": int(row["year"]), "design": "randomised_experiment", "intervention": "treatment",
                        # bcg's allocation stands in for a categorical study attribute
                        **({"setting": str(row["alloc"])} if "alloc" in row else {})})
        estimates.append({"id": f"est-{i + 1}", "study": f"study-{i + 1}", "source": "src-metadat",
                          "where_read": f"row {i + 1}", "quote": "counts as in the data set", "outcome": "events",
                          "measure": case["measure"], "provenance": "primary",
                          **{cell: float(row[column]) for cell, column in cells.items()}})
    return write_store(tmp_path / "evidence", {"sources": [source], "studies": studies, "estimates": estimates})


@pytest.mark.parametrize("case", COUNTS["cases"],
                         ids=lambda c: f"{c['dataset']}-{c['measure']}-{c['method']}-{c['test']}-{'+'.join(c['mods']) or 'int'}")
def test_estimates_given_as_counts_pool_as_metafor_rma_with_counts(tmp_path, case):
    """Counts a-d with a measure -> research.dataset.effect_table -> rma, against rma(measure=, ai, bi, ci, di)."""
    from research.dataset import effect_table
    from research.store import load_store

    table = effect_table(load_store(_counts_store(tmp_path, case)))
    assert table["poolable"].all() and (table["measure"] == case["measure"]).all()
    assert_matches({"yi": table["yi"].to_numpy(), "vi": table["vi"].to_numpy()},
                   {"yi": case["yi"], "vi": case["vi"]}, rtol=1e-10, atol=1e-14)
    continuous = [name for name in case["mods"] if name not in case["categorical"]]
    mods = moderator_matrix(table, continuous, case["categorical"]) or None
    fit = rma(table["yi"], table["vi"], mods=mods, method=case["method"], test=case["test"])
    assert_matches(fit.to_dict(), case["expected"], what=f"{case['dataset']} {case['measure']} from counts")
