"""Typed results: what an analysis produces and what ``results.json`` holds.

The pipeline builds these models, writes them once to ``reports/results.json`` (with a schema
version and the fingerprint of its inputs, the versions of the numerical libraries included) and
the claims and the report read them back. Their JSON Schema is committed beside the store's, in
``evidence/schema/results.schema.json`` (``write_schema`` regenerates it; a test keeps it
current).

This module imports only pydantic and the standard library, so reading a previous build's
results is fast (``research check`` reuses them when the fingerprint still matches).

>>> from research.results import Marginal
>>> Marginal(mean=-0.2, sd=0.1, median=-0.2, q025=-0.4, q975=0.0).q975
0.0
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from research.thresholds import ESS_PER_CHAIN, MAX_DIVERGENCES, RHAT_MAX


SCHEMA_VERSION = "1.0"
RESULTS_NAME = "results.json"
SCHEMA_NAME = "results.schema.json"
# Libraries whose numbers end up in the results: a new version may change them, so it changes the fingerprint.
NUMERICAL_DEPENDENCIES = ("numpy", "scipy", "pandas", "pymc", "pytensor", "arviz")
# Files of the package that shape the output (code, templates, styles).
CODE_SUFFIXES = frozenset({".py", ".html", ".j2", ".css"})


class _Result(BaseModel):
    """Base of every result model: unknown fields are kept (a newer writer may add some)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _nulls_as_missing(cls, data: Any) -> Any:
        """A null where a value has a default reads as that default; null entries of a list are dropped.

        Results written by hand or by an older version may leave parts out either way; what is
        missing then shows as "not available" rather than stopping the report."""
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for name, info in cls.model_fields.items():
            value = out.get(name)
            if value is None and name in out and (info.default is not None or info.default_factory is not None):
                del out[name]
            elif isinstance(value, list):
                out[name] = [v for v in value if v is not None]
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the form written to results.json)."""
        return self.model_dump(mode="json")


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON: they are stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


Number = float | None


# --------------------------------------------------------------------------- building blocks


class Marginal(_Result):
    """Summary of one posterior (or predictive) distribution, on the analysis (log) scale."""

    mean: Number = None
    sd: Number = None
    median: Number = None
    q025: Number = None
    q975: Number = None


class RegressionTest(_Result):
    """Egger-type regression test for funnel-plot asymmetry (research.meta.bias.regtest)."""

    predictor: str | None = None  # sei (standard error) or vi (variance)
    model: str | None = None  # rma (random-effects) or lm (weighted least squares)
    z: Number = None  # test statistic of the predictor (a t value when df is set)
    p: Number = None
    df: int | None = None
    limit_estimate: Number = None  # expected effect of a study with no sampling error (the intercept)
    limit_se: Number = None
    ci_low: Number = None
    ci_high: Number = None


class TrimFillCheck(_Result):
    """Trim-and-fill: studies imputed on one side and the estimate with them (a sensitivity analysis)."""

    k0: int | None = None
    se_k0: Number = None
    side: str | None = None
    estimator: str | None = None
    p_k0: Number = None
    estimate: Number = None
    se: Number = None
    ci_low: Number = None
    ci_high: Number = None
    tau2: Number = None


class PetPeeseCheck(_Result):
    """PET and PEESE limit estimates and the conditional choice between them."""

    pet: RegressionTest | None = None
    peese: RegressionTest | None = None
    alpha: Number = None
    pet_intercept_p: Number = None
    chosen: str | None = None
    estimate: Number = None


class BiasChecks(_Result):
    """Small-study checks on the frequentist fit; None where a check cannot be computed (the note says why)."""

    egger: RegressionTest | None = None
    trimfill: TrimFillCheck | None = None
    pet_peese: PetPeeseCheck | None = None
    egger_note: str | None = None
    trimfill_note: str | None = None
    pet_peese_note: str | None = None


class Coefficient(_Result):
    """One coefficient of a fit (the intercept, or a moderator), on the analysis (log) scale."""

    name: str | None = None
    estimate: Number = None
    se: Number = None
    statistic: Number = None
    p: Number = None
    ci_low: Number = None
    ci_high: Number = None


class FrequentistFit(_Result):
    """A random-effects (or meta-regression) fit by research.meta.rma, checked against metafor."""

    k: int | None = None
    estimate: Number = None
    se: Number = None
    ci_low: Number = None
    ci_high: Number = None
    pi_low: Number = None
    pi_high: Number = None
    tau2: Number = None
    tau2_ci_low: Number = None
    tau2_ci_high: Number = None
    tau: Number = None
    i2: Number = None
    q: Number = None
    q_p: Number = None
    q_df: int | None = None
    p: Number = None
    method: str | None = None
    test: str | None = None
    level: Number = None
    coefficients: list[Coefficient] = Field(default_factory=list)
    qm: Number = None  # test of moderators (meta-regression only)
    qm_df: list[int | None] = Field(default_factory=list)
    qm_p: Number = None
    r2: Number = None
    bias: BiasChecks | None = None
    # declared after the rest: the fit writes them last, and results.json keeps that order
    h2: Number = Field(None, description="H², total over sampling variability")
    statistic: Number = Field(None, description="test statistic of the pooled estimate (z, or t with df)")
    df: int | None = Field(None, description="degrees of freedom of a t-based test")
    se_tau2: Number = Field(None, description="standard error of tau²")


class PriorBasis(_Result):
    role: str | None = None
    spec: str | None = None
    label: str | None = None
    kind: str | None = None
    basis: str | None = None


class Accuracy(_Result):
    """Whether a computation passed its own check (the exact posterior's two-resolution comparison)."""

    ok: bool | None = None
    grid_points: int | None = None
    max_difference: Number = None  # largest difference of the reported numbers between the two grids
    tolerance: Number = None
    check: str | None = Field(None, description="what was compared, e.g. the grid against a half-resolution grid")
    differences: dict[str, Number] = Field(default_factory=dict, description="reported number -> its difference")


class PriorSensitivityRow(_Result):
    """The exact posterior under one pair of priors (ratios are exp of the log-scale values)."""

    mu_prior: str | None = None
    tau_prior: str | None = None
    declared: bool = False  # the pair the analysis declares: the headline
    mu_mean: Number = None
    mu_q025: Number = None
    mu_q975: Number = None
    mu_ratio: Number = None
    tau_median: Number = None
    tau_q975: Number = None
    tau_basis: str | None = None
    pred_q025: Number = None
    pred_q975: Number = None
    pred_ratio_q025: Number = None
    pred_ratio_q975: Number = None
    p_mu_below: Number = None
    p_pred_below: Number = None


class PriorPair(_Result):
    """The priors of the average effect and of the between-study SD, as specs (e.g. ``normal:0,1``)."""

    mu: str | None = Field(None, description="prior of mu, the average effect on the log scale")
    tau: str | None = Field(None, description="prior of tau, the between-study standard deviation")


class PriorRanges(_Result):
    """Each headline number's ``[lowest, highest]`` over the prior pairs of the sensitivity table."""

    p_pred_below: list[Number] = Field(default_factory=list, description="P(a new setting benefits)")
    pred_ratio_q025: list[Number] = Field(default_factory=list, description="lower end of the predictive ratio")
    pred_ratio_q975: list[Number] = Field(default_factory=list, description="upper end of the predictive ratio")
    p_mu_below: list[Number] = Field(default_factory=list, description="P(the average effect is a benefit)")


class PriorSensitivity(_Result):
    """The headline numbers under alternative priors, and their ranges."""

    threshold: Number = None
    declared: PriorPair = Field(default_factory=PriorPair)
    bases: list[PriorBasis] = Field(default_factory=list)
    rows: list[PriorSensitivityRow] = Field(default_factory=list)
    ranges: PriorRanges = Field(default_factory=PriorRanges)


class ShareBenefit(_Result):
    """The share of new settings whose true change is below ``threshold`` (log scale), with its interval."""

    threshold: Number = None
    threshold_ratio: Number = None
    mean: Number = None
    low: Number = None
    high: Number = None
    level: Number = None


class ShareBenefiting(_Result):
    """Share of settings with any fall, and with a meaningful one where the analysis declares what that is."""

    any: ShareBenefit | None = None
    meaningful: ShareBenefit | None = None
    meaningful_percent: Number = None
    meaningful_basis: str | None = None


class ExactPosterior(_Result):
    """The exact posterior of the normal-normal model (integration over tau), with prior sensitivity."""

    method: str = "exact"
    model: str | None = None
    k: int | None = None
    mu_prior: str | None = None
    tau_prior: str | None = None
    mu: Marginal = Field(default_factory=Marginal)
    tau: Marginal = Field(default_factory=Marginal)
    predictive: Marginal = Field(default_factory=Marginal)
    p_benefit: Number = None
    p_pred_benefit: Number = None
    p_mu_below_0: Number = None
    p_pred_below_0: Number = None
    log_evidence: Number = None
    diagnostics: Accuracy | None = None  # exact integration: the two-resolution accuracy check, if stored
    flag: str | None = None
    priors: PriorPair | None = None
    prior_basis: list[PriorBasis] = Field(default_factory=list)
    prior_sensitivity: PriorSensitivity | None = None
    share_benefiting: ShareBenefiting | None = None


class McmcThresholds(_Result):
    """The pass marks an MCMC fit is judged by (defaults: research.thresholds)."""

    rhat_max: float = RHAT_MAX
    ess_per_chain: float = ESS_PER_CHAIN
    divergences: int = MAX_DIVERGENCES


class McmcDiagnostics(_Result):
    rhat_max: Number = None
    ess_bulk_min: Number = None
    ess_tail_min: Number = None
    divergences: int | None = None
    draws: int | None = None
    chains: int | None = None
    ok: bool | None = None
    problems: list[str] = Field(default_factory=list)
    thresholds: McmcThresholds | None = None


class NuLearning(_Result):
    """Robust model: whether the data moved the tail weight nu away from its prior."""

    learned: bool | None = None
    distance: Number = None  # Kolmogorov distance between the prior and the posterior of nu
    prior: str | None = None
    note: str | None = None


class MonteCarloErrors(_Result):
    """Monte Carlo standard errors of an MCMC fit's summaries of mu and tau (research.bayes.mcmc)."""

    mu_mean: Number = None
    mu_q025: Number = None
    mu_median: Number = None
    mu_q975: Number = None
    tau_mean: Number = None
    tau_q025: Number = None
    tau_median: Number = None
    tau_q975: Number = None


class BiasClass(_Result):
    """A class of studies with a prior on their bias (bias-adjusted model), matched by ``rule``."""

    name: str = ""
    rule: dict[str, list[str]] = Field(default_factory=dict)  # column -> values that put a study in the class
    prior_mean: Number = None
    prior_sd: Number = None
    spread_sd: Number = None
    description: str | None = None
    basis: str | None = None


class McmcPriors(PriorPair):
    """The priors of an MCMC fit, as specs: those of mu and tau, and of the parameters only some models have."""

    coef: str | None = Field(None, description="prior of each meta-regression coefficient")
    nu: str | None = Field(None, description="prior of nu, the Student-t degrees of freedom (robust model)")


class SamplerSettings(_Result):
    """What the sampler was run with (part of the fit's cache key, so a repeated analysis is not resampled)."""

    draws: int | None = Field(None, description="draws kept per chain")
    tune: int | None = Field(None, description="tuning steps per chain, discarded")
    chains: int | None = None
    seed: int | None = None
    target_accept: Number = Field(None, description="target acceptance rate of the NUTS step size")


class McmcFit(_Result):
    """An MCMC fit beside the exact result, with its diagnostics and the thresholds they are judged by."""

    method: str | None = None
    model: str | None = None
    k: int | None = None
    mu_prior: str | None = None
    tau_prior: str | None = None
    mu: Marginal = Field(default_factory=Marginal)
    tau: Marginal = Field(default_factory=Marginal)
    predictive: Marginal = Field(default_factory=Marginal)
    p_mu_below_0: Number = None
    p_pred_below_0: Number = None
    diagnostics: McmcDiagnostics | None = None  # None: not diagnosed, which the report counts as failed
    mcse: MonteCarloErrors = Field(default_factory=MonteCarloErrors)
    nu_learning: NuLearning | None = None
    flag: str | None = None
    priors: McmcPriors = Field(default_factory=McmcPriors, description="the prior of each parameter, as declared")
    reference: dict[str, str | float | None] = Field(default_factory=dict)  # moderator values of the reference setting
    coefficients: dict[str, Marginal] = Field(default_factory=dict)  # meta-regression coefficients
    bias: dict[str, Marginal] = Field(default_factory=dict)  # bias-adjusted model: mean bias per class
    bias_spread: dict[str, Marginal] = Field(default_factory=dict)
    bias_classes: list[BiasClass] = Field(default_factory=list)
    nu: Marginal | None = None  # robust model: the Student-t degrees of freedom
    notes: list[str] = Field(default_factory=list)
    sampler: SamplerSettings = Field(default_factory=SamplerSettings)
    cache_key: str | None = None
    from_cache: bool | None = None


class TransportSensitivityRow(_Result):
    """The transported prediction under one transport-bias SD (log scale; the ``ratio_`` numbers are their exp)."""

    transport_sd: Number = None
    declared: bool = False
    p_benefit: Number = None
    ratio_q025: Number = None
    ratio_q975: Number = None
    median: Number = None
    q025: Number = None
    q975: Number = None
    ratio_median: Number = None


class TransportSensitivity(_Result):
    """The transported prediction under each transport-bias SD, the declared one included."""

    target: str | None = None
    declared_sd: Number = None
    basis: str | None = None
    rows: list[TransportSensitivityRow] = Field(default_factory=list)


class PredictedRatio(_Result):
    """The transported prediction as a ratio (after/before relative to control): median and 95% interval."""

    median: Number = None
    q025: Number = None
    q975: Number = None


class TransportCell(_Result):
    """The prediction for one combination of the unknown moderators' levels (log scale).

    The levels themselves are keyed by the moderators' declared names, so they are the row's other
    fields; each is a level (text) or, for a numeric moderator, a quadrature node."""

    __pydantic_extra__: dict[str, str | int | float | None] = Field(init=False)

    probability: Number = Field(None, description="probability of this combination (the product of the levels' own)")
    mean: Number = None
    q025: Number = Field(None, description="2.5% point of the prediction (without transport bias)")
    q975: Number = Field(None, description="97.5% point of the prediction (without transport bias)")
    q025_before_transport_bias: Number = Field(
        None, description="2.5% point before the declared transport bias is added (set instead of q025 then)")
    q975_before_transport_bias: Number = Field(
        None, description="97.5% point before the declared transport bias is added (set instead of q975 then)")
    p_benefit: Number = Field(None, description="P(the effect here is below the threshold), transport bias included")


class Transport(_Result):
    """The effect expected in the target setting, with the assumptions and their sensitivity."""

    target: str | None = None
    known: dict[str, str | float | None] = Field(default_factory=dict)  # covariate -> the target's value
    unknown: dict[str, dict[str, float]] = Field(default_factory=dict)  # covariate -> {level: probability}
    predictive: Marginal = Field(default_factory=Marginal)
    ratio: PredictedRatio = Field(default_factory=PredictedRatio)
    threshold: Number = None
    p_benefit: Number = None
    flag: str | None = None
    assumptions: list[str] = Field(default_factory=list)
    transport_sd: Number = None
    transport_sd_basis: str | None = None
    sensitivity: TransportSensitivity | None = None
    # declared after the rest: the transport writes them last, and results.json keeps that order
    model: str | None = Field(None, description="the model transported (random_effects, meta_regression, ...)")
    method: str | None = Field(None, description="exact or mcmc")
    breakdown: list[TransportCell] = Field(
        default_factory=list, description="one row per combination of the unknown moderators' levels: the levels, "
        "their probability and the prediction there (log scale)")
    numeric_priors: dict[str, str] = Field(default_factory=dict, description="numeric unknown -> its prior, in words")


class VoiSensitivityRow(_Result):
    """A gap's value of information when one assumption (``factor``) takes another ``value``."""

    factor: str | None = None
    value: str | float | None = None
    narrowing: Number = None
    rank: int | None = None
    order_changed: bool = False


class VoiRow(_Result):
    """Value of filling one data gap (preposterior analysis), with what was assumed."""

    gap: str = ""
    description: str = ""
    pi_width_reduction: Number = None
    p_benefit_change: Number = None
    p_decision_change: Number = None
    decision_probability: Number = None
    measure: str | None = None
    assumed_design: str | None = None
    assumed_bias: str | None = None
    evsi: Number = None
    evsi_loss: str | None = None
    sensitivity: list[VoiSensitivityRow] = Field(default_factory=list)
    note: str | None = None


class SensitivityRow(_Result):
    kind: str = ""
    label: str = ""
    changed: list[str] = Field(default_factory=list)
    k: int | None = None
    status: Literal["ok", "not_computable"] = "ok"
    reason: str | None = None
    estimate: Number = None
    ci_low: Number = None
    ci_high: Number = None
    size_class: str | None = None
    direction: str | None = None
    changes_size_class: bool | None = None
    changes_direction: bool | None = None


class PoolSummary(_Result):
    """The pooled change of a fit and its class (research.verbal), what a sensitivity scenario is compared on."""

    k: int | None = None
    estimate: Number = None
    ci_low: Number = None
    ci_high: Number = None
    size_class: str | None = None
    direction: str | None = None


class Sensitivity(_Result):
    """Leave-one-out, primary sources only and the evaluation rule undone, against the main result."""

    main: PoolSummary = Field(default_factory=PoolSummary)
    rows: list[SensitivityRow] = Field(default_factory=list)
    size_class_changes: bool = False
    direction_changes: bool = False
    size_class_rule: str | None = None


class GradeDomain(_Result):
    name: str = ""
    downgrade: int = 0
    judgement: str | None = None
    reason: str = ""
    rule: str = ""
    assessable: bool = True


class Grade(_Result):
    """The GRADE assessment of one analysis, computed once by the pipeline (research.grade.GradeAssessment.to_record)."""

    certainty: str | None = None  # None: not assessed (results written without it)
    analysis_id: str = ""
    outcome: str = ""
    k: int = 0
    start: str | None = None
    start_reason: str = ""
    domains: list[GradeDomain] = Field(default_factory=list)


class EvaluationRule(_Result):
    rule: str | None = None
    text: str = ""


class MultiOutcome(_Result):
    """A declared multi-outcome model: the outcome family as a moderator, or a multilevel model."""

    model: str | None = None
    reference: str | None = None


class Upgrades(_Result):
    """GRADE's reasons to rate up that the analysis declares (None: not declared)."""

    dose_response: str | None = None
    residual_confounding: str | None = None


class Exclusion(_Result):
    """An estimate the analysis did not pool, and why."""

    id: str = ""
    reason: str = ""


class Duplicate(_Result):
    """An estimate left out because another one of the same evaluation and outcome is kept."""

    id: str = ""
    kept: str | None = None
    evaluation: str | None = None
    outcome_family: str | None = None
    reason: str = ""


class StudyRow(_Result):
    """One estimate as it enters (or was kept beside) a pool, on the analysis (log) scale."""

    id: str = ""
    study: str | None = None
    evaluation: str | None = None
    label: str | None = None
    outcome: str | None = None
    outcome_family: str | None = None
    measure: str | None = None
    yi: Number = None
    vi: Number = None
    design: str | None = None
    design_level: int | None = None
    rob_overall: str | None = None
    setting: str | None = None
    country: str | None = None
    monitoring: str | None = None
    year: int | None = None
    provenance: str | None = None


class ReportedRow(_Result):
    """A result as a source reports it (a percent change, or words), shown beside the analysis."""

    estimate_id: str = ""
    study: str | None = None
    source: str | None = None
    label: str | None = None
    outcome: str | None = None
    subgroup: str | None = None
    percent_change: Number = None
    qualifier: str | None = None  # the source's own hedge: exact, about, at least, ...
    significant: bool | None = None
    provenance: str | None = None
    measure: str | None = None
    design: str | None = None
    year: int | None = None
    n_units: str | None = None
    narrative: str | None = None  # the recorded wording of a result with no single figure


class CodedModerator(_Result):
    """How a declared moderator entered a meta-regression (categorical: 0/1 columns against ``reference``)."""

    name: str = ""
    label: str | None = None
    kind: str | None = None
    reference: str | None = None
    levels: list[str] = Field(default_factory=list)


class OutcomeRow(_Result):
    """One outcome family in a multi-outcome model: the reference's estimate, or another's difference from it."""

    outcome_family: str | None = None
    estimate: Number = None
    ci_low: Number = None
    ci_high: Number = None
    difference: Number = None
    difference_ci_low: Number = None
    difference_ci_high: Number = None
    p: Number = None


class MetaRegression(_Result):
    """A meta-regression on declared moderators (or on the outcome family); ``fit`` when estimable."""

    what: str | None = None
    status: str | None = None  # ok or not_estimable (the reason says why)
    reason: str | None = None
    k: int | None = None
    left_out: list[str] = Field(default_factory=list)  # estimates without a value of a moderator
    moderators: list[CodedModerator] = Field(default_factory=list)
    fit: FrequentistFit | None = None
    by_outcome: list[OutcomeRow] = Field(default_factory=list)
    note: str | None = None


class AnalysisResult(_Result):
    """Everything one declared analysis produced; ``status`` says whether anything was pooled."""

    id: str = ""
    title: str | None = None
    question: str | None = None
    intervention: str | None = None
    outcome: str | None = None
    file: str | None = None
    status: str = "ok"
    status_reason: str | None = None
    outcome_family: str | None = None
    outcome_families: list[str] = Field(default_factory=list)
    multi_outcome: MultiOutcome | None = None
    pooled_families: list[str] = Field(default_factory=list)
    evaluation_rule: EvaluationRule | None = None
    upgrades: Upgrades = Field(default_factory=Upgrades)
    k: int = 0
    inputs: list[str] = Field(default_factory=list)
    excluded: list[Exclusion] = Field(default_factory=list)
    duplicates: list[Duplicate] = Field(default_factory=list)
    other_outcomes: list[StudyRow] = Field(default_factory=list)
    studies: list[StudyRow] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list)
    not_evaluated: list[str] = Field(default_factory=list)
    target: str | None = None  # id of the target record the analysis is transported to and graded for
    unit: str | None = None  # the word for one setting (site, trial, ...) when the analysis names one
    units: str | None = None
    reported: list[ReportedRow] = Field(default_factory=list)
    frequentist: FrequentistFit | None = None
    bayes: ExactPosterior | None = None
    transport: Transport | None = None
    value_of_information: list[VoiRow] = Field(default_factory=list)
    mcmc: list[McmcFit] = Field(default_factory=list)
    sensitivity: Sensitivity | None = None
    meta_regression: MetaRegression | None = None
    outcome_model: MetaRegression | None = None
    figures: dict[str, str | None] = Field(default_factory=dict)
    grade: Grade | None = None

    @field_validator("grade", mode="before")
    @classmethod
    def _grade_level(cls, value: Any) -> Any:
        return {"certainty": value} if isinstance(value, str) else value  # a bare level, as hand-written results give it

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class StoreFlow(_Result):
    """How many records reach each step, from sources to pooled estimates (the report's PRISMA-style flow)."""

    sources: int | None = None
    studies: int | None = None
    studies_with_estimates: int | None = None
    estimates: int | None = None
    estimates_with_uncertainty: int | None = None
    estimates_without_uncertainty: int | None = None
    estimates_pooled: int | None = None


class StoreSummary(_Result):
    counts: dict[str, int | None] = Field(default_factory=dict)  # record kind -> records in the store
    flow: StoreFlow = Field(default_factory=StoreFlow)


class InputFingerprint(_Result):
    """What the results were computed from: a hash of evidence, declarations and code, and library versions."""

    digest: str = ""
    dependencies: dict[str, str] = Field(default_factory=dict)


class Operand(_Result):
    """One number a step uses, and where it came from (a record id, ``claim:<quantity>`` or a step)."""

    name: str | None = None
    value: Number = None
    unit: str | None = None
    ref: str | None = None
    qualifier: str | None = None
    date: str | None = None


class ArithmeticStep(_Result):
    """One step of a claim check's arithmetic, with the numbers it used and where they came from."""

    step: str | None = None
    description: str | None = None
    formula: str | None = None
    result: float | str | None = None  # a number; hand-written results may give it as text
    result_text: str | None = None
    unit: str | None = None
    inputs: list[Operand] = Field(default_factory=list)


class ClaimPart(_Result):
    """One part of a claim (its quantity, its system, its causal strength...) and its own verdict."""

    aspect: str | None = None
    claimed: str | None = None
    label: str | None = None
    label_name: str | None = None
    reason: str | None = None
    plausibility: str | None = None
    evidence: list[str] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list)
    definition_match: bool = True
    arithmetic: list[ArithmeticStep] = Field(default_factory=list)


class Finding(_Result):
    """What one check found about a claim, before the findings are combined into the verdict."""

    check: str | None = None
    label: str | None = None
    reasons: list[str] = Field(default_factory=list)
    parts: list[ClaimPart] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    analyses: list[str] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


class ReviewRating(_Result):
    """A verdict as a schema.org Rating (the field names are schema.org's)."""

    ratingValue: int | None = Field(None, description="position on the scale; None for a claim not rated")
    bestRating: int | None = None
    worstRating: int | None = None
    alternateName: str | None = Field(None, description="the verdict's name")


class ClaimVerdict(_Result):
    """The verdict on one claim, as research.claims.Verdict.to_dict writes it."""

    claim_id: str | None = None
    text: str | None = None
    label: str | None = None
    label_name: str | None = None
    label_text: str | None = None
    plausibility: str | None = None
    reason: str | None = None
    evidence_strength: str | None = None
    evidence_strength_basis: str | None = None
    independent_sources: list[str] = Field(default_factory=list)
    claim_date: str | None = None
    fever_label: str | None = None
    claimreview_rating: ReviewRating = Field(default_factory=ReviewRating)
    parts: list[ClaimPart] = Field(default_factory=list)
    rationale: str | None = None
    reasons: list[str] = Field(default_factory=list)
    arithmetic: list[ArithmeticStep] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    analyses: list[str] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list)
    check: str | None = None
    findings: list[Finding] = Field(default_factory=list)


class ClaimVerdicts(_Result):
    """What ``research claims --json`` prints (research.claims.Verification.to_dict): the verdicts and their counts."""

    checks_file: str | None = None
    counts: dict[str, int] = Field(default_factory=dict, description="verdict label -> claims given it")
    warnings: list[str] = Field(default_factory=list)
    claims: list[ClaimVerdict] = Field(default_factory=list)


class GapVoi(VoiRow):
    """The largest value-of-information figure for a gap, and the analysis it comes from."""

    analysis: str | None = None


class RankedGap(_Result):
    """A data gap of the store, ranked by what filling it would change (research.bayes.voi.GAP_RANK_RULE)."""

    id: str = ""
    what: str | None = None
    why_it_matters: str | None = None
    who_may_hold: str | None = None
    status: str | None = None
    parameter: str | None = None
    related: list[str] = Field(default_factory=list)
    note: str | None = None
    voi: GapVoi | None = None
    limits_analysis: list[str] = Field(default_factory=list)  # analyses that name this gap
    rank: int | None = None
    rank_group: str | None = None


class RiskOfBiasRow(_Result):
    """A study's risk-of-bias assessment (RoB 2 or ROBINS-I), by domain and overall."""

    study: str = ""
    title: str | None = None
    tool: str | None = None
    design_level: int | None = None
    domains: dict[str, str] = Field(default_factory=dict)
    overall: str | None = None
    rationale: str | None = None


class TargetRow(_Result):
    """A target setting the analyses are transported to, in the case's own words."""

    id: str = ""
    name: str | None = None
    country: str | None = None
    setting_type: str | None = None
    setting_plural: str | None = None
    setting_terms: list[str] = Field(default_factory=list)
    topic: str | None = None
    intervention: str | None = None
    generation_fact: str | None = None
    generation_date: str | None = None
    generation_since: int | None = None  # year the intervention's current generation began
    note: str | None = None


class ClaimSource(_Result):
    """A source the claims were read in: its id and kind (article, review, ...)."""

    id: str = ""
    kind: str | None = None


class EstimateRow(_Result):
    """A store estimate as the claim checks read it (research.claims.checks.causal.ESTIMATE_COLUMNS)."""

    id: str = ""
    study: str | None = None
    label: str | None = None
    outcome: str | None = None
    subgroup: str | None = None
    design: str | None = None
    intervention: str | None = None
    percent_change: Number = None
    significant: bool | None = None
    ci_low_pct: Number = None
    ci_high_pct: Number = None
    provenance: str | None = None


class Results(_Result):
    """The whole of ``results.json``: store counts, analyses, claim verdicts, gaps and risk of bias."""

    schema_version: str = SCHEMA_VERSION
    generated_at: str | None = None
    evidence_fingerprint: str | None = None
    inputs: InputFingerprint | None = None
    store: StoreSummary = Field(default_factory=StoreSummary)
    analyses: list[AnalysisResult] = Field(default_factory=list)
    claims: list[ClaimVerdict] = Field(default_factory=list)
    gaps: list[RankedGap] = Field(default_factory=list)
    gap_rank_rule: str | None = None
    risk_of_bias: list[RiskOfBiasRow] = Field(default_factory=list)
    targets: list[TargetRow] = Field(default_factory=list)
    claim_sources: list[ClaimSource] = Field(default_factory=list)
    estimates: dict[str, EstimateRow] = Field(default_factory=dict)

    @field_validator("analyses", "claims", "gaps", "risk_of_bias", "targets", "claim_sources", mode="before")
    @classmethod
    def _only_records(cls, value: Any) -> Any:
        # a list may come from hand-written JSON; entries that are not objects carry nothing to show
        return [v for v in value if isinstance(v, (Mapping, BaseModel))] if isinstance(value, list) else value

    def analysis(self, analysis_id: str) -> AnalysisResult | None:
        return next((a for a in self.analyses if a.id == analysis_id), None)

    def by_id(self) -> dict[str, AnalysisResult]:
        return {a.id: a for a in self.analyses}

    def write(self, path: str | Path) -> Path:
        """Write atomically as indented JSON (the form the pipeline commits to reports/)."""
        from research.store.write import atomic_write_text_chunks

        path = Path(path)
        # the same text as json.dumps(..., indent=1, ensure_ascii=False), written as it is encoded
        encoder = json.JSONEncoder(indent=1, ensure_ascii=False)
        atomic_write_text_chunks(path, itertools.chain(encoder.iterencode(self.to_dict()), ["\n"]))
        return path

    @classmethod
    def coerce(cls, data: "Results | Mapping[str, Any] | None") -> "Results":
        """``data`` as Results: a model is returned as is, a mapping is validated (InputError if it cannot be)."""
        if isinstance(data, Results):
            return data
        from research.errors import InputError

        try:
            return cls.model_validate(clean(dict(data or {})))
        except ValidationError as exc:
            raise InputError(f"results do not match the results schema: {_first_error(exc)}") from exc

    @classmethod
    def load(cls, path: str | Path) -> "Results":
        """Read a results.json; InputError naming the file if it is not valid JSON or not results."""
        from research.errors import InputError

        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            return cls.model_validate_json(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot be read: {exc}") from exc
        except ValidationError as exc:
            raise InputError(f"{path}: not a results file of this version: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "(top)"
    return f"{where}: {error.get('msg')}"


def coerce_analyses(analyses: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, AnalysisResult]:
    """Analysis results keyed by id, as models, from models or plain dicts (a mapping or a list)."""
    if not analyses:
        return {}
    items = analyses.values() if isinstance(analyses, Mapping) else analyses
    out: dict[str, AnalysisResult] = {}
    for item in items:
        if isinstance(item, AnalysisResult):
            result = item
        else:
            data = clean(dict(item))
            if "grade" not in data and isinstance(data.get("certainty"), str):
                data["grade"] = data["certainty"]
            try:
                result = AnalysisResult.model_validate(data)
            except ValidationError as exc:
                from research.errors import InputError

                raise InputError(f"analysis result '{data.get('id', '?')}': {_first_error(exc)}") from exc
        out[result.id] = result
    return out


def clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars Python numbers, tuples lists."""
    kind = type(value)  # the plain types first: a results document holds millions of them
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return _finite(value)
    if kind is dict:
        return {str(k): clean(v) for k, v in value.items()}
    if kind is list:
        return [clean(v) for v in value]
    if isinstance(value, BaseModel):
        return value
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "dtype") and hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, float):
        return _finite(value)
    if type(value).__name__ == "NAType":  # pandas.NA
        return None
    return value


# --------------------------------------------------------------------------- fingerprint


def dependency_versions() -> dict[str, str]:
    """Installed versions of the numerical libraries ("not installed" when absent)."""
    versions = {}
    for name in NUMERICAL_DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def input_fingerprint(evidence: str | Path, analyses_dir: str | Path) -> InputFingerprint:
    """Hash of every input that can change the output: evidence, declarations, code and library versions."""
    from research.store.loader import evidence_files

    evidence, analyses_dir = Path(evidence), Path(analyses_dir)
    digest = hashlib.sha256()
    paths = [p for _, p in evidence_files(evidence)]
    paths += sorted(analyses_dir.glob("*.yaml")) if analyses_dir.is_dir() else []
    package = Path(__file__).parent
    paths += sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in CODE_SUFFIXES)
    for path in paths:
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(path.read_bytes())
    versions = dependency_versions()
    digest.update(json.dumps(versions, sort_keys=True).encode())
    return InputFingerprint(digest=digest.hexdigest(), dependencies=versions)


def previous_results(reports: str | Path, fingerprint: InputFingerprint | str) -> Results | None:
    """The last build's results when they were computed from exactly these inputs, else None."""
    path = Path(reports) / RESULTS_NAME
    if not path.is_file():
        return None
    digest = fingerprint if isinstance(fingerprint, str) else fingerprint.digest
    try:
        results = Results.load(path)
    except Exception:  # noqa: BLE001 - an unreadable or older file is simply not reused
        return None
    if results.schema_version != SCHEMA_VERSION or results.evidence_fingerprint != digest:
        return None
    return results


REPORT_FILES = ("index.html", "summary.md")  # written beside results.json by every build


def up_to_date(evidence: str | Path, analyses_dir: str | Path, reports: str | Path,
               fingerprint: InputFingerprint | None = None) -> Results | None:
    """The last build's results when its outputs are all there and its inputs are unchanged, else None.

    Needs no numerical library, so an unchanged ``research build`` answers before loading any."""
    reports = Path(reports)
    if not all((reports / name).exists() for name in (RESULTS_NAME, *REPORT_FILES)):
        return None
    return previous_results(reports, fingerprint or input_fingerprint(evidence, analyses_dir))


# --------------------------------------------------------------------------- JSON Schema


def results_schema() -> dict[str, Any]:
    """JSON Schema of results.json (draft 2020-12, as pydantic writes it)."""
    schema = Results.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_NAME
    return schema


def write_schema(folder: str | Path) -> Path:
    """Write ``results.schema.json`` into ``folder`` (the store's schema folder)."""
    from research.store.write import atomic_write_text

    path = Path(folder) / SCHEMA_NAME
    atomic_write_text(path, json.dumps(results_schema(), indent=2) + "\n")
    return path


__all__ = [
    "Accuracy", "AnalysisResult", "BiasChecks", "ClaimVerdict", "ExactPosterior", "FrequentistFit", "Grade", "GradeDomain",
    "InputFingerprint", "Marginal", "McmcDiagnostics", "McmcFit", "McmcThresholds", "NUMERICAL_DEPENDENCIES",
    "RESULTS_NAME", "Results", "SCHEMA_VERSION", "Sensitivity", "SensitivityRow", "Transport", "VoiRow",
    "clean", "coerce_analyses", "dependency_versions", "input_fingerprint", "previous_results", "results_schema",
    "up_to_date", "write_schema",
]
