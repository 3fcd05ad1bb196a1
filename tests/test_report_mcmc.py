"""MCMC fits in the report: compared with the exact posterior, diagnostics always shown.

The fixture's first fit is well mixed; its second has a stuck chain, so its diagnostics
(computed by research.bayes.mcmc.compute_diagnostics) fail.
"""

from __future__ import annotations

import copy
import re

from research.report import render_html_text, render_markdown_text
from research.report.context import build_context
from research.report.mcmc import mcmc_view
from research.report.svg import sanitize_svg
from research.results import AnalysisResult
from research.verbal import percent_change
from tests.test_report_fixture import realistic_results


def _analysis_html(results: dict) -> str:
    html = render_html_text(results)
    analysis_id = results["analyses"][0]["id"]
    start = html.index(f'id="analysis-{analysis_id}"')
    return html[start:html.index("</article>", start)]


def test_fixture_has_one_passing_and_one_failing_fit():
    fits = realistic_results()["analyses"][0]["mcmc"]
    assert [f["diagnostics"]["ok"] for f in fits] == [True, False]


def test_table_compares_the_exact_posterior_with_each_fit():
    results = realistic_results()
    html = _analysis_html(results)
    table = html[html.index('class="mcmc-table"'):html.index("</table>", html.index('class="mcmc-table"'))]
    assert "Exact computation" in table
    exact = results["analyses"][0]["bayes"]["mu"]
    assert f"{exact['mean']:.3f} ({exact['q025']:.3f} to {exact['q975']:.3f})" in table
    for fit in results["analyses"][0]["mcmc"]:
        mu, diag = fit["mu"], fit["diagnostics"]
        assert f"{mu['mean']:.3f} ({mu['q025']:.3f} to {mu['q975']:.3f})" in table
        assert f"{percent_change(mu['mean']):+.0f}%" in table
        assert f"<td>{diag['rhat_max']:.3f}</td>" in table
        assert f"{int(diag['ess_bulk_min']):,} / {int(diag['ess_tail_min']):,}" in table
        assert f"<code>{fit['model']}</code>" in table
    assert table.count("<td>0</td>") >= 2  # divergences of both fits


def test_same_model_fit_states_its_distance_from_the_exact_result():
    results = realistic_results()
    fit = results["analyses"][0]["mcmc"][0]
    exact = results["analyses"][0]["bayes"]["mu"]["mean"]
    difference = fit["mu"]["mean"] - exact
    analysis = AnalysisResult.model_validate(results["analyses"][0])
    view = mcmc_view(analysis.mcmc, analysis.bayes, {})
    assert view["rows"][0]["agreement"].startswith(f"mean differs from the exact one by {difference:+.3f}")
    assert f"({abs(difference) / fit['mcse']['mu_mean']:.1f} Monte Carlo standard errors)" in view["rows"][0]["agreement"]
    assert view["rows"][1]["agreement"] is None  # a different model is not expected to agree


def test_failed_diagnostics_show_a_visible_warning_with_the_problems():
    results = realistic_results()
    html = _analysis_html(results)
    failed = results["analyses"][0]["mcmc"][1]
    assert "Diagnostics failed for 1 of 2 fits" in html
    assert 'class="badge diag-failed"' in html and 'role="alert"' in html
    for problem in failed["diagnostics"]["problems"]:
        assert f"<li>{problem.replace('>', '&gt;').replace('<', '&lt;')}</li>" in html
    assert failed["flag"].replace(">", "&gt;").replace("<", "&lt;") in html


def test_passing_fits_show_no_warning():
    results = realistic_results()
    results["analyses"][0]["mcmc"] = results["analyses"][0]["mcmc"][:1]
    html = _analysis_html(results)
    assert "Diagnostics passed" in html
    assert "diag-failed" not in html and 'role="alert"' not in html


def test_a_fit_without_diagnostics_counts_as_failed():
    results = realistic_results()
    results["analyses"][0]["mcmc"][0]["diagnostics"] = None
    view = build_context(results)["analyses"][0]["mcmc"]
    assert not view["all_ok"]
    assert view["rows"][0]["problems"] == ["no diagnostics were recorded"]


def test_trace_plots_sit_behind_a_disclosure_not_in_the_figure_grid():
    results = realistic_results()
    html = _analysis_html(results)
    details = html[html.index('<details class="traces">'):html.index("</details>", html.index('<details class="traces">'))]
    trace = sanitize_svg(results["analyses"][0]["figures"]["trace_random_effects"])  # as inlined
    assert trace in details
    assert html.count(trace) == 1
    figures = build_context(results)["analyses"][0]["figures"]
    assert not any(f["name"].startswith("trace") for f in figures)


def test_markdown_shows_whether_diagnostics_passed_without_sampler_numbers():
    results = realistic_results()
    md = render_markdown_text(results)
    line = next(l for l in md.splitlines() if "MCMC check" in l)
    assert "**diagnostics FAILED** (robust: R-hat, bulk ESS, tail ESS)" in line
    for fit in results["analyses"][0]["mcmc"]:
        assert f"{fit['diagnostics']['rhat_max']:.3f}" not in md
        assert f"{fit['mu']['mean']:.3f}" not in md
    # the exact results are there
    bayes = build_context(results)["analyses"][0]["bayes"]
    assert bayes["cri"] in line and bayes["p_benefit"] in line


def test_markdown_does_not_change_when_only_the_draws_do():
    results = realistic_results()
    before = render_markdown_text(results)
    other_machine = copy.deepcopy(results)
    for fit in other_machine["analyses"][0]["mcmc"]:
        fit["mu"] = {k: v + 0.01 for k, v in fit["mu"].items()}
        fit["diagnostics"]["rhat_max"] += 0.001
        fit["diagnostics"]["ess_bulk_min"] -= 7
        fit["diagnostics"]["problems"] = [re.sub(r"\d+\.\d+", "9.99", p) for p in fit["diagnostics"]["problems"]]
    assert render_markdown_text(other_machine) == before
    other_machine["analyses"][0]["mcmc"][1]["diagnostics"].update(ok=True, problems=[])
    assert "diagnostics passed" in render_markdown_text(other_machine)


def test_exact_only_analysis_says_so():
    results = realistic_results()
    results["analyses"][0]["mcmc"] = []
    assert "mcmc-table" not in _analysis_html(results)
    assert "No MCMC check was run." in render_markdown_text(results)


def test_pass_marks_come_from_the_thresholds_used():
    from research.bayes.mcmc import DiagnosticThresholds
    from research.report.mcmc import pass_marks

    assert pass_marks() in _analysis_html(realistic_results())
    custom = pass_marks(DiagnosticThresholds(rhat_max=1.05, ess_per_chain=50, divergences=2))
    assert "R-hat at most 1.05" in custom and "at least 50 per chain" in custom
    assert "at most 2 divergent transitions" in custom


def test_robust_fit_says_when_nu_is_only_its_prior():
    results = realistic_results()
    fit = results["analyses"][0]["mcmc"][0]
    fit["nu_learning"] = {"learned": False, "distance": 0.03, "prior": "Gamma(2, 0.1)",
                          "note": "nu: the posterior equals its Gamma(2, 0.1) prior; nu is assumed, not learned"}
    html = _analysis_html(results)
    table = html[html.index('class="mcmc-table"'):html.index("</table>", html.index('class="mcmc-table"'))]
    assert "nu is assumed, not learned" in table
