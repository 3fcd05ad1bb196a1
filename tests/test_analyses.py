"""Analysis declarations and the parts of the pipeline that need no model."""

from __future__ import annotations

from pathlib import Path

import pytest

from research.analyses import load_analyses
from research.pipeline import fingerprint, rank_gaps
from research.store import EvidenceError, load_store

DECLARATION = """\
id: cctv-crime
title: CCTV and crime
question: Does public-area CCTV reduce crime?
intervention: CCTV
outcome: crime
where: "intervention ILIKE '%CCTV%'"
gaps: [gap-1]
"""


def test_declaration_loads(tmp_path):
    (tmp_path / "cctv.yaml").write_text(DECLARATION)
    (analysis,) = load_analyses(tmp_path)
    assert analysis.id == "cctv-crime" and analysis.method == "REML" and analysis.test == "hksj"
    assert analysis.file == f"{tmp_path.name}/cctv.yaml"


@pytest.mark.parametrize(
    ("change", "field"),
    [("method: FAST\n", "method"), ("colour: red\n", "colour"), ("min_k: 1\n", "min_k")],
)
def test_bad_declaration_names_file_and_field(tmp_path, change, field):
    (tmp_path / "cctv.yaml").write_text(DECLARATION + change)
    with pytest.raises(EvidenceError) as info:
        load_analyses(tmp_path)
    (problem,) = info.value.problems
    assert (problem.file, problem.record, problem.field) == (f"{tmp_path.name}/cctv.yaml", "cctv-crime", field)


def test_duplicate_analysis_ids(tmp_path):
    (tmp_path / "a.yaml").write_text(DECLARATION)
    (tmp_path / "b.yaml").write_text(DECLARATION)
    with pytest.raises(EvidenceError, match="duplicate analysis id"):
        load_analyses(tmp_path)


def test_fingerprint_follows_the_evidence(store_dir, tmp_path):
    analyses = tmp_path / "analyses"
    analyses.mkdir()
    first = fingerprint(store_dir, analyses)
    assert fingerprint(store_dir, analyses) == first
    path = store_dir / "claims" / "claims.yaml"
    path.write_text(path.read_text().replace("120,000", "130,000"))
    assert fingerprint(store_dir, analyses) != first


def test_gap_ranking_puts_value_of_information_first(store_dir):
    store = load_store(store_dir)
    analyses = {
        "a": {"id": "a", "status": "insufficient_data", "gaps": ["gap-1"], "value_of_information": []},
    }
    ranked = rank_gaps(store, analyses)
    assert ranked[0]["id"] == "gap-1" and ranked[0]["rank"] == 1 and ranked[0]["limits_analysis"] == ["a"]
    analyses["a"]["value_of_information"] = [{"gap": "gap-1", "pi_width_reduction": 0.3}]
    assert rank_gaps(store, analyses)[0]["voi"]["pi_width_reduction"] == 0.3


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ("outcome_families: [all crashes]\noutcome_family: injury crashes\n", "-", "not in outcome_families"),
        ("outcome_families: [a, b]\noutcome_family: a\nmulti_outcome: {model: moderator}\n", "-", "not both"),
        ("outcome_families: [a]\nmulti_outcome: {model: moderator}\n", "-", "at least two"),
        ("moderators: [{name: year, kind: categorical}]\nupgrades: {dose_response: year}\n", "-",
         "declared continuous moderator"),
        ("moderators: [{name: year, kind: linear}]\n", "moderators.0.kind", "continuous"),
        ("evaluations: {rule: newest}\n", "evaluations.rule", "most_information"),
    ],
)
def test_outcome_and_moderator_declarations_are_checked(tmp_path, change, field, words):
    (tmp_path / "cctv.yaml").write_text(DECLARATION + change)
    with pytest.raises(EvidenceError) as info:
        load_analyses(tmp_path)
    (problem,) = info.value.problems
    assert problem.record == "cctv-crime" and words in problem.message
    if field != "-":
        assert problem.field == field


def test_outcome_declarations_load(tmp_path):
    (tmp_path / "cctv.yaml").write_text(
        DECLARATION + "outcome_families: [all recorded crime, violent crime]\n"
                      "multi_outcome: {model: moderator, reference: all recorded crime}\n"
                      "evaluations: {rule: primary_source}\n"
                      "moderators: [{name: year, kind: continuous}, {name: setting, kind: categorical}]\n"
                      "upgrades: {dose_response: year, residual_confounding: sites chosen for rising crime}\n")
    (analysis,) = load_analyses(tmp_path)
    assert analysis.multi_outcome.reference == "all recorded crime"
    assert analysis.evaluations.rule == "primary_source" and [m.kind for m in analysis.moderators] == [
        "continuous", "categorical"]


def test_shipped_analyses_each_pool_one_declared_outcome():
    for analysis in load_analyses(Path(__file__).resolve().parents[1] / "analyses"):
        assert analysis.outcome_family in analysis.outcome_families, analysis.id
