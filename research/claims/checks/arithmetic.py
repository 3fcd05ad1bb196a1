"""Checks that compute: the average fine implied by a claim, and capacity ratios.

Fines are arithmetic over declared units: a fine schedule in index units (the unit its facts
declare) times the value of one index unit in money (conversion facts, dated, in a currency).
No unit or currency is named here; every unit word comes from the facts."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import Field, model_validator

from research.claims.checks import register
from research.claims.checks.base import CheckParams, Strict, Formula, Ref, compute, ref_text, show
from research.claims.context import CheckContext, rounding_tolerance, year_of
from research.claims.verdict import Finding, Label, Part, Step, format_number

# --- average fine ------------------------------------------------------------------------------


class Benchmark(Strict):
    name: str = Field(min_length=1, description="What the dataset is, in a few words")
    total: Ref
    count: Ref


class AverageFineParams(CheckParams):
    total: Ref = Field(description="Total amount of fines, e.g. 'claim:fines_total'")
    count: Ref = Field(description="Number of violations, e.g. 'claim:violations'")
    lowest_fine: list[str] = Field(min_length=1, description="Facts: the lowest fine in the schedule, in index units "
                                   "(one unit for all, e.g. a fee unit; a currency when the index value is 1)")
    index_value: list[str] = Field(min_length=1, description="Conversion facts: one index unit in money, dated by "
                                   "year; their unit is the currency of the claim's total")
    early_payment_share: str | None = Field(None, description="Fact: smallest share of a fine that settles it "
                                                              "when paid early (0.5 = half)")
    fine_name: str = Field("fine", min_length=1, description="What the fines are, in the case's words, e.g. "
                                                          "'parking fine'")
    first_year: int | str | None = Field(None, description="A year, or a fact whose date gives the first year")
    last_year: int | str | None = None
    benchmarks: list[Benchmark] = Field(default_factory=list, description="Averages of other datasets, for context")


Outcome = Literal["fits", "fits_only_with_discount", "below"]


def _year_bound(ctx: CheckContext, bound: int | str | None) -> tuple[int | None, str | None]:
    """A year given directly or by a fact's date; the second value names the fact used."""
    if bound is None or isinstance(bound, int):
        return bound, None
    record = ctx.record(bound)
    if record is None:
        return None, None
    return year_of(getattr(record, "date", None)), bound


def _index_unit(fines: list) -> str:
    """The one unit the fine schedule is written in; fines in different units cannot be compared."""
    units = sorted({op.unit for op in fines if op.unit})
    if len(units) > 1:
        raise ValueError(f"average_fine: the lowest_fine facts are in different units ({', '.join(units)}); "
                         "declare fines in one index unit")
    return units[0] if units else "index unit"


def _index_periods(ctx: CheckContext, p: AverageFineParams, index: str, first: int | None, last: int | None,
                   claim_year: int | None) -> list[tuple[int, Any]]:
    """(year, value of one index unit in money) for every conversion fact that can test the claim."""
    periods = []
    for ref in p.index_value:
        record = ctx.record(ref, note=False)
        year = year_of(getattr(record, "date", None))
        if claim_year is not None and year != claim_year:
            continue
        if ctx.is_after_claim(getattr(record, "date", None)):
            continue  # a fine schedule from after the claim cannot test it
        if year is None or (first is not None and year < first) or (last is not None and year > last):
            continue
        value = ctx.operand(ref)
        if value is not None:
            if value.unit == index:
                raise ValueError(f"average_fine: index_value {ref} is in {index}, the fines' own unit; it must give "
                                 f"one {index} in money")
            periods.append((year, value))
    return sorted(periods, key=lambda item: (item[0], item[1].date or ""))


def _compare_period(ctx: CheckContext, p: AverageFineParams, average: Any, lowest: Any, discount: Any, index: str,
                    year: int, value: Any) -> tuple[str, Outcome, str]:
    """The average against the lowest fine in money in one period: (period, outcome, sentence)."""
    period = value.date or str(year)
    full = compute(ctx, f"lowest_fine_{period}", "multiply", [lowest.ref, value.ref], value.unit,
                   f"lowest {p.fine_name} in {period}")
    paid = full
    if discount is not None:
        paid = compute(ctx, f"lowest_fine_paid_early_{period}", "multiply", [f"step:{full.name}", discount.ref],
                       value.unit, f"lowest {p.fine_name} in {period} if paid early")
    if average.result >= full.result:
        outcome: Outcome = "fits"
        text = "at or above the lowest fine"
    elif average.result >= paid.result:
        outcome = "fits_only_with_discount"
        text = "below the lowest fine, but not below it after the early-payment discount"
    else:
        outcome = "below"
        text = "below the lowest fine even after the early-payment discount" if discount else "below the lowest fine"
    sentence = (
        f"With the {index} of {period} ({show(value)}, {value.ref}) the average is "
        f"{average.result / value.value:.2f} {index}: {text} ({format_number(full.result)} {value.unit}"
        f"{'' if discount is None else f', {format_number(paid.result)} {value.unit} if paid early'})."
    )
    return period, outcome, sentence


def _judge(outcomes: list[tuple[str, Outcome]], claimed: str, fine_name: str) -> tuple[Label, str, str | None]:
    """Label, reason and plausibility from the outcome in every period considered."""
    counts = Counter(outcome for _, outcome in outcomes)
    below = counts.get("below", 0)
    if below == len(outcomes):
        periods_text = ", ".join(period for period, _ in outcomes)
        return ("contradicted",
                f"The claim's figures give {claimed}, below the lowest {fine_name} even after any early-payment "
                f"discount in every year considered ({periods_text}): the two figures cannot both be right.", None)
    if counts.get("fits", 0) == len(outcomes):
        return ("unsupported", f"The claim's figures give {claimed}, consistent with the fine schedule; that they "
                               "fit together does not show that a source states them.", "plausible")
    fits, discounted = counts.get("fits", 0), counts.get("fits_only_with_discount", 0)
    found = [f"below the lowest fine even if paid early in {below}" if below else "",
             f"fitting only if most fines were paid early in {discounted}" if discounted else "",
             f"fitting the schedule in {fits}" if fits else ""]
    reason = (f"The claim's figures give {claimed}: " + ", ".join(x for x in found if x)
              + f" of {len(outcomes)} periods considered; the claim gives no year.")
    return "unsupported", reason, "implausible" if below * 2 > len(outcomes) else "plausible"


def _closing(label: Label, outcomes: list[tuple[str, Outcome]]) -> str:
    counts = Counter(outcome for _, outcome in outcomes)
    if label == "contradicted":
        return ("If the total is fines imposed, the two figures cannot both be right: "
                "every violation costs at least the lowest fine.")
    if len(counts) == 1 and counts.most_common(1)[0][0] == "fits_only_with_discount":
        return ("The figures fit only if most fines were paid early at the discount, or if the "
                "total is money collected rather than fines imposed; the claim says neither.")
    if len(counts) > 1:
        return "Whether the figures fit depends on the year, which the claim does not give."
    return "The figures are consistent with the fine schedule. This shows only that they fit together, not that they are right."


def _period_note(ctx: CheckContext, index: str, first: int | None, last: int | None, first_ref: str | None,
                 last_ref: str | None, claim_year: int | None) -> str:
    if first_ref or last_ref:
        named = " and ".join(r for r in (first_ref, last_ref) if r)
        return f"Only years {first or '...'}-{last or '...'} are considered (from the date of {named})."
    if claim_year is not None:
        return f"Only {claim_year}, the claim's own period, is considered."
    return (f"The claim gives no period, so every year with a sourced {index} value up to the claim's date "
            f"({ctx.claim_date()[0] or 'unknown'}) is considered.")


@register("average_fine", AverageFineParams)
def average_fine(ctx: CheckContext, p: AverageFineParams) -> Finding:
    """Average fine per violation from the claim's total and count, against the fine schedule in every
    period a conversion fact covers."""
    check = "average_fine"
    average = compute(ctx, "average_fine", "divide", [p.total, p.count], None,
                      "average fine per recorded violation")
    fines = [op for op in (ctx.operand(ref) for ref in p.lowest_fine) if op is not None]
    index = _index_unit(fines)
    discount = ctx.operand(p.early_payment_share) if p.early_payment_share else None
    first, first_ref = _year_bound(ctx, p.first_year)
    last, last_ref = _year_bound(ctx, p.last_year)
    claim_year = year_of(ctx.claim.period)
    periods = _index_periods(ctx, p, index, first, last, claim_year)
    if average is None or not fines or not periods:
        if not periods:
            ctx.missing.append(f"an {index} value for the period {first or '...'}-{last or '...'}")
        return ctx.not_enough(check, "The average fine and its comparison with the fine schedule", p.gaps,
                              aspect="comparison")

    lowest = min(fines, key=lambda op: op.value)
    compared = [_compare_period(ctx, p, average, lowest, discount, index, year, value) for year, value in periods]
    outcomes = [(period, outcome) for period, outcome, _ in compared]
    claimed = f"{format_number(average.result)} {average.unit}"
    label, reason, plausibility = _judge(outcomes, claimed, p.fine_name)
    rationale = [
        f"The claim's figures give an average of {format_number(average.result)} {average.unit} ({average.formula}).",
        f"The lowest {p.fine_name} in the schedule is {format_number(lowest.value)} {index} ({lowest.ref}).",
        *(sentence for _, _, sentence in compared),
        _closing(label, outcomes),
    ]
    for number, bench in enumerate(p.benchmarks, start=1):
        step = compute(ctx, f"benchmark_{number}", "divide", [bench.total, bench.count], None,
                       f"average fine per violation, {bench.name}")
        if step is not None:
            dated = ", ".join(dict.fromkeys(op.date for op in step.inputs if op.date))
            rationale.append(f"For comparison: {bench.name}, {format_number(step.result)} {step.unit}"
                             f"{f' ({dated})' if dated else ''}.")
    assumptions = [
        "The total is fines imposed, not fines collected (collected totals are lower).",
        f"Every recorded violation carries at least the lowest {p.fine_name}, {format_number(lowest.value)} {index} "
        f"({lowest.ref}).",
        _period_note(ctx, index, first, last, first_ref, last_ref, claim_year),
        f"Paying early can lower a fine to {discount.value:.0%} of it, no lower ({discount.ref})." if discount is not None
        else "No early-payment discount is considered (none is given in the evidence).",
    ]
    steps = [average, *[s for n, s in ctx.steps.items() if n != "average_fine"]]  # in order computed
    inputs = [r for r in dict.fromkeys(op.ref for st in steps for op in st.inputs) if r.startswith("fact-")]
    part = Part("comparison", f"{claimed} against the fine schedule", label, reason, inputs,
                arithmetic=[average], plausibility=plausibility)
    return ctx.finding(check, [part], rationale=rationale, arithmetic=steps, assumptions=assumptions)


# --- capacity ----------------------------------------------------------------------------------


class DeriveSpec(Strict):
    name: str
    formula: Formula
    inputs: list[Ref] = Field(min_length=2)
    unit: str | None = None
    description: str = ""


class CompareSpec(Strict):
    value: Ref = Field(description="A step ('step:<name>'), claim quantity or fact")
    relation: Literal["at_most", "at_least", "about"]
    reference: Ref
    tolerance: float = Field(0.0, ge=0, description="Relative tolerance, e.g. 0.1 for 10%")
    tests: str = Field(min_length=1, description="What the comparison tests, in a plain sentence")
    if_not: Literal["contradicted", "unsupported"] = Field(
        "contradicted", description="The part's label when the comparison does not hold")


class CapacityParams(CheckParams):
    derive: list[DeriveSpec] = Field(default_factory=list)
    compare: list[CompareSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_steps(self) -> "CapacityParams":
        names = [d.name for d in self.derive]
        if len(names) != len(set(names)):
            raise ValueError("derive: step names must be unique")
        return self


RELATION_TEXT = {"at_most": "at most", "at_least": "at least", "about": "about"}


def _holds(value: float, relation: str, reference: float, tolerance: float) -> bool:
    if relation == "about" and not tolerance:
        tolerance = rounding_tolerance(reference)
    if relation == "at_most":
        return value <= reference * (1 + tolerance)
    if relation == "at_least":
        return value >= reference * (1 - tolerance)
    return abs(value - reference) <= abs(reference) * tolerance


@register("capacity", CapacityParams)
def capacity(ctx: CheckContext, p: CapacityParams) -> Finding:
    """Ratios such as cameras per monitor or calls per operator, against sourced limits."""
    check = "capacity"
    steps: list[Step] = []
    for spec in p.derive:
        step = compute(ctx, spec.name, spec.formula, spec.inputs, spec.unit, spec.description)
        if step is None:
            return ctx.not_enough(check, f"The step '{spec.name}'", p.gaps, aspect="comparison")
        steps.append(step)
    results = []
    for spec in p.compare:
        value, reference = ctx.operand(spec.value), ctx.operand(spec.reference)
        if value is None or reference is None:
            return ctx.not_enough(check, f"The comparison '{spec.tests}'", p.gaps, aspect="comparison")
        holds = _holds(value.value, spec.relation, reference.value, spec.tolerance)
        results.append((spec, value, reference, holds))

    rationale, parts = [], []
    for spec, value, reference, holds in results:
        tol = f" (tolerance {spec.tolerance:.0%})" if spec.tolerance else ""
        relation = f"{show(value)} [{ref_text(spec.value)}] should be {RELATION_TEXT[spec.relation]} " \
                   f"{show(reference)} [{reference.ref}]{tol}"
        sentence = f"{'Holds' if holds else 'Does not hold'}: {spec.tests}: {relation}."
        rationale.append(sentence)
        used = [value, reference] + [op for st in steps for op in st.inputs]
        facts = [r for r in dict.fromkeys(op.ref for op in used) if ctx.lookup(r) is not None and not r.startswith("claim")]
        label = "supported" if holds else spec.if_not
        # a comparison that rests on a figure dated after the claim, or of another period, cannot decide it
        out_of_time = [(r, t) for r in facts if (t := ctx.timing(ctx.record_date(ctx.lookup(r)))) in
                       ("after", "stale")]
        if out_of_time:
            label = "unsupported"
            when = "; ".join(f"{r} is {'dated after the claim' if t == 'after' else 'of another period'}"
                             for r, t in out_of_time)
            sentence += f" It cannot decide the claim: {when}."
            rationale.append(f"Not used to decide: {when}.")
        parts.append(Part("comparison", spec.tests, label, sentence,  # type: ignore[arg-type]
                          [] if out_of_time else facts, [r for r, _ in out_of_time],
                          arithmetic=[s for s in steps if f"step:{s.name}" == ref_text(spec.value)],
                          plausibility=("plausible" if holds else "implausible") if out_of_time else None))
    constants = [op for step in steps for op in step.inputs if op.ref.startswith("constant:")]
    constants += [ref for _, _, ref, _ in results if ref.ref.startswith("constant:")]
    assumptions = [f"{op.name} = {show(op)} ({op.ref.removeprefix('constant:').strip()})" for op in constants]
    return ctx.finding(check, parts, rationale=rationale, arithmetic=steps, assumptions=list(dict.fromkeys(assumptions)))
