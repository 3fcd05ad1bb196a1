"""Record types of the evidence store.

Every record has a unique ``id`` across the whole store. Records that carry a number also
carry where it came from: ``source`` (a Source id), ``where_read`` (page address, table or
page number) and ``quote`` (the wording as read). Missing numbers stay ``None``; what is
missing is recorded as a DataGap instead of being guessed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

RecordId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=120)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Count = Annotated[float, Field(ge=0)]

SourceKind = Literal["article", "study", "review", "dataset", "official_statement", "web_page"]
ClaimKind = Literal["numeric", "causal", "descriptive", "opinion"]
Provenance = Literal["primary", "secondary"]
Design = Literal[
    "randomised_experiment",
    "quasi_randomised",  # allocation by a rule that is not random (alternation, date of birth, case number)
    "non_randomised_controlled",  # a comparison group formed without randomisation (matched, non-equivalent)
    "controlled_before_after",
    "difference_in_differences",
    "interrupted_time_series",
    "empirical_bayes_before_after",
    "before_after_no_control",
    "cross_section",
    "propensity_score_matching",
    "meta_analysis",
    "meta_regression",
    "systematic_review",
    "narrative_review",
    "official_statement",
    "unknown",
]
# Measures of effect. Ratio measures are stored on their natural scale (not logged).
Measure = Literal[
    "RES",  # relative effect size of CCTV reviews: (a*d)/(b*c), >1 = fewer crimes
    "RR",  # after/before ratio of the intervention group relative to control, <1 = fewer
    "OR",  # odds ratio, intervention vs control, <1 = fewer
    "IRR",  # incidence rate ratio (events per exposure), intervention vs control, <1 = fewer
    "CMF",  # crash modification factor, <1 = fewer crashes
    "ratio_after_before",  # one arm's after/before ratio, no control
    "percent_change",  # as reported, e.g. -16 for a 16% decrease
    "cohens_d",
    "narrative",  # a statement with no usable number
]
RATIO_MEASURES = {"RES", "RR", "OR", "IRR", "CMF", "ratio_after_before"}
RobJudgement = Literal["low", "some_concerns", "high", "unclear"]
RobTool = Literal["RoB 2", "ROBINS-I"]
# Domains of each risk-of-bias tool, short names as written in the records.
# RoB 2 (Sterne et al. 2019, BMJ 366:l4898) for randomised trials: all five, judged low / some_concerns / high.
ROB2_DOMAINS = ("randomisation", "deviations", "missing_data", "measurement", "reporting")
# ROBINS-I (Sterne et al. 2016, BMJ 355:i4919) for non-randomised studies: any of its seven domains.
ROBINS_I_DOMAINS = ("confounding", "selection", "classification", "deviations", "missing_data", "measurement",
                    "reporting")
ROB_TOOL_DOMAINS: dict[str, tuple[str, ...]] = {"RoB 2": ROB2_DOMAINS, "ROBINS-I": ROBINS_I_DOMAINS}
_ROB_ORDER = {"low": 0, "unclear": 1, "some_concerns": 1, "high": 2}
GapStatus = Literal["open", "requested", "partly_filled", "filled"]


def _today() -> dt.date:
    return dt.date.today()


_LEADING_DATE = re.compile(r"^\s*(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?\b")


def _not_future(value: str | None) -> str | None:
    """A date or year given as text may not lie after today (a period such as '2015-2017' is read by its start)."""
    match = _LEADING_DATE.match(value or "")
    if match:
        year, month, day = (int(part) if part else None for part in match.groups())
        today = _today()
        if (year, month or 1, day or 1) > (today.year, today.month, today.day):
            raise ValueError(f"{value!r} lies in the future")
    return value


class Record(BaseModel):
    """Base for all records: strict field names, an id, and a free note. Numbers must be finite."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    id: RecordId
    note: str | None = None


class Sourced(Record):
    """A record that states something read in a source."""

    source: RecordId
    where_read: NonEmpty = Field(description="Page address, table or page number where it was read")
    quote: NonEmpty = Field(description="The wording as read in the source")


class Source(Record):
    kind: SourceKind
    citation: NonEmpty
    url: str | None = None
    accessed: dt.date | None = None
    published: str | None = Field(None, description="Publication date or year as shown; None if not shown")
    language: str | None = None
    doi: str | None = None

    @field_validator("accessed")
    @classmethod
    def _accessed_not_future(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and value > _today():
            raise ValueError(f"{value.isoformat()} lies in the future")
        return value

    @field_validator("published")
    @classmethod
    def _published_not_future(cls, value: str | None) -> str | None:
        return _not_future(value)


Qualifier = Literal["exact", "about", "more_than", "less_than", "up_to"]


class Quantity(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: NonEmpty
    value: float
    unit: NonEmpty
    qualifier: Qualifier = "exact"


class Claim(Record):
    text: NonEmpty = Field(description="Verbatim text of the claim")
    source: RecordId
    location: NonEmpty = Field(description="Where in the source, e.g. 'paragraph 1, sentence 2'")
    kind: ClaimKind
    topic: str | None = None
    quantities: list[Quantity] = Field(default_factory=list)
    place: str | None = None
    period: str | None = Field(None, description="Period the claim refers to; None if the text gives none")
    speaker: str | None = None


class Fact(Sourced):
    """A dated, sourced statement of a quantity (e.g. a count, a price or the day a programme started)."""

    quantity: NonEmpty = Field(description="What is counted, e.g. 'cameras_total_city'")
    value: float | None = None
    unit: NonEmpty
    qualifier: Qualifier = "exact"
    place: str | None = None
    date: str | None = Field(None, description="Date or period the value refers to, ISO-like; None if not shown")
    definition: str | None = None
    derived: bool = Field(False, description="True when computed from quoted figures rather than stated")


class Study(Record):
    title: NonEmpty
    source: RecordId
    year: int | None = Field(None, ge=1900, le=2100)
    design: Design
    intervention: NonEmpty
    setting: str | None = None
    country: str | None = None
    n_units: str | None = Field(None, description="Studies, sites or areas as reported")
    monitoring: Literal["active", "passive", "mixed", "unknown"] | None = None

    @field_validator("year")
    @classmethod
    def _year_not_future(cls, value: int | None) -> int | None:
        if value is not None and value > _today().year:
            raise ValueError(f"{value} lies in the future")
        return value


class EffectEstimate(Sourced):
    study: RecordId
    outcome: NonEmpty
    outcome_family: str | None = Field(
        None, description="Declared outcome family (e.g. 'all crashes'); analyses pool one family at a time")
    evaluation: RecordId | None = Field(
        None, description="Evaluation the estimate comes from (default: its study); one evaluation, one voice")
    measure: Measure
    provenance: Provenance
    arm: str | None = None
    subgroup: str | None = None
    # 2x2 counts. RES: crimes before (a) and after (b) in experimental areas, before (c) and after (d) in
    # control. RR, OR: events (a) and non-events (b) with the intervention, events (c) and non-events (d)
    # without. IRR: events (a) and exposure (b) with, events (c) and exposure (d) without.
    a: Count | None = None
    b: Count | None = None
    c: Count | None = None
    d: Count | None = None
    estimate: float | None = None
    qualifier: Qualifier = Field("exact", description="'about' for wording such as 'about', 'approximately', 'nearly'")
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float = Field(0.95, gt=0, lt=1)
    se: float | None = Field(None, description="Standard error on the analysis scale (log for ratio measures)")
    se_scale: Literal["log", "natural"] = "log"
    overdispersion: float | None = Field(None, ge=1, description="Variance inflation factor for counts")
    significant: bool | None = None
    derived_from: list[RecordId] = Field(default_factory=list)
    derivation: str | None = None

    @model_validator(mode="after")
    def _check_numbers(self) -> "EffectEstimate":
        if self.se is not None and not self.se > 0:
            raise ValueError("se: must be > 0")
        if (self.ci_low is None) != (self.ci_high is None):
            raise ValueError("ci_low/ci_high: give both bounds or neither")
        if self.ci_low is not None and self.ci_high is not None:
            if self.ci_low > self.ci_high:
                raise ValueError("ci_low: lower bound exceeds upper bound")
            if self.estimate is not None and not (self.ci_low <= self.estimate <= self.ci_high):
                raise ValueError("estimate: not inside its confidence interval")
        if self.measure in RATIO_MEASURES:
            for name in ("estimate", "ci_low", "ci_high"):
                value = getattr(self, name)
                if value is not None and not value > 0:
                    raise ValueError(f"{name}: a ratio measure must be > 0")
        if self.measure == "percent_change":
            for name in ("estimate", "ci_low", "ci_high"):
                value = getattr(self, name)
                if value is not None and not value > -100:
                    raise ValueError(f"{name}: a percent change must be above -100 (-100 means none left)")
        counts = [self.a, self.b, self.c, self.d]
        if any(v is not None for v in counts) and self.measure == "RES" and any(v is None for v in counts[:2]):
            raise ValueError("a: counts need at least a and b")
        for name in ("estimate", "ci_low", "ci_high", "se"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name}: must be a finite number")
        return self


class RiskOfBias(Record):
    """A study's risk of bias with the tool that fits its design: RoB 2 for randomised trials, ROBINS-I for
    non-randomised studies; the Maryland Scientific Methods Scale level is an optional extra."""

    study: RecordId
    tool: RobTool = Field("ROBINS-I", description="RoB 2 (randomised trials) or ROBINS-I (non-randomised studies)")
    design_level: int | None = Field(None, ge=1, le=5, description="Optional: Maryland SMS level, 1 (weakest) to 5 "
                                     "(randomised)")
    domains: dict[str, RobJudgement] = Field(default_factory=dict)
    overall: RobJudgement
    rationale: NonEmpty
    regression_to_mean: Literal["not_corrected", "corrected", "not_applicable", "unclear"] | None = Field(
        None, description="Sites chosen for high past counts: not_corrected, corrected (e.g. empirical Bayes), "
        "not_applicable (sites not chosen on counts), unclear; drives the regression-to-the-mean bias class")

    @model_validator(mode="after")
    def _check_domains(self) -> "RiskOfBias":
        allowed = ROB_TOOL_DOMAINS[self.tool]
        unknown = sorted(set(self.domains) - set(allowed))
        if unknown:
            raise ValueError(f"domains: {', '.join(unknown)} not a {self.tool} domain (use {', '.join(allowed)})")
        if self.tool == "RoB 2":
            missing = [name for name in allowed if name not in self.domains]
            if missing:
                raise ValueError(f"domains: RoB 2 judges all five domains; missing {', '.join(missing)}")
            judged = {"overall": self.overall, **self.domains}
            vague = sorted(name for name, value in judged.items() if value == "unclear")
            if vague:
                raise ValueError(f"{vague[0]}: RoB 2 judgements are low, some_concerns or high (not unclear)")
        if self.domains and self.overall != "unclear":
            worst = max(self.domains.values(), key=_ROB_ORDER.__getitem__)
            if _ROB_ORDER[self.overall] < _ROB_ORDER[worst]:
                raise ValueError(f"overall: {self.overall} is better than the worst domain ({worst})")
        return self


class Target(Record):
    """Where the evidence is to be applied: the setting a transport or indirectness judgement is made for.

    The current generation of the intervention starts on the date of a sourced fact (``generation_fact``);
    studies whose data all predate it evaluated an earlier generation."""

    name: NonEmpty = Field(description="The place or population, as readers know it")
    country: str | None = None
    setting_type: NonEmpty = Field(description="One such setting in words, e.g. 'city', 'prison', 'school'")
    setting_plural: NonEmpty = Field(description="The plural readers see, e.g. 'cities' in 'in 100 similar cities'")
    setting_terms: list[NonEmpty] = Field(
        default_factory=list, description="Words in a study's setting that make it like the target (default: setting_type)")
    topic: str | None = Field(None, description="What the report is about, for its title, e.g. 'road safety'")
    intervention: NonEmpty = Field(description="The intervention as applied at the target")
    generation_fact: RecordId | None = Field(
        None, description="Fact whose date starts the current generation of the intervention")


class DataGap(Record):
    what: NonEmpty
    why_it_matters: NonEmpty
    who_may_hold: NonEmpty
    status: GapStatus = "open"
    related: list[RecordId] = Field(default_factory=list)
    parameter: str | None = Field(None, description="Model quantity this gap would inform, for value of information")


RECORD_TYPES: dict[str, type[Record]] = {
    "sources": Source,
    "claims": Claim,
    "facts": Fact,
    "studies": Study,
    "estimates": EffectEstimate,
    "risk_of_bias": RiskOfBias,
    "gaps": DataGap,
    "targets": Target,
}

# Fields that must name an existing record (of the given kind, or any kind if None).
REFERENCES: dict[str, dict[str, str | None]] = {
    "claims": {"source": "sources"},
    "facts": {"source": "sources"},
    "studies": {"source": "sources"},
    "estimates": {"source": "sources", "study": "studies", "derived_from": "estimates"},
    "risk_of_bias": {"study": "studies"},
    "gaps": {"related": None},
    "targets": {"generation_fact": "facts"},
}
