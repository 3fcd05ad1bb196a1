"""GRADE-style certainty of a pooled effect, computed from the data rather than typed by hand.

GRADE (Guyatt et al. 2008, BMJ 336:924; GRADE Handbook 2013) rates the certainty of a body of
evidence: randomised evidence starts "high", observational evidence starts "low", and five
domains can each lower it by one or two levels, and three (large effect, dose-response, residual
confounding) can raise observational evidence that was not lowered. Here each domain is a rule over
the analysis result, the risk-of-bias records (their domains as well as their overall label,
weighted by the studies' weights in the pool) and the target setting the analysis names (a
``targets`` record of the evidence store; without one, indirectness is not assessed). Every judgement carries the reason and the numbers that triggered it, and the
risk-of-bias and upgrade rules travel with their rows, so a reader can disagree with a rule and
see exactly what would change.

Input is one analysis result (``research.results.AnalysisResult``, or the same as plain data, which
is validated into it); values are on the log ratio scale, negative = fewer events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from pydantic import BaseModel

from research.results import (
    AnalysisResult,
    FrequentistFit,
    Grade,
    GradeDomain,
    Results,
    RiskOfBiasRow,
    StudyRow,
    TargetRow,
    clean,
)

LEVELS = ("very_low", "low", "moderate", "high")
LEVEL_LABELS = {"high": "High", "moderate": "Moderate", "low": "Low", "very_low": "Very low"}
LEVEL_MEANING = {
    "high": "further research is very unlikely to change our confidence in the estimate",
    "moderate": "further research is likely to have an important impact on our confidence in the estimate",
    "low": "further research is very likely to change the estimate",
    "very_low": "any estimate of effect is very uncertain",
}
RANDOMISED_DESIGNS = frozenset({"randomised_experiment"})  # quasi-randomised allocation starts low, as observational

# Rule thresholds (GRADE Handbook section 5 gives the ideas; the cut-offs are ours and stated in each reason).
ROB_SERIOUS_SHARE = 0.5  # share of the weight at high risk, or with concerns, that makes risk of bias serious
CONCERN_JUDGEMENTS = frozenset({"some_concerns", "unclear"})
ROB_RULE = (
    "Each study counts as high risk if its overall label or any domain is high; as having concerns if its "
    "label is some concerns or unclear, if most of its domains are some concerns or unclear, or if it was not "
    "assessed; as low otherwise. Shares are of the study weights in the pool: high risk for half the weight or "
    "more is very serious (-2); high risk or concerns for half the weight or more is serious (-1); "
    "anything less is not serious."
)
I2_SUBSTANTIAL = 0.5  # I^2 at or above this is substantial heterogeneity (Cochrane Handbook 10.10.2)
I2_CONSIDERABLE = 0.75
APPRECIABLE_BENEFIT = math.log(0.75)  # GRADE's default thresholds for an appreciable effect: RR 0.75 / 1.25
APPRECIABLE_HARM = math.log(1.25)
LARGE_EFFECT = math.log(0.5)  # RR < 0.5 with the whole interval below it: GRADE's "large effect" upgrade
VERY_LARGE_EFFECT = math.log(0.2)  # RR < 0.2: "very large", two levels (Guyatt et al. 2011, J Clin Epidemiol 64:1311)
DOSE_RESPONSE_ALPHA = 0.05
UPGRADE_DOMAINS = ("large effect", "dose-response", "residual confounding")
UPGRADE_RULE = (
    "Observational evidence with no downgrade can be rated up: large effect when the whole interval lies below "
    "a halving (+1) or below a fifth (+2); dose-response when a declared dose moderator has a slope in the "
    f"direction of the effect with p < {DOSE_RESPONSE_ALPHA}; residual confounding when the analysis declares why "
    "all plausible confounding would shrink the effect seen."
)
PUBLICATION_BIAS_MIN_K = 10  # Egger's test and funnel plots are not meaningful with fewer studies
EGGER_ALPHA = 0.10


@dataclass(frozen=True)
class TransportTarget:
    """Where the evidence is to be applied, described well enough to judge indirectness.

    Built from a ``targets`` record of the evidence store (``from_record``); the year the intervention's
    current generation began comes from the date of the record's sourced ``generation_fact``."""

    name: str
    intervention: str
    setting_terms: tuple[str, ...]
    country: str | None = None
    generation_since: int | None = None
    id: str = ""
    setting_type: str = "setting"
    setting_plural: str = "settings"
    topic: str | None = None

    @classmethod
    def from_record(cls, record: TargetRow | BaseModel | Mapping[str, Any],
                    fact_dates: Mapping[str, str | None] | None = None) -> "TransportTarget":
        """``record``: a target as results hold it, a store record or plain data; ``fact_dates`` maps fact ids
        to their dates (else the record's own ``generation_since`` is used)."""
        row = TargetRow.model_validate(record, from_attributes=True)
        year = row.generation_since
        if fact_dates is not None and row.generation_fact:
            year = generation_year(fact_dates.get(row.generation_fact))
        setting_type = row.setting_type or "setting"
        return cls(name=row.name or row.id or "the target", intervention=row.intervention or "",
                   setting_terms=tuple(row.setting_terms) or (setting_type,), country=row.country or None,
                   generation_since=year, id=row.id, setting_type=setting_type,
                   setting_plural=row.setting_plural or "settings", topic=row.topic or None)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "country": self.country, "setting_type": self.setting_type,
                "setting_plural": self.setting_plural, "setting_terms": list(self.setting_terms),
                "topic": self.topic, "intervention": self.intervention, "generation_since": self.generation_since}


def generation_year(date: str | None) -> int | None:
    """The year of an ISO-like date or period ('2017-09-15', '2017', '2017/2019'); None if it has none."""
    text = (date or "").strip()
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None


def target_of(analysis: AnalysisResult | Mapping[str, Any], targets: Iterable[Any],
              fact_dates: Mapping[str, str | None] | None = None) -> TransportTarget | None:
    """The target the analysis names (its ``target`` id), from target records (typed, store records or dicts)."""
    wanted = _analysis(analysis).target
    if not wanted:
        return None
    # store records are read by attribute, plain data by key, typed rows as they are
    rows = (TargetRow.model_validate(t, from_attributes=True) for t in targets or ())
    row = next((r for r in rows if r.id == wanted), None)
    return TransportTarget.from_record(row, fact_dates) if row else None


def _analysis(analysis: AnalysisResult | Mapping[str, Any]) -> AnalysisResult:
    """The typed result; plain data (the pipeline's, a test's) is validated into it."""
    return analysis if isinstance(analysis, AnalysisResult) else AnalysisResult.model_validate(clean(dict(analysis)))


@dataclass(frozen=True)
class Domain:
    """One GRADE domain: how many levels it lowers the rating and why."""

    name: str
    downgrade: int  # 0, 1 ("serious") or 2 ("very serious"); a negative value is an upgrade
    reason: str
    assessable: bool = True
    rule: str = ""  # the rule that turns the records into the judgement, shown to readers

    @property
    def is_upgrade_domain(self) -> bool:
        return self.name in UPGRADE_DOMAINS

    @property
    def judgement(self) -> str:
        if not self.assessable:
            return "not assessable"
        if self.downgrade < 0:
            return f"upgrade (+{-self.downgrade})"
        if self.is_upgrade_domain:
            return "no upgrade"
        return {0: "not serious", 1: "serious", 2: "very serious"}[min(self.downgrade, 2)]


@dataclass(frozen=True)
class GradeAssessment:
    """Certainty of one analysis: the starting level, each domain, and the final level."""

    analysis_id: str
    outcome: str
    start: str
    start_reason: str
    domains: tuple[Domain, ...]
    certainty: str
    k: int

    @property
    def total_downgrade(self) -> int:
        return sum(d.downgrade for d in self.domains)

    @property
    def label(self) -> str:
        return LEVEL_LABELS[self.certainty]

    @property
    def meaning(self) -> str:
        return LEVEL_MEANING[self.certainty]

    def domain(self, name: str) -> Domain:
        for d in self.domains:
            if d.name == name:
                return d
        raise KeyError(name)

    def to_record(self) -> Grade:
        """The assessment as results.json stores it (research.results.Grade)."""
        return Grade(analysis_id=self.analysis_id, outcome=self.outcome, k=self.k, start=self.start,
                     start_reason=self.start_reason, certainty=self.certainty,
                     domains=[GradeDomain(name=d.name, downgrade=d.downgrade, judgement=d.judgement, reason=d.reason,
                                          rule=d.rule, assessable=d.assessable) for d in self.domains])

    @classmethod
    def from_record(cls, grade: Grade) -> "GradeAssessment":
        """The assessment a build stored, with its labels and summary again."""
        return cls(grade.analysis_id, grade.outcome, grade.start or grade.certainty, grade.start_reason,
                   tuple(Domain(d.name, d.downgrade, d.reason, d.assessable, d.rule) for d in grade.domains),
                   grade.certainty, grade.k)

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis_id": self.analysis_id,
            "outcome": self.outcome,
            "k": self.k,
            "start": self.start,
            "start_reason": self.start_reason,
            "certainty": self.certainty,
            "domains": [
                {"name": d.name, "downgrade": d.downgrade, "judgement": d.judgement, "reason": d.reason,
                 "rule": d.rule}
                for d in self.domains
            ],
        }

    def summary(self) -> str:
        lines = [
            f"GRADE certainty for {self.analysis_id} ({self.outcome}, k={self.k})",
            f"  start: {LEVEL_LABELS[self.start]} - {self.start_reason}",
        ]
        for d in self.domains:
            sign = f"{-d.downgrade:+d}" if d.downgrade else " 0"
            lines.append(f"  {d.name:<20} {sign}  {d.judgement}: {d.reason}")
        lines.append(f"  certainty: {self.label} - {self.meaning}")
        return "\n".join(lines)


def assess_certainty(
    analysis: AnalysisResult | Mapping[str, Any],
    risk_of_bias: Iterable[RiskOfBiasRow | BaseModel | Mapping[str, Any]] | None = None,
    target: TransportTarget | None = None,
) -> GradeAssessment:
    """Rate one analysis result with the GRADE domains.

    ``risk_of_bias`` are the store's risk-of-bias assessments (``study``, ``overall``, ``domains``), as
    results hold them, as store records or as plain data; they take precedence over ``rob_overall`` given
    on the analysis' studies. ``target`` is where the evidence is applied; without one, indirectness is
    not assessed.
    """
    analysis = _analysis(analysis)
    studies, freq, k = analysis.studies, analysis.frequentist, analysis.k
    weights = _weights(studies, freq)
    start, start_reason = _start_level(studies, weights)
    rows = (RiskOfBiasRow.model_validate(r, from_attributes=True) for r in risk_of_bias or ())
    rob_by_study = {r.study: r for r in rows if r.study}
    domains = [
        _risk_of_bias(studies, weights, rob_by_study),
        _inconsistency(freq, k),
        _indirectness(studies, target),
        _imprecision(analysis, k),
        _publication_bias(freq, k),
    ]
    domains += _upgrades(start, domains, analysis)
    if k == 0 or analysis.status == "insufficient_data":
        domains = [
            Domain(d.name, 0, "no pooled estimate to rate (insufficient data)", assessable=False, rule=d.rule)
            for d in domains
            if not d.is_upgrade_domain
        ]
        certainty = "very_low"
    else:
        level = LEVELS.index(start) - sum(d.downgrade for d in domains)
        certainty = LEVELS[max(0, min(level, len(LEVELS) - 1))]
    return GradeAssessment(
        analysis_id=analysis.id,
        outcome=analysis.outcome or analysis.title or "",
        start=start,
        start_reason=start_reason,
        domains=tuple(domains),
        certainty=certainty,
        k=k,
    )


def grade_all(results: Results | Mapping[str, Any]) -> list[GradeAssessment]:
    """Rate every analysis of the results, each against the target it names (``results.targets``)."""
    results = Results.coerce(results)
    return [assess_certainty(a, results.risk_of_bias, target_of(a, results.targets)) for a in results.analyses]


# --- domains -----------------------------------------------------------------------------------


def _weights(studies: list[StudyRow], freq: FrequentistFit | None) -> list[float]:
    """Random-effects inverse-variance weights, normalised; equal weights where variances are missing."""
    tau2 = _finite(freq.tau2 if freq else None) or 0.0
    raw = []
    for s in studies:
        vi = _finite(s.vi)
        raw.append(1.0 / (vi + tau2) if vi is not None and vi + tau2 > 0 else None)
    if not raw or any(w is None for w in raw):
        return [1.0 / len(studies)] * len(studies) if studies else []
    total = sum(raw)
    return [w / total for w in raw]


def _start_level(studies: list[StudyRow], weights: list[float]) -> tuple[str, str]:
    if not studies:
        return "low", "no study designs available; treated as observational evidence"
    randomised = sum(w for s, w in zip(studies, weights) if s.design in RANDOMISED_DESIGNS)
    if randomised >= 0.5:
        return "high", f"randomised experiments carry {randomised:.0%} of the weight"
    designs = sorted({(s.design or "unknown").replace("_", " ") for s in studies})
    return "low", f"observational designs ({', '.join(designs)}) carry {1 - randomised:.0%} of the weight"


def _study_risk(study: StudyRow, record: RiskOfBiasRow | None) -> tuple[str, str]:
    """("high" | "concerns" | "low", why) for one study, from its overall label and its domains."""
    overall = (record.overall if record else None) or study.rob_overall
    domains = record.domains if record else {}
    if not overall and not domains:
        return "concerns", "not assessed"
    said = str(overall or "no overall label").replace("_", " ")
    worrying = sum(1 for v in domains.values() if v in CONCERN_JUDGEMENTS)
    high_domains = sorted(name for name, v in domains.items() if v == "high")
    if domains:
        said += f"; {worrying} of {len(domains)} domains some concerns or unclear"
    if overall == "high" or high_domains:
        return "high", said + (f"; high in {', '.join(high_domains)}" if high_domains else "")
    if overall in CONCERN_JUDGEMENTS or (domains and worrying > len(domains) / 2):
        return "concerns", said
    return "low", said


def _risk_of_bias(studies: list[StudyRow], weights: list[float], rob_by_study: Mapping[str, RiskOfBiasRow]) -> Domain:
    name = "risk of bias"
    if not studies:
        return Domain(name, 0, "no studies", assessable=False, rule=ROB_RULE)
    shares = {"high": 0.0, "concerns": 0.0, "low": 0.0}
    by_study = []
    for s, w in zip(studies, weights):
        record = rob_by_study.get(s.study) or rob_by_study.get(s.id)
        level, why = _study_risk(s, record)
        shares[level] += w
        by_study.append(f"{s.study or s.id} ({w:.0%} of the weight): {why}")
    high, concerns = shares["high"], shares["concerns"]
    numbers = (f"{high:.0%} of the weight at high risk, {concerns:.0%} with some concerns or unclear, "
               f"{shares['low']:.0%} low (threshold {ROB_SERIOUS_SHARE:.0%}). By study: " + "; ".join(by_study))
    if high >= ROB_SERIOUS_SHARE:
        return Domain(name, 2, "most of the weight is at high risk of bias: " + numbers, rule=ROB_RULE)
    if high + concerns >= ROB_SERIOUS_SHARE:
        return Domain(name, 1, "most of the weight has some concerns, unclear or high risk of bias: " + numbers,
                      rule=ROB_RULE)
    return Domain(name, 0, "most of the weight is at low risk of bias: " + numbers, rule=ROB_RULE)


def _inconsistency(freq: FrequentistFit | None, k: int) -> Domain:
    name = "inconsistency"
    if k < 2:
        return Domain(name, 0, "a single study: consistency cannot be judged", assessable=False)
    if not freq:
        return Domain(name, 0, "no frequentist fit, so no I² or prediction interval", assessable=False)
    i2 = _finite(freq.i2)
    i2 = None if i2 is None else i2 / 100.0  # results carry I² in percent, as metafor and research.meta report it
    pi_low, pi_high = _finite(freq.pi_low), _finite(freq.pi_high)
    ci_low, ci_high = _finite(freq.ci_low), _finite(freq.ci_high)
    reasons, points = [], 0
    if i2 is not None:
        if i2 >= I2_CONSIDERABLE:
            points = 2
            reasons.append(f"I² = {i2:.0%} (considerable, ≥ {I2_CONSIDERABLE:.0%})")
        elif i2 >= I2_SUBSTANTIAL:
            points = 1
            reasons.append(f"I² = {i2:.0%} (substantial, ≥ {I2_SUBSTANTIAL:.0%})")
        else:
            reasons.append(f"I² = {i2:.0%}")
    pi_crosses = pi_low is not None and pi_high is not None and pi_low < 0.0 < pi_high
    ci_crosses = ci_low is not None and ci_high is not None and ci_low < 0.0 < ci_high
    if pi_crosses and not ci_crosses:
        points = max(points, 1)
        reasons.append("the 95% prediction interval includes no effect although the confidence interval does not")
    elif pi_crosses:
        reasons.append("the prediction interval includes no effect")
    if points and i2 is not None and i2 >= I2_CONSIDERABLE and not pi_crosses:
        # studies disagree about how much, not whether: one level is enough
        points = 1
        reasons.append("all plausible study effects point the same way")
    if i2 is None and pi_low is None:
        return Domain(name, 0, "I² and prediction interval not available", assessable=False)
    return Domain(name, points, "; ".join(reasons))


def _indirectness(studies: list[StudyRow], target: TransportTarget | None) -> Domain:
    name = "indirectness"
    if not studies:
        return Domain(name, 0, "no studies", assessable=False)
    if target is None:
        return Domain(name, 0, "not assessed: the analysis names no target setting (declare `target:` with a "
                               "targets record)", assessable=False)
    countries = sorted({s.country for s in studies if s.country})
    mismatches = []
    if target.country and not any(target.country.lower() in c.lower() for c in countries):
        where = ", ".join(countries) if countries else "countries not recorded"
        mismatches.append(f"no study from {target.country} (studies from: {where})")
    settings = [(s.setting or "").lower() for s in studies]
    if not any(term in setting for setting in settings for term in target.setting_terms):
        mismatches.append(f"no study in a setting like {target.name}'s ({'/'.join(target.setting_terms)})")
    years = [s.year for s in studies if s.year is not None]
    if target.generation_since is not None and not any(y >= target.generation_since for y in years):
        latest = f"latest study year {max(years)}" if years else "study years not recorded"
        mismatches.append(
            f"no evaluation of the current generation of the intervention ({target.intervention}; {latest})"
        )
    if not mismatches:
        matched = ", ".join(part for part, known in (("country", target.country), ("setting", True),
                                                    ("intervention generation", target.generation_since)) if known)
        return Domain(name, 0, f"studies match {target.name} in {matched}")
    points = 2 if len(mismatches) == 3 else 1
    return Domain(name, points, f"indirect for {target.name}: " + "; ".join(mismatches))


def _interval(analysis: AnalysisResult) -> tuple[float | None, float | None, str]:
    freq, bayes = analysis.frequentist, analysis.bayes
    low, high = (_finite(freq.ci_low), _finite(freq.ci_high)) if freq else (None, None)
    if low is not None and high is not None:
        return low, high, "95% confidence interval"
    low, high = (_finite(bayes.mu.q025), _finite(bayes.mu.q975)) if bayes else (None, None)
    if low is not None and high is not None:
        return low, high, "95% credible interval"
    return None, None, ""


def _imprecision(analysis: AnalysisResult, k: int) -> Domain:
    name = "imprecision"
    low, high, kind = _interval(analysis)
    if low is None or high is None:
        return Domain(name, 1, "no interval for the pooled effect is available", assessable=False)
    span = f"{kind} {_pct(low)} to {_pct(high)}"
    if low < APPRECIABLE_BENEFIT and high > APPRECIABLE_HARM:
        return Domain(name, 2, f"{span} includes both an appreciable benefit (25% fewer) and harm (25% more)")
    if low < 0.0 < high:
        return Domain(name, 1, f"{span} includes no effect")
    if k < 3:
        return Domain(name, 1, f"{span} excludes no effect but rests on only {k} stud{'y' if k == 1 else 'ies'}")
    return Domain(name, 0, f"{span} excludes no effect (k = {k})")


def _publication_bias(freq: FrequentistFit | None, k: int) -> Domain:
    name = "publication bias"
    if k < PUBLICATION_BIAS_MIN_K:
        return Domain(name, 0, f"not assessable: funnel plots and Egger's test need at least "
                               f"{PUBLICATION_BIAS_MIN_K} studies (k = {k} < {PUBLICATION_BIAS_MIN_K})",
                      assessable=False)
    bias = freq.bias if freq else None
    egger, trimfill = (bias.egger, bias.trimfill) if bias else (None, None)
    p = _finite(egger.p) if egger else None
    k0 = trimfill.k0 if trimfill else None
    if p is None and k0 is None:
        return Domain(name, 0, "no funnel-asymmetry test available", assessable=False)
    reasons = []
    points = 0
    if p is not None:
        if p < EGGER_ALPHA:
            points = 1
            reasons.append(f"Egger's test suggests funnel asymmetry (p = {p:.3f} < {EGGER_ALPHA})")
        else:
            reasons.append(f"Egger's test p = {p:.3f}")
    if k0 is not None:
        adjusted = _finite(trimfill.estimate)
        estimate = _finite(freq.estimate)
        reasons.append(f"trim-and-fill adds {k0} stud{'y' if k0 == 1 else 'ies'}")
        if k0 > 0 and adjusted is not None and estimate is not None and estimate != 0:
            if adjusted * estimate <= 0 or abs(adjusted) < abs(estimate) / 2:
                points = 1
                reasons.append(f"and moves the estimate from {_pct(estimate)} to {_pct(adjusted)}")
    return Domain(name, points, "; ".join(reasons))


def _upgrades(start: str, domains: list[Domain], analysis: AnalysisResult) -> list[Domain]:
    """GRADE's three reasons to rate observational evidence up, each shown even when it does not apply."""
    if start != "low":
        why = "only observational evidence (which starts low) can be rated up"
        return [Domain(n, 0, why, rule=UPGRADE_RULE) for n in UPGRADE_DOMAINS]
    downgraded = [d.name for d in domains if d.downgrade > 0]
    if downgraded:
        why = f"not considered: the evidence is already rated down ({', '.join(downgraded)})"
        return [Domain(n, 0, why, rule=UPGRADE_RULE) for n in UPGRADE_DOMAINS]
    declared = analysis.upgrades
    return [_large_effect(analysis), _dose_response(analysis, declared.dose_response),
            _residual_confounding(declared.residual_confounding)]


def _large_effect(analysis: AnalysisResult) -> Domain:
    name = "large effect"
    low, high, kind = _interval(analysis)
    if high is None:
        return Domain(name, 0, "no interval for the pooled effect", rule=UPGRADE_RULE)
    span = f"{kind} upper end {_pct(high)}"
    if high < VERY_LARGE_EFFECT:
        return Domain(name, -2, f"the whole {kind} lies below a fifth of the events ({span}; RR < 0.2)",
                      rule=UPGRADE_RULE)
    if high < LARGE_EFFECT:
        return Domain(name, -1, f"the whole {kind} lies below a halving of events ({span}; RR < 0.5)",
                      rule=UPGRADE_RULE)
    return Domain(name, 0, f"the {kind} does not lie wholly below a halving ({span})", rule=UPGRADE_RULE)


def _dose_response(analysis: AnalysisResult, moderator: str | None) -> Domain:
    name = "dose-response"
    if not moderator:
        return Domain(name, 0, "no dose moderator declared", rule=UPGRADE_RULE)
    regression = analysis.meta_regression
    fit = regression.fit if regression else None
    slope = next((c for c in fit.coefficients if c.name == moderator), None) if fit else None
    if regression is None or regression.status != "ok" or slope is None:
        why = (regression.reason if regression else None) or "no meta-regression result"
        return Domain(name, 0, f"the dose moderator {moderator!r} could not be estimated: {why}", rule=UPGRADE_RULE)
    b, p = _finite(slope.estimate), _finite(slope.p)
    effect = _finite(analysis.frequentist.estimate) if analysis.frequentist else None
    numbers = f"slope {b:+.3f} on the log scale per unit of {moderator}, p = {p:.3f}" if b is not None and p is not None \
        else "slope not available"
    same_way = b is not None and effect is not None and b * effect > 0
    if p is not None and p < DOSE_RESPONSE_ALPHA and same_way:
        return Domain(name, -1, f"more {moderator}, larger effect ({numbers})", rule=UPGRADE_RULE)
    return Domain(name, 0, f"no clear gradient with {moderator} ({numbers})", rule=UPGRADE_RULE)


def _residual_confounding(reason: str | None) -> Domain:
    name = "residual confounding"
    if not reason:
        return Domain(name, 0, "no judgement declared that confounding would shrink the effect", rule=UPGRADE_RULE)
    return Domain(name, -1, f"declared judgement: {reason}", rule=UPGRADE_RULE)


# --- helpers -----------------------------------------------------------------------------------


def _pct(log_ratio: float) -> str:
    return f"{100.0 * math.expm1(log_ratio):+.0f}%"


def _finite(value: float | None) -> float | None:
    """A NaN or an infinity (which a float field can hold) reads as missing."""
    return value if value is not None and math.isfinite(value) else None


__all__ = [
    "ROB_RULE",
    "UPGRADE_RULE",
    "Domain",
    "GradeAssessment",
    "TransportTarget",
    "assess_certainty",
    "generation_year",
    "grade_all",
    "target_of",
]
