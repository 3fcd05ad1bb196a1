"""Incremental validation re-reads only changed files and reports exactly what a full load reports;
Parquet tables follow the CSV rules; the kept DuckDB index follows the files. All stores here are
made-up test data written to temporary folders."""

from __future__ import annotations

import copy
import csv
import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from research.store import EvidenceError, load_store
from research.store import incremental
from research.store.incremental import cache_folder, load_validated_store, validate_store
from research.store.index import QueryError, query_store
from tests.conftest import MINIMAL_STORE, write_store


def _problems(run) -> list[str]:
    try:
        run()
    except EvidenceError as exc:
        return [str(p) for p in exc.problems]
    return []


def _write(path, records) -> None:
    path.write_text(yaml.safe_dump(records, sort_keys=False), encoding="utf-8")


def _estimates(n: int, start: int = 0) -> list[dict]:
    base = MINIMAL_STORE["estimates"][0]
    return [dict(base, id=f"est-{i}") for i in range(start, start + n)]


@pytest.fixture
def store(tmp_path):
    records = copy.deepcopy(MINIMAL_STORE)
    records["estimates"] = _estimates(3)
    root = write_store(tmp_path / "evidence", records)
    _write(root / "estimates" / "more.yaml", _estimates(2, start=10))
    return root


def test_a_warm_run_reads_no_file_and_a_change_reads_only_that_file(store):
    cold = validate_store(store)
    assert len(cold.changed) == 6 and cold.counts["estimates"] == 5
    assert validate_store(store).changed == []
    _write(store / "estimates" / "more.yaml", _estimates(3, start=10))
    warm = validate_store(store)
    assert warm.changed == ["evidence/estimates/more.yaml"]
    assert warm.counts["estimates"] == 6
    assert (cache_folder(store) / "manifest.pkl").is_file()
    assert cache_folder(store).parent == store.parent / ".cache" / "store"


BREAKAGES = {
    "bad value": lambda root: _write(root / "estimates" / "more.yaml", [dict(_estimates(1, 10)[0], estimate="x")]),
    "duplicate id across files": lambda root: _write(root / "estimates" / "more.yaml", _estimates(1, start=2)),
    "removed study still referenced": lambda root: _write(root / "studies" / "studies.yaml", []),
    "unreadable file": lambda root: (root / "estimates" / "more.yaml").write_bytes(b"- id: [unclosed\n"),
    "derivation loop": lambda root: _write(root / "estimates" / "more.yaml", [
        dict(_estimates(1, 10)[0], derived_from=["est-11"], derivation="x"),
        dict(_estimates(1, 11)[0], derived_from=["est-10"], derivation="x")]),
    "removed claim a gap relates to": lambda root: _write(root / "claims" / "claims.yaml", []),
    "removed source referenced by claims and studies": lambda root: _write(root / "sources" / "sources.yaml", [
        MINIMAL_STORE["sources"][0]]),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_after_a_change_the_problems_are_exactly_those_of_a_full_load(store, name):
    validate_store(store)  # warm the cache on the valid store
    BREAKAGES[name](store)
    expected = _problems(lambda: load_store(store))
    assert expected, "the breakage must be a real problem"
    assert _problems(lambda: validate_store(store)) == expected  # incremental
    assert _problems(lambda: validate_store(store)) == expected  # again, after a failed run
    assert _problems(lambda: validate_store(store, use_cache=False)) == expected  # cold


def test_a_reference_into_a_changed_file_is_rechecked_and_clears_when_fixed(store):
    validate_store(store)
    studies = store / "studies" / "studies.yaml"
    original = studies.read_text(encoding="utf-8")
    _write(studies, [dict(MINIMAL_STORE["studies"][0], id="study-renamed")])
    with pytest.raises(EvidenceError) as info:
        validate_store(store)
    # The estimates files did not change, yet their references into the changed file are reported.
    assert {p.file for p in info.value.problems} == {"evidence/estimates/estimates.yaml",
                                                      "evidence/estimates/more.yaml"}
    assert all("refers to 'study-1'" in p.message for p in info.value.problems)
    studies.write_text(original, encoding="utf-8")
    assert validate_store(store).counts["studies"] == 1


def test_quote_warnings_are_kept_with_the_cache(store):
    _write(store / "estimates" / "more.yaml", [dict(_estimates(1, 10)[0], estimate=1.3)])
    cold = validate_store(store).warnings
    assert [(w.record, w.field) for w in cold] == [("est-10", "estimate")]
    assert validate_store(store).warnings == cold


def test_a_damaged_or_old_cache_is_ignored(store, monkeypatch):
    validate_store(store)
    (cache_folder(store) / "manifest.pkl").write_bytes(b"not a pickle")
    assert len(validate_store(store).changed) == 6
    monkeypatch.setattr(incremental, "_code_version", lambda: "another version of the code")
    assert len(validate_store(store).changed) == 6
    with (cache_folder(store) / "manifest.pkl").open("rb") as handle:
        assert pickle.load(handle)["version"] == "another version of the code"


def test_an_unwritable_cache_place_still_validates(store, monkeypatch):
    monkeypatch.setattr(incremental, "cache_folder", lambda root: root / "estimates" / "more.yaml" / "cache")
    result = validate_store(store)
    assert result.cache_dir is None and result.counts["estimates"] == 5


# --------------------------------------------------------------------------- Parquet


def _csv_and_parquet(root, rows: list[dict]) -> None:
    folder = root / "estimates"
    with (folder / "table.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), folder / "table.parquet")


def test_a_parquet_table_gives_the_records_of_the_same_csv(tmp_path):
    rows = [dict(r, ci_low=None, ci_high=None, estimate=1.1 + i / 10, quote=f"RES {1.1 + i / 10:.1f}")
            for i, r in enumerate(_estimates(3, start=20))]
    records = copy.deepcopy(MINIMAL_STORE)
    as_csv = write_store(tmp_path / "a" / "evidence", records)
    as_parquet = write_store(tmp_path / "b" / "evidence", records)
    _csv_and_parquet(as_csv, rows)
    (as_csv / "estimates" / "table.parquet").unlink()
    _csv_and_parquet(as_parquet, rows)
    (as_parquet / "estimates" / "table.csv").unlink()
    from_csv, from_parquet = load_store(as_csv), load_store(as_parquet)
    assert [r.model_dump() for r in from_parquet["estimates"]] == [r.model_dump() for r in from_csv["estimates"]]
    assert from_parquet.origin["est-20"] == "evidence/estimates/table.parquet"


def test_parquet_problems_carry_the_csv_messages_and_name_the_row(tmp_path):
    records = copy.deepcopy(MINIMAL_STORE)
    rows = [dict(r, ci_low=None, ci_high=None) for r in _estimates(2, start=20)]
    rows[1] = dict(rows[1], study="study-missing", estimate=-1.0)
    as_csv = write_store(tmp_path / "a" / "evidence", records)
    as_parquet = write_store(tmp_path / "b" / "evidence", records)
    _csv_and_parquet(as_csv, rows)
    (as_csv / "estimates" / "table.parquet").unlink()
    _csv_and_parquet(as_parquet, rows)
    (as_parquet / "estimates" / "table.csv").unlink()
    csv_problems = {(p.record, p.field, p.message) for p in pytest.raises(EvidenceError, load_store, as_csv).value.problems}
    with pytest.raises(EvidenceError) as info:
        validate_store(as_parquet)
    assert {(p.record, p.field, p.message) for p in info.value.problems} == csv_problems
    assert {p.line for p in info.value.problems} == {2}  # the second row of the table
    assert all(p.file == "evidence/estimates/table.parquet" for p in info.value.problems)


def test_a_file_that_is_not_parquet_is_named(store):
    (store / "estimates" / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(EvidenceError) as info:
        validate_store(store)
    (problem,) = info.value.problems
    assert problem.file == "evidence/estimates/broken.parquet" and "not a readable Parquet file" in problem.message


# --------------------------------------------------------------------------- the kept index


def _ids(store) -> list[str]:
    return query_store(store, "SELECT id FROM estimates ORDER BY id")["id"].tolist()


def test_the_kept_index_follows_changed_added_and_removed_files(store):
    assert _ids(store) == ["est-0", "est-1", "est-10", "est-11", "est-2"]
    index = next(cache_folder(store).glob("index-*.duckdb"))
    _write(store / "estimates" / "more.yaml", _estimates(1, start=12))
    assert _ids(store) == ["est-0", "est-1", "est-12", "est-2"]
    _write(store / "estimates" / "extra.yaml", _estimates(1, start=30))
    assert _ids(store) == ["est-0", "est-1", "est-12", "est-2", "est-30"]
    (store / "estimates" / "extra.yaml").unlink()
    (store / "estimates" / "more.yaml").unlink()
    assert _ids(store) == ["est-0", "est-1", "est-2"]
    frame = query_store(store, "SELECT file, estimate FROM estimates WHERE id = 'est-0'")
    assert frame.to_dict("records") == [{"file": "evidence/estimates/estimates.yaml", "estimate": 1.2}]
    assert index.is_file()


def test_the_kept_index_matches_an_index_built_in_memory(store):
    from research.store.index import query

    sql = "SELECT * FROM estimates ORDER BY id"
    validate_store(store)  # the index falls behind the validation cache: rows are read again
    kept = query_store(store, sql)
    fresh = query(load_store(store), sql)
    assert kept.astype(str).to_dict("records") == fresh.astype(str).to_dict("records")


def test_the_kept_index_stays_sandboxed(store, tmp_path):
    with pytest.raises(QueryError, match="only SELECT"):
        query_store(store, "DROP VIEW estimates")
    with pytest.raises(QueryError):
        query_store(store, f"SELECT * FROM read_csv('{tmp_path}/evidence/estimates/more.yaml')")
    assert _ids(store)[:2] == ["est-0", "est-1"]
    out = tmp_path / "out.csv"
    query_store(store, f"COPY (SELECT id FROM estimates) TO '{out}'", allow_files=True)
    assert out.read_text().splitlines()[0] == "id"


def test_an_invalid_store_is_refused_before_any_query(store):
    _write(store / "studies" / "studies.yaml", [])
    with pytest.raises(EvidenceError, match="refers to 'study-1'"):
        query_store(store, "SELECT 1")


def test_files_read_on_two_processes_give_the_same_problems_in_the_same_order(store):
    BREAKAGES["bad value"](store)
    (store / "claims" / "claims.yaml").write_bytes(b"- id: [unclosed\n")
    (store / "gaps" / "folder.yaml").mkdir()
    expected = _problems(lambda: load_store(store))
    assert len(expected) >= 3
    assert _problems(lambda: validate_store(store, use_cache=False, jobs=2)) == expected


def test_a_record_moved_to_another_kind_no_longer_satisfies_references_to_the_first(store):
    validate_store(store)
    _write(store / "studies" / "studies.yaml", [])
    _write(store / "sources" / "sources.yaml", MINIMAL_STORE["sources"] + [
        {"id": "study-1", "kind": "study", "citation": "Now a source (test data)"}])
    expected = _problems(lambda: load_store(store))
    assert any("refers to 'study-1', which is not in studies" in p for p in expected)
    assert _problems(lambda: validate_store(store)) == expected


def test_references_lost_from_the_cache_are_read_again(store):
    validate_store(store)
    for kept in (cache_folder(store) / "references").glob("*.pkl"):
        kept.unlink()
    BREAKAGES["removed study still referenced"](store)
    expected = _problems(lambda: load_store(store))
    assert _problems(lambda: validate_store(store)) == expected


# --------------------------------------------------------------------------- the store read from the cache


def _same_store(got, expected) -> None:
    assert list(got.records) == list(expected.records)
    for kind, records in expected.records.items():
        assert [type(r) for r in got.records[kind]] == [type(r) for r in records]
        assert [r.model_dump() for r in got.records[kind]] == [r.model_dump() for r in records]
    assert got.origin == expected.origin and got.lines == expected.lines
    assert got.root == expected.root


def test_the_cached_store_equals_a_full_load_cold_warm_and_after_a_change(store, monkeypatch):
    _same_store(load_validated_store(store), load_store(store))  # cold: every file read and kept
    kept = sorted(p.name for p in (cache_folder(store) / "records").glob("*.pkl"))
    assert len(kept) == 6

    def no_reading(*args, **kwargs):
        raise AssertionError("an unchanged file was read again")

    with monkeypatch.context() as patch:
        patch.setattr(incremental, "read_evidence_file", no_reading)
        _same_store(load_validated_store(store), load_store(store))  # warm: nothing read
    _write(store / "estimates" / "more.yaml", _estimates(3, start=10))
    read = []

    def counting(path, kind, file):
        read.append(file)
        return reading(path, kind, file)

    reading = incremental.read_evidence_file
    with monkeypatch.context() as patch:
        patch.setattr(incremental, "read_evidence_file", counting)
        _same_store(load_validated_store(store), load_store(store))
    assert read == ["evidence/estimates/more.yaml"]
    after = sorted(p.name for p in (cache_folder(store) / "records").glob("*.pkl"))
    assert len(after) == 6 and after != kept  # the old content's records are gone


def test_validate_keeps_the_records_the_cached_store_reads(store, monkeypatch):
    validate_store(store)
    monkeypatch.setattr(incremental, "read_evidence_file", lambda *a: pytest.fail("a file was read again"))
    _same_store(load_validated_store(store), load_store(store))


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_the_cached_store_refuses_with_the_problems_of_a_full_load(store, name):
    load_validated_store(store)
    BREAKAGES[name](store)
    expected = _problems(lambda: load_store(store))
    assert _problems(lambda: load_validated_store(store)) == expected
    assert _problems(lambda: load_validated_store(store, use_cache=False)) == expected


def test_lost_damaged_or_foreign_kept_records_are_read_again(store, monkeypatch):
    load_validated_store(store)
    folder = cache_folder(store) / "records"
    first, second, third, *_ = sorted(folder.glob("*.pkl"))
    first.unlink()
    second.write_bytes(b"not a pickle")
    with third.open("rb") as handle:
        kept = pickle.load(handle)
    with third.open("wb") as handle:
        pickle.dump(dict(kept, version="another version of the code"), handle)
    _same_store(load_validated_store(store), load_store(store))
    assert len(list(folder.glob("*.pkl"))) == 6  # kept again
    with third.open("rb") as handle:
        assert pickle.load(handle)["version"] == incremental._code_version()


def test_a_file_changed_after_validation_is_not_taken_from_the_cache(store, monkeypatch):
    load_validated_store(store)
    for kept in (cache_folder(store) / "records").glob("*.pkl"):
        kept.unlink()
    validate = incremental._validate

    def validate_then_edit(*args, **kwargs):
        outcome = validate(*args, **kwargs)
        _write(store / "estimates" / "more.yaml", _estimates(1, start=40))  # edited while the store is read
        return outcome

    monkeypatch.setattr(incremental, "_validate", validate_then_edit)
    got = load_validated_store(store)
    assert "est-40" in got.ids("estimates")
    _same_store(got, load_store(store))


def test_a_store_in_a_read_only_place_loads_without_the_cache(store, monkeypatch):
    monkeypatch.setattr(incremental, "cache_folder", lambda root: root / "estimates" / "more.yaml" / "cache")
    _same_store(load_validated_store(store), load_store(store))
    assert not (store.parent / ".cache").exists()


def test_commands_that_read_the_store_use_the_cache(store, monkeypatch):
    from research.commands import claims as claims_command
    from research.commands import store as store_command

    load_validated_store(store)
    monkeypatch.setattr(incremental, "read_evidence_file", lambda *a: pytest.fail("a file was read again"))
    _same_store(claims_command.load_store(store), load_store(store))
    _same_store(store_command.load_store(store), load_store(store))
