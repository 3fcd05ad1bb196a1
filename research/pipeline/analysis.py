"""One declared analysis: choose what it pools, then run its steps and put their results together.

Each step (the frequentist fit, the exact posterior, the prior sensitivity, transport, value of
information, each MCMC fit) depends only on the analysis and its pooled estimates, so a build can
run the steps of every analysis as separate tasks (research.pipeline.run). ``run_analysis`` runs
them one after another here; both paths call the same functions, so the results are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from research.analyses import Analysis
from research.dataset import select
from research.pipeline import bayesian, figures as drawn, frequentist
from research.pipeline.selection import (
    EVALUATION_RULES,
    MULTILEVEL_SCOPE,
    Selection,
    is_multilevel,
    select_estimates,
)
from research.pipeline.serialise import reported_rows, study_rows
from research.results import clean

Progress = Callable[[str], None]


@dataclass
class Prepared:
    """An analysis with its selection, the descriptive part of its result, and the steps still to run."""

    analysis: Analysis
    selection: Selection
    result: dict[str, Any]
    steps: list[str]


def prepare(analysis: Analysis, table: pd.DataFrame, notes: Mapping[str, str] | None = None,
            mcmc: bool = True) -> Prepared:
    """Select the estimates (EvidenceError if the declaration is refused) and list the steps to run.

    ``notes`` maps estimate ids to their recorded notes: a published result with no single figure
    (a range across studies) is shown in its recorded wording."""
    selection = select_estimates(analysis, table)
    pooled = selection.pooled
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
        "other_outcomes": study_rows(selection.other_outcomes),
        "studies": study_rows(pooled), "gaps": list(analysis.gaps), "not_evaluated": list(analysis.not_evaluated),
        "reported": reported_rows(select(table, analysis.reported_where), notes) if analysis.reported_where else [],
        "frequentist": None, "bayes": None, "transport": None, "value_of_information": [], "mcmc": [],
        "sensitivity": None, "meta_regression": None, "outcome_model": None,
        "figures": {},
        "status": "ok" if len(pooled) >= analysis.min_k else "insufficient_data",
    }
    if result["status"] == "insufficient_data":
        result["status_reason"] = _insufficient_reason(analysis, selection)
        return Prepared(analysis, selection, result, [])
    if is_multilevel(analysis):
        result["status_reason"] = MULTILEVEL_SCOPE
        return Prepared(analysis, selection, result, ["multilevel"])
    steps = ["frequentist", "bayes", "prior_sensitivity"]
    if analysis.transport:
        steps.append("transport")
    if analysis.value_of_information:
        steps.append("value_of_information")
    if mcmc:
        steps += [f"mcmc:{index}" for index in range(len(analysis.mcmc))]
    return Prepared(analysis, selection, result, steps)


# Each step returns the result fields it fills; ``assemble`` merges them in the order of the steps.

def _multilevel_step(analysis: Analysis, selection: Selection, **_) -> dict[str, Any]:
    return {"frequentist": frequentist.multilevel_fit(analysis, selection.pooled)}


def _frequentist_step(analysis: Analysis, selection: Selection, figures: bool = True, **_) -> dict[str, Any]:
    pooled = selection.pooled
    fitted, fit = frequentist.frequentist_fit(analysis, pooled)
    out: dict[str, Any] = {"frequentist": fitted,
                           "sensitivity": clean(frequentist.sensitivity(analysis, selection, frequentist.fit_summary(fit)))}
    if analysis.moderators:
        out["meta_regression"] = clean(frequentist.meta_regression(analysis, pooled, analysis.moderators,
                                                                   "declared moderators"))
    if analysis.multi_outcome and analysis.multi_outcome.model == "moderator":
        out["outcome_model"] = clean(frequentist.outcome_model(analysis, pooled))
    out["figures"] = drawn.pooled_figures(analysis, pooled, fit) if figures else {}
    return out


def _bayes_step(analysis: Analysis, selection: Selection, figures: bool = True, **_) -> dict[str, Any]:
    summary, posterior = bayesian.exact_posterior(analysis, selection.pooled)
    return {"bayes": summary, "figures": drawn.posterior_figures(posterior) if figures else {}}


def _prior_sensitivity_step(analysis: Analysis, selection: Selection, **_) -> dict[str, Any]:
    return {"bayes": clean(bayesian.prior_sensitivity(analysis, selection.pooled))}


def _transport_step(analysis: Analysis, selection: Selection, **_) -> dict[str, Any]:
    return {"transport": clean(bayesian.transport_result(analysis, selection.pooled))}


def _value_of_information_step(analysis: Analysis, selection: Selection, **_) -> dict[str, Any]:
    return {"value_of_information": clean(bayesian.value_of_information_rows(analysis, selection.pooled))}


def _mcmc_step(analysis: Analysis, selection: Selection, index: int = 0, cache_dir: Path | None = None,
               progress: Progress | None = None, figures: bool = True) -> dict[str, Any]:
    fit = bayesian.mcmc_fit(analysis, selection.pooled, index, cache_dir, progress)
    return {"mcmc": [bayesian.mcmc_row(fit)], "figures": drawn.trace_figure(fit) if figures else {}}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "multilevel": _multilevel_step,
    "frequentist": _frequentist_step,
    "bayes": _bayes_step,
    "prior_sensitivity": _prior_sensitivity_step,
    "transport": _transport_step,
    "value_of_information": _value_of_information_step,
    "mcmc": _mcmc_step,
}


def run_step(analysis: Analysis, selection: Selection, step: str, cache_dir: Path | None = None,
             progress: Progress | None = None, figures: bool = True) -> dict[str, Any]:
    """Run one named step (``mcmc:<index>`` for the index-th declared MCMC fit)."""
    kind, _, index = step.partition(":")
    options: dict[str, Any] = {"cache_dir": cache_dir, "progress": progress, "figures": figures}
    if index:
        options["index"] = int(index)
    return STEPS[kind](analysis, selection, **options)


def assemble(prepared: Prepared, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The analysis' result: its descriptive part, then each step's fields in step order (MCMC rows
    appended, the Bayesian summary and the figures merged)."""
    result = dict(prepared.result)
    for output in outputs:
        for key, value in output.items():
            if key == "mcmc":
                result[key] = [*result[key], *value]
            elif key in ("bayes", "figures") and result.get(key):
                result[key] = {**result[key], **value}
            else:
                result[key] = value
    return result


def run_analysis(analysis: Analysis, table: pd.DataFrame, cache_dir: Path | None = None,
                 progress: Progress | None = None, notes: Mapping[str, str] | None = None,
                 mcmc: bool = True, figures: bool = True) -> dict[str, Any]:
    """Run one declared analysis on the effect table, here and step by step; the result is plain data
    (JSON-ready). ``mcmc=False`` leaves out the declared MCMC fits and ``figures=False`` the plots
    (what a claim check does not need)."""
    prepared = prepare(analysis, table, notes, mcmc=mcmc)
    outputs = [run_step(analysis, prepared.selection, step, cache_dir, progress, figures) for step in prepared.steps]
    return assemble(prepared, outputs)


def _insufficient_reason(analysis: Analysis, selection: Selection) -> str:
    """Why nothing was pooled, in plain words, naming what was left out."""
    pooled_what = analysis.outcome_family or (
        f"the declared outcomes ({', '.join(selection.families)})" if analysis.multi_outcome else analysis.outcome)
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
