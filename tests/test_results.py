"""Typed results: results.json matches its committed schema, is read back as models, carries GRADE,
and the claim commands reuse it; the public API and its doctests."""

from __future__ import annotations

import doctest
import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

import research
import research.results
from research.commands import claims as claim_commands
from research.pipeline import build
from pydantic import BaseModel, ValidationError

from research.results import SCHEMA_NAME, AnalysisResult, Results, Transport, coerce_analyses, results_schema

ROOT = Path(__file__).resolve().parents[1]
CAUSAL_CLAIM = "claim-cameras-contribute-order-and-road-safety"  # its causal checks read two of the analyses


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("results")
    shutil.copytree(ROOT / "evidence", base / "evidence")
    shutil.copytree(ROOT / "analyses", base / "analyses")
    outcome = build(base / "evidence", base / "analyses", base / "reports", cache_dir=base / "cache")
    return base, outcome


def test_the_committed_schema_is_current():
    committed = json.loads((ROOT / "evidence" / "schema" / SCHEMA_NAME).read_text(encoding="utf-8"))
    assert committed == results_schema(), ("evidence/schema/results.schema.json is stale: regenerate it with "
                                          "research.results.write_schema('evidence/schema')")


def _untyped_objects(node, where="Results"):
    """Paths in a JSON Schema where an object or a list entry may hold anything (no declared fields)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" not in node and "$ref" not in node:
            values = node.get("additionalProperties", True)
            if values is True or values == {}:
                yield where
        if node.get("type") == "array" and node.get("items", {}) == {}:
            yield where
        for key, value in node.items():
            yield from _untyped_objects(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _untyped_objects(value, f"{where}[{index}]")


def test_every_part_of_the_results_has_declared_fields():
    """Claims and the report read typed results: no part of results.json is a bag of anything."""
    assert list(_untyped_objects(results_schema())) == []


@functools.cache
def _extras_typed(model: type[BaseModel]) -> bool:
    """True for a model whose other fields are declared as a kind (e.g. levels keyed by moderator names)."""
    return isinstance(model.model_json_schema().get("additionalProperties"), dict)


def undeclared(node, where="") -> list[str]:
    """Paths of the fields a model holds without declaring them (kept as extras); [] when all are declared."""
    if isinstance(node, BaseModel):
        found = [] if _extras_typed(type(node)) else [f"{where}.{name}" for name in node.model_extra or {}]
        return found + [p for name in type(node).model_fields for p in undeclared(getattr(node, name), f"{where}.{name}")]
    if isinstance(node, (list, tuple)):
        return [p for i, item in enumerate(node) for p in undeclared(item, f"{where}[{i}]")]
    if isinstance(node, dict):
        return [p for key, item in node.items() for p in undeclared(item, f"{where}.{key}")]
    return []


def test_every_field_a_build_writes_is_declared(built):
    _, outcome = built
    assert undeclared(outcome.model) == []
    assert undeclared(Results.model_validate({"analyses": [{"id": "a", "from_a_newer_writer": 1}]})) == [
        ".analyses[0].from_a_newer_writer"]


def test_a_transported_prediction_types_each_combination_of_levels():
    # the levels are keyed by the declared moderators' names; a numeric one is a quadrature node
    row = {"setting": "prison", "year": 2010, "probability": 0.25, "mean": -0.1,
           "q025_before_transport_bias": -0.3, "q975_before_transport_bias": 0.1, "p_benefit": 0.7}
    transport = Transport.model_validate({"transport_sd": 0.1, "breakdown": [row]})
    cell = transport.breakdown[0]
    assert (cell.probability, cell.q025_before_transport_bias, cell.q025) == (0.25, -0.3, None)
    assert cell.model_extra == {"setting": "prison", "year": 2010}
    assert transport.to_dict()["breakdown"] == [{**row, "q025": None, "q975": None}]
    nested = {**row, "setting": ["prison", "community"]}  # a level is one value, not a list
    with pytest.raises(ValidationError, match="setting"):
        Transport.model_validate({"breakdown": [nested]})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"analyses": [{"id": "a", "transport": {"breakdown": [nested]}}]}, results_schema())


def test_results_json_validates_against_the_exported_schema(built):
    base, _ = built
    data = json.loads((base / "reports" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, results_schema())
    assert data["schema_version"] == research.results.SCHEMA_VERSION
    assert set(data["inputs"]["dependencies"]) >= {"numpy", "scipy", "pymc", "arviz"}
    assert data["inputs"]["digest"] == data["evidence_fingerprint"]


def test_results_are_written_once_and_read_back_as_models(built):
    base, outcome = built
    path = base / "reports" / "results.json"
    loaded = Results.load(path)
    assert loaded.to_dict() == json.loads(path.read_text(encoding="utf-8")) == outcome.results
    assert all(isinstance(a, AnalysisResult) for a in loaded.analyses)
    again = build(base / "evidence", base / "analyses", base / "reports", cache_dir=base / "cache")
    assert again.up_to_date and again.model == loaded


def test_grade_is_assessed_once_and_stored(built):
    _, outcome = built
    for analysis in outcome.model.analyses:
        assert analysis.grade is not None and analysis.grade.analysis_id == analysis.id
        assert analysis.grade.certainty in {"very_low", "low", "moderate", "high"}
        assert analysis.grade.domains


def test_a_changed_dependency_version_changes_the_fingerprint(monkeypatch):
    before = research.results.input_fingerprint(ROOT / "evidence", ROOT / "analyses")
    monkeypatch.setattr(research.results, "dependency_versions", lambda: {**before.dependencies, "numpy": "0.0"})
    after = research.results.input_fingerprint(ROOT / "evidence", ROOT / "analyses")
    assert after.digest != before.digest


def test_check_reuses_the_last_build_when_nothing_changed(built, monkeypatch):
    base, outcome = built

    def refuse(*args, **kwargs):
        raise AssertionError("analyses were run although the last build's results match")

    monkeypatch.setattr(claim_commands, "_run_needed", refuse)
    verdict = claim_commands.verify_one(CAUSAL_CLAIM, base / "evidence", base / "analyses" / "claim-checks.yaml",
                                        base / "analyses", base / "reports")
    stored = next(c for c in outcome.results["claims"] if c["claim_id"] == CAUSAL_CLAIM)
    assert verdict.to_dict()["label"] == stored["label"]


def test_check_without_a_matching_build_runs_only_what_the_claim_reads_and_no_mcmc(built, monkeypatch, tmp_path):
    base, outcome = built
    calls = []
    original = claim_commands._run_needed

    def spy(store, analyses_dir, needed, mcmc):
        calls.append((needed, mcmc))
        return original(store, analyses_dir, needed, mcmc)

    monkeypatch.setattr(claim_commands, "_run_needed", spy)
    verdict = claim_commands.verify_one(CAUSAL_CLAIM, base / "evidence", base / "analyses" / "claim-checks.yaml",
                                        base / "analyses", tmp_path / "no-build")
    plan = yaml.safe_load((ROOT / "analyses" / "claim-checks.yaml").read_text(encoding="utf-8"))
    declared = {a for entry in plan["claims"] if entry["claim"] == CAUSAL_CLAIM
                for check in entry.get("checks", []) for a in check.get("params", {}).get("analyses", [])}
    assert "speed-cameras-crashes" in declared and len(declared) < len(list((ROOT / "analyses").glob("*.yaml"))) - 1
    assert calls == [(declared, False)]
    stored = next(c for c in outcome.results["claims"] if c["claim_id"] == CAUSAL_CLAIM)
    assert verdict.to_dict() == stored  # the same verdict as the full build's


def test_hand_written_results_are_validated_with_a_clear_error():
    with pytest.raises(research.InputError, match="analyses.0.k"):
        Results.coerce({"analyses": [{"id": "a", "k": "many"}]})
    assert coerce_analyses({"a": {"id": "a", "certainty": "low"}})["a"].grade.certainty == "low"


def test_one_input_convention_across_the_models():
    trials = research.escalc("RR", data=__import__("pandas").DataFrame(
        {"ai": [4, 6, 3, 62], "n1i": [123, 306, 231, 13598], "ci": [11, 29, 11, 248], "n2i": [139, 303, 220, 12867]}),
        ai="ai", n1i="n1i", ci="ci", n2i="n2i")  # the first four BCG trials (metafor's dat.bcg)
    from_frame, from_arrays = research.rma(trials), research.rma(trials["yi"].to_numpy(), trials["vi"].to_numpy())
    assert from_frame.estimate == pytest.approx(from_arrays.estimate, abs=1e-12)
    exact_frame, exact_arrays = research.exact_meta(trials), research.exact_meta(trials["yi"], trials["vi"])
    assert exact_frame.p_mu_below(0) == pytest.approx(exact_arrays.p_mu_below(0), abs=1e-12)
    moved = research.transport(trials["yi"].to_numpy(), "somewhere", {}, vi=trials["vi"].to_numpy())
    assert moved.p_benefit == pytest.approx(research.transport(trials, "somewhere", {}).p_benefit, abs=1e-12)
    with pytest.raises(research.InputError, match="vi"):
        research.rma(np.array([0.1, 0.2]))


def test_import_research_is_light_and_shows_the_api():
    code = ("import sys, research; assert 'pandas' not in sys.modules and 'pymc' not in sys.modules; "
            "import pydoc; text = pydoc.render_doc(research); "
            "assert all(n in text for n in ('escalc', 'exact_meta', 'mcmc_meta', 'load_store', 'check'))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert set(research.__all__) >= {"escalc", "rma", "rma_mv", "exact_meta", "mcmc_meta", "transport",
                                     "load_store", "effect_table", "build", "check", "verify_claims"}
    assert not any(name.startswith(("make_", "fixture", "_")) for name in research.__all__ if name != "__version__")


@pytest.mark.parametrize("module", ["research", "research.results", "research.bayes.exact", "research.verbal"])
def test_doctests(module):
    imported = __import__(module, fromlist=["_"])
    failures, tried = doctest.testmod(imported, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0


def test_the_exact_posterior_exports_an_inference_data_for_arviz():
    import warnings

    import arviz as az

    posterior = research.exact_meta([-0.89, -1.59, -1.35, -1.44], [0.33, 0.19, 0.42, 0.02])  # BCG trials 1-4
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # none may reach the user
        idata = posterior.to_inference_data(draws=2000, chains=2, seed=1)
    summary = az.summary(idata, kind="stats", hdi_prob=0.95)
    assert list(summary.index) == ["mu", "tau", "theta_new"]
    draws = idata.posterior
    assert float(draws["mu"].quantile(0.975)) == pytest.approx(posterior.mu.q975, abs=0.01)
    assert float(draws["tau"].median()) == pytest.approx(posterior.tau.median, rel=0.02)
    assert float(draws["theta_new"].quantile(0.025)) == pytest.approx(posterior.predictive().q025, abs=0.02)


def test_the_command_line_lists_the_store_kinds_without_loading_the_schema():
    from research.commands.store import RECORD_KINDS
    from research.store.schema import RECORD_TYPES

    assert RECORD_KINDS == tuple(RECORD_TYPES)
    code = "import sys, research.cli; assert 'research.store.schema' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_results_are_written_as_the_indented_json_of_their_data(tmp_path):
    results = Results.model_validate({
        "generated_at": "2024-01-01",
        "claims": [{"claim_id": "claim-1", "label": "supported", "reason": "Ünïcode — kept as written"}],
        "estimates": {f"est-{i}": {"id": f"est-{i}", "yi": i / 7, "vi": None} for i in range(3000)},
    })
    path = results.write(tmp_path / "results.json")
    expected = json.dumps(results.to_dict(), indent=1, ensure_ascii=False) + "\n"
    assert path.read_text(encoding="utf-8") == expected
    assert Results.load(path).to_dict() == results.to_dict()
