"""`research init DIR` scaffolds a case that validates and builds at once, and the main commands
work from inside it with no flags."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import yaml

from research.cli import main
from research.commands.init import template_text
from research.store import load_store
from research.store.schema import RECORD_TYPES


@contextmanager
def inside(folder: Path):
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def test_init_scaffolds_one_template_per_kind_an_example_analysis_and_an_empty_plan(tmp_path):
    case = tmp_path / "my-case"
    assert main(["init", str(case)]) == 0
    for kind in RECORD_TYPES:
        template = (case / "evidence" / kind / "template.yaml").read_text(encoding="utf-8")
        assert all(line.startswith("#") for line in template.splitlines()), kind  # nothing is evidence yet
        for name in RECORD_TYPES[kind].model_fields:
            assert f"# {name} (" in template, (kind, name)
    analysis = yaml.safe_load((case / "analyses" / "example-analysis.yaml").read_text(encoding="utf-8"))
    assert analysis["id"] and analysis["where"]
    assert yaml.safe_load((case / "analyses" / "claim-checks.yaml").read_text(encoding="utf-8")) == {"claims": []}
    assert "research build" in (case / "README.md").read_text(encoding="utf-8")
    assert all(len(load_store(case / "evidence")[kind]) == 0 for kind in RECORD_TYPES)


def test_a_new_case_builds_and_checks_from_inside_its_folder_with_no_flags(tmp_path, capsys):
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    with inside(case):
        assert main(["validate"]) == 0
        assert main(["build"]) == 0
        assert main(["claims"]) == 0
    results = json.loads((case / "reports" / "results.json").read_text(encoding="utf-8"))
    assert [a["id"] for a in results["analyses"]] == ["example-analysis"]
    assert results["analyses"][0]["status"] == "insufficient_data" and results["claims"] == []
    summary = (case / "reports" / "summary.md").read_text(encoding="utf-8")
    assert "`reports/results.json`" in summary and (case / "reports" / "index.html").exists()


def test_a_template_turned_into_a_record_validates(tmp_path):
    # uncommenting the example of a kind with all required fields filled in gives a valid store
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    (case / "evidence" / "sources" / "mine.yaml").write_text(
        "- id: src-example\n  kind: dataset\n  citation: An example data set (test data)\n", encoding="utf-8")
    assert len(load_store(case / "evidence")["sources"]) == 1
    assert "#   kind: ..." in template_text("sources") and "#   citation: ..." in template_text("sources")


def test_init_refuses_to_overwrite_without_force(tmp_path, capsys):
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    (case / "analyses" / "claim-checks.yaml").write_text("claims: []\n# mine\n", encoding="utf-8")
    assert main(["init", str(case)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (case / "analyses" / "claim-checks.yaml").read_text(encoding="utf-8").endswith("# mine\n")
    assert main(["init", str(case), "--force"]) == 0


def test_build_of_an_empty_store_with_an_analysis_does_not_crash(tmp_path):
    (tmp_path / "evidence").mkdir()
    (tmp_path / "analyses").mkdir()
    (tmp_path / "analyses" / "a.yaml").write_text(
        "id: a\ntitle: A\nquestion: Q?\nintervention: I\noutcome: O\nwhere: poolable\n", encoding="utf-8")
    assert main(["build", "--evidence", str(tmp_path / "evidence"), "--analyses", str(tmp_path / "analyses"),
                 "--reports", str(tmp_path / "out")]) == 0
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "`out/results.json`" in summary  # the header follows --reports


def test_an_analysis_naming_a_missing_target_is_refused_with_file_and_field(tmp_path, capsys):
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    path = case / "analyses" / "example-analysis.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("# target: target-your-place", "target: target-nowhere"),
                    encoding="utf-8")
    with inside(case):
        assert main(["build"]) == 2
    err = capsys.readouterr().err
    assert "example-analysis" in err and "target" in err and "target-nowhere" in err


def test_check_explains_a_claim_from_inside_the_case_folder(tmp_path, capsys):
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    (case / "evidence" / "sources" / "mine.yaml").write_text(
        "- id: src-note\n  kind: article\n  citation: A test note (test data)\n", encoding="utf-8")
    (case / "evidence" / "claims" / "mine.yaml").write_text(
        "- id: claim-opinion\n  text: Some find it comforting.\n  source: src-note\n  location: sentence 1\n"
        "  kind: opinion\n", encoding="utf-8")
    with inside(case):
        assert main(["check", "claim-opinion"]) == 0
    assert "claim-opinion" in capsys.readouterr().out


def test_not_evaluated_gaps_must_be_gaps_of_the_analysis(tmp_path, capsys):
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    path = case / "analyses" / "example-analysis.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "not_evaluated: [gap-elsewhere]\n", encoding="utf-8")
    with inside(case):
        assert main(["build"]) == 2
    assert "not_evaluated" in capsys.readouterr().err
