"""HTML and Markdown rendering: escaping, self-containment, honest gaps, determinism."""

from __future__ import annotations

import copy
import math
import re

import pytest
from markupsafe import escape

from research.grade import assess_certainty, target_of
from research.report import markdown_escape, render_html, render_html_text, render_markdown, render_markdown_text
from research.report.context import build_context
from research.report.svg import sanitize_svg
from research.verbal import natural_frequency
from tests.test_report_fixture import realistic_results

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes" | pipe'


def test_render_writes_files_and_returns_paths(tmp_path):
    results = realistic_results()
    html = render_html(results, tmp_path / "out" / "index.html")
    md = render_markdown(results, tmp_path / "out" / "summary.md")
    assert html.read_text(encoding="utf-8") == render_html_text(results)
    assert md.read_text(encoding="utf-8") == render_markdown_text(results)


def test_rendering_is_deterministic():
    assert render_html_text(realistic_results()) == render_html_text(realistic_results())
    assert render_markdown_text(realistic_results()) == render_markdown_text(realistic_results())


def _poison(results: dict) -> dict:
    analysis = results["analyses"][0]
    analysis["title"] = HOSTILE
    analysis["question"] = HOSTILE
    analysis["studies"][0]["label"] = HOSTILE
    analysis["reported"][0]["source"] = HOSTILE
    claim = results["claims"][0]
    claim["text"] = claim["rationale"] = HOSTILE
    claim["arithmetic"][0]["formula"] = HOSTILE
    claim["assumptions"] = [HOSTILE]
    results["gaps"][0]["what"] = results["gaps"][0]["who_may_hold"] = HOSTILE
    results["risk_of_bias"] = [{"study": "cmf-2912", "title": HOSTILE, "domains": {HOSTILE: "high"}, "overall": "high"}]
    return results


def test_all_user_text_is_escaped_in_html():
    html = render_html_text(_poison(realistic_results()))
    assert "<script" not in html
    assert "<img" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;" in html


def test_user_text_cannot_break_markdown():
    md = render_markdown_text(_poison(realistic_results()))
    assert not re.search(r"(?<!\\)<(script|img)", md)
    for table in re.findall(r"(?m)(?:^\|.*\n)+", md):
        # every row keeps the header's column count: pipes in text are escaped
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(widths) == 1, table
    assert markdown_escape("a|b <c> *d*") == r"a\|b \<c\> \*d\*"


def test_html_is_self_contained():
    html = render_html_text(realistic_results())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "<link" not in html and "<script" not in html
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert 'http-equiv="Content-Security-Policy"' in html


@pytest.mark.parametrize(
    "svg",
    [
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<image xlink:href="https://example.org/x.png" width="1" height="1"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://example.org/a.css);</style></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div>x</div></foreignObject></svg>',
        "<svg><rect></svg>",  # not well-formed
    ],
)
def test_unsafe_figures_are_dropped_not_inlined(svg):
    results = realistic_results()
    results["analyses"][0]["figures"] = {"forest": svg}
    html = render_html_text(results)
    assert svg not in html
    assert "Forest plot not available." in html


def test_matplotlib_figure_is_inlined_without_its_xml_prologue():
    results = realistic_results()
    html = render_html_text(results)
    forest = results["analyses"][0]["figures"]["forest"]
    # inlined as re-written from its checked tree (see research.report.svg)
    assert sanitize_svg(forest) in html and forest.count("<path") == sanitize_svg(forest).count("<path")
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_missing_values_render_as_not_available():
    html = render_html_text({})
    md = render_markdown_text({})
    assert "No analysis had enough data" in html and "No analysis had enough data" in md
    assert "No claims were checked." in html and "No data gaps recorded." in md


@pytest.mark.parametrize("section", ["frequentist", "bayes", "transport", "studies", "reported", "figures", "k"])
def test_each_analysis_part_may_be_missing(section):
    results = realistic_results()
    results["analyses"][0][section] = None
    html = render_html_text(results)
    render_markdown_text(results)
    assert "not available" in html


def test_every_nested_value_may_be_null():
    # set each leaf of the fixture to None in turn: the renderers must never crash
    base = realistic_results()

    def paths(node, prefix=()):
        if isinstance(node, dict):
            for key, value in node.items():
                yield prefix + (key,)
                yield from paths(value, prefix + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node[:2]):
                yield from paths(value, prefix + (i,))

    for path in list(paths(base)):
        results = copy.deepcopy(base)
        node = results
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = None
        render_html_text(results)
        render_markdown_text(results)


def test_headline_numbers_come_from_the_results():
    results = realistic_results()
    speed = results["analyses"][0]
    md = render_markdown_text(results)
    p = speed["bayes"]["p_pred_benefit"]
    freq = natural_frequency(p)
    assert f"{100 * p:.0f}% chance" in md
    assert f"about {freq.count} would see fewer crashes and {freq.rest} would not" in md
    pooled = 100 * (math.exp(speed["frequentist"]["estimate"]) - 1)
    assert f"{abs(pooled):.0f}% fewer crashes" in md


def test_transported_probability_leads_when_present():
    results = realistic_results()
    speed = results["analyses"][0]
    speed["transport"] = {
        "target": "Almaty",
        "predictive": dict(speed["bayes"]["predictive"]),
        "p_benefit": 0.71,
        "assumptions": [HOSTILE],
    }
    html = render_html_text(results)
    assert "71%" in html and "in Almaty" in html
    assert "about 71 would see fewer crashes" in html
    assert "&lt;script&gt;" in html


def test_grade_reasons_appear_in_the_summary_of_findings():
    results = realistic_results()
    html = render_html_text(results)
    md = render_markdown_text(results)
    first = results["analyses"][0]
    grade = assess_certainty(first, results["risk_of_bias"], target_of(first, results["targets"]))
    for domain in grade.domains:
        if domain.downgrade:
            assert markdown_escape(domain.reason) in md
        assert str(escape(domain.reason)) in html
    assert f"**{grade.label}**" in md


def test_gaps_are_listed_in_rank_order():
    results = realistic_results()
    results["gaps"] = list(reversed(results["gaps"]))
    results["gaps"][0]["rank"] = None  # unranked gaps go last
    context = build_context(results)
    ranks = [g["id"] for g in context["gaps"]]
    expected = [g["id"] for g in sorted(results["gaps"], key=lambda g: (g["rank"] is None, g["rank"] or 0))]
    assert ranks == expected


def test_verdict_table_lists_every_claim():
    results = realistic_results()
    html = render_html_text(results)
    table = html[html.index('id="verdict-table"'):html.index("</table>", html.index('id="verdict-table"'))]
    assert table.count("<tr>") == len(results["claims"]) + 1
    for claim in results["claims"]:
        assert f'id="claim-{claim["claim_id"]}"' in html


def test_the_exact_posterior_shows_its_integration_check():
    from research.report.context import _bayes_view

    check = {"ok": False, "check": "grid vs half-resolution grid", "grid_points": 129, "tolerance": 1e-4,
             "max_difference": 3e-3, "differences": {}}
    from research.results import ExactPosterior

    view = _bayes_view(ExactPosterior.model_validate({"method": "exact", "diagnostics": check}), "crashes")
    assert view["diagnostics"].startswith("PROBLEM") and "129 grid points" in view["diagnostics"]
    assert "3.0e-03" in view["diagnostics"] and not view["diagnostics_ok"]
    passed = _bayes_view(ExactPosterior.model_validate(
        {"method": "exact", "diagnostics": check | {"ok": True, "max_difference": 1e-9}}), "crashes")
    assert passed["diagnostics"].startswith("OK") and passed["diagnostics_ok"]


def test_the_share_of_settings_that_benefit_is_given_with_its_interval_and_the_meaningful_threshold():
    from research.report.context import _benefit
    from research.results import ExactPosterior

    bayes = {"p_pred_benefit": 0.84,
             "share_benefiting": {"any": {"mean": 0.84, "low": 0.46, "high": 0.999, "level": 0.95},
                                  "meaningful": {"mean": 0.78, "threshold_ratio": 0.9},
                                  "meaningful_basis": "judgement: test threshold"}}
    view = _benefit(None, None, ExactPosterior.model_validate(bayes), "crashes", words=False, unit="site", units="sites")
    assert view["sentence"].startswith("In 100 similar sites, about 84")
    assert "between 46 and 100 of 100 (95% interval)" in view["sentence"]
    assert "About 78 of 100 would see a fall of at least 10%" in view["sentence"] and "judgement" in view["sentence"]
    assert "cities" not in view["sentence"]
