"""Causal claims ("CCTV reduces crime") judged against pooled evidence.

Two sources of pooled evidence, in order of preference:

1. analyses run by the pipeline (``status == "ok"``): the random-effects estimate, its confidence
   and prediction intervals (log ratio, negative = fewer events), the posterior probability of a
   benefit, and a GRADE-style certainty rating;
2. the pooled results that published reviews report (estimates of studies whose design is a
   meta-analysis or systematic review): percent change and whether it was significant, overall
   and by setting or crime type.

A claim of proof ("proven effective") needs a significant average benefit, a prediction interval
that excludes no effect, at least moderate certainty, and no setting of the claim where the
reviews found no significant effect. A hedged claim ("could be beneficial") needs a significant
benefit somewhere relevant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import pandas as pd
from pydantic import Field

from research.claims.checks import register
from research.claims.checks.base import CheckParams
from research.claims.context import CheckContext
from research.claims.verdict import Finding, Label

REVIEW_DESIGNS = ("meta_analysis", "meta_regression", "systematic_review")
CERTAINTY_FOR_PROOF = ("moderate", "high")
# A hedged claim ("could help") is backed when a reduction is at least "very likely" on the IPCC
# likelihood scale (research.verbal), even if the 95% interval still includes no effect.
VERY_LIKELY = 0.90


class CausalParams(CheckParams):
    intervention: str = Field(min_length=1, description="Matched (case-insensitive) in the study's intervention")
    outcome: str | None = Field(None, description="Matched in the estimate's outcome when selecting reviews")
    strength: Literal["proven", "possible"] = Field(
        "proven", description="'proven': the claim says it works; 'possible': the claim says it could help")
    analyses: list[str] = Field(default_factory=list, description="Analysis ids, used when their status is ok")
    overall: list[str] = Field(default_factory=list, description="Reviews' overall pooled estimates")
    settings: list[str] = Field(default_factory=list, description="Reviews' estimates for the claim's setting")
    subgroups: list[str] = Field(default_factory=list, description="Other subgroups (crime types, settings)")
    unstudied: list[str] = Field(default_factory=list,
                                 description="Parts of the claim no estimate covers, e.g. 'computer vision and AI'")


@dataclass(frozen=True)
class Pooled:
    """One reported pooled result, reduced to what the judgement needs."""

    id: str
    study: str
    label: str
    percent_change: float | None
    significant: bool | None
    provenance: str

    @property
    def benefit(self) -> bool | None:
        """True: significant decrease; False: tested and not a significant decrease; None: unknown."""
        if self.significant is False:
            return False
        if self.significant is None or self.percent_change is None:
            return None
        return self.percent_change < 0

    def text(self) -> str:
        change = "no number" if self.percent_change is None else f"{self.percent_change:+.0f}%"
        sig = {True: "significant", False: "not significant", None: "significance not reported"}[self.significant]
        weak = "" if self.provenance == "primary" else ", read only in a secondary summary"
        return f"{self.label}: {change}, {sig} ({self.id}{weak})"


def _table(ctx: CheckContext) -> pd.DataFrame:
    if "effect_table" not in ctx.shared:
        from research.dataset import effect_table

        ctx.shared["effect_table"] = effect_table(ctx.store).set_index("id", drop=False)
    return ctx.shared["effect_table"]


def _pooled(ctx: CheckContext, estimate_id: str) -> Pooled | None:
    table = _table(ctx)
    if estimate_id not in table.index:
        ctx.note_missing(estimate_id)
        return None
    ctx.use(estimate_id)
    row = table.loc[estimate_id]
    pc = None if pd.isna(row["percent_change"]) else float(row["percent_change"])
    sig = None if pd.isna(row["significant"]) else bool(row["significant"])
    if sig is None and not pd.isna(row["ci_high_pct"]):
        # a reported interval settles significance at its level
        sig = bool(row["ci_high_pct"] < 0 or row["ci_low_pct"] > 0)
    detail = row["subgroup"] if isinstance(row["subgroup"], str) and row["subgroup"] else row["outcome"]
    return Pooled(estimate_id, str(row["study"]), f"{row['label']}, {detail}", pc, sig, str(row["provenance"]))


def _auto_overall(ctx: CheckContext, p: CausalParams) -> list[str]:
    table = _table(ctx)
    wanted = p.intervention.lower()
    rows = table[
        table["design"].isin(REVIEW_DESIGNS)
        & table["intervention"].str.lower().str.contains(wanted, regex=False)
        & table["subgroup"].isna()
    ]
    if p.outcome:
        rows = rows[rows["outcome"].str.lower().str.contains(p.outcome.lower(), regex=False)]
    return rows["id"].tolist()


def _pct(log_ratio: float | None) -> str:
    return "n/a" if log_ratio is None else f"{100 * math.expm1(log_ratio):+.0f}%"


def _judge_analysis(ctx: CheckContext, p: CausalParams, result: Mapping[str, Any], rationale: list[str],
                    assumptions: list[str]) -> tuple[Label, float, str]:
    from research.grade import assess_certainty

    freq = result.get("frequentist") or {}
    bayes = result.get("bayes") or {}
    est, lo, hi = freq.get("estimate"), freq.get("ci_low"), freq.get("ci_high")
    pi_lo, pi_hi = freq.get("pi_low"), freq.get("pi_high")
    for estimate_id in result.get("inputs", []):
        ctx.use(estimate_id)
    rob = [r.model_dump(mode="json") for r in ctx.store["risk_of_bias"]]
    grade = assess_certainty(result, rob)
    rationale.append(
        f"Analysis {result.get('id')} pools k = {result.get('k')} estimates: {_pct(est)} "
        f"(95% CI {_pct(lo)} to {_pct(hi)}; 95% prediction interval {_pct(pi_lo)} to {_pct(pi_hi)}); "
        f"GRADE certainty {grade.label.lower()}."
    )
    p_benefit = bayes.get("p_benefit")
    if p_benefit is not None:
        rationale.append(f"Posterior probability that the average effect is a reduction: {p_benefit:.0%}"
                         + (f"; that a new setting sees a reduction: {bayes['p_pred_benefit']:.0%}."
                            if bayes.get("p_pred_benefit") is not None else "."))
    diagnostics = bayes.get("diagnostics")
    if isinstance(diagnostics, Mapping) and diagnostics.get("ok") is False:
        rationale.append("The Bayesian model's sampling diagnostics failed; its probabilities are not used.")
        p_benefit = None
    assumptions.append("Effects are pooled on the log ratio scale; the prediction interval stands for a new "
                       "setting such as Almaty.")
    if hi is None or lo is None:
        return "not_enough_evidence", 1.0, "the analysis gives no confidence interval"
    significant_benefit = hi < 0
    consistent = pi_hi is not None and pi_hi < 0
    if p.strength == "proven":
        if not significant_benefit:
            label: Label = "contradicted"
            rationale.append("The pooled effect is not a significant reduction, so it is not shown to work.")
        elif not consistent or grade.certainty not in CERTAINTY_FOR_PROOF:
            label = "partly_supported"
            if not consistent:
                rationale.append("There is a significant average reduction, but the prediction interval includes "
                                 "no effect: a new place may not see one.")
            if grade.certainty not in CERTAINTY_FOR_PROOF:
                rationale.append(f"Certainty is {grade.label.lower()}, too low to call the effect proven.")
        else:
            label = "supported"
    else:
        if significant_benefit:
            label = "supported"
        elif lo > 0:
            label = "contradicted"
            rationale.append("The pooled effect is a significant increase.")
        elif p_benefit is not None and p_benefit >= VERY_LIKELY:
            label = "supported"
            rationale.append(f"The 95% interval includes no effect, but a reduction is very likely "
                             f"(at least {VERY_LIKELY:.0%}), which is enough for a claim that it could help.")
        else:
            label = "not_enough_evidence"
            rationale.append("The pooled effect is not significant in either direction.")
    if label == "not_enough_evidence":
        return label, 1.0, "the 95% interval includes no effect and a reduction is not very likely"
    if p_benefit is not None:
        confidence = p_benefit if label != "contradicted" else 1 - p_benefit
        basis = f"posterior probability of a reduction in analysis {result.get('id')}"
    else:
        confidence = 0.5
        basis = "no posterior probability available; even odds stated"
    return label, confidence, basis


def _judge_reviews(p: CausalParams, overall: list[Pooled], settings: list[Pooled], subgroups: list[Pooled],
                   rationale: list[str]) -> Label:
    known = [e for e in overall if e.benefit is not None]
    wins = [e for e in known if e.benefit]
    setting_known = [e for e in settings if e.benefit is not None]
    setting_fails = [e for e in setting_known if not e.benefit]
    sub_fails = [e for e in subgroups if e.benefit is False]
    changes = [e.percent_change for e in wins if e.percent_change is not None]
    if changes:
        sizes = [abs(c) for c in changes]
        low, high = min(sizes), max(sizes)
        size = f"{low:.0f}%" if low == high else f"{low:.0f}% to {high:.0f}%"
        rationale.append(f"{len(wins)} of {len(known)} overall pooled results show a significant reduction, "
                         f"of {size}.")
    elif known:
        rationale.append(f"None of {len(known)} overall pooled results shows a significant reduction.")
    if setting_fails:
        rationale.append("In the setting the claim is about, reviews found no significant effect: "
                         + "; ".join(e.text() for e in setting_fails) + ".")
    if sub_fails:
        rationale.append("No significant effect in: " + "; ".join(e.text() for e in sub_fails) + ".")
    if p.strength == "proven":
        if not known:
            return "not_enough_evidence"
        if not wins:
            return "contradicted"
        if len(wins) == len(known) and not setting_fails and not sub_fails:
            return "supported"
        rationale.append("The evidence supports an average reduction, but not that it works everywhere: "
                         "\"proven effective\" overstates it.")
        return "partly_supported"
    if wins or any(e.benefit for e in setting_known):
        if setting_known and not any(e.benefit for e in setting_known):
            rationale.append("A reduction is shown on average, but not in the setting the claim is about.")
            return "partly_supported"
        return "supported"
    if any(e.significant and (e.percent_change or 0) > 0 for e in overall):
        return "contradicted"
    return "not_enough_evidence"


@register("causal", CausalParams)
def causal(ctx: CheckContext, p: CausalParams) -> Finding:
    """A causal claim against pooled analyses or, failing those, the reviews' reported results."""
    check = "causal"
    rationale: list[str] = []
    assumptions: list[str] = []
    gaps = list(p.gaps)
    used_analyses: list[str] = []
    label: Label | None = None
    confidence, basis = 1.0, ""
    for analysis_id in p.analyses:
        result = ctx.analyses.get(analysis_id)
        if result is None:
            rationale.append(f"Analysis {analysis_id} has no result in this run.")
            continue
        used_analyses.append(analysis_id)
        if result.get("status") != "ok":
            reason = result.get("status_reason") or "insufficient data"
            rationale.append(f"Analysis {analysis_id} could not pool the studies ({reason}).")
            gaps += [g for g in result.get("gaps", []) if g not in gaps]
            continue
        label, confidence, basis = _judge_analysis(ctx, p, result, rationale, assumptions)
        break

    overall_ids = p.overall or _auto_overall(ctx, p)
    overall = [e for e in (_pooled(ctx, i) for i in overall_ids) if e is not None]
    settings = [e for e in (_pooled(ctx, i) for i in p.settings) if e is not None]
    subgroups = [e for e in (_pooled(ctx, i) for i in p.subgroups) if e is not None]
    reviews = overall + settings + subgroups
    if label is None:
        if not reviews:
            ctx.missing.append(f"a pooled result for {p.intervention}" + (f" and {p.outcome}" if p.outcome else ""))
            finding = ctx.not_enough(check, "The comparison with pooled research results", gaps)
            finding.analyses = used_analyses
            return finding
        rationale.append("Judged on the pooled results that reviews report (no analysis of study-level data "
                         "could be run):")
        rationale.extend(f"Overall result: {e.text()}." for e in overall)
        label = _judge_reviews(p, overall, settings, subgroups, rationale)
        primary = sum(1 for e in reviews if e.provenance == "primary")
        confidence = primary / len(reviews)
        basis = f"{primary} of {len(reviews)} review results used were read in the primary source"
        assumptions.append("Reported pooled results are taken as published; their certainty cannot be rated "
                           "without the study-level data.")
    else:
        setting_fails = [e for e in settings if e.benefit is False]
        if setting_fails and label == "supported":
            label = "partly_supported"
            rationale.append("But in the setting the claim is about, reviews found no significant effect: "
                             + "; ".join(e.text() for e in setting_fails) + ".")
    for part in p.unstudied:
        rationale.append(f"No pooled result covers {part}; that part of the claim is not tested by this evidence.")
        if label == "supported":
            label = "partly_supported"
    if p.unstudied:
        assumptions.append("Evidence on conventional CCTV is not evidence on the added technologies the claim names.")
    return ctx.finding(
        check,
        label,
        confidence,
        basis,
        rationale=rationale,
        assumptions=assumptions,
        analyses=used_analyses,
        gaps=gaps,
    )
