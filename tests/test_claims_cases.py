"""The verdict scale on the labelled cases of tests/fixtures/claim_cases.yaml (made-up test data).

Each case is built into its own small store, checked, and compared with its expected label; then
one value of the case is changed (its ``flip``) and the label must change to the flip's label.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from research.claims import parse_plan, verify_claims
from research.claims.verdict import LABELS, Part, combine_parts
from research.store import load_store
from tests.test_claims_checks import write_store

ROOT = Path(__file__).resolve().parents[1]
CASES = yaml.safe_load((ROOT / "tests" / "fixtures" / "claim_cases.yaml").read_text(encoding="utf-8"))
PLACE = "Testville"
CLAIM = "claim-case"

SOURCES = [
    {"id": "src-article", "kind": "article", "citation": "Test article (test data)"},
    {"id": "src-a", "kind": "web_page", "citation": "Test news page A (test data)"},
    {"id": "src-b", "kind": "web_page", "citation": "Test news page B (test data)"},
    {"id": "src-c", "kind": "web_page", "citation": "Test news page C (test data)"},
    {"id": "src-official", "kind": "official_statement", "citation": "Test police statement (test data)"},
    {"id": "src-review", "kind": "review", "citation": "Test systematic review (test data)"},
]


def _records(case: dict) -> dict:
    claim = {"id": CLAIM, "source": "src-article", "location": "test", "place": PLACE,
             "kind": "numeric", "text": "test claim"}
    claim.update(case["claim"])
    facts = []
    for index, spec in enumerate(case.get("facts", [])):
        fact = {"id": f"fact-{index}", "source": "src-a", "where_read": "test", "quote": "test data",
                "place": PLACE}
        fact.update(spec)
        facts.append({k: v for k, v in fact.items() if v is not None})
    if case.get("published"):
        facts.append({"id": "fact-published", "source": "src-article", "quantity": "publication_date",
                      "unit": "date", "date": case["published"], "where_read": "test", "quote": "test data"})
    estimates = [{"id": "est-overall", "percent_change": -16, "significant": True}] + list(case.get("estimates", []))
    by_id = {}
    for spec in estimates:
        by_id[spec["id"]] = {**by_id.get(spec["id"], {}), **spec}
    rows = []
    for spec in by_id.values():
        row = {"id": spec["id"], "study": "study-review", "source": "src-review", "where_read": "test",
               "quote": "test data", "outcome": "crime", "measure": "percent_change",
               "estimate": spec["percent_change"], "significant": spec["significant"], "provenance": "primary"}
        if spec.get("subgroup"):
            row["subgroup"] = spec["subgroup"]
        rows.append(row)
    return {
        "sources": SOURCES, "claims": [claim], "facts": facts,
        "studies": [{"id": "study-review", "title": "Test review", "source": "src-review", "year": 2015,
                     "design": "meta_analysis", "intervention": "CCTV"}],
        "estimates": rows,
        "gaps": list(case.get("gaps", [])),
    }


def _analyses(case: dict) -> dict:
    out = {}
    for analysis_id, spec in (case.get("analyses") or {}).items():
        out[analysis_id] = {"id": analysis_id, "status": "ok", "k": 8, "inputs": [], "bayes": {}, **spec}
    return out


def verdict_of(case: dict, tmp_path: Path):
    folder = tmp_path / "evidence"
    if folder.exists():
        shutil.rmtree(folder)
    store = load_store(write_store(folder, _records(case)))
    plan = parse_plan({"claims": [{"claim": CLAIM, "checks": copy.deepcopy(case.get("checks", []))}]}, "cases")
    return verify_claims(store, _analyses(case), plan)[CLAIM]


def _set(case: dict, path: str, value) -> dict:
    changed = copy.deepcopy(case)
    keys = path.split(".")
    target = changed
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return changed


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_gets_its_expected_label(case, tmp_path):
    verdict = verdict_of(case, tmp_path)
    assert verdict.label == case["expect"], verdict.explain()
    assert verdict.reason
    if "plausibility" in case:
        assert verdict.plausibility == case["plausibility"]
    if "strength" in case:
        assert verdict.strength.level == case["strength"], verdict.strength.basis


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_changing_one_value_flips_the_label(case, tmp_path):
    flip = case["flip"]
    assert flip["expect"] != case["expect"]
    verdict = verdict_of(_set(case, flip["path"], flip["value"]), tmp_path)
    assert verdict.label == flip["expect"], verdict.explain()


def test_the_cases_cover_every_label_and_rule():
    assert len(CASES) >= 40
    labels = {c["expect"] for c in CASES} | {c["flip"]["expect"] for c in CASES}
    assert labels == set(LABELS)
    rules = {c["rule"] for c in CASES}
    assert rules >= {"supported", "partly-supported", "unsupported", "unsupported-plausible",
                     "unsupported-implausible", "contradicted", "misleading", "not-checkable", "tolerance",
                     "own-article", "dates", "default-checks", "strength", "causal-strength", "effect-size",
                     "uniformity"}
    assert len({c["id"] for c in CASES}) == len(CASES)


def _part(label: str, aspect: str = "quantity", plausibility=None) -> Part:
    return Part(aspect, "x", label, f"{aspect} is {label}", plausibility=plausibility)  # type: ignore[arg-type]


@pytest.mark.parametrize("labels, expected", [
    ([], "not_checkable"),
    (["not_checkable"], "not_checkable"),
    (["supported", "contradicted"], "partly_supported"),
    (["contradicted", "unsupported"], "contradicted"),
    (["misleading", "supported"], "misleading"),
    (["misleading", "contradicted"], "contradicted"),
    (["supported", "supported", "not_checkable"], "supported"),
    (["supported", "unsupported"], "unsupported"),
    (["unsupported"], "unsupported"),
])
def test_the_rule_that_combines_parts(labels, expected):
    assert combine_parts([_part(label) for label in labels])[0] == expected


def test_an_unsupported_claim_with_an_implausible_part_is_implausible():
    label, reason = combine_parts([_part("unsupported", plausibility="plausible"),
                                   _part("unsupported", "comparison", plausibility="implausible")])
    assert label == "unsupported" and reason.startswith("comparison")


def test_later_facts_are_shown_as_context(tmp_path):
    case = next(c for c in CASES if c["id"] == "fact-after-the-publication-date-is-context")
    verdict = verdict_of(case, tmp_path)
    assert verdict.parts[0].context == ["fact-0"] and not verdict.parts[0].evidence
    assert any("dated after the claim" in sentence for sentence in verdict.rationale)
    assert verdict.claim_date.startswith("2021-01-01")


def test_a_tolerance_exception_shows_its_reason(tmp_path):
    case = next(c for c in CASES if c["id"] == "tolerance-exception-with-its-reason")
    verdict = verdict_of(case, tmp_path)
    assert any("rounds to the nearest fifty" in a for a in verdict.assumptions)
    unreasoned = copy.deepcopy(case)
    del unreasoned["checks"][0]["params"]["tolerance_reason"]
    store = load_store(write_store(tmp_path / "unreasoned", _records(unreasoned)))
    plan = parse_plan({"claims": [{"claim": CLAIM, "checks": unreasoned["checks"]}]}, "cases")
    verification = verify_claims(store, {}, plan)
    assert any("needs a tolerance_reason" in w for w in verification.warnings)
    assert any("no reason given" in a for a in verification[CLAIM].assumptions)


# --- the real store: a new fact moves a verdict with no plan change ---------------------------------------


def test_adding_a_fact_of_a_claims_quantity_moves_its_verdict_without_editing_the_plan(tmp_path):
    evidence = tmp_path / "evidence"
    shutil.copytree(ROOT / "evidence", evidence)
    checks = ROOT / "analyses" / "claim-checks.yaml"
    before = verify_claims(load_store(evidence), {}, checks)["claim-command-156-monitors"]
    extra = [{"id": "fact-test-monitors", "source": "src-test-monitors", "quantity": "command_centre_monitors",
              "value": 156, "unit": "monitors", "place": "Almaty", "date": "2024-01-01",
              "where_read": "test", "quote": "test data: 156 monitors"}]
    source = [{"id": "src-test-monitors", "kind": "web_page", "citation": "A second source (test data)"}]
    (evidence / "facts" / "test-monitors.yaml").write_text(yaml.safe_dump(extra), encoding="utf-8")
    (evidence / "sources" / "test-monitors.yaml").write_text(yaml.safe_dump(source), encoding="utf-8")
    after = verify_claims(load_store(evidence), {}, checks)["claim-command-156-monitors"]
    assert before.label == "unsupported"
    assert after.label == "supported"
    assert "fact-test-monitors" in after.evidence
    assert "gap-command-centre-156-monitors" in after.gaps  # the gap is still named
