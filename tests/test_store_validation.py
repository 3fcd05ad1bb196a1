"""Validation of the evidence store: every kind of bad input names file, record and field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from research.cli import main
from research.store import EvidenceError, load_store
from tests.conftest import MINIMAL_STORE, write_store


def _store_with(tmp_path: Path, record_kind: str, changes: dict) -> Path:
    records = copy.deepcopy(MINIMAL_STORE)
    for key, value in changes.items():
        if value is None:
            records[record_kind][0].pop(key, None)
        else:
            records[record_kind][0][key] = value
    return write_store(tmp_path / "evidence", records)


def _problems(root: Path):
    with pytest.raises(EvidenceError) as info:
        load_store(root)
    return info.value.problems


def test_minimal_store_loads(store_dir):
    store = load_store(store_dir)
    assert [r.id for r in store["estimates"]] == ["est-1"]
    assert store.origin["est-1"] == "evidence/estimates/estimates.yaml"


@pytest.mark.parametrize(
    ("kind", "changes", "record", "field"),
    [
        ("estimates", {"a": -3, "b": 4}, "est-1", "a"),  # negative count
        ("estimates", {"estimate": 2.0}, "est-1", "estimate"),  # CI does not contain the estimate
        ("estimates", {"se": 0}, "est-1", "se"),  # SE <= 0
        ("estimates", {"se": -0.2}, "est-1", "se"),
        ("estimates", {"ci_low": 1.7}, "est-1", "ci_low"),  # bounds reversed
        ("estimates", {"estimate": "large"}, "est-1", "estimate"),  # wrong type
        ("estimates", {"colour": "red"}, "est-1", "colour"),  # unknown field
        ("estimates", {"measure": "XYZ"}, "est-1", "measure"),  # not a known measure
        ("estimates", {"qualifier": "roughly"}, "est-1", "qualifier"),
        ("estimates", {"quote": None}, "est-1", "quote"),  # provenance is required
        ("estimates", {"study": "study-missing"}, "est-1", "study"),  # dangling reference
        ("claims", {"source": "src-missing"}, "claim-1", "source"),
        ("claims", {"kind": "rumour"}, "claim-1", "kind"),
        ("gaps", {"related": ["nothing-here"]}, "gap-1", "related"),
        ("sources", {"accessed": "yesterday"}, "src-a", "accessed"),
    ],
)
def test_bad_value_names_file_record_and_field(tmp_path, kind, changes, record, field):
    root = _store_with(tmp_path, kind, changes)
    problems = _problems(root)
    assert any(p.record == record and p.field == field for p in problems), problems
    assert all(p.file == f"evidence/{kind}/{kind}.yaml" for p in problems)


def test_duplicate_id_across_files(store_dir):
    extra = store_dir / "sources" / "more.yaml"
    extra.write_text(yaml.safe_dump([{"id": "src-a", "kind": "dataset", "citation": "again"}]), encoding="utf-8")
    problems = _problems(store_dir)
    assert [(p.record, p.field) for p in problems] == [("src-a", "id")]
    files = {"evidence/sources/more.yaml", "evidence/sources/sources.yaml"}
    assert problems[0].file in files and (files - {problems[0].file}).pop() in problems[0].message


def test_malformed_yaml_names_the_file(store_dir):
    (store_dir / "claims" / "claims.yaml").write_text("- id: claim-1\n  text: [unclosed\n", encoding="utf-8")
    problems = _problems(store_dir)
    assert problems[0].file == "evidence/claims/claims.yaml"
    assert "cannot be read" in problems[0].message


def test_yaml_that_is_not_a_list(store_dir):
    (store_dir / "gaps" / "gaps.yaml").write_text("id: gap-1\n", encoding="utf-8")
    problems = _problems(store_dir)
    assert problems[0].file == "evidence/gaps/gaps.yaml" and "list" in problems[0].message


def test_csv_records_validate_like_yaml(store_dir):
    csv_path = store_dir / "estimates" / "per-study.csv"
    csv_path.write_text(
        "id,study,source,where_read,quote,outcome,measure,provenance,a,b,c,d\n"
        "est-2,study-1,src-b,Table 3,\"a=10, b=8, c=12, d=13\",all crime,RES,primary,10,8,12,13\n"
        "est-3,study-1,src-b,Table 3,\"a=-1\",all crime,RES,primary,-1,8,12,13\n",
        encoding="utf-8",
    )
    problems = _problems(store_dir)
    assert [(p.file, p.record, p.field) for p in problems] == [("evidence/estimates/per-study.csv", "est-3", "a")]


def test_malformed_csv_row(store_dir):
    (store_dir / "estimates" / "bad.csv").write_text("id,study\nest-9,study-1,extra\n", encoding="utf-8")
    problems = _problems(store_dir)
    assert problems[0].file == "evidence/estimates/bad.csv"


def test_every_problem_is_reported_at_once(tmp_path):
    records = copy.deepcopy(MINIMAL_STORE)
    records["estimates"][0]["se"] = -1
    records["claims"][0]["source"] = "nope"
    problems = _problems(write_store(tmp_path / "evidence", records))
    assert {(p.record, p.field) for p in problems} == {("est-1", "se"), ("claim-1", "source")}


def test_validate_command_exit_codes(store_dir, tmp_path, capsys):
    assert main(["validate", str(store_dir)]) == 0
    (store_dir / "estimates" / "estimates.yaml").write_text(
        (store_dir / "estimates" / "estimates.yaml").read_text().replace("estimate: 1.2", "estimate: 2.5")
    )
    assert main(["validate", str(store_dir)]) == 2
    err = capsys.readouterr().err
    assert "evidence/estimates/estimates.yaml" in err and "est-1" in err and "'estimate'" in err
    assert main(["validate", str(tmp_path / "missing")]) == 2


def test_schema_export(tmp_path):
    assert main(["schema", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "estimates.schema.json" in written and len(written) == 8
    schema = yaml.safe_load((tmp_path / "estimates.schema.json").read_text())
    assert "quote" in schema["required"]


def test_usage_error_exit_code(capsys):
    assert main(["validate", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_committed_schemas_are_current():
    import json
    from pathlib import Path

    from research.store import export_schemas

    folder = Path(__file__).resolve().parents[1] / "evidence" / "schema"
    for kind, schema in export_schemas().items():
        committed = json.loads((folder / f"{kind}.schema.json").read_text(encoding="utf-8"))
        assert committed == schema, f"evidence/schema/{kind}.schema.json is stale: run `research schema`"
