"""Writes to the store are validated, atomic and serialised by a lock."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
import yaml

from research.cli import main
from research.store import EvidenceError, load_store
from research.store.write import add_records, atomic_write_text


def _source(i: int) -> dict:
    return {"id": f"src-new-{i}", "kind": "dataset", "citation": f"Dataset {i}"}


def test_add_appends_and_keeps_comments(store_dir):
    target = store_dir / "sources" / "sources.yaml"
    target.write_text("# Sources, hand-kept\n" + target.read_text(), encoding="utf-8")
    add_records(store_dir, "sources", [_source(1)])
    text = target.read_text()
    assert text.startswith("# Sources, hand-kept\n")
    assert "src-new-1" in load_store(store_dir).ids("sources")


def test_invalid_addition_writes_nothing(store_dir):
    target = store_dir / "estimates" / "estimates.yaml"
    before = target.read_bytes()
    bad = {"id": "est-2", "study": "study-1", "source": "src-b", "where_read": "p. 3", "quote": "x",
           "outcome": "crime", "measure": "RR", "provenance": "primary", "estimate": 0.8, "se": -1}
    with pytest.raises(EvidenceError) as info:
        add_records(store_dir, "estimates", [bad])
    assert [(p.record, p.field) for p in info.value.problems] == [("est-2", "se")]
    assert target.read_bytes() == before
    assert not [p for p in target.parent.iterdir() if p.suffix == ".tmp"]


def test_duplicate_addition_is_refused(store_dir):
    with pytest.raises(EvidenceError) as info:
        add_records(store_dir, "sources", [{"id": "src-a", "kind": "dataset", "citation": "dup"}])
    assert info.value.problems[0].field == "id"


def test_crash_during_write_leaves_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.yaml"
    target.write_text("old\n")

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.yaml"]


def _writer(root: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        add_records(root, "sources", [_source(i)])


def test_concurrent_writers_lose_nothing(store_dir):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(str(store_dir), n * 100, 8)) for n in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    ids = load_store(store_dir).ids("sources")
    expected = {f"src-new-{n * 100 + i}" for n in range(3) for i in range(8)}
    assert expected <= ids


def test_add_command(store_dir, tmp_path, capsys):
    record = tmp_path / "new.yaml"
    record.write_text(yaml.safe_dump(_source(7)))
    assert main(["add", "sources", str(record), "--evidence", str(store_dir)]) == 0
    assert "src-new-7" in load_store(store_dir).ids()
    assert main(["add", "widgets", str(record), "--evidence", str(store_dir)]) == 2
    assert "unknown record kind" in capsys.readouterr().err
    assert main(["add", "sources", str(tmp_path / "absent.yaml"), "--evidence", str(store_dir)]) == 2


def test_query_command(store_dir, capsys):
    assert main(["query", "select id, measure, estimate from estimates", "--evidence", str(store_dir), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"id":"est-1"' in out and '"estimate":1.2' in out
    assert main(["query", "select nope from estimates", "--evidence", str(store_dir)]) == 2


@pytest.mark.parametrize("name", ["../x.yaml", "/tmp/x.yaml", "a/b.yaml", ".x.yaml", "..", "x.csv", ""])
def test_target_is_a_file_name_in_the_kind_folder(store_dir, name):
    from research.store.write import target_file

    with pytest.raises(ValueError):
        target_file(store_dir, "sources", name)


def test_target_defaults_to_the_kind_file(store_dir):
    from research.store.write import target_file

    assert target_file(store_dir, "sources", None) == store_dir / "sources" / "sources.yaml"
    assert target_file(store_dir, "gaps", "new.yml") == store_dir / "gaps" / "new.yml"


def test_a_refused_write_leaves_mode_and_bytes(store_dir):
    target = store_dir / "sources" / "sources.yaml"
    os.chmod(target, 0o600)
    before = target.read_bytes()
    with pytest.raises(EvidenceError):
        add_records(store_dir, "sources", [{"id": "src-x", "kind": "rumour", "citation": "c"}])
    assert target.read_bytes() == before and (target.stat().st_mode & 0o777) == 0o600


def test_text_written_in_pieces_is_the_joined_text_and_a_failure_keeps_the_old_file(tmp_path):
    from research.store.write import atomic_write_text_chunks

    target = tmp_path / "out.json"
    pieces = [f"piece {i} — ü\n" for i in range(1000)]
    atomic_write_text_chunks(target, iter(pieces), batch=64)
    assert target.read_text(encoding="utf-8") == "".join(pieces)

    def failing():
        yield "partial"
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError):
        atomic_write_text_chunks(target, failing())
    assert target.read_text(encoding="utf-8") == "".join(pieces)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left
