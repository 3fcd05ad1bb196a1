"""Declared analyses: which effect estimates answer which question, with which model.

Each ``analyses/*.yaml`` file holds one declaration. The selection is a filter over the
effect table's columns (see ``research.dataset`` and ``research.store.filter``; it reads like a
SQL ``WHERE`` clause but is never run as SQL), so a researcher can read and change exactly what
goes into a pooled estimate. Filters are checked when the file is read.
Like is pooled with like: an analysis lists the outcome
families it may meet (``outcome_families``) and pools one of them (``outcome_family``) or declares
a multi-outcome model (``multi_outcome``); ``evaluations`` states how estimates from one evaluation
are kept to one voice; ``moderators`` give a meta-regression and ``upgrades`` the declarations
GRADE's dose-response and residual-confounding upgrades need.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from research.store.files import ReadError, load_yaml, read_text
from research.store.loader import EvidenceError, Problem


class BayesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mu_prior: str = "normal:0,1"
    tau_prior: str = "halfnormal:0.5"
    mu_prior_basis: str | None = Field(None, description="Where the mu prior comes from (a citation, or 'judgement: ...')")
    tau_prior_basis: str | None = Field(None, description="Where the tau prior comes from (a citation, or 'judgement: ...')")
    meaningful_benefit_percent: float | None = Field(
        None, lt=0, gt=-100,
        description="The smallest fall (percent, e.g. -10) that counts as a meaningful benefit; the report then gives "
                    "the share of new settings reaching it beside the share with any fall")
    meaningful_benefit_basis: str | None = Field(
        None, description="Why that threshold (a citation, or 'judgement: ...'); required with the threshold")

    @model_validator(mode="after")
    def _threshold_has_a_basis(self) -> "BayesSpec":
        if self.meaningful_benefit_percent is not None and not self.meaningful_benefit_basis:
            raise ValueError("meaningful_benefit_basis: say why this threshold counts as a meaningful benefit")
        return self


class TransportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(None, description="Name shown for the target; default: the name of the analysis' "
                               "target record")
    known: dict[str, str] = Field(default_factory=dict, description="Covariates known for the target")
    unknown: dict[str, dict[str, float] | str] = Field(
        default_factory=dict,
        description="Covariate -> prior probability of each level for the target, or for a numeric covariate a "
        "distribution such as 'normal:MEAN,SD' or 'uniform:LOW,HIGH'",
    )
    assumptions: list[str] = Field(default_factory=list)
    transport_sd: float = Field(0.0, ge=0, description="SD (log scale) of how far the target may differ from the "
                                "studied sites beyond the moderators (transport bias)")
    transport_sd_basis: str | None = Field(None, description="Where transport_sd comes from (usually 'judgement: ...')")
    missing_moderator: Literal["refuse", "drop"] = Field(
        "refuse", description="Studies without a moderator: refuse (default, names them) or drop (stated in the output)"
    )


class VoiScenario(BaseModel):
    """A data gap, and the study that filling it would amount to (see research.bayes.voi)."""

    model_config = ConfigDict(extra="forbid")

    gap: str
    description: str
    kind: Literal["target", "external"] = "target"
    new_study_se: float | None = Field(None, gt=0, description="Standard error (log scale) of the new estimate")
    counts: dict[str, float] | None = Field(
        None, description="Expected counts: before, after, control_before, control_after, overdispersion"
    )
    n_studies: int = Field(1, ge=1)
    bias_mean: float = 0.0
    bias_sd: float | None = Field(None, ge=0, description="Unset: a default for studies of the target (a judgement)")
    bias_basis: str | None = Field(None, description="Where bias_mean and bias_sd come from")
    study_cost: float | None = Field(None, ge=0, description="Cost of the study, in the decision's unit")


class DecisionSpec(BaseModel):
    """A decision about the target with its costs, for the expected value of sample information."""

    model_config = ConfigDict(extra="forbid")

    events_without: float = Field(ge=0, description="Expected events at the target over the horizon without the intervention")
    value_per_event: float = Field(ge=0, description="Value of one event avoided, in unit")
    cost: float = Field(ge=0, description="Cost of the intervention over the horizon, in unit")
    unit: str
    basis: str = Field(description="Where these numbers come from")
    horizon: str = ""


class McmcSpec(BaseModel):
    """An MCMC fit shown beside the exact one, with its diagnostics."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["random_effects", "meta_regression", "robust", "bias_adjusted"] = "random_effects"
    draws: int = Field(1000, ge=100)
    tune: int = Field(1000, ge=100)
    chains: int = Field(2, ge=1)
    seed: int = 1
    target_accept: float = Field(0.95, ge=0.5, lt=1)


class EvaluationSpec(BaseModel):
    """How estimates from one evaluation are kept to one voice per outcome."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["most_information", "primary_source", "multilevel"] = Field(
        "most_information",
        description="most_information: keep the estimate with the smallest variance; primary_source: prefer "
                    "estimates read in the publication itself, then the smallest variance; multilevel: keep all and "
                    "model the evaluation as a cluster",
    )


class MultiOutcomeSpec(BaseModel):
    """A declared model over several outcome families (instead of pooling one)."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["moderator", "multilevel"] = Field(
        description="moderator: outcome family as a categorical moderator; multilevel: evaluation as a cluster")
    reference: str | None = Field(None, description="Outcome family the others are compared with (moderator model)")


class ModeratorSpec(BaseModel):
    """A study characteristic that may explain differences between estimates (meta-regression)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Column of the effect table, e.g. year or monitoring")
    kind: Literal["continuous", "categorical"]
    reference: str | None = Field(None, description="Reference level of a categorical moderator")
    label: str | None = Field(None, description="Plain name for readers")


class UpgradeSpec(BaseModel):
    """GRADE's reasons to rate observational evidence up that need a declaration to be judged."""

    model_config = ConfigDict(extra="forbid")

    dose_response: str | None = Field(
        None, description="A declared continuous moderator measuring the dose (e.g. cameras per km)")
    residual_confounding: str | None = Field(
        None, description="Why all plausible residual confounding would shrink the effect seen (a judgement)")


class Analysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    question: str
    intervention: str
    outcome: str = Field(description="The outcome in words, as readers see it")
    target: str | None = Field(None, description="Id of the target record (evidence/targets) the evidence is applied "
                               "to; GRADE's indirectness and the transport judge against it")
    unit: str | None = Field(None, description="One unit effects vary across, in words, e.g. 'site' or 'trial' "
                             "(default: the target's setting_type, else 'setting')")
    units: str | None = Field(None, description="The plural of unit, e.g. 'sites' or 'trials' (default: the "
                              "target's setting_plural, else 'settings')")
    outcome_families: list[str] = Field(
        default_factory=list, description="Controlled list of the outcome families this analysis may meet")
    outcome_family: str | None = Field(None, description="The one outcome family pooled")
    multi_outcome: MultiOutcomeSpec | None = None
    evaluations: EvaluationSpec = Field(default_factory=EvaluationSpec)
    moderators: list[ModeratorSpec] = Field(default_factory=list)
    upgrades: UpgradeSpec = Field(default_factory=UpgradeSpec)
    where: str = Field(description="Filter over the effect table selecting the pooled estimates")
    reported_where: str | None = Field(None, description="Selects reported pooled results to show beside the model")
    min_k: int = Field(3, ge=2)
    method: Literal["REML", "DL", "PM", "ML", "HE", "SJ", "EB"] = "REML"
    test: Literal["z", "hksj"] = "hksj"
    bayes: BayesSpec = Field(default_factory=BayesSpec)
    transport: TransportSpec | None = None
    value_of_information: list[VoiScenario] = Field(default_factory=list)
    decision: DecisionSpec | None = Field(None, description="Optional: a decision and its costs, for EVSI")
    mcmc: list[McmcSpec] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list, description="Gaps that limit this analysis")
    not_evaluated: list[str] = Field(
        default_factory=list, description="Of those gaps, the ones saying the intervention as the case has it was "
                                          "never evaluated; the summary names them beside the results")
    file: str | None = None

    @model_validator(mode="after")
    def _check_outcomes(self) -> "Analysis":
        families = self.outcome_families
        if len(set(families)) != len(families):
            raise ValueError("outcome_families: a family is listed twice")
        if self.outcome_family and self.multi_outcome:
            raise ValueError("outcome_family: pool one family or declare multi_outcome, not both")
        if self.outcome_family and families and self.outcome_family not in families:
            raise ValueError(f"outcome_family: {self.outcome_family!r} is not in outcome_families")
        if self.multi_outcome and self.multi_outcome.reference and self.multi_outcome.reference not in families:
            raise ValueError(f"multi_outcome.reference: {self.multi_outcome.reference!r} is not in outcome_families")
        if self.multi_outcome and len(families) < 2:
            raise ValueError("multi_outcome: list at least two outcome_families the model spans")
        stray = [g for g in self.not_evaluated if g not in self.gaps]
        if stray:
            raise ValueError(f"not_evaluated: {', '.join(stray)} must also be listed in gaps")
        names = [m.name for m in self.moderators]
        if len(set(names)) != len(names):
            raise ValueError("moderators: a moderator is declared twice")
        dose = self.upgrades.dose_response
        if dose and not any(m.name == dose and m.kind == "continuous" for m in self.moderators):
            raise ValueError(f"upgrades.dose_response: {dose!r} must be a declared continuous moderator")
        return self


def load_analyses(folder: str | Path = "analyses") -> list[Analysis]:
    """Read every declaration; errors name the file and field (EvidenceError, exit code 2)."""
    folder = Path(folder)
    analyses, problems = [], []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if path.name == "claim-checks.yaml":
            continue
        file = f"{folder.name}/{path.name}"
        raw = None
        try:
            raw = load_yaml(read_text(path))
            if not isinstance(raw, dict):
                raise TypeError("a declaration is a mapping of field: value")
            analysis = Analysis.model_validate({**raw, "file": file})
        except ReadError as exc:
            problems.append(Problem(file, "-", "-", f"cannot be read: {exc.reason}", exc.line))
            continue
        except (ValidationError, TypeError) as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
            record = str(raw.get("id", "-")) if isinstance(raw, dict) else "-"
            for error in errors:
                problems.append(Problem(file, record, ".".join(map(str, error["loc"])) or "-", error["msg"]))
            continue
        problems.extend(_filter_problems(analysis))
        analyses.append(analysis)
    counts = Counter(a.id for a in analyses)
    for analysis in analyses:
        if counts[analysis.id] > 1:
            problems.append(Problem(analysis.file or "-", analysis.id, "id", "duplicate analysis id"))
    if problems:
        raise EvidenceError(problems)
    return analyses


def _filter_problems(analysis: Analysis) -> list[Problem]:
    """Filters that do not parse, or name a column the effect table does not have."""
    from research.dataset import COLUMNS
    from research.store.filter import FilterError, parse_filter

    problems = []
    for name in ("where", "reported_where"):
        text = getattr(analysis, name)
        if text is None:
            continue
        try:
            parse_filter(text, COLUMNS)
        except FilterError as exc:
            problems.append(Problem(analysis.file or "-", analysis.id, name, str(exc)))
    return problems
