"""The main job: validate the store, run the declared analyses, check the claims, build the report.

``build()`` is what ``research build`` runs. It writes ``reports/results.json`` (everything the
report shows, as data), ``reports/index.html`` and ``reports/summary.md``. A fingerprint of the
evidence, the declarations and the code is kept in ``results.json``: when nothing changed the
build stops early.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

import research
from research.analyses import Analysis, load_analyses
from research.bayes.cache import DEFAULT_CACHE
from research.dataset import as_arrays, effect_table, select
from research.errors import InputError
from research.store.loader import Store, evidence_files, load_store
from research.store.write import atomic_write_text

Progress = Callable[[str], None]
RESULTS_NAME = "results.json"
VOI_DECISION_PROBABILITY = 0.9  # "benefit established" when P(benefit) reaches this


# --------------------------------------------------------------------------- fingerprint


def fingerprint(evidence: Path, analyses_dir: Path) -> str:
    """Hash of every input that can change the output: evidence, declarations and code."""
    digest = hashlib.sha256()
    paths = [p for _, p in evidence_files(evidence)]
    paths += sorted(analyses_dir.glob("*.yaml")) if analyses_dir.is_dir() else []
    package = Path(research.__file__).parent
    paths += sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in {".py", ".html", ".j2", ".css"})
    for path in paths:
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- helpers


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA:
        return None
    return value


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "sightline"}):  # stable element ids between builds
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def store_flow(store: Store, table: pd.DataFrame, pooled_ids: set[str]) -> dict[str, int]:
    """Counts for a PRISMA-style flow of the records in the store."""
    with_uncertainty = int(table["vi"].notna().sum())
    return {
        "sources": len(store["sources"]),
        "studies": len(store["studies"]),
        "studies_with_estimates": int(table["study"].nunique()),
        "estimates": len(table),
        "estimates_with_uncertainty": with_uncertainty,
        "estimates_without_uncertainty": len(table) - with_uncertainty,
        "estimates_pooled": len(pooled_ids),
    }


# --------------------------------------------------------------------------- one analysis


def _study_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = ["id", "study", "label", "outcome", "yi", "vi", "design", "design_level", "rob_overall", "setting",
               "country", "monitoring", "year"]
    return _clean(frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records"))


def _reported_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in frame.itertuples(index=False):
        rows.append({
            "estimate_id": row.id, "study": row.study, "source": row.source, "label": row.label,
            "outcome": row.outcome, "subgroup": row.subgroup, "percent_change": row.percent_change,
            "qualifier": row.qualifier,
            "significant": None if pd.isna(row.significant) else bool(row.significant),
            "provenance": row.provenance, "measure": row.measure, "design": row.design,
            "year": None if pd.isna(row.year) else int(row.year), "n_units": row.n_units,
        })
    return _clean(rows)


def _frequentist(analysis: Analysis, frame: pd.DataFrame) -> tuple[dict[str, Any], Any]:
    from research.meta import rma

    yi, vi = as_arrays(frame)
    fit = rma(yi, vi, method=analysis.method, test=analysis.test)
    result = fit.to_dict()
    result.update(method=analysis.method, test=analysis.test, bias=_bias(fit))
    return _clean(result), fit


def _bias(fit) -> dict[str, Any]:
    """Small-study checks where they can be computed; None (not a guess) where they cannot."""
    from research.meta.bias import egger, pet_peese, trimfill

    out: dict[str, Any] = {}
    for name, method in (("egger", egger), ("trimfill", trimfill), ("pet_peese", pet_peese)):
        try:
            out[name] = method(fit).to_dict()
        except InputError as exc:
            out[name] = None
            out[f"{name}_note"] = str(exc)
    return out


def _bayes(analysis: Analysis, frame: pd.DataFrame) -> tuple[dict[str, Any], Any]:
    from research.bayes import exact_meta

    yi, vi = as_arrays(frame)
    posterior = exact_meta(yi, vi, mu_prior=analysis.bayes.mu_prior, tau_prior=analysis.bayes.tau_prior,
                           ids=frame["id"].tolist())
    result = posterior.to_dict()
    result.update(
        method="exact",
        priors={"mu": analysis.bayes.mu_prior, "tau": analysis.bayes.tau_prior},
        p_benefit=posterior.p_mu_below(0.0),
        p_pred_benefit=posterior.p_pred_below(0.0),
        diagnostics=None,  # exact integration: no sampler, nothing to diagnose
    )
    result.update(_prior_sensitivity(analysis, frame))
    return _clean(result), posterior


def _prior_sensitivity(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    """The priors with their basis, and the headline numbers under alternative priors."""
    from research.bayes.sensitivity import prior_sensitivity_report

    spec = analysis.bayes
    report = prior_sensitivity_report(frame[["id", "yi", "vi"]], spec.mu_prior, spec.tau_prior,
                                      bases={"mu": spec.mu_prior_basis, "tau": spec.tau_prior_basis})
    return {"prior_basis": [b.to_dict() for b in report.bases], "prior_sensitivity": report.to_dict()}


def run_analysis(analysis: Analysis, table: pd.DataFrame, cache_dir: Path | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Run one declared analysis on the effect table; the result is plain data (JSON-ready)."""
    chosen = select(table, analysis.where)
    pooled = chosen[chosen["poolable"]].reset_index(drop=True)
    excluded = chosen[~chosen["poolable"]]
    result: dict[str, Any] = {
        "id": analysis.id, "title": analysis.title, "question": analysis.question,
        "intervention": analysis.intervention, "outcome": analysis.outcome, "file": analysis.file,
        "k": len(pooled), "inputs": pooled["id"].tolist(),
        "excluded": [{"id": r.id, "reason": r.reason} for r in excluded.itertuples()],
        "studies": _study_rows(pooled), "gaps": list(analysis.gaps),
        "reported": _reported_rows(select(table, analysis.reported_where)) if analysis.reported_where else [],
        "frequentist": None, "bayes": None, "transport": None, "value_of_information": [], "mcmc": [],
        "figures": {},
        "status": "ok" if len(pooled) >= analysis.min_k else "insufficient_data",
    }
    if result["status"] == "insufficient_data":
        result["status_reason"] = (
            f"{len(pooled)} estimate(s) with a usable uncertainty; at least {analysis.min_k} are needed to pool"
        )
        return result
    result["frequentist"], fit = _frequentist(analysis, pooled)
    result["bayes"], posterior = _bayes(analysis, pooled)
    if analysis.transport:
        result["transport"] = _clean(_transport(analysis, pooled))
    if analysis.value_of_information:
        result["value_of_information"] = _clean(_value_of_information(analysis, pooled))
    result["mcmc"], mcmc_fits = _mcmc(analysis, pooled, cache_dir, progress)
    result["figures"] = _figures(analysis, pooled, fit, posterior, mcmc_fits)
    return result


def _transport(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    from research.bayes import transport

    from research.bayes.transport import transport_sensitivity

    spec = analysis.transport
    options = dict(known=spec.known, mu_prior=analysis.bayes.mu_prior, tau_prior=analysis.bayes.tau_prior,
                   transport_sd=spec.transport_sd, transport_sd_basis=spec.transport_sd_basis,
                   missing=spec.missing_moderator)
    out = transport(frame, spec.target, spec.unknown, **options).to_dict()
    out["assumptions"] = list(spec.assumptions) + list(out.get("assumptions") or [])
    out["sensitivity"] = transport_sensitivity(frame, spec.target, spec.unknown, **options).to_dict()
    return out


def _value_of_information(analysis: Analysis, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Preposterior value of filling each declared gap, in the report's terms."""
    from research.bayes import value_of_information

    from research.bayes.voi import voi_sensitivity

    scenarios = [s.model_dump(exclude_none=True) for s in analysis.value_of_information]
    options = dict(mu_prior=analysis.bayes.mu_prior, tau_prior=analysis.bayes.tau_prior,
                   decision_probability=VOI_DECISION_PROBABILITY)
    decision = analysis.decision.model_dump() if analysis.decision else None
    ranked = value_of_information(frame, scenarios, decision=decision, **options)
    sensitivity = voi_sensitivity(frame, scenarios, **options).table
    return [
        {
            "gap": row["gap_id"],
            "description": row.get("description", ""),
            "pi_width_reduction": row["narrowing"],
            "p_benefit_change": row["abs_change_p"],
            "p_decision_change": row.get("p_decision_change"),
            "decision_probability": VOI_DECISION_PROBABILITY,
            "measure": ranked.measure,
            "assumed_design": row["assumed_design"],
            "assumed_bias": row["assumed_bias"],
            "evsi": row.get("evsi"),
            "evsi_loss": ranked.decision.loss if ranked.decision else None,
            "sensitivity": sensitivity[sensitivity["gap_id"] == row["gap_id"]][
                ["factor", "value", "narrowing", "rank", "order_changed"]].to_dict("records"),
            "note": f"{ranked.measure}; expected absolute change in P(benefit). Assumed: {row['assumed_design']}; "
                    f"{row['assumed_bias']}",
        }
        for row in ranked
    ]


def _mcmc(analysis: Analysis, frame: pd.DataFrame, cache_dir: Path | None,
          progress: Progress | None = None) -> tuple[list[dict[str, Any]], list]:
    """MCMC fits beside the exact result; each carries its diagnostics and a flag if they fail."""
    if not analysis.mcmc:
        return [], []
    from research.bayes import mcmc_meta

    fits = []
    for spec in analysis.mcmc:
        if progress:
            progress(f"analysis: {analysis.title}: MCMC ({spec.model}, {spec.chains} chains x {spec.draws} draws)")
        fits.append(mcmc_meta(frame, model=spec.model, mu_prior=analysis.bayes.mu_prior,
                              tau_prior=analysis.bayes.tau_prior, draws=spec.draws, tune=spec.tune,
                              chains=spec.chains, seed=spec.seed, target_accept=spec.target_accept,
                              cache_dir=cache_dir))
    return [_clean(f.to_dict()) for f in fits], fits


def _figures(analysis: Analysis, frame: pd.DataFrame, fit, posterior, mcmc_fits=()) -> dict[str, str]:
    from research.plots.bayes import plot_mu_posterior, plot_predictive, plot_trace
    from research.plots.meta import forest_plot, funnel_plot

    labels = [f"{row.label} ({row.outcome})" for row in frame.itertuples()]
    axis = "ratio with / without (< 1 = fewer events)"
    return {
        "forest": _svg(forest_plot(fit, labels=labels, ratio=True, xlabel=axis, title=analysis.title)),
        "funnel": _svg(funnel_plot(fit, ratio=True, xlabel=axis)),
        "posterior": _svg(plot_mu_posterior(posterior)),
        "predictive": _svg(plot_predictive(posterior)),
        **{f"trace_{f.model}": _svg(plot_trace(f)) for f in mcmc_fits},
    }


# --------------------------------------------------------------------------- the whole job


def run_analyses(store: Store, analyses_dir: str | Path = "analyses", progress: Progress | None = None,
                 cache_dir: Path | None = DEFAULT_CACHE, table: pd.DataFrame | None = None) -> dict:
    """Run every declared analysis on the store; returns ``{analysis_id: result}``."""
    table = effect_table(store) if table is None else table
    results = {}
    for analysis in load_analyses(analyses_dir):
        if progress:
            progress(f"analysis: {analysis.title}")
        results[analysis.id] = run_analysis(analysis, table, cache_dir, progress)
    return results


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
    return _clean(gaps)


def _risk_of_bias(store: Store) -> list[dict[str, Any]]:
    titles = {s.id: s.title for s in store["studies"]}
    return [
        {"study": r.study, "title": titles.get(r.study, r.study), "design_level": r.design_level,
         "domains": dict(r.domains), "overall": r.overall, "rationale": r.rationale}
        for r in store["risk_of_bias"]
    ]


@dataclass
class BuildOutcome:
    results: dict[str, Any]
    written: list[Path]
    up_to_date: bool


def build(
    evidence: str | Path = "evidence",
    analyses_dir: str | Path = "analyses",
    reports: str | Path = "reports",
    force: bool = False,
    progress: Progress | None = None,
    today: dt.date | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
) -> BuildOutcome:
    """Validate, analyse, check claims and write the report. Skips the work when nothing changed."""
    from research.bayes.voi import GAP_RANK_RULE
    from research.claims import evaluate_claims
    from research.report import render_html, render_markdown

    evidence, analyses_dir, reports = Path(evidence), Path(analyses_dir), Path(reports)
    step = progress or (lambda _message: None)
    inputs_hash = fingerprint(evidence, analyses_dir)
    results_path = reports / RESULTS_NAME
    outputs = [results_path, reports / "index.html", reports / "summary.md"]
    if not force and all(p.exists() for p in outputs):
        previous = json.loads(results_path.read_text(encoding="utf-8"))
        if previous.get("evidence_fingerprint") == inputs_hash:
            return BuildOutcome(previous, [], up_to_date=True)

    step("validating the evidence store")
    store = load_store(evidence)
    table = effect_table(store)
    analyses = run_analyses(store, analyses_dir, progress=step, cache_dir=cache_dir, table=table)
    step("checking claims")
    verdicts = evaluate_claims(store, analyses, checks_path=analyses_dir / "claim-checks.yaml")
    pooled = {i for r in analyses.values() for i in r["inputs"]}
    results = _clean({
        "generated_at": (today or dt.date.today()).isoformat(),
        "evidence_fingerprint": inputs_hash,
        "store": {"counts": {k: len(v) for k, v in store.records.items()}, "flow": store_flow(store, table, pooled)},
        "analyses": list(analyses.values()),
        "claims": [v.to_dict() for v in verdicts],
        "gaps": rank_gaps(store, analyses),
        "gap_rank_rule": GAP_RANK_RULE,
        "risk_of_bias": _risk_of_bias(store),
    })
    step("writing the report")
    reports.mkdir(parents=True, exist_ok=True)
    written = [render_html(results, reports / "index.html"), render_markdown(results, reports / "summary.md")]
    atomic_write_text(results_path, json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    written.append(results_path)
    return BuildOutcome(results, written, up_to_date=False)


__all__ = ["build", "run_analyses", "run_analysis", "rank_gaps", "fingerprint", "store_flow"]
