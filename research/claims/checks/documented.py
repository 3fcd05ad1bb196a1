"""Descriptive claims: is each part of the claim documented by a record, or is it a named gap?"""

from __future__ import annotations

from pydantic import Field

from research.claims.checks import register
from research.claims.checks.base import CheckParams, Strict
from research.claims.context import CheckContext
from research.claims.verdict import Finding, Label

QUOTE_CHARS = 160


class Part(Strict):
    statement: str = Field(min_length=1, description="The part of the claim, in a plain sentence")
    records: list[str] = Field(default_factory=list, description="Records that would document it")
    gaps: list[str] = Field(default_factory=list, description="Gaps that say it was looked for and not found")


class DocumentedParams(CheckParams):
    parts: list[Part] = Field(min_length=1)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


@register("documented", DocumentedParams)
def documented(ctx: CheckContext, p: DocumentedParams) -> Finding:
    """Each part of a descriptive claim is documented by a record or is a named gap."""
    check = "documented"
    rationale, named_gaps = [], list(p.gaps)
    found = 0
    for part in p.parts:
        present = [r for r in (ctx.record(rid) for rid in part.records) if r is not None]
        if present:
            found += 1
            first = present[0]
            quote = getattr(first, "quote", None)
            if quote:
                said = f": \"{_short(quote)}\""
            elif getattr(first, "citation", None):
                said = f": {_short(first.citation)}" + (f"; note: {_short(first.note)}" if first.note else "")
            elif getattr(first, "what", None):
                said = f": {_short(first.what)}"
            else:
                said = ""
            more = f" (and {len(present) - 1} more)" if len(present) > 1 else ""
            rationale.append(f"Documented: {part.statement} ({first.id}{more}{said}).")
            continue
        open_gaps = [g for g in part.gaps if (gap := ctx.gap(g)) is not None and gap.status != "filled"]
        named_gaps += part.gaps
        why = "; ".join(f"{g}: {ctx.gap(g).what}" for g in open_gaps) if open_gaps else \
            f"no record of {', '.join(part.records) or 'it'} in the store"
        rationale.append(f"Not documented: {part.statement} ({why}).")
    total = len(p.parts)
    if found == total:
        label: Label = "supported"
        confidence = 1.0
    elif found:
        label = "partly_supported"
        confidence = found / total
    else:
        label = "not_enough_evidence"
        confidence = 1.0
    return ctx.finding(
        check,
        label,
        confidence,
        f"{found} of {total} parts of the claim are documented",
        rationale=rationale,
        gaps=named_gaps,
        assumptions=["A part counts as documented when a sourced record states it; the record's wording is "
                     "shown so a reader can judge the match."],
    )
