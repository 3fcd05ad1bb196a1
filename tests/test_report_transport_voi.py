"""What Almaty can expect (transport) and what a data gap is worth (value of information).

The transported prediction and the value-of-information rows are computed for the fixture's
studies by the pipeline's own steps, with the shipped speed-camera declaration (its transport
assumptions and its hypothetical studies), so the report sees the shapes the build produces.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pandas as pd
from markupsafe import escape

from research.analyses import load_analyses
from research.report import render_html_text, render_markdown_text
from research.report.context import _plain_assumption
from tests.test_report_fixture import realistic_results

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = '<script>alert("x")</script> | *pipe*'


def _speed_cameras():
    """The shipped speed-camera declaration and the fixture's studies as the pipeline's steps take them."""
    declaration = next(a for a in load_analyses(ROOT / "analyses") if a.id == "speed-cameras-crashes")
    studies = realistic_results()["analyses"][0]["studies"]
    return declaration, pd.DataFrame([{"id": s["id"], "yi": s["yi"], "vi": s["vi"]} for s in studies])


@lru_cache(maxsize=1)
def _computed() -> tuple[dict, list[dict]]:
    from research.pipeline import bayesian
    from research.results import clean

    declaration, frame = _speed_cameras()
    transport = clean(bayesian.transport_result(declaration, frame))
    voi = clean(bayesian.value_of_information_rows(declaration, frame))
    return transport, voi


def _with_priors_and_transport(results: dict) -> dict:
    """``results`` with the prior sensitivity and the transported prediction of the first analysis."""
    from research.pipeline import bayesian
    from research.results import clean

    declaration, frame = _speed_cameras()
    results["analyses"][0]["bayes"].update(clean(bayesian.prior_sensitivity(declaration, frame)))
    results["analyses"][0]["transport"] = dict(_computed()[0])
    return results


def _with_transport() -> dict:
    results = realistic_results()
    results["analyses"][0]["transport"] = dict(_computed()[0])
    return results


def _with_voi() -> dict:
    results = realistic_results()
    _, voi = _computed()
    gaps = results["gaps"]
    for gap, row in zip(gaps, voi):
        gap["voi"] = {**row, "analysis": results["analyses"][0]["id"]}
    return results


def _summary_html(results: dict) -> str:
    html = render_html_text(results)
    return html[html.index('<section id="summary"'):html.index('<section id="sof"')]


def _words(ratio: float) -> str:
    change = 100 * (ratio - 1)
    return f"{abs(change):.0f}% {'fewer' if change < 0 else 'more'}"


def test_summary_says_what_the_target_can_expect_from_the_ratio():
    results = _with_transport()
    ratio = results["analyses"][0]["transport"]["ratio"]
    expected = (
        f"most likely about {_words(ratio['median'])} crashes, but anywhere from {_words(ratio['q025'])} "
        f"to {_words(ratio['q975'])} (95% interval)"
    )
    assert f"What Almaty can expect:</strong> {expected}." in _summary_html(results)
    assert f"What Almaty can expect: {expected}." in render_markdown_text(results)


def test_expected_change_falls_back_to_the_predictive_log_ratio():
    results = _with_transport()
    transport = results["analyses"][0]["transport"]
    del transport["ratio"]
    pred = transport["predictive"]
    expected = f"most likely about {_words(math.exp(pred['median']))} crashes"
    assert expected in _summary_html(results)


def test_transport_assumptions_are_listed_in_the_summary():
    results = _with_transport()
    assumptions = results["analyses"][0]["transport"]["assumptions"]
    assert len(assumptions) >= 2  # the declaration's and the model's own
    results["analyses"][0]["transport"]["assumptions"].append(HOSTILE)
    html = _summary_html(results)
    md = render_markdown_text(results)
    assert "What this assumes about Almaty:" in html and "What this assumes about Almaty:" in md
    for text in assumptions[:-1]:
        assert f"<li>{escape(_plain_assumption(text))}</li>" in html  # statisticians' words explained
    assert "<script" not in html and str(escape(HOSTILE)) in html


def test_no_transport_no_expectation_or_assumptions():
    html = _summary_html(realistic_results())
    assert "can expect" not in html and "What this assumes" not in html


def test_gap_register_shows_the_assumed_study_and_decision_change():
    results = _with_voi()
    html = render_html_text(results)
    register = html[html.index('<section id="gaps"'):html.index('<section id="methods"')]
    for gap in results["gaps"]:
        row = register[register.index(f'id="gap-{gap["id"]}"'):]
        row = row[:row.index("</tr>")]
        voi = gap["voi"]
        assert str(escape(voi["description"])) in row
        assert f"<strong>{100 * voi['p_decision_change']:.0f}%</strong> chance the decision changes" in row
        assert f"<strong>{100 * voi['pi_width_reduction']:.0f}%</strong> expected narrowing of the 95% interval" in row
        assert f"expected to move {100 * voi['p_benefit_change']:.0f} points" in row
        # The study and the bias the figure assumes sit beside it, and how it moves if they change.
        assert str(escape(voi["assumed_design"])) in row and str(escape(voi["assumed_bias"])) in row
        assert "If the assumptions change" in row and "bias SD 0.3" in row


def test_report_shows_priors_their_basis_and_the_prior_sensitivity_table():
    results = _with_priors_and_transport(realistic_results())
    html = render_html_text(results)
    assert "doi:10.1002/jrsm.1217" in html and "How much the priors matter" in html
    table = html[html.index('id="priors-'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr") == 1 + len(results["analyses"][0]["bayes"]["prior_sensitivity"]["rows"])
    assert "halfcauchy:0.5" in table and "(declared)" in table
    assert "Prediction under other transport-bias SDs" in html and "0.20 (declared)" in html
    markdown = render_markdown_text(results)
    assert "tau ~ HalfNormal(0.5) (published)" in markdown and "P(new site benefits) ranges from" in markdown


def test_assumed_study_text_is_escaped():
    results = _with_voi()
    results["gaps"][0]["voi"]["description"] = HOSTILE
    html = render_html_text(results)
    assert "<script" not in html and str(escape(HOSTILE)) in html


def test_gap_without_value_of_information_says_not_estimated():
    html = render_html_text(realistic_results())
    register = html[html.index('<section id="gaps"'):html.index('<section id="methods"')]
    assert register.count("not estimated") == len(realistic_results()["gaps"])
    assert "Study assumed" not in register


def test_typed_fields_round_trip_and_the_report_reads_them_back_from_json():
    from research.results import Results

    results = _with_priors_and_transport(_with_voi())
    speed = results["analyses"][0]
    model = Results.coerce(results)
    typed = model.analyses[0]
    assert typed.transport.ratio.q975 == speed["transport"]["ratio"]["q975"]
    ranges = speed["bayes"]["prior_sensitivity"]["ranges"]
    assert typed.bayes.prior_sensitivity.ranges.pred_ratio_q975 == ranges["pred_ratio_q975"]
    assert typed.bayes.prior_sensitivity.declared.tau == _speed_cameras()[0].bayes.tau_prior
    back = Results.model_validate_json(model.model_dump_json())
    assert back == model and back.to_dict() == model.to_dict()
    assert render_html_text(back) == render_html_text(results)
    assert render_markdown_text(back) == render_markdown_text(results)
