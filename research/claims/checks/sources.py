"""Cross-source comparison: the claimed number against every sourced value of the same quantity."""

from __future__ import annotations

from pydantic import Field, model_validator

from research.claims.checks import register
from research.claims.checks.base import CheckParams, Ref, show
from research.claims.context import CheckContext, normalise_unit
from research.claims.verdict import Finding, Label, _fmt
from research.store.schema import Fact

# "about" on either side means the speaker rounded; allow at least this relative difference.
ABOUT_TOLERANCE = 0.10
# A claim that only lies between sourced values is neither confirmed nor refuted by them: which
# value applies depends on a date or definition the claim does not give. Even odds, stated as such.
IN_RANGE_CONFIDENCE = 0.5


class CrossSourceParams(CheckParams):
    claimed: Ref = Field(description="The claimed number, e.g. 'claim:cameras'")
    facts: list[str] = Field(default_factory=list, description="Facts measuring the same quantity")
    quantities: list[str] = Field(default_factory=list, description="Or: every fact of these quantities")
    place: str | None = None
    tolerance: float = Field(0.05, ge=0, description="Relative difference still counted as the same number")
    context_facts: list[str] = Field(default_factory=list, description="Other definitions: shown, not judged")
    same_units: list[str] = Field(default_factory=list,
                                  description="Units read as the claim's unit (the reading is stated as an assumption)")
    if_in_range: Label = "partly_supported"
    if_outside: Label = "contradicted"

    @model_validator(mode="after")
    def _some_facts(self) -> "CrossSourceParams":
        if not self.facts and not self.quantities:
            raise ValueError("facts: name facts or quantities to compare with")
        return self


def _compare(claimed: float, claim_qualifier: str, value: float, qualifier: str, tolerance: float) -> str:
    """'match', 'consistent' (a bound that the claim satisfies), or 'differs'."""
    if "about" in (claim_qualifier, qualifier):
        tolerance = max(tolerance, ABOUT_TOLERANCE)
    if claim_qualifier == "more_than":
        return "match" if value >= claimed * (1 - tolerance) else "differs"
    if claim_qualifier in ("less_than", "up_to"):
        return "match" if value <= claimed * (1 + tolerance) else "differs"
    if qualifier == "more_than":
        return "consistent" if claimed >= value * (1 - tolerance) else "differs"
    if qualifier in ("less_than", "up_to"):
        return "consistent" if claimed <= value * (1 + tolerance) else "differs"
    return "match" if abs(claimed - value) <= abs(value) * tolerance else "differs"


def _unit_key(unit: str) -> str:
    unit = unit.strip().lower()
    return unit[:-1] if unit.endswith("s") else unit


def _same_unit(unit: str, claimed_unit: str, also: list[str]) -> bool:
    keys = {_unit_key(claimed_unit), *(_unit_key(u) for u in also)}
    return _unit_key(unit) in keys


def _fact_text(fact: Fact, value: float, unit: str) -> str:
    qualifier = "" if fact.qualifier == "exact" else f"{fact.qualifier.replace('_', ' ')} "
    dated = fact.date or "date not shown"
    definition = f"; {fact.definition}" if fact.definition else ""
    return f"{qualifier}{_fmt(value)} {unit} ({fact.id}, {dated}{definition})"


@register("cross_source", CrossSourceParams)
def cross_source(ctx: CheckContext, p: CrossSourceParams) -> Finding:
    """The claimed number against every sourced value of the same quantity, with a tolerance."""
    check = "cross_source"
    claimed = ctx.operand(p.claimed)
    facts: list[Fact] = []
    for fact_id in p.facts:
        record = ctx.record(fact_id)
        if isinstance(record, Fact):
            facts.append(record)
    for fact in ctx.facts_of(p.quantities, p.place):
        if fact not in facts:
            ctx.use(fact.id)
            facts.append(fact)
    compared = []
    skipped = []
    for fact in facts:
        if fact.value is None:
            skipped.append(f"{fact.id} gives no number")
            continue
        value, unit = normalise_unit(fact.value, fact.unit)
        if claimed is not None and not _same_unit(unit, claimed.unit, p.same_units):
            skipped.append(f"{fact.id} is in {unit}, not {claimed.unit}")
            continue
        compared.append((fact, value, unit))
    if claimed is None or not compared:
        if claimed is not None:
            ctx.missing.append(f"a sourced value of {' / '.join(p.quantities or p.facts)}")
        return ctx.not_enough(check, "The comparison with other sources", p.gaps)

    results = [(f, v, u, _compare(claimed.value, claimed.qualifier, v, f.qualifier, p.tolerance))
               for f, v, u in compared]
    matches = [r for r in results if r[3] == "match"]
    bounds = [r for r in results if r[3] == "consistent"]
    point_values = [v for f, v, u, _ in results if f.qualifier in ("exact", "about")]
    claim_text = f"{'' if claimed.qualifier == 'exact' else claimed.qualifier.replace('_', ' ') + ' '}{show(claimed)}"
    what = ", ".join(p.quantities) if p.quantities else "the named facts"
    rationale = [f"The claim says {claim_text}; compared with {len(results)} sourced value(s) of {what} "
                 f"(same number within {p.tolerance:.0%})."]
    for fact, value, unit, result in results:
        word = {"match": "agrees", "consistent": "is consistent (a bound)", "differs": "differs"}[result]
        rationale.append(f"{_fact_text(fact, value, unit)} {word}.")
    if matches:
        label: Label = "supported"
        agree = len(matches) + len(bounds)
        confidence, basis = agree / len(results), f"{agree} of {len(results)} sourced values agree with the claim"
    elif bounds and len(bounds) == len(results):
        label = "partly_supported"
        confidence, basis = 1.0, f"all {len(results)} sourced values are bounds that the claim satisfies"
        rationale.append("Every source gives only a bound that the claim satisfies; none states the number.")
    elif point_values and min(point_values) <= claimed.value <= max(point_values):
        label = p.if_in_range
        confidence = IN_RANGE_CONFIDENCE
        basis = "the claim lies within the range of sourced values, but no source states it"
        rationale.append(f"No source states the number, but it lies within the range of sourced values "
                         f"({_fmt(min(point_values))} to {_fmt(max(point_values))}), which differ by date or definition.")
    else:
        label = p.if_outside
        differ = sum(1 for r in results if r[3] == "differs")
        confidence, basis = differ / len(results), f"{differ} of {len(results)} sourced values differ from the claim"
        rationale.append("No source states the number, and it lies outside the range of sourced values.")
    for note in skipped:
        rationale.append(f"Not compared: {note}.")
    for fact_id in p.context_facts:
        record = ctx.record(fact_id)
        if isinstance(record, Fact) and record.value is not None:
            value, unit = normalise_unit(record.value, record.unit)
            rationale.append(f"Context (another definition, not judged): {_fact_text(record, value, unit)}.")
    assumptions = [f"Two numbers are the same if they differ by at most {p.tolerance:.0%} "
                   f"({ABOUT_TOLERANCE:.0%} when either is given as 'about')."]
    if p.same_units:
        assumptions.append(f"Values in {', '.join(p.same_units)} are read as the claim's {claimed.unit}.")
    if p.quantities:
        assumptions.append(f"Sourced values are those of quantity {', '.join(p.quantities)}"
                           f"{f' in {p.place}' if p.place else ''}; other definitions are not compared.")
    return ctx.finding(
        check,
        label,
        confidence,
        basis,
        rationale=rationale,
        assumptions=assumptions,
    )
