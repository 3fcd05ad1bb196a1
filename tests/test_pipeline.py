"""The main job end to end on the shipped store: results, skipping when unchanged, living verdicts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from research.cli import main
from research.pipeline import build

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("build")
    shutil.copytree(ROOT / "evidence", base / "evidence")
    shutil.copytree(ROOT / "analyses", base / "analyses")
    outcome = build(base / "evidence", base / "analyses", base / "reports", cache_dir=base / "cache")
    return base, outcome


def test_build_writes_every_output(workspace):
    base, outcome = workspace
    assert not outcome.up_to_date
    assert {p.name for p in outcome.written} == {"index.html", "summary.md", "results.json"}
    results = json.loads((base / "reports" / "results.json").read_text())
    assert results["store"]["counts"]["claims"] >= 15
    assert {a["id"] for a in results["analyses"]} >= {"cctv-crime", "speed-cameras-crashes"}
    assert len(results["claims"]) == results["store"]["counts"]["claims"]


def test_the_speed_camera_declaration_runs_every_model_on_a_like_with_like_pool(workspace):
    # made-up test data: four "all crashes" CMFs, so the declared pool, transport and VOI all run
    # (MCMC is left out here: it is covered by the slow tests)
    declaration = yaml.safe_load((ROOT / "analyses" / "speed-cameras-crashes.yaml").read_text())
    declaration.pop("mcmc")
    analysis = Analysis.model_validate(declaration | {"file": "analyses/speed-cameras-crashes.yaml"})
    rows = [{"id": f"t-cmf-{i}", "outcome_family": "all crashes", "measure": "CMF", "yi": math.log(cmf), "vi": v,
             "intervention": "Automated speed enforcement cameras", "country": "USA", "year": 2005}
            for i, (cmf, v) in enumerate([(0.86, 0.001), (0.81, 0.07), (0.7, 0.02), (0.9, 0.01)])]
    speed = run_analysis(analysis, table(rows))
    assert speed["status"] == "ok" and speed["k"] == len(speed["inputs"]) == 4
    assert speed["frequentist"]["ci_low"] < speed["frequentist"]["estimate"] < speed["frequentist"]["ci_high"]
    assert 0 < speed["bayes"]["p_benefit"] < 1
    assert speed["target"] == "target-almaty" and speed["transport"]["assumptions"]  # the name comes with the store
    assert [row["gap"] for row in speed["value_of_information"]]
    assert all(row["assumed_design"] and row["assumed_bias"] and row["sensitivity"] for row in speed["value_of_information"])
    assert speed["bayes"]["prior_sensitivity"]["rows"] and {b["role"] for b in speed["bayes"]["prior_basis"]} == {"mu", "tau"}
    assert speed["transport"]["sensitivity"]["rows"]
    assert set(speed["figures"]) >= {"forest", "funnel", "posterior", "predictive"}
    assert speed["meta_regression"]["moderators"][0]["name"] == "year"
    assert len([r for r in speed["sensitivity"]["rows"] if r["kind"] == "leave_one_out"]) == 4
    typed = AnalysisResult.model_validate(clean(speed))
    assert undeclared(typed) == []  # every field the steps write is a declared field of the results
    assert sum(cell.probability for cell in typed.transport.breakdown) == pytest.approx(1.0)


def test_cctv_analysis_reports_what_is_missing(workspace):
    results = workspace[1].results
    cctv = next(a for a in results["analyses"] if a["id"] == "cctv-crime")
    assert cctv["status"] == "insufficient_data" and cctv["frequentist"] is None
    assert cctv["reported"] and cctv["gaps"]
    assert any("per-study" in g["what"].lower() for g in results["gaps"] if g["id"] in cctv["gaps"])


def test_hedged_numbers_keep_their_hedge(workspace):
    base, outcome = workspace
    speed = next(a for a in outcome.results["analyses"] if a["id"] == "speed-cameras-crashes")
    hedged = [r for r in speed["reported"] if r["qualifier"] == "about"]
    assert hedged, "the store records 'about' for Hoye (2014) total crashes"
    summary = (base / "reports" / "summary.md").read_text()
    assert f"about {hedged[0]['percent_change']:+.0f}%" in summary


def test_unchanged_inputs_skip_the_work(workspace):
    base, _ = workspace
    again = build(base / "evidence", base / "analyses", base / "reports", cache_dir=base / "cache")
    assert again.up_to_date and again.written == []


def test_a_forced_build_reads_an_unchanged_store_from_the_validation_cache(workspace, monkeypatch):
    from research.store import incremental
    from research.store import load_store

    base, first = workspace
    expected = load_store(base / "evidence")
    loaded = []
    load = incremental.load_validated_store

    def loading(*args, **kwargs):
        loaded.append(load(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(incremental, "read_evidence_file", lambda *a: pytest.fail("an unchanged file was read again"))
    monkeypatch.setattr("research.pipeline.job.load_validated_store", loading)
    again = build(base / "evidence", base / "analyses", base / "reports", force=True, cache_dir=base / "cache")
    assert not again.up_to_date
    assert loaded and loaded[0].records == expected.records and loaded[0].origin == expected.origin
    assert loaded[0].lines == expected.lines


def test_changed_evidence_rebuilds_and_changes_the_verdict(workspace):
    base, first = workspace
    before = {v["claim_id"]: v for v in first.results["claims"]}
    path = base / "evidence" / "claims" / "almaty-article.yaml"
    claims = yaml.safe_load(path.read_text())
    fine = next(c for c in claims if c["id"] == "claim-fines-2-3-billion-tenge")
    # Ten times the money makes the average fine plausible: the arithmetic verdict must move.
    fine["quantities"][0]["value"] *= 10
    path.write_text(yaml.safe_dump(claims, sort_keys=False, allow_unicode=True))
    rebuilt = build(base / "evidence", base / "analyses", base / "reports", cache_dir=base / "cache")
    assert not rebuilt.up_to_date
    after = {v["claim_id"]: v for v in rebuilt.results["claims"]}
    assert after["claim-fines-2-3-billion-tenge"]["arithmetic"] != before["claim-fines-2-3-billion-tenge"]["arithmetic"]
    unchanged = [c for c in before if c not in ("claim-fines-2-3-billion-tenge", "claim-fines-360000-violations")]
    assert all(after[c]["label"] == before[c]["label"] for c in unchanged)


def test_bad_declaration_stops_the_build(tmp_path, capsys):
    shutil.copytree(ROOT / "evidence", tmp_path / "evidence")
    (tmp_path / "analyses").mkdir()
    (tmp_path / "analyses" / "broken.yaml").write_text("id: x\ntitle: t\nmethod: REML\n")
    code = main(["build", "--evidence", str(tmp_path / "evidence"), "--analyses", str(tmp_path / "analyses"),
                 "--reports", str(tmp_path / "reports")])
    assert code == 2
    assert "analyses/broken.yaml" in capsys.readouterr().err
    assert not (tmp_path / "reports" / "results.json").exists()


# --- like with like: outcome families, evaluations, sensitivity, moderators ----------------------
# The tables below are made-up test data (ids "t-..."), except the BCG trials, which are metafor's
# dat.bcg as written to tests/reference by conformance/metafor_reference.R.

import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from research.analyses import Analysis  # noqa: E402
from research.dataset import COLUMNS  # noqa: E402
from research.meta import rma  # noqa: E402
from research.pipeline import run_analysis, select_estimates  # noqa: E402
from research.results import AnalysisResult, clean  # noqa: E402
from research.store import EvidenceError  # noqa: E402
from tests.test_results import undeclared  # noqa: E402


def table(rows, extra=()):
    defaults = {"intervention": "test cameras", "poolable": True, "provenance": "primary", "reason": "",
                "design": "controlled_before_after", "derived": False, "rob_overall": "low", "outcome": "crashes"}
    full = []
    for r in rows:
        row = {c: None for c in COLUMNS} | defaults | {"study": r["id"], "label": r["id"]} | r
        row["evaluation"] = row["evaluation"] or row["study"]
        full.append(row)
    return pd.DataFrame(full, columns=list(COLUMNS) + list(extra))


def declared(**fields):
    base = {"id": "t", "title": "Test", "question": "q?", "intervention": "test cameras", "outcome": "crashes",
            "where": "poolable", "file": "analyses/t.yaml", "min_k": 2}
    return Analysis.model_validate(base | fields)


MIXED = [
    {"id": "t-all-1", "outcome_family": "all crashes", "yi": -0.2, "vi": 0.01},
    {"id": "t-all-2", "outcome_family": "all crashes", "yi": -0.1, "vi": 0.02},
    {"id": "t-side", "outcome_family": "sideswipe crashes", "yi": -0.6, "vi": 0.09},
]


def test_a_mixed_pool_without_a_declaration_is_refused_naming_the_estimates():
    with pytest.raises(EvidenceError) as info:
        select_estimates(declared(), table(MIXED))
    (problem,) = info.value.problems
    assert (problem.file, problem.record, problem.field) == ("analyses/t.yaml", "t", "outcome_family")
    assert "all crashes: t-all-1, t-all-2" in problem.message and "sideswipe crashes: t-side" in problem.message


def test_one_declared_outcome_is_pooled_and_the_others_are_named():
    chosen = select_estimates(declared(outcome_families=["all crashes", "sideswipe crashes"],
                                       outcome_family="all crashes"), table(MIXED))
    assert chosen.pooled["id"].tolist() == ["t-all-1", "t-all-2"]
    assert chosen.other_outcomes["id"].tolist() == ["t-side"]
    reasons = {e["id"]: e["reason"] for e in chosen.excluded}
    assert "measures sideswipe crashes, not all crashes" in reasons["t-side"]


def test_estimates_outside_the_list_or_without_a_family_are_refused():
    with pytest.raises(EvidenceError, match="t-side"):
        select_estimates(declared(outcome_families=["all crashes"], outcome_family="all crashes"), table(MIXED))
    unknown = [dict(r, outcome_family=None) for r in MIXED[:2]]
    with pytest.raises(EvidenceError, match="no outcome_family"):
        select_estimates(declared(), table(unknown))


def test_one_evaluation_one_voice_by_the_stated_rule():
    rows = [
        {"id": "t-a", "evaluation": "eval-1", "outcome_family": "all crashes", "yi": -0.5, "vi": 0.05,
         "provenance": "primary"},
        {"id": "t-b", "evaluation": "eval-1", "outcome_family": "all crashes", "yi": -0.1, "vi": 0.01,
         "provenance": "secondary"},
        {"id": "t-c", "outcome_family": "all crashes", "yi": -0.2, "vi": 0.02},
    ]
    most = select_estimates(declared(), table(rows))
    assert most.pooled["id"].tolist() == ["t-b", "t-c"]
    (duplicate,) = most.duplicates
    assert duplicate["id"] == "t-a" and duplicate["kept"] == "t-b" and "smallest variance" in duplicate["reason"]
    primary = select_estimates(declared(evaluations={"rule": "primary_source"}), table(rows))
    assert primary.pooled["id"].tolist() == ["t-a", "t-c"] and primary.duplicates[0]["id"] == "t-b"


REFERENCE_DIR = ROOT / "tests" / "reference"


def test_a_declared_multilevel_model_matches_metafor_rma_mv():
    # dat.konstantopoulos2011 (written by conformance/metafor_reference.R): schools within districts,
    # read here as estimates within evaluations; metafor: rma.mv(yi, vi, random = ~ 1 | district/school).
    data = pd.read_csv(REFERENCE_DIR / "data" / "konstantopoulos2011.csv")
    case = next(c for c in json.loads((REFERENCE_DIR / "multilevel.json").read_text())["cases"]
                if c["dataset"] == "konstantopoulos2011" and c["method"] == "REML" and c["test"] == "z"
                and not c["mods"] and c["nested"])
    rows = [{"id": f"t-school-{r.district}-{r.school}", "evaluation": f"t-district-{r.district}",
             "outcome_family": "achievement", "yi": r.yi, "vi": r.vi} for r in data.itertuples()]
    result = run_analysis(declared(evaluations={"rule": "multilevel"}, test="z"), table(rows))
    fit, expected = result["frequentist"], case["expected"]
    assert result["status"] == "ok" and fit["model"] == "multilevel" and result["k"] == len(rows)
    for key in ("estimate", "se", "ci_low", "ci_high"):
        assert fit[key] == pytest.approx(expected[key], abs=1e-6), key
    assert fit["sigma2"] == pytest.approx(expected["sigma2"], abs=1e-6)
    assert result["bayes"] is None and "one estimate per evaluation" in result["status_reason"]


def test_a_multilevel_declaration_with_one_estimate_per_evaluation_is_the_ordinary_model():
    rows = [{"id": f"t-{i}", "outcome_family": "all crashes", "yi": y, "vi": v}
            for i, (y, v) in enumerate([(-0.2, 0.01), (-0.1, 0.02), (-0.4, 0.03)])]
    result = run_analysis(declared(evaluations={"rule": "multilevel"}), table(rows))
    ordinary = rma(np.array([-0.2, -0.1, -0.4]), np.array([0.01, 0.02, 0.03]), test="hksj")
    assert result["frequentist"]["model"] == "random_effects"
    assert result["frequentist"]["estimate"] == pytest.approx(ordinary.estimate, abs=1e-12)


def test_sensitivity_reaches_the_result():
    rows = [
        {"id": "t-big", "outcome_family": "all crashes", "yi": math.log(0.4), "vi": 0.002, "provenance": "secondary"},
        {"id": "t-1", "outcome_family": "all crashes", "yi": math.log(1.05), "vi": 0.02},
        {"id": "t-2", "outcome_family": "all crashes", "yi": math.log(1.10), "vi": 0.02},
        {"id": "t-3", "outcome_family": "all crashes", "yi": math.log(0.95), "vi": 0.02},
        {"id": "t-3-again", "evaluation": "t-3", "outcome_family": "all crashes", "yi": math.log(0.5), "vi": 0.03},
    ]
    result = run_analysis(declared(test="z"), table(rows))
    sens = result["sensitivity"]
    kinds = [r["kind"] for r in sens["rows"]]
    assert kinds.count("leave_one_out") == 4 and "primary_only" in kinds and "duplicates_kept" in kinds
    without_big = next(r for r in sens["rows"] if r["changed"] == ["t-big"] and r["kind"] == "leave_one_out")
    expected = rma([math.log(1.05), math.log(1.10), math.log(0.95)], [0.02] * 3, test="z")
    assert without_big["estimate"] == pytest.approx(expected.estimate, abs=1e-10)
    assert without_big["changes_direction"] and sens["direction_changes"]
    kept = next(r for r in sens["rows"] if r["kind"] == "duplicates_kept")
    assert kept["changed"] == ["t-3-again"] and kept["k"] == 5


def _bcg(extra_columns=True):
    data = pd.read_csv(ROOT / "tests" / "reference" / "data" / "bcg.csv")
    rows = [{"id": f"bcg-{r.trial}", "outcome_family": "tuberculosis", "yi": r.yi, "vi": r.vi, "year": int(r.year),
             "setting": r.alloc, "ablat": float(r.ablat)} for r in data.itertuples()]
    return table(rows, extra=("ablat",)), data


REFERENCE = json.loads((ROOT / "tests" / "reference" / "bcg.json").read_text())


def test_declared_continuous_moderators_match_metafor():
    frame, _ = _bcg()
    analysis = declared(moderators=[{"name": "ablat", "kind": "continuous"}, {"name": "year", "kind": "continuous"}],
                        method="REML", test="hksj")
    result = run_analysis(analysis, frame)
    fit = result["meta_regression"]["fit"]
    (reference,) = [f["expected"] for f in REFERENCE["fits"]
                    if f["mods"] == ["ablat", "year"] and f["method"] == "REML" and f["test"] == "hksj"]
    for ours, theirs in zip(fit["coefficients"], reference["coefficients"]):
        assert ours["estimate"] == pytest.approx(theirs["estimate"], abs=1e-6)
        assert ours["se"] == pytest.approx(theirs["se"], abs=1e-6)
    assert fit["tau2"] == pytest.approx(reference["tau2"], abs=1e-6)


def test_declared_categorical_moderator_and_outcome_model_match_metafor():
    frame, data = _bcg()
    expected = REFERENCE["subgroup"]["expected"]
    by_setting = run_analysis(declared(moderators=[{"name": "setting", "kind": "categorical"}], test="z"), frame)
    fit = by_setting["meta_regression"]["fit"]
    assert fit["qm"] == pytest.approx(expected["mixed_qm"], abs=1e-6)
    assert fit["tau2"] == pytest.approx(expected["mixed_tau2"], abs=1e-6)
    # the same coding with the outcome family as the moderator: a declared multi-outcome model
    as_outcomes = frame.assign(outcome_family=data["alloc"].to_numpy())
    model = run_analysis(declared(outcome_families=["alternate", "random", "systematic"], test="z",
                                  multi_outcome={"model": "moderator", "reference": "alternate"}), as_outcomes)
    assert model["outcome_model"]["fit"]["qm"] == pytest.approx(expected["mixed_qm"], abs=1e-6)
    assert [row["outcome_family"] for row in model["outcome_model"]["by_outcome"]] == [
        "alternate", "random", "systematic"]
    assert "note" not in model["outcome_model"]  # every trial is its own evaluation


def test_an_outcome_model_names_evaluations_that_give_several_estimates():
    rows = [{"id": f"t-{i}", "evaluation": f"eval-{i // 2}", "outcome_family": family, "yi": yi, "vi": 0.02}
            for i, (family, yi) in enumerate([("all crashes", -0.2), ("injury crashes", -0.3), ("all crashes", -0.1),
                                              ("injury crashes", -0.25), ("all crashes", -0.15)])]
    result = run_analysis(declared(outcome_families=["all crashes", "injury crashes"],
                                   multi_outcome={"model": "moderator"}), table(rows))
    assert result["outcome_model"]["status"] == "ok"
    assert "evaluation eval-0 gives 2 estimates (t-0, t-1)" in result["outcome_model"]["note"]


def test_moderators_with_missing_values_are_named_not_dropped_silently():
    frame, _ = _bcg()
    frame.loc[0, "ablat"] = np.nan
    result = run_analysis(declared(moderators=[{"name": "ablat", "kind": "continuous"}]), frame)
    assert result["meta_regression"]["left_out"] == ["bcg-1"] and result["meta_regression"]["k"] == 12


def test_speed_cameras_pool_like_with_like_or_say_why_not(workspace):
    speed = next(a for a in workspace[1].results["analyses"] if a["id"] == "speed-cameras-crashes")
    assert speed["outcome_family"] == "all crashes" and speed["inputs"] == ["est-cmf-2194"]
    assert speed["status"] == "insufficient_data"
    others = {row["id"]: row["outcome_family"] for row in speed["other_outcomes"]}
    assert others == {"est-cmf-2912": "sideswipe crashes", "est-cmf-2923": "single-vehicle crashes",
                      "est-cmf-8196": "injury crashes"}
    assert "3 other estimates measure different outcomes" in speed["status_reason"]
    # nothing was pooled, so the flow of records says so
    assert workspace[1].results["store"]["flow"]["estimates_pooled"] == 0
    evaluations = {row["id"]: row["evaluation"] for row in speed["other_outcomes"]}
    assert evaluations["est-cmf-2912"] == evaluations["est-cmf-2923"] == "eval-scottsdale-loop101-2001-2006"
    published = {row["estimate_id"]: row for row in speed["reported"]}
    assert published["est-hoye2014-total-crashes"]["percent_change"] == -20
    # the Cochrane review gives ranges across studies, no single figure: shown in its recorded wording
    assert "8%-49%" in published["est-wilson2010-all-crashes"]["narrative"]
    summary = (workspace[0] / "reports" / "summary.md").read_text()
    assert "We are very uncertain whether automated speed enforcement cameras reduce crashes" in summary
    assert "all crashes near camera sites: range across studies: 8%-49%" in summary


def test_a_mixed_pool_stops_the_build_with_exit_code_2(tmp_path, capsys):
    shutil.copytree(ROOT / "evidence", tmp_path / "evidence")
    (tmp_path / "analyses").mkdir()
    declaration = yaml.safe_load((ROOT / "analyses" / "speed-cameras-crashes.yaml").read_text())
    for field in ("outcome_family", "outcome_families", "transport", "value_of_information", "mcmc"):
        declaration.pop(field, None)
    (tmp_path / "analyses" / "speed.yaml").write_text(yaml.safe_dump(declaration))
    code = main(["build", "--evidence", str(tmp_path / "evidence"), "--analyses", str(tmp_path / "analyses"),
                 "--reports", str(tmp_path / "reports")])
    assert code == 2
    err = capsys.readouterr().err
    assert "analyses/speed.yaml" in err and "est-cmf-2912" in err and "est-cmf-2194" in err


@pytest.mark.parametrize(
    ("settings", "words"),
    [(["a", "a", "a"], "one value only"), (["a", "b", "c"], "3 estimates for 3 coefficients")],
)
def test_a_meta_regression_that_cannot_be_estimated_says_why(settings, words):
    rows = [{"id": f"t-{i}", "outcome_family": "all crashes", "yi": -0.1 * i, "vi": 0.02, "setting": s}
            for i, s in enumerate(settings)]
    result = run_analysis(declared(moderators=[{"name": "setting", "kind": "categorical"}]), table(rows))
    assert result["meta_regression"]["status"] == "not_estimable" and words in result["meta_regression"]["reason"]


def test_the_share_of_new_settings_that_benefit_comes_with_its_interval_and_a_declared_threshold():
    rows = [{"id": f"t-{i}", "outcome_family": "all crashes", "yi": math.log(r), "vi": v}
            for i, (r, v) in enumerate([(0.86, 0.001), (0.81, 0.07), (0.7, 0.02), (0.9, 0.01)])]
    plain = run_analysis(declared(), table(rows))["bayes"]["share_benefiting"]
    assert plain["meaningful"] is None and plain["any"]["low"] < plain["any"]["mean"] < plain["any"]["high"]
    bayes = {"meaningful_benefit_percent": -10, "meaningful_benefit_basis": "judgement: test threshold"}
    share = run_analysis(declared(bayes=bayes), table(rows))["bayes"]["share_benefiting"]
    assert share["meaningful"]["threshold_ratio"] == pytest.approx(0.9)
    assert share["meaningful"]["mean"] < share["any"]["mean"]
    with pytest.raises(ValueError, match="meaningful_benefit_basis"):
        declared(bayes={"meaningful_benefit_percent": -10})


def test_an_analysis_is_split_into_steps_and_their_results_assemble_in_any_order():
    from research.pipeline.analysis import assemble, prepare, run_step

    analysis = declared(outcome_family="all crashes", outcome_families=["all crashes"],
                        mcmc=[{"model": "random_effects"}, {"model": "robust"}])
    rows = [r for r in MIXED if r["outcome_family"] == "all crashes"]
    assert prepare(analysis, table(rows)).steps == ["frequentist", "bayes", "prior_sensitivity", "mcmc:0", "mcmc:1"]
    prepared = prepare(analysis, table(rows), mcmc=False)
    assert prepared.steps == ["frequentist", "bayes", "prior_sensitivity"]
    assert prepare(analysis, table(rows[:1]), mcmc=True).steps == []  # too few to pool: nothing to run

    # steps are independent: run in reverse, assembled in step order, the result equals a serial run
    outputs = {step: run_step(analysis, prepared.selection, step, figures=False) for step in reversed(prepared.steps)}
    assembled = assemble(prepared, [outputs[step] for step in prepared.steps])
    serial = run_analysis(analysis, table(rows), mcmc=False, figures=False)
    assert assembled == serial
    assert serial["bayes"]["prior_sensitivity"] and serial["bayes"]["p_benefit"] > 0.5
