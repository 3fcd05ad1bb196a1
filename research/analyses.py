"""Declared analyses: which effect estimates answer which question, with which model.

Each ``analyses/*.yaml`` file holds one declaration. The selection is a filter over the
effect table's columns (see ``research.dataset`` and ``research.store.filter``; it reads like a
SQL ``WHERE`` clause but is never run as SQL), so a researcher can read and change exactly what
goes into a pooled estimate. Filters are checked when the file is read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from research.store.files import ReadError, load_yaml, read_text
from research.store.loader import EvidenceError, Problem


class BayesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mu_prior: str = "normal:0,1"
    tau_prior: str = "halfnormal:0.5"


class TransportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str
    known: dict[str, str] = Field(default_factory=dict, description="Covariates known for the target")
    unknown: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Covariate -> prior probability of each level for the target"
    )
    assumptions: list[str] = Field(default_factory=list)


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
    bias_sd: float = Field(0.0, ge=0)


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
    where: str = Field(description="Filter over the effect table selecting the pooled estimates")
    reported_where: str | None = Field(None, description="Selects reported pooled results to show beside the model")
    min_k: int = Field(3, ge=2)
    method: Literal["REML", "DL", "PM", "ML", "HE", "SJ", "EB"] = "REML"
    test: Literal["z", "hksj"] = "hksj"
    bayes: BayesSpec = Field(default_factory=BayesSpec)
    transport: TransportSpec | None = None
    value_of_information: list[VoiScenario] = Field(default_factory=list)
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
