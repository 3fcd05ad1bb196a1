"""What goes into a pool: like with like, one voice per evaluation, every exclusion with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from research.analyses import Analysis
from research.dataset import select
from research.store.loader import EvidenceError, Problem


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


def refuse(analysis: Analysis, field: str, message: str) -> EvidenceError:
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
        raise refuse(analysis, "outcome_family",
                      "cannot tell whether these estimates measure the same outcome: "
                      f"{', '.join(unknown['id'])} have no outcome_family in the store")
    if analysis.outcome_families:
        outside = candidates[family.notna() & ~family.isin(analysis.outcome_families)]
        if len(outside):
            raise refuse(analysis, "outcome_families",
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
        raise refuse(analysis, "outcome_family",
                      f"would pool different outcomes without a declared multi-outcome model ({_by_family(candidates)}); "
                      "pool one with `outcome_family:` or declare `multi_outcome:`")
    if is_multilevel(analysis):
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


def is_multilevel(analysis: Analysis) -> bool:
    return analysis.evaluations.rule == "multilevel" or (
        analysis.multi_outcome is not None and analysis.multi_outcome.model == "multilevel")


MULTILEVEL_SCOPE = ("a multilevel model keeps every estimate and lets estimates of one evaluation share a random "
                    "effect; the exact Bayesian posterior, transport, value of information and MCMC assume one "
                    "estimate per evaluation and are not run for it")
