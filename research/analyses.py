"""Declared analyses: which effect estimates answer which question, with which model.

Each ``analyses/*.yaml`` file holds one declaration. The selection is a SQL ``WHERE`` clause
over the effect table (see ``research.dataset``), so a researcher can read and change exactly
what goes into a pooled estimate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from research.store.loader import EvidenceError, Problem


class BayesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mu_prior: str = "normal:0,1"
    tau_prior: str = "halfnormal:0.5"
    mu_prior_basis: str | None = Field(None, description="Where the mu prior comes from (a citation, or 'judgement: ...')")
    tau_prior_basis: str | None = Field(None, description="Where the tau prior comes from (a citation, or 'judgement: ...')")


class TransportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str
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


class Analysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    question: str
    intervention: str
    outcome: str
    where: str = Field(description="SQL WHERE clause over the effect table selecting the pooled estimates")
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
    file: str | None = None


def load_analyses(folder: str | Path = "analyses") -> list[Analysis]:
    """Read every declaration; errors name the file and field (EvidenceError, exit code 2)."""
    folder = Path(folder)
    analyses, problems = [], []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if path.name == "claim-checks.yaml":
            continue
        file = f"{folder.name}/{path.name}"
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            analyses.append(Analysis.model_validate({**raw, "file": file}))
        except yaml.YAMLError as exc:
            problems.append(Problem(file, "-", "-", f"cannot be read: {exc}".replace("\n", " ")))
        except (ValidationError, TypeError) as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
            record = str(raw.get("id", "-")) if isinstance(raw, dict) else "-"
            for error in errors:
                problems.append(Problem(file, record, ".".join(map(str, error["loc"])) or "-", error["msg"]))
    ids = [a.id for a in analyses]
    for analysis in analyses:
        if ids.count(analysis.id) > 1:
            problems.append(Problem(analysis.file or "-", analysis.id, "id", "duplicate analysis id"))
    if problems:
        raise EvidenceError(problems)
    return analyses
