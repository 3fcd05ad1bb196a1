"""The main job: validate the store, run the declared analyses, check the claims, build the report.

``build()`` is what ``research build`` runs. It writes ``reports/results.json`` (everything the
report shows, as data), ``reports/index.html`` and ``reports/summary.md``. A fingerprint of the
evidence, the declarations and the code is kept in ``results.json``: when nothing changed the
build stops early.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from research.analyses import Analysis, load_analyses
from research.bayes.cache import DEFAULT_CACHE
from research.dataset import as_arrays, effect_table, select
from research.errors import InputError
from research.results import (
    RESULTS_NAME,
    Grade,
    McmcThresholds,
    Results,
    clean,
    input_fingerprint,
    up_to_date,
)
from research.store.loader import EvidenceError, Problem, Store, load_store
from research.thresholds import MIN_K_SENSITIVITY, VOI_DECISION_PROBABILITY
from research.parallel import Engine, run_tasks
from research.verbal import SIZE_CLASS_RULE, direction, size_class

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- fingerprint


def fingerprint(evidence: Path, analyses_dir: Path) -> str:
    """Hash of every input that can change the output: evidence, declarations, code and library versions."""
    return input_fingerprint(evidence, analyses_dir).digest


# --------------------------------------------------------------------------- helpers


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars become Python numbers."""
    return clean(value)


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


# --------------------------------------------------------------------------- what goes into a pool

EVALUATION_RULES = {
    "most_information": "one estimate per evaluation and outcome: the one with the smallest variance (the most information)",
    "primary_source": "one estimate per evaluation and outcome: one read in the publication itself if any, "
                      "then the one with the smallest variance",
    "multilevel": "all estimates kept; the evaluation is modelled as a cluster (multilevel model)",
}


@dataclass
class Selection:
    """The estimates an analysis pools and, with reasons, the ones it does not."""

    pooled: pd.DataFrame
    excluded: list[dict[str, Any]]
    other_outcomes: pd.DataFrame
    duplicates: list[dict[str, Any]]
    duplicate_rows: pd.DataFrame
    families: list[str]


def _refuse(analysis: Analysis, field: str, message: str) -> EvidenceError:
    return EvidenceError([Problem(analysis.file or "-", analysis.id, field, message)])


def _by_family(frame: pd.DataFrame) -> str:
    groups: dict[str, list[str]] = {}
    for row in frame.itertuples(index=False):
        groups.setdefault(row.outcome_family if isinstance(row.outcome_family, str) else "(none)", []).append(row.id)
    return "; ".join(f"{family}: {', '.join(ids)}" for family, ids in groups.items())


def select_estimates(analysis: Analysis, table: pd.DataFrame) -> Selection:
    """Apply the declaration: like with like, one voice per evaluation, every exclusion with its reason.

    Refuses (EvidenceError naming the file, the analysis and the field, exit code 2) a pool that
    would mix outcome families without a declared multi-outcome model, estimates whose family is
    missing or not in the analysis' list, and a multilevel model this version cannot fit.
    """
    chosen = select(table, analysis.where)
    excluded = [{"id": r.id, "reason": r.reason} for r in chosen[~chosen["poolable"]].itertuples()]
    candidates = chosen[chosen["poolable"]].reset_index(drop=True)
    family = candidates["outcome_family"]
    unknown = candidates[family.isna()]
    if len(unknown) and (len(candidates) > 1 or analysis.outcome_family):
        raise _refuse(analysis, "outcome_family",
                      "cannot tell whether these estimates measure the same outcome: "
                      f"{', '.join(unknown['id'])} have no outcome_family in the store")
    if analysis.outcome_families:
        outside = candidates[family.notna() & ~family.isin(analysis.outcome_families)]
        if len(outside):
            raise _refuse(analysis, "outcome_families",
                          f"estimates outside the analysis' list of outcome families ({_by_family(outside)}); "
                          f"allowed: {', '.join(analysis.outcome_families)}")
    other = candidates.iloc[0:0]
    if analysis.outcome_family:
        keep = family == analysis.outcome_family
        other = candidates[~keep].reset_index(drop=True)
        excluded += [{"id": r.id, "reason": f"measures {r.outcome_family}, not {analysis.outcome_family}: "
                                           "a different outcome is not pooled with it"} for r in other.itertuples()]
        candidates = candidates[keep].reset_index(drop=True)
    elif not analysis.multi_outcome and candidates["outcome_family"].nunique() > 1:
        raise _refuse(analysis, "outcome_family",
                      f"would pool different outcomes without a declared multi-outcome model ({_by_family(candidates)}); "
                      "pool one with `outcome_family:` or declare `multi_outcome:`")
    multilevel = analysis.evaluations.rule == "multilevel" or (
        analysis.multi_outcome is not None and analysis.multi_outcome.model == "multilevel")
    if multilevel:
        pooled, duplicates, dropped = candidates, [], candidates.iloc[0:0]
    else:
        pooled, duplicates, dropped = _one_per_evaluation(candidates, analysis.evaluations.rule)
        excluded += [{"id": d["id"], "reason": d["reason"]} for d in duplicates]
    families = sorted(pooled["outcome_family"].dropna().unique().tolist())
    return Selection(pooled.reset_index(drop=True), excluded, other, duplicates, dropped, families)


def _one_per_evaluation(frame: pd.DataFrame, rule: str) -> tuple[pd.DataFrame, list[dict[str, Any]], pd.DataFrame]:
    """Keep one estimate per (evaluation, outcome family) by the stated rule; list the others."""
    if frame.empty:
        return frame, [], frame
    ranked = frame.assign(_secondary=(frame["provenance"] != "primary") if rule == "primary_source" else False)
    ranked = ranked.sort_values(["_secondary", "vi", "id"], kind="stable")
    family = ranked["outcome_family"].fillna("")
    first = ~ranked.assign(_family=family).duplicated(["evaluation", "_family"])
    kept, dropped = ranked[first], ranked[~first]
    winner = {(r.evaluation, r.outcome_family if isinstance(r.outcome_family, str) else ""): r.id
              for r in kept.itertuples()}
    duplicates = []
    for r in dropped.itertuples():
        key = (r.evaluation, r.outcome_family if isinstance(r.outcome_family, str) else "")
        duplicates.append({
            "id": r.id, "kept": winner[key], "evaluation": r.evaluation, "outcome_family": key[1] or None,
            "reason": f"same evaluation ({r.evaluation}) and outcome as {winner[key]}, which is kept: "
                      f"{EVALUATION_RULES[rule]}",
        })
    order = frame["id"].tolist()
    kept = kept.drop(columns="_secondary").set_index("id").loc[[i for i in order if i in set(kept["id"])]].reset_index()
    return kept[frame.columns], duplicates, dropped.drop(columns="_secondary")[frame.columns]


def _is_multilevel(analysis: Analysis) -> bool:
    return analysis.evaluations.rule == "multilevel" or (
        analysis.multi_outcome is not None and analysis.multi_outcome.model == "multilevel")


MULTILEVEL_SCOPE = ("a multilevel model keeps every estimate and lets estimates of one evaluation share a random "
                    "effect; the exact Bayesian posterior, transport, value of information and MCMC assume one "
                    "estimate per evaluation and are not run for it")


def _multilevel(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    """metafor's rma.mv with random intercepts for the evaluation and the estimate within it; with a
    multi-outcome declaration the outcome family is also a moderator, so outcomes are never averaged."""
    from research.meta import moderator_matrix, rma, rma_mv

    yi, vi = as_arrays(frame)
    mods = None
    by_outcome = analysis.multi_outcome is not None and frame["outcome_family"].nunique() > 1
    if by_outcome:
        reference = analysis.multi_outcome.reference or sorted(frame["outcome_family"].unique())[0]
        mods = moderator_matrix(frame, categorical=["outcome_family"], reference={"outcome_family": reference},
                                labels=frame["id"].tolist())
    test = "t" if analysis.test == "hksj" else "z"  # rma.mv has no Knapp-Hartung; t tests with k - p df
    method = analysis.method if analysis.method in ("REML", "ML") else "REML"
    notes = [MULTILEVEL_SCOPE]
    if method != analysis.method:
        notes.append(f"method {analysis.method} is not available for the multilevel model; REML is used")
    if analysis.test == "hksj":
        notes.append("Knapp-Hartung is not defined for the multilevel model; t tests with k - p degrees of freedom")
    if frame["evaluation"].nunique() == len(frame):
        # Every evaluation gives one estimate: the two levels cannot be told apart, rma.mv reduces to rma.
        fit = rma(yi, vi, mods=mods, method=method, test="hksj" if test == "t" else "z")
        notes.append("every evaluation gives one estimate, so the multilevel model is the ordinary "
                     "random-effects model")
        out = fit.to_dict()
        out.update(model="random_effects", method=method, notes=notes)
        return _clean(out)
    fit = rma_mv(yi, vi, random={"evaluation": frame["evaluation"].tolist(), "estimate": frame["id"].tolist()},
                 mods=mods, method=method, test=test, labels=frame["id"].tolist())
    out = fit.to_dict()
    out.update(model="multilevel", method=method, notes=notes + list(fit.notes),
               n_evaluations=int(frame["evaluation"].nunique()))
    return _clean(out)


# --------------------------------------------------------------------------- sensitivity and moderators


def _pool_summary(frame: pd.DataFrame, analysis: Analysis) -> dict[str, Any]:
    from research.meta import rma

    yi, vi = as_arrays(frame)
    fit = rma(yi, vi, method=analysis.method, test=analysis.test)
    return {"k": fit.k, "estimate": fit.estimate, "ci_low": float(fit.ci_low[0]), "ci_high": float(fit.ci_high[0]),
            "size_class": size_class(fit.estimate), "direction": direction(fit.estimate)}


def _sensitivity(analysis: Analysis, selection: Selection, main: Mapping[str, Any]) -> dict[str, Any]:
    """Leave-one-out, primary sources only, and the evaluation rule undone; each row says whether the
    size class or the direction of the pooled change differs from the main result."""
    pooled = selection.pooled
    scenarios: list[tuple[str, str, pd.DataFrame, list[str]]] = []
    for row in pooled.itertuples():
        scenarios.append(("leave_one_out", f"without {row.id} ({row.label})", pooled[pooled["id"] != row.id], [row.id]))
    secondary = pooled[pooled["provenance"] != "primary"]
    if len(secondary):
        scenarios.append(("primary_only", "only estimates read in the publication itself (no secondary sources)",
                          pooled[pooled["provenance"] == "primary"], secondary["id"].tolist()))
    if len(selection.duplicate_rows):
        both = pd.concat([pooled, selection.duplicate_rows], ignore_index=True)
        scenarios.append(("duplicates_kept", "every estimate of the same evaluation kept (counted as if independent)",
                          both, selection.duplicate_rows["id"].tolist()))
    rows = []
    for kind, label, frame, changed in scenarios:
        row: dict[str, Any] = {"kind": kind, "label": label, "changed": changed, "k": len(frame)}
        if len(frame) < MIN_K_SENSITIVITY:
            row.update(status="not_computable",
                       reason=f"{len(frame)} estimate{'s' if len(frame) != 1 else ''} left; at least "
                              f"{MIN_K_SENSITIVITY} are needed to pool")
        else:
            try:
                row.update(status="ok", **_pool_summary(frame, analysis))
            except InputError as exc:
                row.update(status="not_computable", reason=str(exc))
        if row["status"] == "ok":
            row["changes_size_class"] = row["size_class"] != main["size_class"]
            row["changes_direction"] = row["direction"] != main["direction"]
        rows.append(row)
    ok = [r for r in rows if r["status"] == "ok"]
    return {
        "main": dict(main),
        "rows": rows,
        "size_class_changes": any(r["changes_size_class"] for r in ok),
        "direction_changes": any(r["changes_direction"] for r in ok),
        "size_class_rule": SIZE_CLASS_RULE,
    }


def _design(frame: pd.DataFrame, specs, prefix_levels: bool = True) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Moderator columns for rma(mods=...): continuous as numbers, categorical as 0/1 columns
    against a reference level. Returns the columns and, per moderator, what was coded how."""
    columns: dict[str, np.ndarray] = {}
    coded = []
    for spec in specs:
        values = frame[spec.name]
        if spec.kind == "continuous":
            columns[spec.name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            coded.append({"name": spec.name, "label": spec.label or spec.name, "kind": "continuous"})
            continue
        levels = sorted(str(v) for v in values.dropna().unique())
        reference = spec.reference if spec.reference is not None else (levels[0] if levels else None)
        for level in levels:
            if level != reference:
                columns[f"{spec.name}={level}"] = (values.astype(str) == level).to_numpy(dtype=float)
        coded.append({"name": spec.name, "label": spec.label or spec.name, "kind": "categorical",
                      "reference": reference, "levels": levels})
    return columns, coded


def _meta_regression(analysis: Analysis, frame: pd.DataFrame, specs, what: str) -> dict[str, Any]:
    """A meta-regression (research.meta.rma with mods, checked against metafor) on declared moderators.

    Estimates with a missing moderator value are left out and named, never dropped silently."""
    from research.meta import rma

    missing_mask = np.zeros(len(frame), dtype=bool)
    for spec in specs:
        if spec.name not in frame.columns:
            raise _refuse(analysis, "moderators", f"{spec.name!r} is not a column of the effect table")
        column = frame[spec.name]
        if spec.kind == "continuous":
            column = pd.to_numeric(column, errors="coerce")
        missing_mask |= column.isna().to_numpy()
    used = frame[~missing_mask].reset_index(drop=True)
    out: dict[str, Any] = {"what": what, "left_out": frame.loc[missing_mask, "id"].tolist(), "k": len(used)}
    columns, coded = _design(used, specs)
    out["moderators"] = coded
    constant = [name for name, values in columns.items() if np.ptp(values) == 0] if len(used) else list(columns)
    p = len(columns) + 1
    if not columns or constant or len(used) <= p:
        if not columns:
            reason = "every moderator takes one value only among the pooled estimates"
        elif constant:
            reason = f"{', '.join(constant)} takes one value only"
        else:
            reason = f"{len(used)} estimates for {p} coefficients; more estimates than coefficients are needed"
        return {**out, "status": "not_estimable", "reason": reason}
    yi, vi = as_arrays(used)
    fit = rma(yi, vi, mods=columns, method=analysis.method, test=analysis.test, labels=used["id"].tolist())
    return {**out, "status": "ok", "fit": fit.to_dict()}


def _outcome_model(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    """Declared multi-outcome model: the outcome family as a categorical moderator."""
    from research.analyses import ModeratorSpec

    reference = analysis.multi_outcome.reference if analysis.multi_outcome else None
    spec = ModeratorSpec(name="outcome_family", kind="categorical", reference=reference, label="outcome")
    result = _meta_regression(analysis, frame, [spec], "outcome family as a moderator")
    shared = frame.groupby("evaluation")["id"].apply(list)
    shared = {evaluation: ids for evaluation, ids in shared.items() if len(ids) > 1}
    if shared:  # estimates of one evaluation are correlated; only the multilevel model accounts for it
        result["note"] = "; ".join(f"evaluation {e} gives {len(ids)} estimates ({', '.join(ids)}), treated as "
                                   "independent here; a multilevel model would account for their correlation"
                                   for e, ids in shared.items())
    if result["status"] == "ok":
        coefficients = result["fit"]["coefficients"]
        base = coefficients[0]
        level_of = {c["name"]: c["name"].split("=", 1)[1] for c in coefficients[1:]}
        result["by_outcome"] = [{"outcome_family": result["moderators"][0]["reference"],
                                 "estimate": base["estimate"], "ci_low": base["ci_low"], "ci_high": base["ci_high"]}]
        result["by_outcome"] += [{"outcome_family": level_of[c["name"]], "difference": c["estimate"],
                                  "difference_ci_low": c["ci_low"], "difference_ci_high": c["ci_high"],
                                  "p": c["p"]} for c in coefficients[1:]]
    return result


# --------------------------------------------------------------------------- one analysis


def _study_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = ["id", "study", "evaluation", "label", "outcome", "outcome_family", "measure", "yi", "vi", "design",
               "design_level", "rob_overall", "setting", "country", "monitoring", "year", "provenance"]
    return _clean(frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records"))


def _first_sentence(note: str | None) -> str | None:
    """The recorded wording of a result with no single figure, e.g. 'Range across studies: 8%-49%'."""
    if not note:
        return None
    sentence = " ".join(note.split()).split(". ")[0].rstrip(".")
    return sentence if "%" in sentence else None  # only wording that carries figures (a range), not remarks


def _reported_rows(frame: pd.DataFrame, notes: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for row in frame.itertuples(index=False):
        rows.append({
            "estimate_id": row.id, "study": row.study, "source": row.source, "label": row.label,
            "outcome": row.outcome, "subgroup": row.subgroup, "percent_change": row.percent_change,
            "qualifier": row.qualifier,
            "significant": None if pd.isna(row.significant) else bool(row.significant),
            "provenance": row.provenance, "measure": row.measure, "design": row.design,
            "year": None if pd.isna(row.year) else int(row.year), "n_units": row.n_units,
            "narrative": _first_sentence((notes or {}).get(row.id)) if row.measure == "narrative" else None,
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
        # exact integration: no sampler; the check compares the grid with a half-resolution grid
        diagnostics=posterior.accuracy.to_dict(),
    )
    result.update(_prior_sensitivity(analysis, frame))
    result["share_benefiting"] = _share_benefiting(analysis, posterior)
    return _clean(result), posterior


def _share_benefiting(analysis: Analysis, posterior) -> dict[str, Any]:
    """The share of new settings with any fall, and with a meaningful one where declared, each with the
    interval of the share itself (the share is uncertain because the average and the spread are)."""
    spec = analysis.bayes
    out: dict[str, Any] = {"any": posterior.share_benefiting(0.0).to_dict(), "meaningful": None,
                           "meaningful_percent": spec.meaningful_benefit_percent,
                           "meaningful_basis": spec.meaningful_benefit_basis}
    if spec.meaningful_benefit_percent is not None:
        threshold = math.log1p(spec.meaningful_benefit_percent / 100.0)
        out["meaningful"] = posterior.share_benefiting(threshold).to_dict()
    return out


def _prior_sensitivity(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    """The priors with their basis, and the headline numbers under alternative priors."""
    from research.bayes.sensitivity import prior_sensitivity_report

    spec = analysis.bayes
    report = prior_sensitivity_report(frame[["id", "yi", "vi"]], spec.mu_prior, spec.tau_prior,
                                      bases={"mu": spec.mu_prior_basis, "tau": spec.tau_prior_basis})
    return {"prior_basis": [b.to_dict() for b in report.bases], "prior_sensitivity": report.to_dict()}


def run_analysis(analysis: Analysis, table: pd.DataFrame, cache_dir: Path | None = None,
                 progress: Progress | None = None, notes: Mapping[str, str] | None = None,
                 mcmc: bool = True, figures: bool = True) -> dict[str, Any]:
    """Run one declared analysis on the effect table; the result is plain data (JSON-ready).

    ``notes`` maps estimate ids to their recorded notes: a published result with no single figure
    (a range across studies) is shown in its recorded wording. ``mcmc=False`` leaves out the
    declared MCMC fits and ``figures=False`` the plots (what a claim check does not need)."""
    selection = select_estimates(analysis, table)
    pooled = selection.pooled
    pooled_what = analysis.outcome_family or (
        f"the declared outcomes ({', '.join(selection.families)})" if analysis.multi_outcome else analysis.outcome)
    result: dict[str, Any] = {
        "id": analysis.id, "title": analysis.title, "question": analysis.question,
        "intervention": analysis.intervention, "outcome": analysis.outcome, "file": analysis.file,
        "target": analysis.target, "unit": analysis.unit, "units": analysis.units,
        "outcome_family": analysis.outcome_family, "outcome_families": list(analysis.outcome_families),
        "multi_outcome": analysis.multi_outcome.model_dump() if analysis.multi_outcome else None,
        "pooled_families": selection.families,
        "evaluation_rule": {"rule": analysis.evaluations.rule, "text": EVALUATION_RULES[analysis.evaluations.rule]},
        "upgrades": analysis.upgrades.model_dump(),
        "k": len(pooled), "inputs": pooled["id"].tolist(),
        "excluded": selection.excluded,
        "duplicates": selection.duplicates,
        "other_outcomes": _study_rows(selection.other_outcomes),
        "studies": _study_rows(pooled), "gaps": list(analysis.gaps), "not_evaluated": list(analysis.not_evaluated),
        "reported": _reported_rows(select(table, analysis.reported_where), notes) if analysis.reported_where else [],
        "frequentist": None, "bayes": None, "transport": None, "value_of_information": [], "mcmc": [],
        "sensitivity": None, "meta_regression": None, "outcome_model": None,
        "figures": {},
        "status": "ok" if len(pooled) >= analysis.min_k else "insufficient_data",
    }
    if result["status"] == "insufficient_data":
        result["status_reason"] = _insufficient_reason(analysis, selection, pooled_what)
        return result
    if _is_multilevel(analysis):
        result["frequentist"] = _multilevel(analysis, pooled)
        result["status_reason"] = MULTILEVEL_SCOPE
        return result
    result["frequentist"], fit = _frequentist(analysis, pooled)
    main = {"k": fit.k, "estimate": fit.estimate, "ci_low": float(fit.ci_low[0]), "ci_high": float(fit.ci_high[0]),
            "size_class": size_class(fit.estimate), "direction": direction(fit.estimate)}
    result["sensitivity"] = _clean(_sensitivity(analysis, selection, main))
    if analysis.moderators:
        result["meta_regression"] = _clean(_meta_regression(analysis, pooled, analysis.moderators,
                                                            "declared moderators"))
    if analysis.multi_outcome and analysis.multi_outcome.model == "moderator":
        result["outcome_model"] = _clean(_outcome_model(analysis, pooled))
    result["bayes"], posterior = _bayes(analysis, pooled)
    if analysis.transport:
        result["transport"] = _clean(_transport(analysis, pooled))
    if analysis.value_of_information:
        result["value_of_information"] = _clean(_value_of_information(analysis, pooled))
    result["mcmc"], mcmc_fits = _mcmc(analysis, pooled, cache_dir, progress) if mcmc else ([], [])
    result["figures"] = _figures(analysis, pooled, fit, posterior, mcmc_fits) if figures else {}
    return result


def _insufficient_reason(analysis: Analysis, selection: Selection, pooled_what: str) -> str:
    """Why nothing was pooled, in plain words, naming what was left out."""
    k = len(selection.pooled)
    has = {0: "no estimate", 1: "only 1 estimate"}.get(k, f"only {k} estimates")
    text = (f"{has} of {pooled_what} {'comes' if k <= 1 else 'come'} with a margin of error, that is a standard error or confidence "
            f"interval, which pooling needs; at least {analysis.min_k} are needed to pool")
    n_other = len(selection.other_outcomes)
    if n_other:
        said = "1 other estimate measures a different outcome and is" if n_other == 1 else \
            f"{n_other} other estimates measure different outcomes and are"
        text += f"; {said} not pooled with {'it' if k == 1 else 'them'}: " + "; ".join(
            f"{r.outcome_family} ({r.id})" for r in selection.other_outcomes.itertuples())
    if selection.duplicates:
        text += "; " + "; ".join(f"{d['id']} repeats evaluation {d['evaluation']}" for d in selection.duplicates)
    return text


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
    from research.bayes.mcmc import DiagnosticThresholds

    thresholds = McmcThresholds(**dataclasses.asdict(DiagnosticThresholds())).to_dict()
    rows = [f.to_dict() for f in fits]
    for row in rows:
        row["diagnostics"] = {**row["diagnostics"], "thresholds": thresholds}
    return [_clean(row) for row in rows], fits


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


class AnalysisFailed(InputError):
    """One or more analyses failed; the others finished. ``results`` holds those that finished."""

    def __init__(self, failures: list[str], results: dict[str, Any]):
        self.failures, self.results = failures, results
        done = f"; the other {len(results)} finished" if results else ""
        super().__init__(f"{len(failures)} {'analysis' if len(failures) == 1 else 'analyses'} failed{done}:\n"
                         + "\n".join(failures))


@dataclass(frozen=True)
class _Refused:
    """An analysis refused by its declaration (EvidenceError), carried back from a worker as data."""

    problems: list[Problem]


def _run_declared(analysis: Analysis, table: pd.DataFrame, cache_dir: Path | None, progress: Progress | None,
                  notes: Mapping[str, str]) -> dict[str, Any] | _Refused:
    if progress:
        progress(f"analysis: {analysis.title}")
    try:
        return run_analysis(analysis, table, cache_dir, progress, notes)
    except EvidenceError as exc:
        return _Refused(list(exc.problems))


def run_analyses(store: Store, analyses_dir: str | Path = "analyses", progress: Progress | None = None,
                 cache_dir: Path | None = DEFAULT_CACHE, table: pd.DataFrame | None = None,
                 engine: Engine | None = None) -> dict:
    """Run every declared analysis on the store; returns ``{analysis_id: result}`` in declared order.

    Each analysis is one task on ``engine`` (this process by default; local processes or a Dask
    cluster otherwise); every task carries its own seeds, so the results equal a serial run's.
    A refused declaration raises EvidenceError; any other failure raises AnalysisFailed naming
    each failed analysis and its reason, after the others have finished."""
    engine = engine or Engine()
    table = effect_table(store) if table is None else table
    notes = {e.id: e.note for e in store["estimates"] if e.note}
    declared = load_analyses(analyses_dir)
    for analysis in declared:
        _resolve_target(analysis, store)
    # Workers may run elsewhere: the fit cache is named absolutely (its writes are atomic and locked).
    cache = Path(cache_dir).resolve() if cache_dir is not None else None
    here = progress if engine.serial else None
    tasks = [(a.id, _run_declared, (a, table, cache, here, notes), {}) for a in declared]
    if progress and not engine.serial:
        progress(f"analyses: {len(tasks)} on {engine.describe()}")
    titles = {a.id: a for a in declared}

    def done(outcome) -> None:
        if progress and not engine.serial:
            progress(f"analysis: {titles[outcome.name].title}: {'done' if outcome.ok else 'failed'}")

    results: dict[str, Any] = {}
    refused: list[Problem] = []
    failures: list[str] = []
    for outcome in run_tasks(tasks, engine, on_done=done):
        analysis = titles[outcome.name]
        if not outcome.ok:
            failures.append(f"analysis '{analysis.id}' ({analysis.file}): {outcome.error}")
        elif isinstance(outcome.value, _Refused):
            refused.extend(outcome.value.problems)
        else:
            results[outcome.name] = outcome.value
    if failures:
        failures += [str(p) for p in refused]
        raise AnalysisFailed(failures, results)
    if refused:
        raise EvidenceError(refused)
    return results


def _resolve_target(analysis: Analysis, store: Store) -> None:
    """The analysis' target must be a target record; its name is what the transport is shown for."""
    if analysis.target is None:
        return
    target = next((t for t in store["targets"] if t.id == analysis.target), None)
    if target is None:
        raise _refuse(analysis, "target", f"refers to '{analysis.target}', which is not in targets")
    if analysis.transport and analysis.transport.target is None:
        analysis.transport.target = target.name


def _targets(store: Store) -> list[dict[str, Any]]:
    """Target records for GRADE and the report, with the year the intervention's current generation began."""
    from research.grade import generation_year

    dates = {f.id: f.date for f in store["facts"]}
    return [{**t.model_dump(mode="json"), "generation_date": dates.get(t.generation_fact or ""),
             "generation_since": generation_year(dates.get(t.generation_fact or ""))} for t in store["targets"]]


def _claim_sources(store: Store) -> list[dict[str, Any]]:
    """The sources the claims were read in (id and kind), so the report can name them as the case does."""
    used = {c.source for c in store["claims"]}
    return [{"id": s.id, "kind": s.kind} for s in store["sources"] if s.id in used]


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
        {"study": r.study, "title": titles.get(r.study, r.study), "tool": r.tool, "design_level": r.design_level,
         "domains": dict(r.domains), "overall": r.overall, "rationale": r.rationale}
        for r in store["risk_of_bias"]
    ]


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

    rob = [r.model_dump(mode="json") for r in store["risk_of_bias"]]
    dates = {f.id: f.date for f in store["facts"]}
    for result in analyses.values():
        target = target_of(result, store["targets"], dates)
        result["grade"] = Grade.from_assessment(assess_certainty(result, rob, target)).to_dict()


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
    store = load_store(evidence)
    table = effect_table(store)
    analyses = run_analyses(store, analyses_dir, progress=step, cache_dir=cache_dir, table=table, engine=engine)
    grade_analyses(store, analyses)
    step("checking claims")
    from research.claims.checks.causal import estimate_rows

    estimates = estimate_rows(table)
    verdicts = evaluate_claims(store, analyses, checks_path=analyses_dir / "claim-checks.yaml", estimates=estimates)
    pooled = {i for r in analyses.values() if r["status"] == "ok" for i in r["inputs"]}  # only what was pooled
    results = Results.model_validate(_clean({
        "generated_at": (today or dt.date.today()).isoformat(),
        "evidence_fingerprint": inputs.digest,
        "inputs": inputs.to_dict(),
        "store": {"counts": {k: len(v) for k, v in store.records.items()}, "flow": store_flow(store, table, pooled)},
        "analyses": list(analyses.values()),
        "claims": [v.to_dict() for v in verdicts],
        "gaps": rank_gaps(store, analyses),
        "gap_rank_rule": GAP_RANK_RULE,
        "risk_of_bias": _risk_of_bias(store),
        "targets": _targets(store),
        "claim_sources": _claim_sources(store),
        "estimates": estimates,
    }))
    step("writing the report")
    reports.mkdir(parents=True, exist_ok=True)
    written = [render_html(results, reports / "index.html"),
               render_markdown(results, reports / "summary.md", results_file=_shown_path(results_path))]
    written.append(results.write(results_path))
    return BuildOutcome(results.to_dict(), written, up_to_date=False, model=results)


__all__ = ["AnalysisFailed", "build", "fingerprint", "grade_analyses", "rank_gaps", "run_analyses", "run_analysis",
           "store_flow"]
