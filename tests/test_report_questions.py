"""The one-page summary answers each question the article raises, pooled or not.

The CCTV analysis of the fixture cannot be pooled; its reported rows are the review results of
the evidence store. These tests check that its block says what the reviews report, why there is
no probability of benefit, what was not evaluated and which gaps would change that.
"""

from __future__ import annotations

import re

from markupsafe import escape

from research.report import markdown_escape, render_html_text, render_markdown_text
from research.report.context import build_context
from tests.test_report_fixture import AI_GAP, almaty_gap, realistic_results

HOSTILE = '<script>alert("x")</script> | *pipe*'


def _summary_html(results: dict) -> str:
    html = render_html_text(results)
    return html[html.index('<section id="summary"'):html.index('<section id="sof"')]


def _summary_md(results: dict) -> str:
    md = render_markdown_text(results)
    return md[md.index("## In brief"):md.index("## Summary of findings")]


def _block(results: dict, analysis_id: str) -> dict:
    context = build_context(results)
    return next(b for b in context["summary_blocks"] if b["analysis"]["id"] == analysis_id)


def _groups(results: dict, analysis_id: str = "cctv-crime") -> dict[str, list[dict]]:
    summary = _block(results, analysis_id)["analysis"]["reported_summary"]
    return {g["title"]: g["entries"] for g in summary["groups"]}


def test_unpooled_analysis_with_reported_results_gets_a_block_in_html_and_markdown():
    results = realistic_results()
    html, md = _summary_html(results), _summary_md(results)
    assert 'id="summary-cctv-crime"' in html
    assert "Does CCTV reduce crime?" in md
    for text in (html, md):
        assert "no probability of benefit can be computed" in text.lower()
        assert "We are very uncertain whether CCTV reduces crime" in text


def test_block_order_follows_the_claims_that_rest_on_each_question():
    results = realistic_results()
    html = _summary_html(results)
    speed_id = results["analyses"][0]["id"]
    # one claim cites the CCTV analysis and none the speed cameras: CCTV leads
    assert html.index('id="summary-cctv-crime"') < html.index(f'id="summary-{speed_id}"')
    for claim in results["claims"][:2]:
        claim["analyses"] = [speed_id]
    html = _summary_html(results)
    assert html.index(f'id="summary-{speed_id}"') < html.index('id="summary-cctv-crime"')
    md = _summary_md(results)
    assert md.index("Do automated speed cameras reduce crashes?") < md.index("Does CCTV reduce crime?")


def test_every_reported_number_is_shown_as_published():
    results = realistic_results()
    html, md = _summary_html(results), _summary_md(results)
    rows = results["analyses"][1]["reported"]
    numbered = [r for r in rows if r["percent_change"] is not None]
    assert numbered
    for row in numbered:
        shown = f"{row['percent_change']:+.0f}%"
        assert f"<strong>{shown}</strong>" in html
        assert shown in md


def test_findings_are_grouped_by_what_the_reviews_say():
    results = realistic_results()
    rows = {r["estimate_id"]: r for r in results["analyses"][1]["reported"]}
    groups = _groups(results)
    overall = [i["id"] for i in groups["Overall"]]
    not_significant = [i["id"] for i in groups["Not significant in"]]
    assert overall and not_significant
    for estimate_id in overall:
        assert rows[estimate_id]["significant"] is not False
        assert rows[estimate_id]["percent_change"] is not None
    # every row reported as not significant, with or without a number, is listed as such
    expected = [i for i, r in rows.items() if r["significant"] is False and i not in overall]
    assert not_significant == expected
    # "larger" means a bigger reduction than every primary overall figure
    primary_overall = [rows[i]["percent_change"] for i in overall if rows[i]["provenance"] == "primary"]
    for item in groups.get("Larger reductions in", []):
        assert item["value"] < min(primary_overall)


def test_bottom_line_states_the_range_of_the_overall_figures():
    results = realistic_results()
    summary = _block(results, "cctv-crime")["analysis"]["reported_summary"]
    primary = [i["value"] for i in summary["groups"][0]["entries"] if not i["secondary"]]
    low, high = sorted(abs(round(v)) for v in (min(primary), max(primary)))
    assert f"{low}% to {high}%" in summary["bottom_line"] or (low == high and f"{low}%" in summary["bottom_line"])
    # flipping the significance of the overall figures changes the wording
    for row in results["analyses"][1]["reported"]:
        row["significant"] = False
    assert "non-significant" in _block(results, "cctv-crime")["analysis"]["reported_summary"]["bottom_line"]


def test_secondary_sources_are_marked_as_weaker():
    results = realistic_results()
    html = _summary_html(results)
    items = [i for g in _groups(results).values() for i in g]
    secondary = [i for i in items if i["secondary"]]
    assert secondary, "the fixture has review figures read in a secondary source"
    assert html.count('<li class="secondary">') == len(secondary)
    assert "weaker evidence" in html and "weaker evidence" in _summary_md(results)
    for row in results["analyses"][1]["reported"]:
        row["provenance"] = "primary"
    assert "weaker evidence" not in _summary_html(results)


def test_number_of_evaluations_is_shown_for_overall_results_only():
    results = realistic_results()
    rows = [r for r in results["analyses"][1]["reported"] if r["n_units"] and r["percent_change"] is not None]
    overall = [r for r in rows if not r["subgroup"] and "overall" in r["outcome"]]
    assert overall and len(rows) > len(overall)  # the same study also reports subgroups
    html = _summary_html(results)
    # shown once per overall result, not repeated on the study's subgroups
    assert html.count(str(escape(rows[0]["n_units"]))) == sum(r["n_units"] == rows[0]["n_units"] for r in overall)
    for row in results["analyses"][1]["reported"]:
        row["n_units"] = None
    assert str(escape(rows[0]["n_units"])) not in _summary_html(results)


def test_ai_cameras_are_said_to_be_unevaluated_only_when_the_analysis_declares_the_gap():
    results = realistic_results()
    assert "Not evaluated" not in _summary_html(results)
    results["gaps"].append({**almaty_gap(AI_GAP), "rank": 4})
    results["analyses"][1]["gaps"].append(AI_GAP)
    assert "Not evaluated" not in _summary_html(results)  # a gap alone is not a declaration
    results["analyses"][1]["not_evaluated"] = [AI_GAP]
    html, md = _summary_html(results), _summary_md(results)
    assert "Not evaluated" in html and f'href="#gap-{AI_GAP}"' in html
    assert "Not evaluated" in md and f"`{AI_GAP}`" in md
    results["gaps"][-1]["status"] = "filled"
    assert "Not evaluated" not in _summary_html(results)


def test_gaps_of_a_question_are_ranked_as_in_the_register():
    results = realistic_results()
    cctv_gaps = results["analyses"][1]["gaps"]
    shown = [g["id"] for g in _block(results, "cctv-crime")["analysis"]["reported_summary"]["gaps"]]
    assert shown == cctv_gaps  # ranks 1 and 2 in the register
    for gap in results["gaps"]:
        gap["rank"] = -gap["rank"]
    shown = [g["id"] for g in _block(results, "cctv-crime")["analysis"]["reported_summary"]["gaps"]]
    assert shown == list(reversed(cctv_gaps))
    md = _summary_md(results)
    assert md.index(f"`{shown[0]}`") < md.index(f"`{shown[1]}`")


def test_questions_no_claim_rests_on_are_compact_and_after_the_others():
    results = realistic_results()
    for claim in results["claims"]:
        claim["analyses"] = []
    html = _summary_html(results)
    others = html.index("Other questions in the evidence store")
    assert html.index('id="summary-cctv-crime"') > others
    block = html[html.index('id="summary-cctv-crime"'):]
    assert "<details>" in block[:block.index("</article>")]


def test_analysis_without_reported_results_gets_no_block():
    results = realistic_results()
    results["analyses"][1]["reported"] = []
    assert 'id="summary-cctv-crime"' not in _summary_html(results)
    assert "Does CCTV reduce crime?" not in _summary_md(results)


def test_reported_text_is_escaped_in_the_summary():
    results = realistic_results()
    row = next(r for r in results["analyses"][1]["reported"] if r["percent_change"] is not None)
    row["outcome"] = row["label"] = HOSTILE
    row["subgroup"] = None
    html, md = _summary_html(results), _summary_md(results)
    assert "<script" not in html and str(escape(HOSTILE)) in html
    assert not re.search(r"(?<!\\)<script", md)
    assert markdown_escape(HOSTILE) in md


def test_reported_rows_without_any_figure_say_so():
    results = realistic_results()
    for row in results["analyses"][1]["reported"]:
        row["percent_change"] = None
        row["significant"] = None
    summary = _block(results, "cctv-crime")["analysis"]["reported_summary"]
    assert summary["groups"] == []
    assert summary["bottom_line"] == "The published results give no overall figure."
    assert summary["bottom_line"] in _summary_html(results)
    assert "What the published results report" not in _summary_html(results)
    assert "What the published results report" not in _summary_md(results)
