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


def test_speed_camera_analysis_is_complete(workspace):
    results = workspace[1].results
    speed = next(a for a in results["analyses"] if a["id"] == "speed-cameras-crashes")
    assert speed["status"] == "ok" and speed["k"] == len(speed["inputs"]) >= 3
    assert speed["frequentist"]["ci_low"] < speed["frequentist"]["estimate"] < speed["frequentist"]["ci_high"]
    assert 0 < speed["bayes"]["p_benefit"] < 1
    assert speed["transport"]["target"] == "Almaty" and speed["transport"]["assumptions"]
    for fit in speed["mcmc"]:
        assert set(fit["diagnostics"]) >= {"rhat_max", "ess_bulk_min", "divergences", "ok"}
        # MCMC and the exact posterior describe the same model: their means agree within a few MC errors
        if fit["model"] == "random_effects":
            assert abs(fit["mu"]["mean"] - speed["bayes"]["mu"]["mean"]) < 0.1
    ranked = [row["gap"] for row in speed["value_of_information"]]
    # Gaps follow the stated rule: those blocking an analysis first, then the value-of-information ranking.
    groups = [g["rank_group"] for g in results["gaps"]]
    assert groups == sorted(groups, key=["gap of an analysis without an estimate", "value of information estimated",
                                         "limits an analysis", "other"].index)
    with_voi = [g["id"] for g in results["gaps"] if g["rank_group"] == "value of information estimated"]
    assert ranked and with_voi[0] == ranked[0] and results["gap_rank_rule"]
    assert all(row["assumed_design"] and row["assumed_bias"] and row["sensitivity"] for row in speed["value_of_information"])
    assert speed["bayes"]["prior_sensitivity"]["rows"] and {b["role"] for b in speed["bayes"]["prior_basis"]} == {"mu", "tau"}
    assert speed["transport"]["sensitivity"]["rows"]
    assert set(speed["figures"]) >= {"forest", "funnel", "posterior", "predictive"}


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
