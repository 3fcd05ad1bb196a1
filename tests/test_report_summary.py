"""The committed reports/summary.md must be what `research build` writes for the shipped store."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from research.pipeline import build

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "reports" / "summary.md"


def test_committed_summary_is_not_stale(tmp_path):
    assert COMMITTED.exists(), "reports/summary.md is missing: run `research build` and commit it"
    build(ROOT / "evidence", ROOT / "analyses", tmp_path / "reports", force=True)
    fresh = (tmp_path / "reports" / "summary.md").read_text(encoding="utf-8")
    committed = COMMITTED.read_text(encoding="utf-8")
    if fresh != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True), fresh.splitlines(keepends=True), "committed", "rebuilt", n=1
            )
        )
        pytest.fail(f"reports/summary.md is stale: run `research build` and commit it.\n{diff[:4000]}")


def test_summary_and_html_come_from_the_same_results(tmp_path):
    outcome = build(ROOT / "evidence", ROOT / "analyses", tmp_path / "reports", force=True)
    html = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    md = (tmp_path / "reports" / "summary.md").read_text(encoding="utf-8")
    for analysis in outcome.results["analyses"]:
        assert f'id="analysis-{analysis["id"]}"' in html
        assert f"`{analysis['id']}`" in md
    for claim in outcome.results["claims"]:
        assert f"`{claim['claim_id']}`" in md
