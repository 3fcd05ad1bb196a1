"""Cross-source comparison: the claimed number against every sourced value of the same quantity.

``compare_quantity`` is the default check: the engine runs it for every quantity of every claim,
against every fact of the same quantity and place, with no plan entry needed. A ``cross_source``
entry in the plan refines it (named facts, units read as the claim's, context facts, a tolerance
exception with its reason); ``entity`` tests whether the number belongs to the system the claim
names or to another one (Misleading).

Rules, the same for every claim:

- a fact from the claim's own article never supports the claim (shown as context);
- a fact dated after the claim cannot confirm or refute it (shown as context); nor can one that
  ended more than ``STALE_YEARS`` before a claim that speaks of its own present (no period given);
- one tolerance rule (``context.TOLERANCE_RULE``); an exception in the plan carries its reason;
- a sourced value that agrees -> the quantity part is Supported; a number that only lies between
  sourced values, or satisfies only bounds, is Unsupported (plausible); outside the sourced range
  -> Contradicted;
- a number no current value of the claim's place states, but that an earlier period's value or
  another place's value does, is Misleading (true of another period or place).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field, model_validator

from research.claims.checks import register
from research.claims.checks.base import CheckParams, Ref, show
from research.claims.context import (
    ABOUT_TOLERANCE, STALE_YEARS, TOLERANCE_RULE, CheckContext, normalise_unit, rounding_tolerance,
)
from research.claims.verdict import Finding, Label, Operand, Part, format_number
from research.store.schema import Fact


# Claims that state a number (not a bound): only these can be "the number of" something else.
POINT_QUALIFIERS = ("exact", "about")


class ToleranceException(CheckParams):
    tolerance: float | None = Field(None, ge=0, description="Another relative tolerance than the rule's "
                                                              "(needs tolerance_reason)")
    tolerance_reason: str | None = Field(None, description="Why this claim is compared with another tolerance")

    @property
    def unreasoned(self) -> bool:
        """An exception to the tolerance rule with no reason given (the verdict and a warning say so)."""
        return self.tolerance is not None and not (self.tolerance_reason or "").strip()


class CrossSourceParams(ToleranceException):
    claimed: Ref = Field(description="The claimed number, e.g. 'claim:cameras'")
    facts: list[str] = Field(default_factory=list, description="Facts measuring the same quantity")
    quantities: list[str] = Field(default_factory=list, description="Or: every fact of these quantities")
    place: str | None = None
    context_facts: list[str] = Field(default_factory=list, description="Other definitions: shown, not judged")
    same_units: list[str] = Field(default_factory=list,
                                  description="Units read as the claim's unit (the reading is stated as an assumption)")
    if_outside: Label = "contradicted"

    @model_validator(mode="after")
    def _some_facts(self) -> "CrossSourceParams":
        if not self.facts and not self.quantities:
            raise ValueError("facts: name facts or quantities to compare with")
        return self


def agreement(claimed: float, claim_qualifier: str, value: float, qualifier: str,
              tolerance: float | None = None) -> str:
    """'match', 'consistent' (a bound that the claim satisfies), or 'differs', by the tolerance rule
    (``tolerance`` None) or by an exception to it."""
    if tolerance is None:
        tolerance = rounding_tolerance(claimed)
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


def fact_text(fact: Fact, value: float, unit: str) -> str:
    qualifier = "" if fact.qualifier == "exact" else f"{fact.qualifier.replace('_', ' ')} "
    dated = fact.date or "date not shown"
    definition = f"; {fact.definition}" if fact.definition else ""
    return f"{qualifier}{format_number(value)} {unit} ({fact.id}, {dated}{definition})"


def claim_text(claimed: Operand) -> str:
    return f"{'' if claimed.qualifier == 'exact' else claimed.qualifier.replace('_', ' ') + ' '}{show(claimed)}"


@dataclass
class Comparison:
    """The claimed number against the sourced values: the part it gives and the sentences behind it."""

    part: Part
    rationale: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    compared: int = 0


def compare_quantity(ctx: CheckContext, claimed: Operand, facts: list[Fact], *, what: str,
                     tolerance: float | None = None, tolerance_reason: str | None = None,
                     same_units: list[str] | None = None, if_outside: Label = "contradicted",
                     aspect: str = "quantity") -> Comparison:
    """Compare one claimed number with sourced facts by the rules in the module docstring."""
    same_units = same_units or []
    compared: list[tuple[Fact, float, str]] = []
    context: list[str] = []
    earlier: list[tuple[Fact, float]] = []  # values of another, earlier period
    rationale: list[str] = []
    for fact in facts:
        if fact.value is None:
            rationale.append(f"Not compared: {fact.id} gives no number.")
            continue
        value, unit = normalise_unit(fact.value, fact.unit)
        if not _same_unit(unit, claimed.unit, same_units):
            rationale.append(f"Not compared: {fact.id} is in {unit}, not {claimed.unit}.")
            continue
        if ctx.is_own(fact):
            context.append(fact.id)
            rationale.append(f"Context only: {fact_text(fact, value, unit)} comes from the claim's own article, "
                             "so it cannot support the claim.")
            continue
        timing = ctx.timing(fact.date)
        if timing == "after":
            context.append(fact.id)
            rationale.append(f"Context only: {fact_text(fact, value, unit)} is dated after the claim "
                             f"({ctx.claim_date()[0]}), so it cannot confirm or refute it.")
            continue
        if timing == "stale":
            context.append(fact.id)
            earlier.append((fact, value))
            rationale.append(f"Context only: {fact_text(fact, value, unit)} describes another period, more than "
                             f"{STALE_YEARS} years before the claim ({ctx.claim_date()[0]}), which speaks of its "
                             "own present.")
            continue
        compared.append((fact, value, unit))
    said = claim_text(claimed)
    assumptions = [TOLERANCE_RULE]
    if tolerance is not None:
        because = f"because {tolerance_reason}" if (tolerance_reason or "").strip() else "with no reason given in the plan"
        assumptions.append(f"Exception to the tolerance rule for this claim: {tolerance:.0%}, {because}.")
    if same_units:
        assumptions.append(f"Values in {', '.join(same_units)} are read as the claim's {claimed.unit}.")
    def of_another_period(comparison: "Comparison") -> "Comparison":
        """A number that no current value states but an earlier period's value does is misleading."""
        if comparison.part.label == "supported" or claimed.qualifier not in POINT_QUALIFIERS:
            return comparison  # a bound ("more than 150") is satisfied by many values; it belongs to none
        same = [f for f, v in earlier if agreement(claimed.value, claimed.qualifier, v, f.qualifier, tolerance) == "match"]
        if same:
            dated = ", ".join(f"{f.id} ({f.date})" for f in same)
            reason = (f"{claim_text(claimed)} is the value of an earlier period ({dated}), more than {STALE_YEARS} "
                      f"years before the claim, which presents it as current.")
            comparison.part = Part("period", claim_text(claimed), "misleading", reason,  # type: ignore[arg-type]
                                   [f.id for f in same], comparison.part.context)
            comparison.rationale.append(reason)
        return comparison

    if not compared:
        reason = f"No source outside the article states {what} for the claim's date and place"
        reason += (f"; {len(context)} value(s) from another period or from the article itself are shown as context."
                   if context else ".")
        part = Part(aspect, said, "unsupported", reason, context=context)  # type: ignore[arg-type]
        return of_another_period(Comparison(part, [f"The claim says {said}. {reason}"] + rationale, assumptions, 0))

    results = [(f, v, u, agreement(claimed.value, claimed.qualifier, v, f.qualifier, tolerance)) for f, v, u in compared]
    rationale.insert(0, f"The claim says {said}; compared with {len(results)} sourced value(s) of {what}.")
    for fact, value, unit, result in results:
        word = {"match": "agrees", "consistent": "is a bound the claim satisfies", "differs": "differs"}[result]
        rationale.append(f"{fact_text(fact, value, unit)} {word}.")
    matches = [f for f, _, _, r in results if r == "match"]
    bounds = [f for f, _, _, r in results if r == "consistent"]
    points = [v for f, v, _, _ in results if f.qualifier in ("exact", "about")]
    defined = all(not f.derived for f in matches)
    if matches:
        named = ", ".join(f"{f.id} ({f.date or 'undated'})" for f in matches)
        part = Part(aspect, said, "supported", f"{len(matches)} source value(s) state {said}: {named}.",  # type: ignore[arg-type]
                    [f.id for f in matches], context, definition_match=defined)
    elif bounds and len(bounds) == len(results):
        part = Part(aspect, said, "unsupported",  # type: ignore[arg-type]
                    f"No source states {said}; the sources give only bounds it satisfies "
                    f"({', '.join(f.id for f in bounds)}).", [], [f.id for f in bounds] + context,
                    plausibility="plausible")
    elif points and min(points) <= claimed.value <= max(points):
        part = Part(aspect, said, "unsupported",  # type: ignore[arg-type]
                    f"No source states {said}; it lies within the sourced range of {what}, "
                    f"{format_number(min(points))} to {format_number(max(points))}, which differ by date or definition.",
                    [], [f.id for f, *_ in results] + context, plausibility="plausible")
    else:
        differ = [f for f, _, _, r in results if r == "differs"]
        values = [v for _, v, _, _ in results]
        low, high = min(values), max(values)
        span = format_number(low) if low == high else f"{format_number(low)} to {format_number(high)}"
        reason = (f"Sources give {span} for {what} ({', '.join(f.id for f in differ)}); {said} lies outside "
                  "what they state.")
        plausibility = "implausible" if if_outside == "unsupported" else None
        part = Part(aspect, said, if_outside, reason, [f.id for f in differ], context,  # type: ignore[arg-type]
                    plausibility=plausibility)
    return of_another_period(Comparison(part, rationale, assumptions, len(results)))


def _of_another_place(ctx: CheckContext, claimed: Operand, quantity: str) -> Part | None:
    """A number that the claim's place has no value for, but another place has, is misleading."""
    place = ctx.claim.place
    if not place or claimed.qualifier not in POINT_QUALIFIERS:
        return None
    others = [f for f in ctx.store["facts"] if f.quantity == quantity and f.place and f.value is not None
              and f.place.strip().lower() != place.strip().lower() and not ctx.is_own(f)
              and not ctx.is_after_claim(f.date)]
    same = []
    for fact in others:
        value, unit = normalise_unit(fact.value, fact.unit)
        if _same_unit(unit, claimed.unit, []) and \
                agreement(claimed.value, claimed.qualifier, value, fact.qualifier) == "match":
            same.append(fact)
    if not same:
        return None
    places = ", ".join(dict.fromkeys(f"{f.place} ({f.id})" for f in same))
    return Part("place", f"{claim_text(claimed)} in {place}", "misleading",
                f"{claim_text(claimed)} is the value for another place: {places}, not {place}.", [f.id for f in same])


def default_comparisons(ctx: CheckContext, skip: set[str]) -> list[Finding]:
    """The default check: each quantity of the claim against every fact of the same quantity and place.

    Quantities with no fact of the same name give no finding (another check may reach them).
    """
    findings = []
    for quantity in ctx.claim.quantities:
        if quantity.name in skip:
            continue
        facts = ctx.facts_of([quantity.name], ctx.claim.place)
        if not facts and not any(f.quantity == quantity.name for f in ctx.store["facts"]):
            continue
        sub = CheckContext(ctx.claim, ctx.store, ctx.analyses, shared=ctx.shared)
        claimed = sub.operand(f"claim:{quantity.name}")
        for fact in facts:
            sub.use(fact.id)
        where = f" in {ctx.claim.place}" if ctx.claim.place else ""
        result = compare_quantity(sub, claimed, facts, what=f"{quantity.name}{where}")
        parts = [result.part]
        elsewhere = _of_another_place(sub, claimed, quantity.name) if result.part.label == "unsupported" else None
        if elsewhere is not None:
            parts = [elsewhere]
            result.rationale.append(elsewhere.reason)
        elif not facts:
            continue  # no fact of this place; another check may reach the quantity
        findings.append(sub.finding("same_quantity", parts, rationale=result.rationale,
                                    assumptions=result.assumptions))
    return findings


@register("cross_source", CrossSourceParams)
def cross_source(ctx: CheckContext, p: CrossSourceParams) -> Finding:
    """The claimed number against named facts or quantities (refines the default comparison)."""
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
    if claimed is None:
        return ctx.not_enough(check, "The claimed number", p.gaps, aspect="quantity")
    what = ", ".join(p.quantities) if p.quantities else "the named facts"
    result = compare_quantity(ctx, claimed, facts, what=what, tolerance=p.tolerance,
                              tolerance_reason=p.tolerance_reason, same_units=p.same_units, if_outside=p.if_outside)
    rationale = list(result.rationale)
    for fact_id in p.context_facts:
        record = ctx.record(fact_id)
        if isinstance(record, Fact) and record.value is not None:
            value, unit = normalise_unit(record.value, record.unit)
            rationale.append(f"Context (another definition, not judged): {fact_text(record, value, unit)}.")
            result.part.context.append(fact_id)
    return ctx.finding(check, [result.part], rationale=rationale, assumptions=result.assumptions, gaps=list(p.gaps))


class EntityParams(ToleranceException):
    claimed: Ref = Field(description="The claimed number, e.g. 'claim:posts'")
    named: str = Field(min_length=1, description="The system or body the claim attributes the number to")
    quantities: list[str] = Field(min_length=1, description="Quantities that count what the claim names")
    true_of: list[str] = Field(default_factory=list,
                               description="Quantities of other systems or definitions the number may belong to "
                                           "(default: the claimed quantity's own name)")
    place: str | None = None
    same_units: list[str] = Field(default_factory=list)


@register("entity", EntityParams)
def entity(ctx: CheckContext, p: EntityParams) -> Finding:
    """Does the number belong to the system the claim names, or to another one (Misleading)?"""
    check = "entity"
    claimed = ctx.operand(p.claimed)
    if claimed is None:
        return ctx.not_enough(check, "The claimed number", p.gaps, aspect="entity")
    place = p.place or ctx.claim.place
    named_facts = ctx.facts_of(p.quantities, place)
    for fact in named_facts:
        ctx.use(fact.id)
    own = compare_quantity(ctx, claimed, named_facts, what=f"{p.named} ({', '.join(p.quantities)})",
                           tolerance=p.tolerance, tolerance_reason=p.tolerance_reason, same_units=p.same_units,
                           if_outside="unsupported", aspect="entity")
    rationale = list(own.rationale)
    if own.part.label == "supported":
        own.part.claimed = f"{claim_text(claimed)} of {p.named}"
        return ctx.finding(check, [own.part], rationale=rationale, assumptions=own.assumptions, gaps=list(p.gaps))
    other_quantities = list(p.true_of)
    if not other_quantities and isinstance(p.claimed, str):
        other_quantities = [p.claimed.split(":", 1)[1]]
    other_facts = [f for f in ctx.facts_of(other_quantities, place) if f.quantity not in p.quantities]
    other = compare_quantity(ctx, claimed, other_facts, what=", ".join(other_quantities), tolerance=p.tolerance,
                             tolerance_reason=p.tolerance_reason, same_units=p.same_units)
    # the comparison with the claimed quantity's own facts is the default check's; only its outcome is added
    dated = [f for f in named_facts if f.value is not None and not ctx.is_after_claim(f.date) and not ctx.is_own(f)]
    values = sorted(normalise_unit(f.value, f.unit)[0] for f in dated)
    if values:
        named_range = (f"the sources give {format_number(values[0])} to {format_number(values[-1])} for {p.named} "
                       f"({len(values)} value(s) up to the claim's date), none of them {claim_text(claimed)}.")
    else:
        named_range = f"no source gives a count of {p.named} up to the claim's date."
    if other.part.label == "supported":
        for fact_id in other.part.evidence:
            ctx.use(fact_id)
        matched = [f for f in other_facts if f.id in other.part.evidence]
        what = "; ".join(dict.fromkeys(f.definition or f.quantity for f in matched))
        reason = (f"{claim_text(claimed)} is the number of {what} ({', '.join(other.part.evidence)}), "
                  f"not of {p.named}: {named_range}")
        part = Part("entity", f"{claim_text(claimed)} of {p.named}", "misleading", reason,
                    [*other.part.evidence, *[f.id for f in named_facts if not ctx.is_after_claim(f.date)]],
                    own.part.context + other.part.context)
        rationale.append(f"The number belongs to another system or definition: {reason}")
    else:
        part = own.part
        part.claimed = f"{claim_text(claimed)} of {p.named}"
    return ctx.finding(check, [part], rationale=rationale, assumptions=own.assumptions, gaps=list(p.gaps))
