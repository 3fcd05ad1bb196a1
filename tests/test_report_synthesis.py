"""Honest synthesis on the page: GRADE wording in headlines, sensitivity that reaches the headline,
published results beside every pool, the risk-of-bias rule beside its row, and no likelihood words
where the certainty is low. Inputs are the test fixture (made-up numbers, tests/test_report_fixture.py).
"""

from __future__ import annotations

import math

from markupsafe import escape

from research.grade import ROB_RULE, assess_certainty, target_of
from research.report import render_html_text, render_markdown_text
from research.report.context import build_context
from research.verbal import IPCC_SCALE
from tests.test_report_fixture import realistic_results


def _speed(results):
    return results["analyses"][0]


def _view(results, analysis_id):
    return next(a for a in build_context(results)["analyses"] if a["id"] == analysis_id)


def _sensitivity(direction=False, size=False):
    row = {"kind": "leave_one_out", "label": "without t-big (Big study)", "changed": ["t-big"], "k": 3,
           "status": "ok", "estimate": math.log(1.1 if direction else 0.9), "ci_low": -0.3, "ci_high": 0.4,
           "size_class": "small", "direction": "more" if direction else "fewer",
           "changes_size_class": size, "changes_direction": direction}
    return {"main": {"size_class": "moderate", "direction": "fewer"}, "rows": [row],
            "size_class_changes": size, "direction_changes": direction, "size_class_rule": "rule text"}


def test_the_headline_uses_grade_wording_for_its_certainty():
    results = realistic_results()
    speed = _speed(results)
    view = _view(results, speed["id"])
    certainty = assess_certainty(speed, results["risk_of_bias"], target_of(speed, results["targets"])).certainty
    assert view["grade"].certainty == certainty
    if certainty == "very_low":
        assert view["statement"].startswith("We are very uncertain whether automated speed cameras")
        assert not any(ch.isdigit() for ch in view["statement"])  # no point estimate, no probability


def test_no_likelihood_word_next_to_low_or_very_low_certainty():
    results = realistic_results()
    view = _view(results, _speed(results)["id"])
    assert view["grade"].certainty in ("low", "very_low")
    assert view["benefit"]["term"] == "" and not view["likelihood_words"]
    md = render_markdown_text(results)
    probability_line = next(line for line in md.splitlines() if "chance" in line and "of fewer" in line)
    assert not any(f"({entry.term})" in probability_line for entry in IPCC_SCALE)
    assert "No likelihood word" in probability_line and "the share of the model's plausible outcomes" in probability_line


def test_a_direction_change_in_the_sensitivity_analysis_reaches_the_headline():
    results = realistic_results()
    _speed(results)["sensitivity"] = _sensitivity(direction=True)
    view = _view(results, _speed(results)["id"])
    assert "The direction of the change is not robust" in view["statement"]
    assert "without t-big" in view["statement"]
    stable = realistic_results()
    _speed(stable)["sensitivity"] = _sensitivity()
    assert "not robust" not in _view(stable, _speed(stable)["id"])["statement"]
    sized = realistic_results()
    _speed(sized)["sensitivity"] = _sensitivity(size=True)
    assert "The size of the change is not robust" in _view(sized, _speed(sized)["id"])["statement"]
    md, html = render_markdown_text(results), render_html_text(results)
    assert "Does the result hold if the pool changes?" in md and "without t-big (Big study)" in html


def test_published_results_stand_beside_the_pool():
    results = realistic_results()
    md, html = render_markdown_text(results), render_html_text(results)
    for text in (md, html):
        assert "Beside this pool, on the same question" in text
    assert "total crashes -20%" in md


def test_the_risk_of_bias_rule_is_shown_beside_the_row():
    results = realistic_results()
    html = render_html_text(results)
    assert "<strong>Rule:</strong> " + str(escape(ROB_RULE)) in html
    assert "Risk-of-bias rule: " in render_markdown_text(results)


def test_a_meta_regression_is_shown_with_its_test():
    results = realistic_results()
    _speed(results)["meta_regression"] = {
        "what": "declared moderators", "status": "ok", "k": 4, "left_out": [], "moderators": [
            {"name": "year", "label": "study year", "kind": "continuous"}],
        "fit": {"coefficients": [{"name": "intrcpt", "estimate": 1.0, "ci_low": 0.0, "ci_high": 2.0, "p": 0.04},
                                 {"name": "year", "estimate": -0.01, "ci_low": -0.02, "ci_high": 0.0, "p": 0.05}],
                "qm": 3.2, "qm_df": [1, 2], "qm_p": 0.2, "tau2": 0.01}}
    html = render_html_text(results)
    assert "Meta-regression: declared moderators" in html and "Fewer than 10 estimates: exploratory only." in html
    assert "F(1, 2) = 3.20, p = 0.200" in html


def test_statisticians_words_are_explained_where_they_appear():
    results = realistic_results()
    results["analyses"][0]["transport"] = {
        "target": "Almaty", "predictive": {"median": -0.2, "q025": -0.9, "q975": 0.5}, "p_benefit": 0.7,
        "assumptions": ["no moderators: the target is treated as exchangeable with the studies"]}
    md = render_markdown_text(results)
    assert "exchangeable (expected to respond like the studied places" in md
    assert "CMF (crash modification factor)" in md
