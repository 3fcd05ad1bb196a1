"""Verdicts follow the evidence: change a number in the store and the verdicts that use it change."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
import yaml

from research.cli import main
from research.claims import parse_plan, verify_claims
from research.claims.revisions import diff_verifications
from research.store import load_store
from tests.test_claims_checks import PLAN, records_copy, run, set_fact, write_store


def _labels(verification):
    return {v.claim_id: (v.label, v.strength.level) for v in verification}


def test_changing_one_fact_changes_only_the_verdicts_that_use_it(tmp_path):
    before = run(tmp_path / "a")
    after = run(tmp_path / "b", set_fact(records_copy(), "fact-operators", value=20))
    changed = {cid for cid, value in _labels(before).items() if _labels(after)[cid] != value}
    assert changed == {"claim-calls"}
    assert before["claim-calls"].label == "supported"
    assert after["claim-calls"].label == "contradicted"


def test_raising_the_fine_schedule_changes_both_halves_of_the_fine_claim(tmp_path):
    # a lower lowest fine (1 MRP) would make the average fit the schedule
    records = set_fact(records_copy(), "fact-fine-speeding-10-20", value=1)
    before, after = run(tmp_path / "a"), run(tmp_path / "b", records)
    changed = {cid for cid, value in _labels(before).items() if _labels(after)[cid] != value}
    assert changed == {"claim-fines", "claim-violations"}
    assert after["claim-violations"].label == "unsupported"  # figures that fit are not a source stating them
    assert after["claim-violations"].plausibility == "plausible"


def test_diff_lists_the_changed_fields_of_the_inputs(tmp_path):
    old_store = load_store(write_store(tmp_path / "a" / "evidence", records_copy()))
    new_store = load_store(write_store(tmp_path / "b" / "evidence",
                                       set_fact(records_copy(), "fact-operators", value=20)))
    from research.claims import parse_plan

    plan = parse_plan(PLAN)
    diff = diff_verifications(verify_claims(old_store, {}, plan), verify_claims(new_store, {}, plan),
                              old_store, new_store)
    assert [c.claim_id for c in diff.changes] == ["claim-calls"]
    change = diff.changes[0]
    assert (change.old_label, change.new_label) == ("supported", "contradicted")
    fields = {(i.record_id, f.field, f.old, f.new) for i in change.inputs for f in i.fields}
    assert fields == {("fact-operators", "value", 10.0, 20.0)}
    assert diff.unchanged == len(old_store["claims"]) - 1
    assert "fact-operators: value: 10.0 -> 20.0" in diff.summary()


# --- the command line ---------------------------------------------------------------------------


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    write_store(root / "evidence", records_copy())
    (root / "analyses").mkdir()
    (root / "analyses" / "claim-checks.yaml").write_text(yaml.safe_dump(PLAN, allow_unicode=True), encoding="utf-8")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "first")
    return root


def _options(repo):
    return ["--evidence", str(repo / "evidence"), "--checks", str(repo / "analyses" / "claim-checks.yaml"),
            "--no-analyses"]


def test_claims_json_lists_every_claim_with_its_verdict(repo, capsys):
    assert main(["claims", *_options(repo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"claims", "counts", "warnings", "checks_file"}
    assert len(data["claims"]) == len(records_copy()["claims"])
    for verdict in data["claims"]:
        assert set(verdict) >= {"claim_id", "text", "label", "fever_label", "claimreview_rating", "reason",
                                "evidence_strength", "evidence_strength_basis", "parts", "rationale", "arithmetic", "assumptions", "evidence",
                                "analyses", "gaps", "check"}
        assert isinstance(verdict["rationale"], str) and verdict["rationale"]
        assert verdict["evidence_strength"] in ("strong", "moderate", "weak", "none")
        assert verdict["reason"] and verdict["parts"]
    assert sum(data["counts"].values()) == len(data["claims"])


def test_claims_table_and_check_explanation(repo, capsys):
    assert main(["claims", *_options(repo)]) == 0
    table = capsys.readouterr().out
    assert "claim-calls" in table and "Supported" in table
    assert main(["check", "claim-fines", *_options(repo)]) == 0
    text = capsys.readouterr().out
    assert "Contradicted" in text and "average_fine (average fine per recorded violation) = " in text and "fact-mrp-2024" in text
    assert "Assumptions:" in text and "gap-almaty-tv-report" in text


def test_check_of_an_unknown_claim_is_exit_code_2(repo, capsys):
    assert main(["check", "claim-nope", *_options(repo)]) == 2
    assert "claim-nope" in capsys.readouterr().err


def test_diff_against_a_git_revision(repo, capsys):
    facts = repo / "evidence" / "facts" / "facts.yaml"
    records = yaml.safe_load(facts.read_text(encoding="utf-8"))
    for fact in records:
        if fact["id"] == "fact-operators":
            fact["value"] = 20
    facts.write_text(yaml.safe_dump(records, allow_unicode=True), encoding="utf-8")
    assert main(["claims", *_options(repo), "--json", "diff", "HEAD"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["claim_id"] for c in data["changes"]] == ["claim-calls"]
    change = data["changes"][0]
    assert change["inputs"] == [{"record": "fact-operators", "change": "changed",
                                 "fields": [{"field": "value", "old": 10.0, "new": 20.0}]}]
    _git(repo, "commit", "-qam", "second")
    assert main(["claims", *_options(repo), "diff", "HEAD~1", "--to", "HEAD"]) == 0
    assert "claim-calls: Supported -> Contradicted" in capsys.readouterr().out


def test_diff_with_an_unknown_revision_is_exit_code_2(repo, capsys):
    assert main(["claims", *_options(repo), "diff", "no-such-rev"]) == 2
    assert "no-such-rev" in capsys.readouterr().err


def test_export_writes_claimreview_json_ld(repo, tmp_path, capsys):
    out = tmp_path / "reviews.jsonld"
    assert main(["claims", *_options(repo), "export", "--out", str(out), "--date", "2026-11-25"]) == 0
    reviews = json.loads(out.read_text(encoding="utf-8"))
    opinions = [c for c in records_copy()["claims"] if c["kind"] == "opinion"]
    assert len(reviews) == len(records_copy()["claims"]) - len(opinions)
    assert {r["datePublished"] for r in reviews} == {"2026-11-25"}


def test_diff_reports_a_new_claim_once(tmp_path):
    from research.claims import parse_plan

    records = records_copy()
    old_records = copy.deepcopy(records)
    old_records["claims"] = [c for c in old_records["claims"] if c["id"] != "claim-calls"]
    old_store = load_store(write_store(tmp_path / "a" / "evidence", old_records))
    new_store = load_store(write_store(tmp_path / "b" / "evidence", records))
    plan = parse_plan(PLAN)
    diff = diff_verifications(verify_claims(old_store, {}, plan), verify_claims(new_store, {}, plan),
                              old_store, new_store)
    assert [(c.claim_id, c.old_label, c.new_label) for c in diff.changes] == [("claim-calls", None, "supported")]
    assert [i.record_id for i in diff.changes[0].inputs] == ["claim-calls"]


def test_diff_with_the_old_code_names_the_rule_that_decides_now(tmp_path):
    from research.claims.revisions import diff_with_code

    store = load_store(write_store(tmp_path / "evidence", records_copy()))
    new = verify_claims(store, {}, parse_plan(copy.deepcopy(PLAN), "claim-checks.yaml"))
    # verdicts as an earlier scale gave them: "within range" was partly supported
    old = [{**v.to_dict(), "label": v.label} for v in new]
    old[[v["claim_id"] for v in old].index("claim-cameras")]["label"] = "partly_supported"
    diff = diff_with_code(old, new, store, store, PLAN, PLAN, "main", "now")
    assert [c.claim_id for c in diff.changes] == ["claim-cameras"]
    text = diff.summary()
    assert "claim-cameras: Partly supported -> Unsupported" in text
    assert "rule now: Unsupported = no source states it and none refutes it" in text
    assert "the current verdict scale judges it differently" in text


def test_an_earlier_revisions_verdicts_are_read_as_typed_verdicts(tmp_path):
    from research.claims.revisions import verdicts_at
    from research.errors import InputError

    root = tmp_path / "repo"
    (root / "research").mkdir(parents=True)
    (root / "research" / "__init__.py").write_text("", encoding="utf-8")
    # that revision's `claims --json`, with fields of an earlier scale and entries that name no claim
    printed = {"checks_file": "analyses/claim-checks.yaml", "counts": {"opinion": 1}, "claims": [
        {"claim_id": "claim-a", "label": "opinion", "confidence": 0.4, "evidence": ["fact-1", None],
         "reason": None, "rationale": "Not checkable."},
        {"claim_id": None, "label": "supported"},
    ]}
    (root / "research" / "cli.py").write_text(f"print({json.dumps(json.dumps(printed))})\n", encoding="utf-8")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "first")
    verdicts = verdicts_at("HEAD", root, tmp_path / "first")
    assert [(v.claim_id, v.label, v.evidence, v.reason, v.model_extra) for v in verdicts] == [
        ("claim-a", "opinion", ["fact-1"], None, {"confidence": 0.4})]
    (root / "research" / "cli.py").write_text("print('{\"claims\": [{\"evidence\": 3}]}')\n", encoding="utf-8")
    _git(root, "commit", "-qam", "second")
    with pytest.raises(InputError, match="no verdicts of this version"):
        verdicts_at("HEAD", root, tmp_path / "second")
