"""The second, unrelated case shipped in examples/cbt-recidivism (Landenberger & Lipsey 2005, via
metadat's dat.landenberger2005) validates, builds and gets verdicts with no code change; its pooled
estimates match R's metafor; its report speaks in its own words, none of the first case's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from research.grade import GradeAssessment, assess_certainty, target_of
from research.pipeline import build
from research.report import render_html_text
from research.results import Results, results_schema
from research.store import load_store

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "examples" / "cbt-recidivism"
REFERENCE = json.loads((ROOT / "tests" / "reference" / "cbt_recidivism.json").read_text(encoding="utf-8"))
# Words of the first case (place, country, system, currency, fee unit) and of its topic.
FIRST_CASE_WORDS = re.compile(
    r"\b(Almaty|Kazakh\w*|Sergek|tenge|MRP|cameras?|cit(y|ies)|crash\w*|crimes?|CCTV|CMF)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    reports = tmp_path_factory.mktemp("cbt-reports")
    outcome = build(CASE / "evidence", CASE / "analyses", reports, force=True, cache_dir=None)
    return outcome.results, reports


def test_the_example_store_validates_with_every_number_sourced():
    store = load_store(CASE / "evidence")
    assert len(store["studies"]) == len(store["estimates"]) == 58
    assert {s.design for s in store["studies"]} == {"randomised_experiment", "non_randomised_controlled"}
    assert all(e.source and e.where_read and e.quote for e in store["estimates"])
    assert all(f.source and f.quote and str(int(f.value)) in f.quote for f in store["facts"])


def test_randomised_pool_matches_metafor(built):
    results, _ = built
    rct = next(a for a in results["analyses"] if a["id"] == "cbt-rct-recidivism")
    expected = REFERENCE["randomised"]
    assert rct["status"] == "ok" and rct["k"] == expected["k"] == 19
    for name in ("estimate", "se", "ci_low", "ci_high", "tau2"):
        assert rct["frequentist"][name] == pytest.approx(expected[name], rel=1e-6, abs=1e-9), name


def test_moderator_analysis_matches_metafor(built):
    results, _ = built
    mods = next(a for a in results["analyses"] if a["id"] == "cbt-moderators")
    fit = mods["meta_regression"]["fit"]
    expected = REFERENCE["moderators"]
    assert mods["k"] == expected["k"] == 58 and fit["tau2"] == pytest.approx(expected["tau2"], rel=1e-6)
    for ours, theirs in zip(fit["coefficients"], expected["coefficients"], strict=True):
        assert ours["estimate"] == pytest.approx(theirs["estimate"], rel=1e-6)
        assert ours["se"] == pytest.approx(theirs["se"], rel=1e-6)


def test_every_claim_gets_a_verdict_with_its_reasons(built):
    results, _ = built
    verdicts = {c["claim_id"]: c for c in results["claims"]}
    assert set(verdicts) == {"claim-cbt-58-studies-positive", "claim-cbt-moderators", "claim-cbt-brand-names"}
    studies = verdicts["claim-cbt-58-studies-positive"]
    assert "fact-landenberger-2005-studies" in studies["evidence"] and "cbt-rct-recidivism" in studies["analyses"]
    # the number of studies is sourced; the strength of the wording is judged against GRADE's certainty
    parts = {p["aspect"]: p for p in studies["parts"]}
    assert parts["quantity"]["label"] == "supported" and "causal_strength" in parts
    assert "I² = 7%" in studies["rationale"]  # metafor: I² = 6.86% for the 19 trials
    assert verdicts["claim-cbt-brand-names"]["label"] == "unsupported"
    assert "gap-cbt-brand-names" in verdicts["claim-cbt-brand-names"]["gaps"]


def test_randomised_trials_start_high_and_are_not_judged_indirect_to_another_case(built):
    results, _ = built
    html = (built[1] / "index.html").read_text(encoding="utf-8")
    assert "randomised experiments carry 100% of the weight" in html
    assert "names no target setting" in html  # no target declared: indirectness is not assessed, not downgraded


def test_the_report_speaks_the_case_words_and_none_of_the_first_case(built):
    _, reports = built
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    html = (reports / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<style.*?</style>", "", html, flags=re.S)  # CSS words such as 'opacity' are not prose
    assert summary.startswith("# Sightline summary: cognitive-behavioural therapy\n")
    assert f"`{reports.name}/results.json`" in summary  # the header follows --reports
    assert "In 100 similar studies" in html and "New similar trial" in html  # each analysis has its own unit
    assert "Claims in the review" in html  # the claims were read in a review, not an article
    for document in (summary, text):
        found = sorted({m.group(0) for m in FIRST_CASE_WORDS.finditer(document)})
        assert not found, found


def test_its_results_read_back_validate_and_give_the_same_report_and_grade(built):
    """Pooled analyses (frequentist, exact posterior, prior sensitivity, meta-regression, sensitivity) as
    results.json holds them: the exported schema accepts them and the report reads them back unchanged."""
    _, reports = built
    path = reports / "results.json"
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), results_schema())
    loaded = Results.load(path)
    assert render_html_text(loaded) == (reports / "index.html").read_text(encoding="utf-8")
    pooled = [a for a in loaded.analyses if a.ok]
    assert pooled and all(a.bayes.prior_sensitivity.ranges.p_pred_below for a in pooled)
    for analysis in pooled:  # results stored without GRADE are rated by the report from the typed result
        again = assess_certainty(analysis, loaded.risk_of_bias, target_of(analysis, loaded.targets))
        assert again == GradeAssessment.from_record(analysis.grade)
