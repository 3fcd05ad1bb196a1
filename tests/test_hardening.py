"""Hostile and careless inputs: each ends in exit code 2 with a message naming file, record or line and
field, never a traceback, never a file written outside the store or the chosen output.

Every store here is test data written to a temporary folder (see tests/conftest.py)."""

from __future__ import annotations

import copy
import datetime as dt
import io
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from research.cli import main
from research.store import EvidenceError, Store, load_store
from research.store.write import add_records, atomic_write_text
from tests.conftest import MINIMAL_STORE, write_store

DECLARATION = """\
id: cctv-crime
title: CCTV and crime
question: Does public-area CCTV reduce crime?
intervention: CCTV
outcome: crime
"""


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command; no known bad input may reach the internal-error handler."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Internal error" not in captured.err, captured.err
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder with its bytes (lock files and the validation cache aside), to prove
    nothing was written."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".evidence.lock" and ".cache" not in p.relative_to(folder).parts}


def records(**changes) -> dict:
    data = copy.deepcopy(MINIMAL_STORE)
    for kind, change in changes.items():
        data[kind][0].update(change)
    return data


# --------------------------------------------------------------------------- SQL and file access


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT\n")
    return path


@pytest.mark.parametrize(
    "where",
    [
        "1=1; COPY (SELECT 42) TO '{out}'",
        "id IN (SELECT 1); COPY effects TO '{out}'",
        "CAST((SELECT content FROM read_text('{secret}')) AS INTEGER) = 1",
        "id = (SELECT content FROM read_text('{secret}'))",
        "id = 'x' OR 1=1) UNION SELECT content FROM read_text('{secret}') --",
    ],
)
def test_analysis_filter_cannot_touch_files(tmp_path, capsys, secret, where):
    out = tmp_path / "written.csv"
    analyses = tmp_path / "analyses"
    analyses.mkdir()
    text = where.format(out=out, secret=secret)
    (analyses / "cctv.yaml").write_text(DECLARATION + yaml.safe_dump({"where": text}, width=1000))
    checks = tmp_path / "checks.yaml"
    checks.write_text("claims: []\n")
    store = write_store(tmp_path / "evidence", MINIMAL_STORE)
    code, _, err = run(capsys, "claims", "--evidence", store, "--checks", checks, "--analyses", analyses)
    assert code == 2
    assert "analyses/cctv.yaml" in err and "'where'" in err
    assert not out.exists()
    assert "TOP-SECRET" not in err


def test_dataset_select_runs_no_sql(tmp_path, secret):
    from research.dataset import effect_table, select
    from research.errors import InputError

    table = effect_table(load_store(write_store(tmp_path / "evidence", MINIMAL_STORE)))
    out = tmp_path / "x.csv"
    for hostile in (f"1=1; COPY effects TO '{out}'", f"id = (SELECT content FROM read_text('{secret}'))"):
        with pytest.raises(InputError) as info:
            select(table, hostile)
        assert "TOP-SECRET" not in str(info.value)
    assert not out.exists()
    assert select(table, "measure = 'RES' AND NOT poolable IS NULL")["id"].tolist() == ["est-1"]


def test_shipped_analysis_filters_parse():
    from research.analyses import load_analyses

    assert len(load_analyses(Path(__file__).resolve().parents[1] / "analyses")) >= 3


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO '{out}'",
        "COPY sources TO '{out}' (FORMAT csv)",
        "ATTACH '{out}' AS other",
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT 1; COPY (SELECT 1) TO '{out}'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "CREATE TABLE t AS SELECT 1",
    ],
)
def test_query_is_read_only_and_sandboxed(store_dir, tmp_path, capsys, secret, sql):
    out = tmp_path / "out.csv"
    code, stdout, err = run(capsys, "query", sql.format(out=out, secret=secret), "--evidence", store_dir)
    assert code == 2 and "query failed" in err
    assert not out.exists() and "TOP-SECRET" not in stdout + err


def test_query_allow_files_permits_export(store_dir, tmp_path, capsys):
    out = tmp_path / "ids.csv"
    code, _, _ = run(capsys, "query", f"COPY (SELECT id FROM sources ORDER BY id) TO '{out}'", "--evidence",
                     store_dir, "--allow-files")
    assert code == 0 and out.read_text().split() == ["id", "src-a", "src-b"]


# --------------------------------------------------------------------------- add --into stays in the store


def _new_source(tmp_path: Path, name: str = "new.yaml", record_id: str = "src-new") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"id": record_id, "kind": "dataset", "citation": "A dataset"}))
    return path


@pytest.mark.parametrize("into", ["../../../x.yaml", "../x.yaml", "sub/x.yaml", "{abs}", ".hidden.yaml", "x.txt", ".."])
def test_add_into_outside_the_kind_folder_is_refused(tmp_path, capsys, into):
    root = tmp_path / "work"
    store = write_store(root / "evidence", MINIMAL_STORE)
    record = _new_source(tmp_path)
    before = snapshot(tmp_path)
    target = into.format(abs=tmp_path / "abs.yaml")
    code, _, err = run(capsys, "add", "sources", record, "--evidence", store, "--into", target)
    assert code == 2 and ("--into" in err or "YAML files only" in err)
    assert snapshot(tmp_path) == before
    assert "src-new" not in load_store(store).ids()


def test_add_into_a_folder_with_a_yaml_name_is_refused(store_dir, tmp_path, capsys):
    (store_dir / "sources" / "dir.yaml").mkdir()
    code, _, err = run(capsys, "add", "sources", _new_source(tmp_path), "--evidence", store_dir, "--into", "dir.yaml")
    assert code == 2


def test_add_into_a_symlink_out_of_the_store_is_refused(store_dir, tmp_path, capsys):
    outside = tmp_path / "outside.yaml"
    outside.write_text("[]\n")
    (store_dir / "sources" / "link.yaml").symlink_to(outside)
    code, _, err = run(capsys, "add", "sources", _new_source(tmp_path), "--evidence", store_dir, "--into", "link.yaml")
    assert code == 2 and outside.read_text() == "[]\n"


def test_add_into_a_new_file_of_the_kind_folder(store_dir, tmp_path, capsys):
    code, _, _ = run(capsys, "add", "sources", _new_source(tmp_path), "--evidence", store_dir, "--into", "more.yaml")
    assert code == 0
    assert load_store(store_dir).origin["src-new"] == "evidence/sources/more.yaml"


def test_mistyped_store_folder_is_an_error_unless_create(tmp_path, capsys):
    missing = tmp_path / "evidnce"
    code, _, err = run(capsys, "add", "sources", _new_source(tmp_path), "--evidence", missing)
    assert code == 2 and "not found" in err and "--create" in err
    assert not missing.exists()
    code, _, _ = run(capsys, "add", "sources", _new_source(tmp_path), "--evidence", missing, "--create")
    assert code == 0 and load_store(missing).ids() == {"src-new"}


# --------------------------------------------------------------------------- former tracebacks


def test_folder_named_like_an_evidence_file(store_dir, capsys):
    (store_dir / "sources" / "x.yaml").mkdir()
    code, _, err = run(capsys, "validate", store_dir)
    assert code == 2 and "evidence/sources/x.yaml" in err and "folder" in err


def test_deeply_nested_yaml_in_the_store_and_in_add(store_dir, tmp_path, capsys):
    deep = "- " + "[" * 20000 + "]" * 20000 + "\n"
    (store_dir / "gaps" / "deep.yaml").write_text(deep)
    code, _, err = run(capsys, "validate", store_dir)
    assert code == 2 and "evidence/gaps/deep.yaml" in err
    (store_dir / "gaps" / "deep.yaml").unlink()
    block = "\n".join("  " * i + "- " for i in range(20000)) + "x\n"
    nested = tmp_path / "nested.yaml"
    for text in (deep, block, "id: x\nnote: " + "[" * 40 + "]" * 40 + "\n"):
        nested.write_text(text)
        before = snapshot(store_dir)
        code, _, err = run(capsys, "add", "gaps", nested, "--evidence", store_dir)
        assert code == 2 and "nested.yaml" in err
        assert snapshot(store_dir) == before


def test_billion_laughs_is_refused(store_dir, capsys):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    (store_dir / "gaps" / "laughs.yaml").write_text("- id: gap-2\n  " + "\n  ".join(lines) + "\n")
    code, _, err = run(capsys, "validate", store_dir)
    assert code == 2 and "aliases expand" in err


@pytest.mark.parametrize("derived", [["est-1"], ["est-2"]])
def test_cycles_in_derived_from_are_validation_errors(tmp_path, capsys, derived):
    data = records(estimates={"derived_from": derived})
    second = copy.deepcopy(data["estimates"][0]) | {"id": "est-2", "derived_from": ["est-1"]}
    data["estimates"].append(second)
    store = write_store(tmp_path / "evidence", data)
    code, _, err = run(capsys, "validate", store)
    assert code == 2 and "cycle" in err and "'derived_from'" in err and "evidence/estimates/estimates.yaml" in err
    checks = tmp_path / "checks.yaml"
    checks.write_text("claims: []\n")
    assert run(capsys, "claims", "--evidence", store, "--checks", checks, "--no-analyses")[0] == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"measure": "percent_change", "estimate": -150.0, "ci_low": None, "ci_high": None}, "estimate"),
        ({"measure": "percent_change", "estimate": -50.0, "ci_low": -120.0, "ci_high": -10.0}, "ci_low"),
        ({"measure": "percent_change", "estimate": -100.0, "ci_low": None, "ci_high": None}, "estimate"),
        ({"a": float("inf"), "b": 4.0}, "a"),
        ({"estimate": float("nan")}, "estimate"),
        ({"se": float("inf"), "ci_low": None, "ci_high": None}, "se"),
    ],
)
def test_value_rules_for_estimates(tmp_path, capsys, change, field):
    store = write_store(tmp_path / "evidence", records(estimates=change))
    code, _, err = run(capsys, "validate", store)
    assert code == 2 and "est-1" in err and f"'{field}'" in err


def test_percent_change_above_minus_100_is_fine(tmp_path):
    change = {"measure": "percent_change", "estimate": -99.5, "ci_low": -99.9, "ci_high": -50.0}
    assert load_store(write_store(tmp_path / "evidence", records(estimates=change)))


def test_non_finite_fact_and_claim_values(tmp_path, capsys):
    fact = {"id": "fact-1", "source": "src-a", "where_read": "p. 1", "quote": "q", "quantity": "cameras",
            "value": float("nan"), "unit": "cameras"}
    data = records(claims={"quantities": [{"name": "cameras", "value": float("inf"), "unit": "cameras"}]})
    data["facts"] = [fact]
    store = write_store(tmp_path / "evidence", data)
    code, _, err = run(capsys, "validate", store)
    assert code == 2 and "fact-1" in err and "'value'" in err and "'quantities.0.value'" in err


def test_dates_in_the_future_are_refused(tmp_path, capsys):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    data = records(sources={"accessed": tomorrow.isoformat(), "published": str(tomorrow.year + 1)})
    data["studies"][0]["year"] = tomorrow.year + 1
    store = write_store(tmp_path / "evidence", data)
    code, _, err = run(capsys, "validate", store)
    assert code == 2 and "'accessed'" in err and "'published'" in err and "'year'" in err and "future" in err


def test_duplicate_yaml_keys_are_refused(store_dir, tmp_path, capsys):
    path = store_dir / "sources" / "sources.yaml"
    path.write_text(path.read_text() + "- id: src-c\n  kind: dataset\n  citation: first\n  citation: second\n")
    code, _, err = run(capsys, "validate", store_dir)
    assert code == 2 and "evidence/sources/sources.yaml:" in err and "'citation' given twice" in err
    record = tmp_path / "dup.yaml"
    record.write_text("id: src-d\nkind: dataset\nkind: study\ncitation: c\n")
    path.write_text(yaml.safe_dump(MINIMAL_STORE["sources"]))
    code, _, err = run(capsys, "add", "sources", record, "--evidence", store_dir)
    assert code == 2 and "dup.yaml" in err and "'kind' given twice" in err and "line 3" in err


def test_duplicate_csv_columns_are_refused(store_dir, capsys):
    (store_dir / "estimates" / "dup.csv").write_text(
        "id,study,source,where_read,quote,outcome,measure,provenance,estimate,estimate\n"
        "est-2,study-1,src-b,T1,q,crime,RR,primary,0.8,0.9\n")
    code, _, err = run(capsys, "validate", store_dir)
    assert code == 2 and "evidence/estimates/dup.csv:1" in err and "'estimate' appears twice" in err


def test_missing_checks_file_is_an_error(store_dir, tmp_path, capsys):
    code, _, err = run(capsys, "claims", "--evidence", store_dir, "--checks", tmp_path / "nope.yaml", "--no-analyses")
    assert code == 2 and "nope.yaml" in err and "not found" in err


def test_non_utf8_bytes_name_the_line(store_dir, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"id: src-x\nkind: dataset\ncitation: caf\xe9\n")
    code, _, err = run(capsys, "add", "sources", bad, "--evidence", store_dir)
    assert code == 2 and "bad.yaml" in err and "line 3" in err and "0xe9" in err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(bad.read_bytes())))
    code, _, err = run(capsys, "add", "sources", "-", "--evidence", store_dir)
    assert code == 2 and "<stdin>" in err and "line 3" in err
    (store_dir / "claims" / "more.yaml").write_bytes(b"# ok\n- id: claim-9\n  text: \xff\n")
    code, _, err = run(capsys, "validate", store_dir)
    assert code == 2 and "evidence/claims/more.yaml:3" in err


def test_non_utf8_analysis_file(tmp_path, capsys):
    from research.analyses import load_analyses

    (tmp_path / "a.yaml").write_bytes(DECLARATION.encode() + b"where: \"outcome = '\xff'\"\n")
    with pytest.raises(EvidenceError) as info:
        load_analyses(tmp_path)
    (problem,) = info.value.problems
    assert problem.file.endswith("a.yaml") and problem.line == 6 and "UTF-8" in problem.message


def test_meta_with_tiny_variance_and_missing_forest_folder(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("yi,vi\n0.1,1e-300\n0.2,0.01\n0.3,0.02\n")
    code, _, err = run(capsys, "meta", data, "--yi", "yi", "--vi", "vi")
    assert code == 2 and "d.csv" in err
    data.write_text("yi,vi\n0.1,0.01\n0.2,0.01\n0.3,0.02\n")
    code, _, err = run(capsys, "meta", data, "--yi", "yi", "--vi", "vi", "--forest", tmp_path / "no" / "f.png")
    assert code == 2 and "--forest" in err and "does not exist" in err
    code, _, err = run(capsys, "meta", data, "--yi", "yi", "--vi", "vi", "--funnel", tmp_path / "f.xyz")
    assert code == 2 and "--funnel" in err


def test_huge_effect_names_the_file(tmp_path, capsys):
    data = tmp_path / "huge.csv"
    data.write_text("yi,vi\n1e300,0.01\n0.2,0.01\n0.3,0.02\n")
    code, _, err = run(capsys, "meta", data, "--yi", "yi", "--vi", "vi")
    assert code == 2 and "huge.csv" in err


# --------------------------------------------------------------------------- messages


def test_a_broken_file_gives_one_problem_not_dangling_reference_noise(store_dir, capsys):
    (store_dir / "sources" / "sources.yaml").write_text("- id: src-a\n  kind: [unclosed\n")
    code, _, err = run(capsys, "validate", store_dir)
    assert code == 2
    assert "1 problem(s)" in err and "evidence/sources/sources.yaml:" in err and "not in sources" not in err


def test_bad_csv_rows_name_their_line(store_dir, capsys):
    (store_dir / "estimates" / "rows.csv").write_text(
        "id,study,source,where_read,quote,outcome,measure,provenance,a,b,c,d\n"
        "est-2,study-1,src-b,T3,\"a=10\",crime,RES,primary,10,8,12,13\n"
        "\n"
        "est-3,study-1,src-b,T3,\"two\nlines\",crime,RES,primary,-1,8,12,13\n"
        "est-4,study-1,src-b,T3,q,crime,RES,primary,1,8,12,13,99\n")
    with pytest.raises(EvidenceError) as info:
        load_store(store_dir)
    found = {(p.record, p.field, p.line) for p in info.value.problems}
    assert found == {("est-3", "a", 4), ("est-4", "(row)", 6)}
    code, _, err = run(capsys, "validate", store_dir)
    assert "evidence/estimates/rows.csv:4: record 'est-3'" in err


def test_yaml_problems_name_the_record_line(store_dir):
    path = store_dir / "estimates" / "estimates.yaml"
    text = "# estimates\n" + path.read_text().replace("estimate: 1.2", "estimate: 7.0")
    path.write_text(text + "- 42\n- id: est-2\n  colour: red\n")
    estimate_line = text.splitlines().index("  estimate: 7.0") + 1
    with pytest.raises(EvidenceError) as info:
        load_store(store_dir)
    found = {(p.record, p.field, p.line) for p in info.value.problems}
    end = len(text.splitlines())
    assert ("est-1", "estimate", estimate_line) in found  # the field's own line
    assert ("#2", "(record)", end + 1) in found  # a record that is not a mapping: where it starts
    assert ("est-2", "colour", end + 3) in found and ("est-2", "quote", end + 2) in found  # missing: the record


# --------------------------------------------------------------------------- linear time


def test_validation_indexes_ids_once(tmp_path, monkeypatch):
    calls = []
    original = Store.ids
    monkeypatch.setattr(Store, "ids", lambda self, kind=None: calls.append(kind) or original(self, kind))
    counts = []
    for n in (10, 200):
        data = copy.deepcopy(MINIMAL_STORE)
        data["gaps"] = [dict(data["gaps"][0], id=f"gap-{i}") for i in range(n)]
        calls.clear()
        load_store(write_store(tmp_path / f"s{n}" / "evidence", data))
        counts.append(len(calls))
    assert counts[0] == counts[1]  # work per record is constant: no id set rebuilt per record


# --------------------------------------------------------------------------- writes


def test_add_keeps_mode_and_crlf_and_cleans_leftover_temp_files(store_dir, tmp_path, capsys):
    target = store_dir / "sources" / "sources.yaml"
    target.write_bytes(target.read_bytes().replace(b"\n", b"\r\n"))
    os.chmod(target, 0o640)
    leftover = target.parent / ".sources.yaml.killed.tmp"
    leftover.write_text("half a write")
    code, _, _ = run(capsys, "add", "sources", _new_source(tmp_path), "--evidence", store_dir)
    assert code == 0
    data = target.read_bytes()
    assert b"src-new" in data and data.count(b"\n") == data.count(b"\r\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert not leftover.exists()
    assert "src-new" in load_store(store_dir).ids()


def test_new_files_get_the_usual_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "report.html", "x")
        store = write_store(tmp_path / "evidence", MINIMAL_STORE)
        add_records(store, "gaps", [{"id": "gap-9", "what": "w", "why_it_matters": "m", "who_may_hold": "h"}],
                    "new.yaml")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
    assert stat.S_IMODE((store / "gaps" / "new.yaml").stat().st_mode) == 0o644


def test_stale_temp_files_of_a_report_are_removed(tmp_path):
    stale = tmp_path / ".report.html.abc123.tmp"
    fresh = tmp_path / ".report.html.def456.tmp"
    stale.write_text("old")
    fresh.write_text("a write in progress")
    os.utime(stale, (0, 0))
    atomic_write_text(tmp_path / "report.html", "x")
    assert not stale.exists() and fresh.exists()


# --------------------------------------------------------------------------- the last line of defence


def test_unexpected_errors_are_internal_errors_with_a_hint(store_dir, capsys, monkeypatch):
    import research.store.loader as loader

    def broken(*_args, **_kwargs):
        raise RuntimeError("something impossible")

    monkeypatch.setattr("research.store.incremental.validate_store", broken)
    monkeypatch.delenv("RESEARCH_DEBUG", raising=False)
    assert main(["validate", str(store_dir)]) == 1
    err = capsys.readouterr().err
    assert "Internal error" in err and "something impossible" in err and "report" in err
    assert "Traceback" not in err
    monkeypatch.setenv("RESEARCH_DEBUG", "1")
    assert main(["validate", str(store_dir)]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert loader.load_store is not broken


# --------------------------------------------------------------------------- SVG allow-list

SVG_HEAD = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'


@pytest.mark.parametrize(
    "body",
    [
        '<animate attributeName="href" values="javascript:alert(1)"/>',
        '<a href="javascript:alert(1)"><rect width="1" height="1"/></a>',
        '<set attributeName="onclick" to="alert(1)"/>',
        '<animateTransform attributeName="transform"/>',
        '<rect width="1" height="1" onmouseover="alert(1)"/>',
        '<use xlink:href="https://example.org/sprite.svg#x"/>',
        '<use href="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4="/>',
        '<image href="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=" width="1" height="1"/>',
        '<image xlink:href="//example.org/x.png" width="1" height="1"/>',
        '<rect width="1" height="1" fill="url(https://example.org/x#p)"/>',
        '<rect width="1" height="1" style="fill: url(https://example.org/x.png)"/>',
        '<rect width="1" height="1" style="behavior: url(x.htc)"/>',
        '<rect width="1" height="1" style="fill: red; background: blue"/>',
        '<style>@import url(https://example.org/a.css);</style>',
        '<style>@font-face { src: url(https://example.org/f.woff) }</style>',
        '<style>rect { fill: url(https://example.org/x) }</style>',
        '<style>rect { fill: e\\78 pression(alert(1)) }</style>',
        '<style type="text/javascript">x</style>',
        '<rect width="1" height="1" xml:base="https://example.org/"/>',
        '<html:script xmlns:html="http://www.w3.org/1999/xhtml">alert(1)</html:script>',
        '<rect width="1" height="1" xlink:title="x" xlink:actuate="onLoad"/>',
        '<text><tspan><script>alert(1)</script></tspan></text>',
        '<feImage href="https://example.org/x.png"/>',
        '<iframe src="https://example.org"/>',
    ],
)
def test_svg_allow_list_refuses(body):
    from research.report.svg import UnsafeSvg, safe_svg, sanitize_svg

    svg = SVG_HEAD + body + "</svg>"
    with pytest.raises(UnsafeSvg):
        sanitize_svg(svg)
    assert safe_svg(svg) is None


def test_svg_comment_and_entity_tricks_cannot_smuggle_markup():
    from research.report.svg import safe_svg

    # `<!-->` ends a comment early for an HTML parser but not for XML: what is inlined has no comments at all
    tricky = SVG_HEAD + '<!--><img src=x onerror=alert(1)>--><text>a &lt;b&gt; "c"</text></svg>'
    inlined = str(safe_svg(tricky))
    assert "<img" not in inlined and "<!--" not in inlined and "onerror" not in inlined
    assert "<text>a &lt;b&gt; \"c\"</text>" in inlined
    doctype = '<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>'
    assert safe_svg(doctype) is None


def test_svg_plots_of_the_project_pass_unchanged_in_what_they_draw():
    import numpy as np

    from research.meta import rma
    from research.pipeline.figures import svg_text as _svg
    from research.plots import report as report_plots
    from research.plots.meta import forest_plot, funnel_plot
    from research.report.svg import safe_svg

    fit = rma(np.array([0.1, 0.2, -0.3, 0.4]), np.array([0.01, 0.02, 0.03, 0.02]), labels=["a <b> & -->", "b", "c", "d"])
    figures = [
        _svg(forest_plot(fit, ratio=True)),
        _svg(funnel_plot(fit)),
        report_plots.prisma_flow({"sources": 3, "studies": 2, "studies_with_estimates": 2, "estimates": 5}),
    ]
    for figure in figures:
        inlined = safe_svg(figure)
        assert inlined is not None
        for tag in ("<path", "<use", "<rect", "<text", "<clipPath"):
            assert inlined.count(tag) == figure.count(tag), tag
        assert "<metadata" not in inlined


# --------------------------------------------------------------------------- other files a user names


def test_other_input_files_fail_cleanly(tmp_path, capsys, store_dir):
    data = tmp_path / "d.csv"
    data.write_text("yi,vi,yi\n0.1,0.01,0.5\n0.2,0.01,0.6\n0.3,0.02,0.7\n")
    code, _, err = run(capsys, "meta", data, "--yi", "yi", "--vi", "vi")
    assert code == 2 and "d.csv" in err and "'yi' appears twice" in err
    code, _, err = run(capsys, "meta", tmp_path, "--yi", "yi", "--vi", "vi")  # a folder
    assert code == 2
    results = tmp_path / "results.json"
    results.write_bytes(b'{"a": "caf\xe9"}')
    checks = tmp_path / "checks.yaml"
    checks.write_text("claims: []\n")
    code, _, err = run(capsys, "claims", "--evidence", store_dir, "--checks", checks, "--results", results)
    assert code == 2 and "results.json" in err
    checks.write_bytes(b"claims:\n  - claim: caf\xe9\n")
    code, _, err = run(capsys, "claims", "--evidence", store_dir, "--checks", checks, "--no-analyses")
    assert code == 2 and "checks.yaml" in err and "line 2" in err
    data.write_text("id,yi,vi\na,0.1,0.01\nb,0.2,0.01\nc,0.3,0.02\n")
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_bytes(b"- gap_id: caf\xe9\n")
    code, _, err = run(capsys, "voi", data, "--scenarios", scenarios)
    assert code == 2 and "scenarios.yaml" in err and "line 1" in err


def test_csv_infinite_counts_are_refused(store_dir, capsys):
    (store_dir / "estimates" / "inf.csv").write_text(
        "id,study,source,where_read,quote,outcome,measure,provenance,a,b,c,d\n"
        "est-2,study-1,src-b,T3,q,crime,RES,primary,.inf,8,12,13\n"
        "est-3,study-1,src-b,T3,q,crime,RES,primary,1e999,8,12,13\n")
    code, _, err = run(capsys, "validate", store_dir)
    assert code == 2 and "inf.csv:2: record 'est-2': field 'a'" in err and "inf.csv:3: record 'est-3': field 'a'" in err


def test_console_markup_in_store_text_is_shown_as_written(tmp_path, capsys):
    data = records(sources={"citation": "[/x] [bold]not markup[/bold]"})
    store = write_store(tmp_path / "[red]evidence", data)
    code, out, _ = run(capsys, "validate", store)
    assert code == 0 and "[red]evidence" in out
    code, out, _ = run(capsys, "query", "SELECT citation AS \"[/c]\" FROM sources WHERE id = 'src-a'", "--evidence", store)
    assert code == 0 and "[/x] [bold]not markup[/bold]" in out and "[/c]" in out


def test_long_derivation_chains_are_refused_without_exhausting_the_stack(tmp_path, capsys):
    data = records()
    base = data["estimates"][0]
    # each estimate derived twice from the one before: evaluating it naively would take 2**n steps
    chain = [dict(base, id=f"est-c{i}", derived_from=[f"est-c{i - 1}"] * 2 if i else []) for i in range(3000)]
    data["estimates"] = chain
    store = write_store(tmp_path / "evidence", data)
    code, _, err = run(capsys, "validate", store)
    assert code == 2 and "1 problem(s)" in err and "est-c9" in err and "more than 8 steps" in err


def test_numbers_too_extreme_for_an_effect_size_name_file_and_record(tmp_path):
    from research.dataset import effect_table
    from research.errors import InputError

    change = {"a": 1e300, "b": 1.0, "c": 1.0, "d": 1.0, "estimate": None, "ci_low": None, "ci_high": None}
    data = records(estimates=change)
    data["estimates"][0] = {k: v for k, v in data["estimates"][0].items() if v is not None}
    store = load_store(write_store(tmp_path / "evidence", data))
    with pytest.raises(InputError, match=r"evidence/estimates/estimates.yaml: record 'est-1': fields a, b, c, d"):
        effect_table(store)
