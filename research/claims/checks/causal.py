"""Causal claims ("CCTV reduces crime") judged against pooled evidence, part by part.

Two sources of pooled evidence, in order of preference:

1. analyses run by the pipeline (``status == "ok"``): the random-effects estimate, its confidence
   and prediction intervals (log ratio, negative = fewer events), tau², I², the posterior
   probability of a benefit, and a GRADE certainty rating;
2. the pooled results that published reviews report (estimates of studies whose design is a
   meta-analysis or systematic review): percent change, its interval, and whether it was significant.

Parts and their thresholds:

- causal strength. Strong words ("proven", "significantly") need a significant average benefit
  and at least moderate GRADE certainty; "proven" also needs a prediction interval that excludes
  no effect. Low or very low certainty (or certainty that cannot be rated, as with reported
  results only) gives Unsupported (overstated), whatever the direction. A hedged claim ("could
  help") needs a significant benefit, or a benefit at least very likely (90%); a significant
  increase contradicts it.
- effect size ("halves", "by 30%"): the claimed change against the pooled estimate's confidence
  interval; outside it is Contradicted, and the prediction interval is shown.
- uniformity ("works everywhere"): I² of 50% or more, or a prediction interval that includes no
  effect, or a subgroup with no significant effect, contradicts it.
- the claim's setting and parts no evidence covers (e.g. added technologies) are their own parts.
- local figures of the claim's place (before-after changes in the store) are considered: for a
  strong claim, local figures that moved the wrong way make the place part Unsupported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from research.claims.checks import register
from research.claims.checks.base import CheckParams
from research.claims.context import CheckContext
from research.claims.verdict import Finding, Part
from research.results import AnalysisResult, EstimateRow, ExactPosterior, FrequentistFit
from research.verbal import format_percent_change, percent_change

REVIEW_DESIGNS = ("meta_analysis", "meta_regression", "systematic_review")
CERTAINTY_FOR_PROOF = ("moderate", "high")
# A hedged claim ("could help") is backed when a reduction is at least "very likely" on the IPCC
# likelihood scale (research.verbal), even if the 95% interval still includes no effect.
VERY_LIKELY = 0.90
STRONG_WORDS = ("proven", "significant")
I2_NOT_UNIFORM = 0.5  # substantial heterogeneity (Cochrane Handbook 10.10.2)


class CausalParams(CheckParams):
    intervention: str = Field(min_length=1, description="Matched (case-insensitive) in the study's intervention")
    outcome: str | None = Field(None, description="Matched in the estimate's outcome when selecting reviews")
    strength: Literal["proven", "significant", "possible"] = Field(
        "proven", description="'proven': the claim says it works; 'significant': it contributes significantly; "
                              "'possible': it could help")
    wording: str | None = Field(None, description="The claim's strength words, quoted (e.g. 'proven effective')")
    claimed_change: float | None = Field(None, description="Claimed percent change, e.g. -50 for 'halves'")
    uniform: bool = Field(False, description="The claim says it works the same everywhere")
    local: list[str] = Field(default_factory=list,
                             description="Quantities of local before-after change (percent) at the claim's place")
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
    ci_pct: tuple[float, float] | None = None

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


# What the reported-results part of the check reads of each estimate; the pipeline stores these rows
# in results.json, so a claim check on the last build's results needs no numerical library.
ESTIMATE_COLUMNS = ("id", "study", "label", "outcome", "subgroup", "design", "intervention", "percent_change",
                    "significant", "ci_low_pct", "ci_high_pct", "provenance")


def estimate_rows(table) -> dict[str, EstimateRow]:
    """The effect table's rows keyed by estimate id (missing values as None)."""
    frame = table[list(ESTIMATE_COLUMNS)].astype(object)
    frame = frame.where(frame.notna(), None)
    return {str(row["id"]): EstimateRow.model_validate(row) for row in frame.to_dict("records")}


def _rows(ctx: CheckContext) -> dict[str, EstimateRow]:
    if "estimate_rows" not in ctx.shared:
        from research.dataset import effect_table

        ctx.shared["estimate_rows"] = estimate_rows(effect_table(ctx.store))
    return ctx.shared["estimate_rows"]


def _pooled(ctx: CheckContext, estimate_id: str) -> Pooled | None:
    row = _rows(ctx).get(estimate_id)
    if row is None:
        ctx.note_missing(estimate_id)
        return None
    ctx.use(estimate_id)
    sig = row.significant
    if sig is None and row.ci_high_pct is not None and row.ci_low_pct is not None:
        # a reported interval settles significance at its level
        sig = row.ci_high_pct < 0 or row.ci_low_pct > 0
    detail = row.subgroup or row.outcome
    ci = None if row.ci_low_pct is None or row.ci_high_pct is None else (row.ci_low_pct, row.ci_high_pct)
    return Pooled(estimate_id, str(row.study), f"{row.label}, {detail}", row.percent_change, sig, str(row.provenance), ci)


def _auto_overall(ctx: CheckContext, p: CausalParams) -> list[str]:
    wanted = p.intervention.lower()
    outcome = p.outcome.lower() if p.outcome else None
    return [row.id for row in _rows(ctx).values()
            if row.design in REVIEW_DESIGNS and wanted in (row.intervention or "").lower()
            and row.subgroup is None and (outcome is None or outcome in (row.outcome or "").lower())]


_pct = format_percent_change
_pct_value = percent_change


@dataclass
class Body:
    """What the pooled evidence says, from one analysis or from the reviews' reported results."""

    name: str
    evidence: list[str]
    significant_benefit: bool
    significant_harm: bool
    p_benefit: float | None = None
    certainty: str | None = None  # GRADE level; None when it cannot be rated
    certainty_text: str = "certainty not rated (only reported pooled results, no study-level data)"
    pi_excludes_no_effect: bool | None = None
    estimate_pct: float | None = None
    ci_pct: tuple[float, float] | None = None
    pi_pct: tuple[float, float] | None = None
    i2: float | None = None
    tau2: float | None = None
    not_significant_in: list[Pooled] | None = None
    moderators: list[str] | None = None


def _certainty(result: AnalysisResult, ctx: CheckContext) -> tuple[str | None, str]:
    """The GRADE certainty the pipeline stored with the result, or the rating of it from research.grade."""
    if result.grade is not None and result.grade.certainty:
        level = result.grade.certainty
    else:  # results from elsewhere (a hand-written file) may carry no assessment
        from research.grade import assess_certainty, target_of

        target = target_of(result, ctx.store["targets"], {f.id: f.date for f in ctx.store["facts"]})
        level = assess_certainty(result, ctx.store["risk_of_bias"], target).certainty
    return level, f"GRADE certainty {level.replace('_', ' ')}"


def _from_analysis(ctx: CheckContext, result: AnalysisResult, rationale: list[str],
                   assumptions: list[str]) -> Body | None:
    freq = result.frequentist or FrequentistFit()
    bayes = result.bayes or ExactPosterior()
    est, lo, hi = freq.estimate, freq.ci_low, freq.ci_high
    pi_lo, pi_hi = freq.pi_low, freq.pi_high
    inputs = [str(i) for i in result.inputs]
    for estimate_id in inputs:
        ctx.use(estimate_id)
    level, certainty_text = _certainty(result, ctx)
    i2, tau2 = freq.i2, freq.tau2
    i2 = None if i2 is None else i2 / 100.0  # results carry I² in percent; Body holds a fraction
    het = "" if i2 is None else f"; I² = {100 * i2:.0f}%, tau² = {tau2:.3g}" if tau2 is not None else \
        f"; I² = {100 * i2:.0f}%"
    rationale.append(
        f"Analysis {result.id} pools k = {result.k} estimates: {_pct(est)} "
        f"(95% CI {_pct(lo)} to {_pct(hi)}; 95% prediction interval {_pct(pi_lo)} to {_pct(pi_hi)}{het}); "
        f"{certainty_text}."
    )
    p_benefit = bayes.p_benefit
    if p_benefit is not None:
        rationale.append(f"Posterior probability that the average effect is a reduction: {p_benefit:.0%}"
                         + (f"; that a new setting sees a reduction: {bayes.p_pred_benefit:.0%}."
                            if bayes.p_pred_benefit is not None else "."))
    if bayes.diagnostics is not None and bayes.diagnostics.ok is False:
        rationale.append("The Bayesian model's sampling diagnostics failed; its probabilities are not used.")
        p_benefit = None
    assumptions.append("Effects are pooled on the log ratio scale; the prediction interval stands for a new "
                       "setting such as the claim's place.")
    if hi is None or lo is None:
        return None
    moderators = [c.name for c in freq.coefficients if c.name not in (None, "intrcpt", "intercept")]
    return Body(
        name=f"analysis {result.id}", evidence=inputs, significant_benefit=hi < 0, significant_harm=lo > 0,
        p_benefit=p_benefit, certainty=level, certainty_text=certainty_text,
        pi_excludes_no_effect=None if pi_hi is None or pi_lo is None else (pi_hi < 0 or pi_lo > 0),
        estimate_pct=_pct_value(est), ci_pct=(_pct_value(lo), _pct_value(hi)),
        pi_pct=None if pi_lo is None or pi_hi is None else (_pct_value(pi_lo), _pct_value(pi_hi)),
        i2=i2, tau2=tau2, moderators=moderators,
    )


def _from_reviews(overall: list[Pooled], settings: list[Pooled], subgroups: list[Pooled],
                  rationale: list[str]) -> Body:
    known = [e for e in overall if e.benefit is not None]
    wins = [e for e in known if e.benefit]
    changes = [e.percent_change for e in wins if e.percent_change is not None]
    if changes:
        sizes = [abs(c) for c in changes]
        low, high = min(sizes), max(sizes)
        size = f"{low:.0f}%" if low == high else f"{low:.0f}% to {high:.0f}%"
        rationale.append(f"{len(wins)} of {len(known)} overall pooled results show a significant reduction, "
                         f"of {size}.")
    elif known:
        rationale.append(f"None of {len(known)} overall pooled results shows a significant reduction.")
    failing = [e for e in settings + subgroups if e.benefit is False]
    if failing:
        rationale.append("No significant effect in: " + "; ".join(e.text() for e in failing) + ".")
    with_ci = next((e for e in overall if e.ci_pct is not None), None)
    return Body(
        name="the pooled results reviews report", evidence=[e.id for e in overall + settings + subgroups],
        significant_benefit=bool(known) and len(wins) == len(known),
        significant_harm=any(e.significant and (e.percent_change or 0) > 0 for e in overall),
        estimate_pct=with_ci.percent_change if with_ci else None, ci_pct=with_ci.ci_pct if with_ci else None,
        not_significant_in=failing,
    )


def _strength_part(p: CausalParams, body: Body, any_benefit: bool) -> Part:
    words = p.wording or {"proven": "proven", "significant": "significantly", "possible": "could help"}[p.strength]
    claimed = f'"{words}"'
    if p.strength in STRONG_WORDS:
        if body.certainty not in CERTAINTY_FOR_PROOF:
            direction = "a significant average reduction" if body.significant_benefit else \
                "no significant average reduction"
            return Part("causal_strength", claimed, "unsupported",
                        f"Overstated: {claimed} needs at least moderate certainty; {body.name} show "
                        f"{direction} with {body.certainty_text}.", body.evidence)
        if not body.significant_benefit:
            return Part("causal_strength", claimed, "contradicted",
                        f"{body.name} finds no significant reduction at {body.certainty_text}.", body.evidence)
        if p.strength == "proven" and body.pi_excludes_no_effect is False:
            return Part("causal_strength", claimed, "unsupported",
                        f"Overstated: the average reduction is significant, but the prediction interval of "
                        f"{body.name} includes no effect, so a new place may not see one.", body.evidence)
        return Part("causal_strength", claimed, "supported",
                    f"{body.name} finds a significant reduction at {body.certainty_text}.", body.evidence)
    if body.significant_benefit or any_benefit:
        return Part("causal_strength", claimed, "supported",
                    f"A significant reduction is reported ({body.name}), enough for a claim that it could help.",
                    body.evidence)
    if body.p_benefit is not None and body.p_benefit >= VERY_LIKELY:
        return Part("causal_strength", claimed, "supported",
                    f"The 95% interval includes no effect, but a reduction is very likely ({body.p_benefit:.0%} "
                    f"posterior probability, at least {VERY_LIKELY:.0%}), enough for a claim that it could help.",
                    body.evidence)
    if body.significant_harm:
        return Part("causal_strength", claimed, "contradicted", f"{body.name} finds a significant increase.",
                    body.evidence)
    return Part("causal_strength", claimed, "unsupported",
                f"{body.name} finds no significant effect in either direction.", body.evidence)


def _size_part(p: CausalParams, body: Body) -> Part:
    claimed = f"{p.claimed_change:+.0f}%"
    if body.ci_pct is None:
        return Part("effect_size", claimed, "unsupported", f"{body.name} gives no interval to test {claimed} against.")
    low, high = sorted(body.ci_pct)
    pi = "" if body.pi_pct is None else f"; prediction interval {body.pi_pct[0]:+.0f}% to {body.pi_pct[1]:+.0f}%"
    where = f"95% CI {low:+.0f}% to {high:+.0f}%{pi}"
    if low <= p.claimed_change <= high:
        return Part("effect_size", claimed, "supported",
                    f"The claimed change {claimed} lies within the pooled estimate's {where}.", body.evidence)
    return Part("effect_size", claimed, "contradicted",
                f"The claimed change {claimed} lies outside the pooled estimate's {where}.", body.evidence)


def _uniformity_part(body: Body) -> Part:
    claimed = "the same effect everywhere"
    reasons = []
    if body.i2 is not None and body.i2 >= I2_NOT_UNIFORM:
        reasons.append(f"I² = {100 * body.i2:.0f}% (at least {I2_NOT_UNIFORM:.0%} is substantial heterogeneity)")
    if body.pi_excludes_no_effect is False and body.pi_pct is not None:
        reasons.append(f"the prediction interval {body.pi_pct[0]:+.0f}% to {body.pi_pct[1]:+.0f}% includes no effect")
    if body.not_significant_in:
        reasons.append("no significant effect in " + "; ".join(e.label for e in body.not_significant_in))
    if body.moderators:
        reasons.append("declared moderators: " + ", ".join(body.moderators))
    if reasons and (body.i2 is not None and body.i2 >= I2_NOT_UNIFORM or body.pi_excludes_no_effect is False
                    or body.not_significant_in):
        return Part("uniformity", claimed, "contradicted", "The effect varies: " + "; ".join(reasons) + ".",
                    body.evidence)
    if body.i2 is None:
        return Part("uniformity", claimed, "unsupported",
                    f"{body.name} reports no heterogeneity (tau², I², prediction interval) to test it.")
    tau = f", tau² = {body.tau2:.3g}" if body.tau2 is not None else ""
    return Part("uniformity", claimed, "supported",
                f"I² = {100 * body.i2:.0f}%{tau}, and the prediction interval excludes no effect.", body.evidence)


def _local_part(ctx: CheckContext, p: CausalParams, rationale: list[str]) -> Part | None:
    facts = [f for f in ctx.facts_of(p.local, ctx.claim.place) if f.value is not None and not ctx.is_own(f)
             and not ctx.is_after_claim(f.date)]
    if not facts:
        return None
    for fact in facts:
        ctx.use(fact.id)
    rose = [f for f in facts if f.value > 0]
    listed = "; ".join(f"{f.quantity} {f.value:+g}% ({f.id}, {f.date or 'undated'})" for f in facts)
    rationale.append(f"Local figures for {ctx.claim.place} (before-after changes, not causal estimates): {listed}.")
    if not rose or p.strength not in STRONG_WORDS:
        return None
    named = "; ".join(f"{f.quantity} {f.value:+g}% ({f.date or 'undated'})" for f in rose)
    return Part("place", f"the effect in {ctx.claim.place}", "unsupported",
                f"Local figures cut against the claim: {named} rose in {len(rose)} of {len(facts)} local figures.",
                [f.id for f in rose], [f.id for f in facts if f not in rose])


@register("causal", CausalParams)
def causal(ctx: CheckContext, p: CausalParams) -> Finding:
    """A causal claim against pooled analyses or, failing those, the reviews' reported results."""
    check = "causal"
    rationale: list[str] = []
    assumptions: list[str] = []
    gaps = list(p.gaps)
    used_analyses: list[str] = []
    body: Body | None = None
    for analysis_id in p.analyses:
        result = ctx.analyses.get(analysis_id)
        if result is None:
            rationale.append(f"Analysis {analysis_id} has no result in this run.")
            continue
        used_analyses.append(analysis_id)
        if not result.ok:
            reason = result.status_reason or "insufficient data"
            rationale.append(f"Analysis {analysis_id} could not pool the studies ({reason}).")
            gaps += [g for g in result.gaps if g not in gaps]
            continue
        body = _from_analysis(ctx, result, rationale, assumptions)
        if body is not None:
            break

    overall_ids = p.overall or _auto_overall(ctx, p)
    overall = [e for e in (_pooled(ctx, i) for i in overall_ids) if e is not None]
    settings = [e for e in (_pooled(ctx, i) for i in p.settings) if e is not None]
    subgroups = [e for e in (_pooled(ctx, i) for i in p.subgroups) if e is not None]
    if body is None:
        if not overall + settings + subgroups:
            ctx.missing.append(f"a pooled result for {p.intervention}" + (f" and {p.outcome}" if p.outcome else ""))
            finding = ctx.not_enough(check, "The comparison with pooled research results", gaps,
                                     aspect="causal_strength")
            finding.analyses = used_analyses
            return finding
        rationale.append("Judged on the pooled results that reviews report (no analysis of study-level data "
                         "could be run):")
        rationale.extend(f"Overall result: {e.text()}." for e in overall)
        body = _from_reviews(overall, settings, subgroups, rationale)
        assumptions.append("Reported pooled results are taken as published; their certainty cannot be rated "
                           "without the study-level data.")
    else:
        body.not_significant_in = [e for e in settings + subgroups if e.benefit is False]
    any_benefit = any(e.benefit for e in overall + settings)
    parts = [_strength_part(p, body, any_benefit)]
    if p.claimed_change is not None:
        parts.append(_size_part(p, body))
    if p.uniform:
        parts.append(_uniformity_part(body))
    setting_known = [e for e in settings if e.benefit is not None]
    if setting_known and not any(e.benefit for e in setting_known):
        parts.append(Part("place", "the claim's setting", "unsupported",
                          "In the setting the claim is about, reviews found no significant effect: "
                          + "; ".join(e.text() for e in setting_known) + ".", [e.id for e in setting_known]))
    local = _local_part(ctx, p, rationale)
    if local is not None:
        parts.append(local)
    for part in p.unstudied:
        parts.append(Part("entity", part, "unsupported",
                          f"No pooled result covers {part}; that part of the claim is not tested by this evidence."))
    if p.unstudied:
        assumptions.append("Evidence on conventional CCTV is not evidence on the added technologies the claim names.")
    rationale += [part.reason for part in parts]
    return ctx.finding(check, parts, rationale=rationale, assumptions=assumptions, analyses=used_analyses, gaps=gaps)
