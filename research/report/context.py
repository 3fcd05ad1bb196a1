"""Turn the pipeline's typed results (research.results.Results) into what the templates show:
plain-language sentences, percent changes, GRADE ratings and checked figures. No statistics are
computed here beyond unit conversion; every number comes from the results, and the GRADE
assessment is the one the pipeline stored.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from markupsafe import Markup

from research.grade import ROB_RULE, UPGRADE_RULE, GradeAssessment, TransportTarget, assess_certainty, target_of
from research.plots.report import icon_array, prisma_flow, rob_traffic_light
from research.plots.rob import rob_figures
from research.report._format import (
    NOT_AVAILABLE,
    count_text,
    as_float,
    as_int,
    num_text,
    p_text,
    pair_text,
    pct_text,
    prob_text,
    signed_downgrade,
    likelihood_term,
    text_of,
)
from research.report.mcmc import TRACE_PREFIX, mcmc_view
from research.report.methods import prior_views, transport_sensitivity_view, voi_assumption_view
from research.report.reported import reported_summary
from research.report.svg import safe_svg
from research.results import (
    AnalysisResult,
    ClaimSource,
    ClaimVerdict,
    ExactPosterior,
    FrequentistFit,
    MetaRegression,
    PriorPair,
    RankedGap,
    ReportedRow,
    Results,
    RiskOfBiasRow,
    Sensitivity,
    SensitivityRow,
    ShareBenefit,
    ShareBenefiting,
    StudyRow,
    TargetRow,
    Transport,
)
from research.verbal import (
    SIZE_CLASS_RULE,
    describe_change,
    describe_interval,
    likelihood,
    likelihood_word_allowed,
    natural_frequency,
    percent_change,
    plain_language_statement,
)

VERDICTS = {  # the scale of docs/verdict-scale.md; the last two are labels of older results
    "supported": ("Supported", "verdict-supported"),
    "partly_supported": ("Partly supported", "verdict-partly"),
    "misleading": ("Misleading", "verdict-misleading"),
    "contradicted": ("Contradicted", "verdict-contradicted"),
    "unsupported": ("Unsupported", "verdict-nee"),
    "not_checkable": ("Not checkable / opinion", "verdict-opinion"),
    "not_enough_evidence": ("Not enough evidence", "verdict-nee"),
    "opinion": ("Opinion (not checkable)", "verdict-opinion"),
}


def build_context(results: Results | Mapping[str, Any], results_file: Any = None) -> dict[str, Any]:
    """Everything the HTML and Markdown templates need, derived from ``results`` (a mapping is validated
    first). Place, topic and unit words come from the case's target records and analyses, never from here."""
    results = Results.coerce(results if isinstance(results, (Results, Mapping)) else {})
    rob_records = results.risk_of_bias
    case = _case_words(results.analyses, results.targets, results.claim_sources)
    analyses = [_analysis_view(a, rob_records, target_of(a, results.targets), case) for a in results.analyses]
    analyses.sort(key=lambda a: not a["ok"])  # analyses with a pooled estimate first; order otherwise kept
    claims = [_claim_view(c) for c in results.claims]
    gaps = _ranked_gaps(results.gaps)
    for view in analyses:
        if view["reported"]:  # the reviews' own figures stand beside every analysis, pooled or not
            view["reported_summary"] = reported_summary(view, gaps)
    flow = results.store.flow
    counts = results.store.counts
    headline = _headline(analyses)
    blocks = _summary_blocks(analyses, headline, claims)
    fingerprint = results.evidence_fingerprint or ""
    return {
        "generated_at": results.generated_at or NOT_AVAILABLE,
        "fingerprint": fingerprint or NOT_AVAILABLE,
        "fingerprint_short": fingerprint[:12] if fingerprint else NOT_AVAILABLE,
        "results_file": str(results_file or "results.json"),
        "case": case,
        "analyses": analyses,
        "headline": headline,
        "summary_blocks": blocks,
        "claims": claims,
        "verdict_counts": _verdict_counts(claims),
        "gaps": gaps,
        "gap_rank_rule": text_of(results.gap_rank_rule),
        "top_gaps": gaps[:3],
        "counts": [(k.replace("_", " "), count_text(v)) for k, v in counts.items()],
        "flow": {k: count_text(v) for k, v in flow if v is not None},  # the summary says "not available" for the rest
        "flow_svg": Markup(prisma_flow(flow)),
        "rob_svg": Markup(rob_traffic_light(rob_records)),
        "rob_figures": [{**f, "traffic_light": Markup(f["traffic_light"]), "summary": Markup(f["summary"])}
                        for f in rob_figures(rob_records)],
        "rob_records": rob_records,
        "rob_rule": ROB_RULE,
        "size_class_rule": SIZE_CLASS_RULE,
        "upgrade_rule": UPGRADE_RULE,
    }


# --- analyses ---------------------------------------------------------------------------------


# What the claims were read in, by the kind of their source: "The article says", "The review says".
SOURCE_NOUNS = {"article": "article", "review": "review", "study": "study", "dataset": "data set",
                "official_statement": "statement", "web_page": "page"}


def _case_words(analyses: list[AnalysisResult], targets: list[TargetRow],
                claim_sources: list[ClaimSource] = ()) -> dict[str, Any]:
    """The case's own words for titles and sentences: the place and topic of the target the analyses
    name (else the first target record), the word for one setting, what the claims were read in, and
    the measures and outcome families met (for the glossary)."""
    nouns = {SOURCE_NOUNS.get(s.kind, "source") for s in claim_sources}
    named = [t for a in analyses if (t := target_of(a, targets)) is not None]
    primary = named[0] if named else (TransportTarget.from_record(targets[0]) if targets else None)
    interventions = list(dict.fromkeys(text_of(a.intervention) for a in analyses if text_of(a.intervention)))
    topic = (primary.topic if primary and primary.topic else "; ".join(interventions)) or "the evidence"
    measures = sorted({row.measure for a in analyses for row in [*a.studies, *a.reported] if row.measure})
    families = list(dict.fromkeys(f for a in analyses for f in a.outcome_families if f))
    return {
        "place": primary.name if primary else None,
        "topic": topic,
        "title": topic[:1].upper() + topic[1:],
        "unit": primary.setting_type if primary else "setting",
        "units": primary.setting_plural if primary else "settings",
        "measures": measures,
        "family_examples": ", ".join(families[:3]),
        # one kind of source says what it is; claims from several kinds come from "the sources"
        "claims_from": nouns.pop() if len(nouns) == 1 else ("article" if not nouns else "source"),
    }


def _analysis_view(result: AnalysisResult, rob: list[RiskOfBiasRow], target: TransportTarget | None,
                   case: Mapping[str, Any]) -> dict[str, Any]:
    outcome_full = result.outcome or "events"
    # sentences read better without the bracketed measure, e.g. "crashes at enforced sites (CMF, after/before)"
    outcome = re.sub(r"\s*\([^)]*\)", "", outcome_full).strip() or outcome_full
    # GRADE is assessed once by the pipeline; results written elsewhere without it are assessed here
    grade = (GradeAssessment.from_record(result.grade) if result.grade and result.grade.certainty
             else assess_certainty(result, rob, target))
    figures = result.figures
    unit = text_of(result.unit) or (target.setting_type if target else case["unit"])
    units = text_of(result.units) or (target.setting_plural if target else case["units"])
    view = {
        "unit": unit,
        "units": units,
        "place": target.name if target else None,
        "id": result.id or NOT_AVAILABLE,
        "title": result.title or result.id or "Untitled analysis",
        "question": text_of(result.question),
        "intervention": result.intervention or "the intervention",
        "outcome": outcome,
        "outcome_full": outcome_full,
        "k": count_text(result.k),
        "status": result.status or NOT_AVAILABLE,
        "ok": result.ok,
        "gap_ids": list(result.gaps),
        "not_evaluated_ids": list(result.not_evaluated),
        "inputs": list(result.inputs),
        "studies": [_study_view(s) for s in result.studies],
        "reported": [_reported_view(r) for r in result.reported],
        "grade": grade,
        "grade_rows": _grade_rows(grade),
        "figures": _figure_views(figures, unit),
        "status_reason": text_of(result.status_reason),
        "freq": _freq_view(result.frequentist, outcome) if result.frequentist else None,
        "bayes": _bayes_view(result.bayes, outcome) if result.bayes else None,
        "transport": (_transport_view(result.transport, outcome, target.name if target else None)
                      if result.transport else None),
        "mcmc": mcmc_view(result.mcmc, result.bayes, figures),
        "reported_summary": None,  # filled in by build_context, which knows the gap register
    }
    words = likelihood_word_allowed(grade.certainty)
    view["likelihood_words"] = words
    if not words:  # a calibrated likelihood word would claim more than low or very low certainty allows
        for part in (view["bayes"], view["transport"]):
            if part:
                for key in [k for k in part if k.endswith("_term")]:
                    part[key] = f"no likelihood word at {grade.label.lower()} certainty"
    target_name = view["transport"]["target"] if view["transport"] else None
    view["benefit"] = _benefit(result.transport, target_name, result.bayes, outcome, words, unit, units)
    low, high = _pooled_interval(result.frequentist, result.bayes)
    view["sensitivity"] = _sensitivity_view(result.sensitivity)
    view["meta_regression"] = _regression_view(result.meta_regression)
    view["outcome_model"] = _regression_view(result.outcome_model)
    view["other_outcomes"] = [_study_view(s) for s in result.other_outcomes]
    view["duplicates"] = list(result.duplicates)
    view["own_rows"] = _own_rows(view["studies"] + view["other_outcomes"])
    view["evaluation_rule"] = text_of(result.evaluation_rule.text) if result.evaluation_rule else ""
    view["pooled_family"] = text_of(result.outcome_family)
    if view["ok"]:
        estimate = result.frequentist.estimate if result.frequentist else None
        if estimate is None and result.bayes is not None:
            estimate = result.bayes.mu.mean
        view["statement"] = plain_language_statement(grade.certainty, view["intervention"], outcome, low, high,
                                                     estimate=estimate)
        if view["sensitivity"] and view["sensitivity"]["headline_note"]:
            view["statement"] += " " + view["sensitivity"]["headline_note"]
    else:  # nothing pooled: GRADE's very-low wording, with no number in the headline
        view["statement"] = plain_language_statement(grade.certainty, view["intervention"], outcome, None, None)
    return view


def _moderator_test(fit: FrequentistFit) -> str:
    """The test that the moderators explain nothing, with its p value defined in words."""
    dfs = [d for d in fit.qm_df if d is not None]
    name = f"F({', '.join(str(d) for d in dfs)})" if len(dfs) == 2 else f"chi-squared({', '.join(str(d) for d in dfs)})"
    return (f"Test that the moderators explain none of the differences: {name} = {num_text(fit.qm, 2)}, "
            f"p = {p_text(fit.qm_p)} (p: how often differences this large would arise by chance if they did not)")


def _own_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The store's estimates one per line; rows that share an evaluation say so (one evaluation, one voice)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["evaluation"]] = counts.get(row["evaluation"], 0) + 1
    return [dict(row, shared_note=f"same evaluation as {counts[row['evaluation']] - 1} other line"
                 f"{'s' if counts[row['evaluation']] > 2 else ''} here: {row['evaluation']}"
                 if counts[row["evaluation"]] > 1 else "") for row in rows]


def _sensitivity_view(sens: Sensitivity | None) -> dict[str, Any] | None:
    """Rows of the sensitivity table and, when the size class or the direction moves, the sentence the
    headline carries (words only: no point estimate)."""
    if sens is None:
        return None
    rows = []
    for r in sens.rows:
        ok = r.status == "ok"
        rows.append({
            "label": text_of(r.label),
            "k": count_text(r.k),
            "pct": pct_text(r.estimate) if ok else NOT_AVAILABLE,
            "ci": describe_interval(r.ci_low, r.ci_high) if ok else NOT_AVAILABLE,
            "size_class": text_of(r.size_class) if ok else NOT_AVAILABLE,
            "changes": ", ".join(w for w, flag in (("direction", r.changes_direction),
                                                   ("size", r.changes_size_class)) if flag) or "no",
            "note": text_of(r.reason),
        })
    moved = [r for r in sens.rows if r.status == "ok"]
    direction = [r for r in moved if r.changes_direction]
    size = [r for r in moved if r.changes_size_class]
    note = ""
    if direction:
        note = (f"The direction of the change is not robust: it reverses {_when(direction)}.")
    elif size:
        classes = sorted({str(r.size_class) for r in size})
        note = (f"The size of the change is not robust: it is {sens.main.size_class} with all estimates but "
                f"{' or '.join(classes)} {_when(size)}.")
    return {"rows": rows, "headline_note": note, "size_class_rule": text_of(sens.size_class_rule) or SIZE_CLASS_RULE,
            "main_size_class": text_of(sens.main.size_class)}


def _when(rows: list[SensitivityRow]) -> str:
    labels = [r.label for r in rows]
    return labels[0] if len(labels) == 1 else f"in {len(labels)} of the checks ({'; '.join(labels)})"


def _regression_view(reg: MetaRegression | None) -> dict[str, Any] | None:
    """A meta-regression as readers see it: each coefficient as a ratio change, the test of moderators."""
    if reg is None:
        return None
    fit = reg.fit
    rows = [{"name": "intercept (reference)" if c.name == "intrcpt" else text_of(c.name),
             "estimate": num_text(c.estimate, 3), "ci": pair_text(c.ci_low, c.ci_high, 3),
             "pct": pct_text(c.estimate), "p": p_text(c.p)}
            for c in (fit.coefficients if fit else [])]
    return {
        "what": text_of(reg.what),
        "ok": reg.status == "ok",
        "reason": text_of(reg.reason),
        "k": count_text(reg.k),
        "left_out": list(reg.left_out),
        "moderators": list(reg.moderators),
        "rows": rows,
        "test": _moderator_test(fit) if fit else NOT_AVAILABLE,
        "tau2": num_text(fit.tau2 if fit else None, 4),
        "exploratory": (reg.k or 0) < 10,
        "note": text_of(reg.note),
    }


def _pooled_interval(freq: FrequentistFit | None, bayes: ExactPosterior | None) -> tuple[float | None, float | None]:
    low, high = (freq.ci_low, freq.ci_high) if freq else (None, None)
    if (low is None or high is None) and bayes is not None:
        low, high = bayes.mu.q025, bayes.mu.q975
    return low, high


def _freq_view(freq: FrequentistFit, outcome: str) -> dict[str, Any]:
    i2 = freq.i2  # percent, as metafor reports it
    egger = freq.bias.egger if freq.bias else None
    trimfill = freq.bias.trimfill if freq.bias else None
    return {
        "effect": describe_change(freq.estimate, outcome),
        "pct": pct_text(freq.estimate),
        "ci": describe_interval(freq.ci_low, freq.ci_high),
        "pi": describe_interval(freq.pi_low, freq.pi_high),
        "tau2": num_text(freq.tau2, 4),
        "tau2_ci": pair_text(freq.tau2_ci_low, freq.tau2_ci_high, 4),
        "i2": f"{i2:.0f}%" if i2 is not None else NOT_AVAILABLE,
        "q": num_text(freq.q, 2),
        "q_p": p_text(freq.q_p),
        "method": freq.method or NOT_AVAILABLE,
        "test": freq.test or NOT_AVAILABLE,
        "egger": f"z = {num_text(egger.z, 2)}, p = {p_text(egger.p)}" if egger else NOT_AVAILABLE,
        "trimfill": (
            f"{count_text(trimfill.k0)} added on the {text_of(trimfill.side) or '?'} side; "
            f"adjusted {pct_text(trimfill.estimate)}"
            if trimfill
            else NOT_AVAILABLE
        ),
    }


def _sci(value: float | None) -> str:
    x = as_float(value)
    return f"{x:.1e}" if x is not None else NOT_AVAILABLE


def _bayes_view(bayes: ExactPosterior, outcome: str) -> dict[str, Any]:
    mu, tau, pred = bayes.mu, bayes.tau, bayes.predictive
    diag = bayes.diagnostics
    priors = {k: v for k, v in (bayes.priors or PriorPair()) if v is not None}  # (name, value) pairs
    has_tau = any(v is not None for v in (tau.mean, tau.q025, tau.q975))
    return {
        "effect": describe_change(mu.mean, outcome),
        "pct": pct_text(mu.mean),
        "cri": describe_interval(mu.q025, mu.q975),
        "tau": f"{num_text(tau.mean, 3)} (95% CrI {pair_text(tau.q025, tau.q975, 3)})" if has_tau else NOT_AVAILABLE,
        "predictive": describe_interval(pred.q025, pred.q975),
        "p_benefit": prob_text(bayes.p_benefit),
        "p_benefit_term": likelihood_term(bayes.p_benefit),
        "p_pred_benefit": prob_text(bayes.p_pred_benefit),
        "p_pred_benefit_term": likelihood_term(bayes.p_pred_benefit),
        "priors": ", ".join(f"{k}: {v}" for k, v in priors.items()) if priors else NOT_AVAILABLE,
        "method": bayes.method or NOT_AVAILABLE,
        "diagnostics": (
            f"{'OK' if diag.ok else 'PROBLEM'}: numerical integration, no sampler; the results on "
            f"{count_text(diag.grid_points)} grid points and on half of them differ by at most "
            f"{_sci(diag.max_difference)} (tolerance {_sci(diag.tolerance)})"
            if diag is not None
            else "numerical integration, no sampler to diagnose" if bayes.method == "exact" else NOT_AVAILABLE
        ),
        "diagnostics_ok": bool(diag.ok) if diag is not None else bayes.method == "exact",
        **prior_views(bayes),
    }


def _transport_view(transport: Transport, outcome: str, place: str | None = None) -> dict[str, Any]:
    """What the target can expect, from the transported ratio (median and 95% interval); ``place`` is the
    name of the analysis' target record, used when the transport result names none."""
    pred, ratio = transport.predictive, transport.ratio
    target = transport.target or place or "the target"
    middle, low, high = (_log(x) for x in (ratio.median, ratio.q025, ratio.q975))
    if middle is None or low is None or high is None:  # no ratio: the predictive log ratio says the same
        middle, low, high = pred.median, pred.q025, pred.q975
        if middle is None:
            middle = pred.mean
    expected = describe_change(middle, outcome)
    if expected == NOT_AVAILABLE or low is None or high is None:
        plain = NOT_AVAILABLE
    else:
        plain = (
            f"most likely about {expected}, but anywhere from {_change_words(low)} to {_change_words(high)} "
            f"(95% interval)"
        )
    return {
        "target": target,
        "effect": expected,
        "interval": describe_interval(low, high),
        "plain": plain,
        "p_benefit": prob_text(transport.p_benefit),
        "p_benefit_term": likelihood_term(transport.p_benefit),
        "assumptions": [_plain_assumption(x) for x in transport.assumptions],
        "flag": text_of(transport.flag),
        **transport_sensitivity_view(transport),
    }


def _plain_assumption(text: str) -> str:
    """Statisticians' words explained where readers meet them."""
    if "exchangeable" in text and "(exchangeable:" not in text:
        text = text.replace("exchangeable", "exchangeable (expected to respond like the studied places, as if drawn "
                                            "from the same set)", 1)
    return text


def _log(ratio: float | None) -> float | None:
    x = as_float(ratio)
    return math.log(x) if x is not None and x > 0 else None


def _change_words(log_ratio: float) -> str:
    """-0.2 -> '18% fewer'; the noun is said once, in the sentence."""
    change = percent_change(log_ratio)
    if change is None:
        return NOT_AVAILABLE
    if round(abs(change)) == 0:
        return "no change"
    return f"{abs(change):.0f}% {'fewer' if change < 0 else 'more'}"


def _benefit(transport: Transport | None, target_name: str | None, bayes: ExactPosterior | None, outcome: str,
             words: bool = True, unit: str = "setting", units: str = "settings") -> dict[str, Any] | None:
    """The probability shown to a policymaker, with where it comes from.

    A natural frequency "in 100 similar settings" (the case's word: sites, trials, ...) is about
    individual settings, so it must come from a predictive distribution (the transported one, else a
    new similar setting), never from the average effect.
    """
    candidates = [
        ("transport", transport.p_benefit if transport else None, f"transported to {target_name or 'the target'}"),
        ("predictive", bayes.p_pred_benefit if bayes else None, f"for a new {unit} like those studied"),
    ]
    shares = (bayes.share_benefiting if bayes else None) or ShareBenefiting()
    for kind, p, where in candidates:
        if p is None or not 0.0 <= p <= 1.0:
            continue
        entry = likelihood(p)
        freq = natural_frequency(p, 100)
        share = (shares.any if kind == "predictive" else None) or ShareBenefit()
        meaningful = (shares.meaningful if kind == "predictive" else None) or ShareBenefit()
        sentence = f"In 100 similar {units}, about {freq.count} would see fewer {outcome} and {freq.rest} would not."
        if share.low is not None and share.high is not None:
            # The share is itself uncertain (the average and the spread are); say by how much.
            sentence += (f" That number is itself uncertain: between {100 * share.low:.0f} and "
                         f"{100 * share.high:.0f} of 100 ({100 * (share.level or 0.95):.0f}% interval).")
        if meaningful.mean is not None:
            basis = text_of(shares.meaningful_basis)
            sentence += (f" About {100 * meaningful.mean:.0f} of 100 would see a fall of at least "
                         f"{100 * (1 - meaningful.threshold_ratio):.0f}%, the smallest fall counted as a meaningful "
                         f"benefit{f' ({basis})' if basis else ''}.")
        return {
            "kind": kind,
            "where": where,
            "p": p,
            "probability": f"{100 * p:.0f}%",
            "term": entry.term if words else "",
            "term_range": entry.range_text if words else "",
            "count": freq.count,
            "rest": freq.rest,
            "sentence": sentence,
            "share_low": share.low,
            "share_high": share.high,
            "icon_svg": Markup(icon_array(p, 100, label=f"similar {units}", outcome=f"fewer {outcome}")),
        }
    return None


def _headline(analyses: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The analysis the one-page summary leads with: transported to the target if any, else the
    largest usable one."""
    usable = [a for a in analyses if a["ok"]]
    if not usable:
        return None
    with_transport = [a for a in usable if a["transport"] is not None and a["benefit"] is not None]
    pool = with_transport or [a for a in usable if a["benefit"] is not None] or usable
    return max(pool, key=lambda a: (as_int(a["k"]) or 0))


def _summary_blocks(
    analyses: list[dict[str, Any]], headline: dict[str, Any] | None, claims: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The questions the one-page summary answers, most relevant to the article first.

    One block for the headline analysis (pooled) and one for each analysis that could not be
    pooled but has reported results. Relevance is the number of the article's claims that cite
    the analysis; ties keep the pooled block first, then the analyses' own order.
    """
    candidates = ([headline] if headline else []) + [a for a in analyses if not a["ok"] and a["reported_summary"]]
    blocks = []
    for position, a in enumerate(candidates):
        citing = [c for c in claims if a["id"] in c["analyses"]]
        primary = [c for c in citing if c["analyses"][0] == a["id"]]
        blocks.append(
            {
                "kind": "pooled" if a is headline else "reported",
                "analysis": a,
                "claim": (primary or citing or [None])[0],
                "n_claims": len(citing),
                "order": (-len(citing), a is not headline, position),
            }
        )
    blocks.sort(key=lambda b: b["order"])
    return blocks


def _grade_rows(grade: GradeAssessment) -> list[dict[str, str]]:
    return [
        {"name": d.name, "judgement": d.judgement, "downgrade": signed_downgrade(d.downgrade), "reason": d.reason,
         "rule": d.rule}
        for d in grade.domains
    ]


def _study_view(s: StudyRow) -> dict[str, Any]:
    yi, vi = s.yi, s.vi
    se = math.sqrt(vi) if vi is not None and vi >= 0 else None
    return {
        "id": text_of(s.id) or NOT_AVAILABLE,
        "label": text_of(s.label) or text_of(s.id) or NOT_AVAILABLE,
        "pct": pct_text(yi),
        "ci": describe_interval(yi - 1.96 * se, yi + 1.96 * se) if yi is not None and se is not None else NOT_AVAILABLE,
        "design": (text_of(s.design) or NOT_AVAILABLE).replace("_", " "),
        "rob": (text_of(s.rob_overall) or "not assessed").replace("_", " "),
        "setting": text_of(s.setting) or NOT_AVAILABLE,
        "country": text_of(s.country) or NOT_AVAILABLE,
        "outcome_family": text_of(s.outcome_family) or NOT_AVAILABLE,
        "evaluation": text_of(s.evaluation) or text_of(s.study) or NOT_AVAILABLE,
        "secondary": s.provenance == "secondary",
    }


def _reported_view(r: ReportedRow) -> dict[str, Any]:
    value = r.percent_change
    return {
        "estimate_id": text_of(r.estimate_id) or NOT_AVAILABLE,
        "source": text_of(r.source) or NOT_AVAILABLE,
        "study_label": text_of(r.label) or text_of(r.study) or text_of(r.source) or NOT_AVAILABLE,
        "year": r.year,
        "n_units": text_of(r.n_units),
        "design": text_of(r.design),
        "outcome": text_of(r.outcome) or NOT_AVAILABLE,
        "subgroup": text_of(r.subgroup),
        "value": value,
        # 'about' keeps the source's own hedge ("about 20%", "approximately 25%")
        "percent_change": (("about " if r.qualifier == "about" else "") + f"{value:+.0f}%")
        if value is not None else NOT_AVAILABLE,
        "significant_flag": r.significant,
        "significant": {True: "yes", False: "no"}.get(r.significant, "not stated"),
        "provenance": text_of(r.provenance) or NOT_AVAILABLE,
        "secondary": r.provenance == "secondary",
        "narrative": text_of(r.narrative) if value is None else "",
    }


# --- claims and gaps --------------------------------------------------------------------------


def _claim_view(c: ClaimVerdict) -> dict[str, Any]:
    label = text_of(c.label)
    verdict, css = VERDICTS.get(label, (label.replace("_", " ").capitalize() or NOT_AVAILABLE, "verdict-nee"))
    plausibility = text_of(c.plausibility)
    return {
        "id": text_of(c.claim_id) or NOT_AVAILABLE,
        "text": text_of(c.text) or NOT_AVAILABLE,
        "label": label,
        "verdict": verdict + (f" ({plausibility})" if plausibility else ""),
        "css": css,
        "fever_label": text_of(c.fever_label) or NOT_AVAILABLE,
        "reason": text_of(c.reason) or NOT_AVAILABLE,
        "strength": text_of(c.evidence_strength) or NOT_AVAILABLE,
        "strength_basis": text_of(c.evidence_strength_basis),
        "claim_date": text_of(c.claim_date),
        "parts": [
            {"aspect": text_of(x.aspect).replace("_", " "), "claimed": text_of(x.claimed),
             "verdict": VERDICTS.get(text_of(x.label), (text_of(x.label_name) or NOT_AVAILABLE, "verdict-nee"))[0]
             + (f" ({x.plausibility})" if x.plausibility else ""),
             "css": VERDICTS.get(text_of(x.label), ("", "verdict-nee"))[1],
             "reason": text_of(x.reason)}
            for x in c.parts
        ],
        "rationale": text_of(c.rationale) or NOT_AVAILABLE,
        "arithmetic": [{"step": text_of(s.step), "formula": text_of(s.formula), "result": text_of(s.result)}
                       for s in c.arithmetic],
        "assumptions": list(c.assumptions),
        "evidence": list(c.evidence),
        "analyses": list(c.analyses),
        "gaps": list(c.gaps),
    }


def _verdict_counts(claims: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    out = []
    for label, (name, css) in VERDICTS.items():
        n = sum(1 for c in claims if c["label"] == label)
        if n:
            out.append((name, css, n))
    return out


def _ranked_gaps(gaps: list[RankedGap]) -> list[dict[str, Any]]:
    def key(g: RankedGap) -> tuple:
        width = g.voi.pi_width_reduction if g.voi else None
        return (g.rank is None, g.rank if g.rank is not None else 0, -(width or 0.0), g.id)

    out = []
    for position, g in enumerate(sorted(gaps, key=key), start=1):
        voi = g.voi
        width = voi.pi_width_reduction if voi else None
        change = voi.p_benefit_change if voi else None
        out.append(
            {
                "position": position,
                "id": text_of(g.id) or NOT_AVAILABLE,
                "what": text_of(g.what) or NOT_AVAILABLE,
                "why": text_of(g.why_it_matters) or NOT_AVAILABLE,
                "who": text_of(g.who_may_hold) or NOT_AVAILABLE,
                "status": (text_of(g.status) or NOT_AVAILABLE).replace("_", " "),
                "parameter": text_of(g.parameter) or "—",
                "voi_width": f"{100 * width:.0f}%" if width is not None else NOT_AVAILABLE,
                # an expected absolute shift, so no sign
                "voi_change": f"{100 * change:.0f} points" if change is not None else NOT_AVAILABLE,
                "voi_decision": prob_text(voi.p_decision_change if voi else None),
                "voi_description": text_of(voi.description if voi else None),
                "voi_analysis": text_of(voi.analysis if voi else None),
                "voi_note": text_of(voi.note if voi else None),
                "has_voi": voi is not None,
                "rank_group": text_of(g.rank_group),
                **voi_assumption_view(voi),
            }
        )
    return out


# --- figures ----------------------------------------------------------------------------------

FIGURE_CAPTIONS = {
    "forest": "Forest plot",
    "funnel": "Funnel plot",
    "posterior": "Posterior of the average effect",
    "predictive": "Predictive distribution for a new {unit}",
}


def _figure_views(figures: Mapping[str, str | None], unit: str = "setting") -> list[dict[str, Any]]:
    """The standard figures in a fixed order (shown as missing when absent), then any others.

    MCMC trace plots are left out: they are shown with the MCMC comparison table."""
    standard = list(FIGURE_CAPTIONS)[:3]
    names = standard + [n for n in figures if n not in standard and not n.startswith(TRACE_PREFIX)]
    return [
        {
            "name": re.sub(r"[^a-z0-9_-]", "", name.lower()) or "figure",
            "caption": FIGURE_CAPTIONS.get(name, name.replace("_", " ").capitalize()).format(unit=unit),
            "svg": safe_svg(figures.get(name)),
        }
        for name in names
    ]
