"""Fuzzing the store's inputs: generated CSV files and record values, and a table of hostile files.

Whatever the input, a command ends with exit code 0 (the input was fine) or 2 (a message naming
the problem); never an internal error or a traceback, never a changed store after a refused
write, never a file written outside the store. Runs in well under a minute (fixed seed).
All data here is generated test data."""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from research.cli import main
from research.store import RECORD_TYPES, load_store
from tests.conftest import MINIMAL_STORE, write_store

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def run(*args: str) -> tuple[int, str]:
    """Exit code and stderr of one command, run in this process."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main([str(a) for a in args])
    text = err.getvalue()
    assert "Traceback" not in text and "Internal error" not in text, text
    assert code in (0, 2), (code, text)
    return code, text


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".evidence.lock" and ".cache" not in p.relative_to(folder).parts}


@contextlib.contextmanager
def fresh_store():
    """A new minimal store in its own folder: (folder holding it, store root)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        base = Path(tmp)
        yield base, write_store(base / "evidence", copy.deepcopy(MINIMAL_STORE))


# --------------------------------------------------------------------------- generated CSV files

ESTIMATE_FIELDS = list(RECORD_TYPES["estimates"].model_fields)
cell_text = st.one_of(
    st.sampled_from(["", "1", "-1", "0", "1e300", "1e999", "-1e999", ".inf", "-.inf", ".nan", "nan", "inf", "yes",
                     "0x1F", "1_000", "2025-13-45", "~", "null", "[a, b]", "{x: 1}", "!!python/object:os.system",
                     "est-1", "study-1", "src-b", "RES", "RR", "percent_change", "primary", "a;b;;c", "\"", "'"]),
    st.text(max_size=12),
)
column_names = st.one_of(st.sampled_from(ESTIMATE_FIELDS + ["a.b", "domains.x", "note.x", "", "id", "id"]),
                         st.text(min_size=1, max_size=6))


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


@st.composite
def csv_files(draw) -> str:
    header = draw(st.lists(column_names, min_size=1, max_size=10))
    rows = draw(st.lists(st.lists(cell_text, min_size=0, max_size=len(header) + 2), max_size=6))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(_csv_cell(c) for c in header)] + [",".join(_csv_cell(c) for c in row) for row in rows]
    return newline.join(lines) + newline


@FUZZ
@given(text=csv_files())
def test_generated_csv_files_validate_or_fail_cleanly(text):
    with fresh_store() as (_, store):
        (store / "estimates" / "fuzz.csv").write_text(text, encoding="utf-8")
        before = snapshot(store)
        code, err = run("validate", store)
        if code == 2:
            assert "evidence/estimates/fuzz.csv" in err or "Invalid evidence" in err
        assert snapshot(store) == before


# --------------------------------------------------------------------------- generated record values

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.dates(),
    st.sampled_from(["src-a", "src-b", "study-1", "est-1", "claim-1", "RES", "CMF", "percent_change", "primary",
                     "article", "numeric", "low", "open"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


@st.composite
def records(draw) -> tuple[str, dict]:
    kind = draw(st.sampled_from(list(RECORD_TYPES)))
    fields = list(RECORD_TYPES[kind].model_fields)
    base = copy.deepcopy(draw(st.sampled_from([r for rs in MINIMAL_STORE.values() for r in rs])))
    base = {k: v for k, v in base.items() if k in fields}
    changes = draw(st.dictionaries(st.sampled_from(fields + ["junk"]), values, max_size=4))
    record = {**base, **changes, "id": draw(st.sampled_from(["new-1", "src-a", "x y", "", "new-2"]))}
    return kind, record


@FUZZ
@given(item=records())
def test_generated_records_are_added_or_refused_cleanly(item):
    kind, record = item
    with fresh_store() as (base, store):
        source = base / "record.yaml"
        source.write_text(yaml.safe_dump(record, allow_unicode=True), encoding="utf-8")
        before = snapshot(base)
        code, _ = run("add", kind, source, "--evidence", store)
        if code == 2:
            assert snapshot(base) == before
        else:
            load_store(store)  # an accepted record never leaves an invalid store
            changed = {name for name, data in snapshot(base).items() if before.get(name) != data}
            assert changed and all(name.startswith(f"evidence/{kind}/") for name in changed)


@FUZZ
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_as_an_evidence_file(data):
    with fresh_store() as (_, store):
        (store / "gaps" / "bytes.yaml").write_bytes(data)
        run("validate", store)


# --------------------------------------------------------------------------- hostile files

HOSTILE = {
    "deep-flow": b"- " + b"[" * 20000 + b"]" * 20000 + b"\n",
    "deep-block": "\n".join("  " * i + "-" for i in range(3000)).encode() + b" x\n",
    "deep-mapping": "\n".join("  " * i + "k:" for i in range(3000)).encode() + b" x\n",
    "laughs": b"- id: gap-9\n  a: &a [x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
              b"  c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
              b"  e: [*d, *d, *d, *d, *d, *d, *d, *d]\n",
    "recursive-alias": b"- &r [*r]\n",
    "python-tag": b"- !!python/object/apply:os.system ['echo pwned']\n",
    "custom-tag": b"- !custom {id: gap-9}\n",
    "not-utf8": b"- id: gap-9\n  what: caf\xe9\n",
    "nul-bytes": b"- id: gap-9\n  what: a\x00b\n",
    "bom": b"\xef\xbb\xbf- id: gap-9\n  what: w\n  why_it_matters: m\n  who_may_hold: h\n",
    "crlf": b"- id: gap-9\r\n  what: w\r\n  why_it_matters: m\r\n  who_may_hold: h\r\n",
    "duplicate-key": b"- id: gap-9\n  what: w\n  what: v\n  why_it_matters: m\n  who_may_hold: h\n",
    "merge-key": b"- &base {id: gap-9, what: w, why_it_matters: m, who_may_hold: h}\n- <<: *base\n  id: gap-10\n",
    "scalar-list": b"- 1\n- two\n- null\n",
    "mapping": b"id: gap-9\n",
    "huge-int": b"- id: gap-9\n  what: w\n  why_it_matters: m\n  who_may_hold: h\n  parameter: 1" + b"0" * 5000 + b"\n",
    "many-documents": b"- id: gap-9\n---\n- id: gap-10\n",
    "unclosed": b"- id: gap-9\n  what: [unclosed\n",
    "tab-indent": b"- id: gap-9\n\twhat: w\n",
    "long-line": b"- id: gap-9\n  what: " + b"x" * 200000 + b"\n  why_it_matters: m\n  who_may_hold: h\n",
    "self-related": b"- id: gap-9\n  what: w\n  why_it_matters: m\n  who_may_hold: h\n  related: [gap-9]\n",
    "dangling": b"- id: gap-9\n  what: w\n  why_it_matters: m\n  who_may_hold: h\n  related: [nowhere]\n",
}
FINE = {"bom", "crlf", "merge-key", "self-related", "long-line"}

HOSTILE_CSV = {
    "duplicate-column": b"id,what,what\ngap-9,a,b\n",
    "empty-column-name": b"id,,what\ngap-9,a,b\n",
    "extra-cells": b"id,what,why_it_matters,who_may_hold\ngap-9,w,m,h,extra\n",
    "unbalanced-quote": b'id,what,why_it_matters,who_may_hold\ngap-9,"w,m,h\n',
    "not-utf8": b"id,what,why_it_matters,who_may_hold\ngap-9,caf\xe9,m,h\n",
    "nul-byte": b"id,what,why_it_matters,who_may_hold\ngap-9,a\x00b,m,h\n",
    "infinite-reference": b"id,what,why_it_matters,who_may_hold,related\ngap-9,w,m,h,.inf\n",
    "nested-clash": b"id,what,what.x,why_it_matters,who_may_hold\ngap-9,w,v,m,h\n",
    "header-only": b"id,what\n",
    "empty": b"",
}
FINE_CSV = {"header-only", "empty"}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_files(tmp_path, name):
    store = write_store(tmp_path / "evidence", copy.deepcopy(MINIMAL_STORE))
    (store / "gaps" / f"{name}.yaml").write_bytes(HOSTILE[name])
    before = snapshot(tmp_path)
    code, err = run("validate", store)
    assert code == (0 if name in FINE else 2)
    if code == 2:
        assert f"evidence/gaps/{name}.yaml" in err
    # and the same text given to `add` is refused (or added) without touching anything else
    (store / "gaps" / f"{name}.yaml").unlink()
    source = tmp_path / f"{name}-input.yaml"
    source.write_bytes(HOSTILE[name])
    before = snapshot(tmp_path)
    code, err = run("add", "gaps", source, "--evidence", store)
    if code == 2:
        assert snapshot(tmp_path) == before
    else:
        load_store(store)
    assert snapshot(tmp_path).keys() - before.keys() <= set()


@pytest.mark.parametrize("name", sorted(HOSTILE_CSV))
def test_hostile_csv_files(tmp_path, name):
    store = write_store(tmp_path / "evidence", copy.deepcopy(MINIMAL_STORE))
    (store / "gaps" / f"{name}.csv").write_bytes(HOSTILE_CSV[name])
    before = snapshot(tmp_path)
    code, err = run("validate", store)
    assert code == (0 if name in FINE_CSV else 2), err
    if code == 2:
        assert f"evidence/gaps/{name}.csv:" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_analysis_files(tmp_path, name):
    from research.analyses import load_analyses
    from research.store import EvidenceError

    (tmp_path / f"{name}.yaml").write_bytes(HOSTILE[name])
    with pytest.raises(EvidenceError) as info:
        load_analyses(tmp_path)
    assert all(p.file.endswith(f"{name}.yaml") for p in info.value.problems)


# --------------------------------------------------------------------------- analysis filters

filter_tokens = st.sampled_from(["measure", "poolable", "year", "id", "'CMF'", "'%a%'", "1", "-", "2.5", "NULL",
                                 "TRUE", "AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "BETWEEN", "(", ")", ",",
                                 "=", "<>", "<=", ";", "SELECT", "COPY", "'", '"', "--", "read_text"])


@FUZZ
@given(parts=st.lists(st.one_of(filter_tokens, st.text(max_size=4)), max_size=12))
def test_generated_filters_parse_or_fail_cleanly(parts):
    from research.store.filter import FilterError, parse_filter

    rows = [{"id": "a", "measure": "CMF", "poolable": True, "year": 2001},
            {"id": "b", "measure": None, "poolable": None, "year": None}]
    try:
        chosen = parse_filter(" ".join(parts), ["id", "measure", "poolable", "year"]).mask(rows)
    except FilterError:
        return
    assert len(chosen) == 2 and all(isinstance(keep, bool) for keep in chosen)
