"""The main job: validate the store, run the declared analyses, check the claims, build the report.

``build()`` is what ``research build`` runs. It writes ``reports/results.json`` (everything the
report shows, as data), ``reports/index.html`` and ``reports/summary.md``. A fingerprint of the
evidence, the declarations and the code is kept in ``results.json``: when nothing changed the
build stops early.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from research.bayes.cache import DEFAULT_CACHE
from research.dataset import effect_table
from research.parallel import Engine
from research.pipeline.analysis import Progress
from research.pipeline.run import run_analyses
from research.pipeline.serialise import claim_sources, risk_of_bias, store_flow, targets
from research.results import RESULTS_NAME, AnalysisResult, Results, RiskOfBiasRow, clean, input_fingerprint, up_to_date
from research.store.incremental import load_validated_store
from research.store.loader import Store


def fingerprint(evidence: Path, analyses_dir: Path) -> str:
    """Hash of every input that can change the output: evidence, declarations, code and library versions."""
    return input_fingerprint(evidence, analyses_dir).digest


def rank_gaps(store: Store, analyses: dict[str, dict]) -> list[dict[str, Any]]:
    """The gap register, ranked by ``research.bayes.voi.GAP_RANK_RULE``."""
    from research.bayes.voi import GAP_GROUPS, gap_group, gap_rank_key

    voi: dict[str, dict] = {}
    for result in analyses.values():
        for row in result.get("value_of_information", []):
            best = voi.get(row["gap"])
            if best is None or row.get("pi_width_reduction", 0) > best.get("pi_width_reduction", 0):
                voi[row["gap"]] = {**row, "analysis": result["id"]}
    limiting = {g for r in analyses.values() if r["status"] != "ok" for g in r.get("gaps", [])}
    gaps = []
    for gap in store["gaps"]:
        entry = gap.model_dump(mode="json")
        entry["voi"] = voi.get(gap.id)
        entry["limits_analysis"] = sorted(r["id"] for r in analyses.values() if gap.id in r.get("gaps", []))
        gaps.append(entry)

    def key(entry: dict) -> tuple:
        narrowing = (entry["voi"] or {}).get("pi_width_reduction")
        return gap_rank_key(entry["id"], entry["id"] in limiting, narrowing, bool(entry["limits_analysis"]),
                            len(entry["related"]))

    gaps.sort(key=key)
    for rank, entry in enumerate(gaps, start=1):
        entry["rank"] = rank
        entry["rank_group"] = GAP_GROUPS[gap_group(entry["id"] in limiting, entry["voi"] is not None,
                                                   bool(entry["limits_analysis"]))]
    return clean(gaps)


def _shown_path(path: Path) -> str:
    """The path as a reader can follow it: relative to the working folder when inside it, else from
    the reports folder's name (an absolute temporary path would say nothing and change every run)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return f"{path.parent.name}/{path.name}"


def grade_analyses(store: Store, analyses: Mapping[str, dict]) -> None:
    """GRADE each analysis once (research.grade), against the target it names, and store the
    assessment in its result as ``grade``."""
    from research.grade import assess_certainty, target_of

    # typed once here, not again inside each call
    rob = [RiskOfBiasRow.model_validate(r, from_attributes=True) for r in store["risk_of_bias"]]
    dates = {f.id: f.date for f in store["facts"]}
    for result in analyses.values():
        typed = AnalysisResult.model_validate(clean(result))
        result["grade"] = assess_certainty(typed, rob, target_of(typed, store["targets"], dates)).to_record().to_dict()


@dataclass
class BuildOutcome:
    """What a build did: the results (plain data; ``model`` is the same as typed Results) and the files written."""

    results: dict[str, Any]
    written: list[Path]
    up_to_date: bool
    model: Results | None = None


def build(
    evidence: str | Path = "evidence",
    analyses_dir: str | Path = "analyses",
    reports: str | Path = "reports",
    force: bool = False,
    progress: Progress | None = None,
    today: dt.date | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    engine: Engine | None = None,
) -> BuildOutcome:
    """Validate, analyse, check claims and write the report. Skips the work when nothing changed.

    The results are written once, as :class:`research.results.Results`, to ``reports/results.json``;
    the claims and the report read that typed form. ``engine`` says where the analyses run (see
    research.parallel); the output is the same on any.
    """
    from research.bayes.voi import GAP_RANK_RULE
    from research.claims import evaluate_claims
    from research.report import render_html, render_markdown

    evidence, analyses_dir, reports = Path(evidence), Path(analyses_dir), Path(reports)
    step = progress or (lambda _message: None)
    inputs = input_fingerprint(evidence, analyses_dir)
    results_path = reports / RESULTS_NAME
    previous = None if force else up_to_date(evidence, analyses_dir, reports, inputs)
    if previous is not None:
        return BuildOutcome(previous.to_dict(), [], up_to_date=True, model=previous)

    step("validating the evidence store")
    store = load_validated_store(evidence)
    table = effect_table(store)
    analyses = run_analyses(store, analyses_dir, progress=step, cache_dir=cache_dir, table=table, engine=engine)
    grade_analyses(store, analyses)
    step("checking claims")
    from research.claims.checks.causal import estimate_rows

    estimates = estimate_rows(table)
    verdicts = evaluate_claims(store, analyses, checks_path=analyses_dir / "claim-checks.yaml", estimates=estimates)
    pooled = {i for r in analyses.values() if r["status"] == "ok" for i in r["inputs"]}  # only what was pooled
    results = Results.model_validate(clean({
        "generated_at": (today or dt.date.today()).isoformat(),
        "evidence_fingerprint": inputs.digest,
        "inputs": inputs.to_dict(),
        "store": {"counts": {k: len(v) for k, v in store.records.items()}, "flow": store_flow(store, table, pooled)},
        "analyses": list(analyses.values()),
        "claims": [v.to_dict() for v in verdicts],
        "gaps": rank_gaps(store, analyses),
        "gap_rank_rule": GAP_RANK_RULE,
        "risk_of_bias": risk_of_bias(store),
        "targets": targets(store),
        "claim_sources": claim_sources(store),
        "estimates": estimates,
    }))
    step("writing the report")
    reports.mkdir(parents=True, exist_ok=True)
    written = [render_html(results, reports / "index.html"),
               render_markdown(results, reports / "summary.md", results_file=_shown_path(results_path))]
    written.append(results.write(results_path))
    return BuildOutcome(results.to_dict(), written, up_to_date=False, model=results)
