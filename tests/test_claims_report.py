"""The report's claims table and summary show each verdict's reason, evidence strength and parts."""

from __future__ import annotations

from html import unescape
from pathlib import Path

from research.claims import load_plan, verify_claims
from research.report import render_html_text, render_markdown_text
from research.store import load_store
from tests.test_report_fixture import realistic_results

ROOT = Path(__file__).resolve().parents[1]


def _results_with_real_verdicts() -> tuple[dict, list]:
    verification = verify_claims(load_store(ROOT / "evidence"), {}, load_plan(ROOT / "analyses" / "claim-checks.yaml"))
    results = realistic_results()
    results["claims"] = [v.to_dict() for v in verification]
    return results, verification.verdicts


def test_claims_table_gives_reason_and_strength_and_cards_give_parts():
    results, verdicts = _results_with_real_verdicts()
    html = unescape(render_html_text(results))
    table = html[html.index('id="verdict-table"'):html.index("</table>", html.index('id="verdict-table"'))]
    assert "<th scope=\"col\">Reason</th>" in table and "Evidence strength" in table and "Confidence" not in table
    for verdict in verdicts:
        assert verdict.reason in table
        assert verdict.label_text in table
        card = html[html.index(f'id="claim-{verdict.claim_id}"'):]
        card = card[:card.index("</article>")]
        for part in verdict.parts:
            assert part.reason in card
    misleading = next(v for v in verdicts if v.label == "misleading")
    assert "Misleading" in table and "verdict-misleading" in html and misleading.reason in table


def test_summary_table_gives_reason_and_strength():
    results, verdicts = _results_with_real_verdicts()
    md = render_markdown_text(results)
    assert "| Claim | Verdict | Reason | Evidence strength |" in md
    for verdict in verdicts:
        row = next(line for line in md.splitlines() if line.startswith(f"| `{verdict.claim_id}`"))
        assert f"**{verdict.label_text}**" in row and row.rstrip().endswith(f"| {verdict.strength.level} |")
