"""Descriptive claims: is each part of the claim documented by a record, or is it a named gap?"""

from __future__ import annotations

from pydantic import Field

from research.claims.checks import register
from research.claims.checks.base import CheckParams, Strict
from research.claims.context import CheckContext
from research.claims.verdict import Aspect, Finding, Part

QUOTE_CHARS = 160


class DocumentedPart(Strict):
    statement: str = Field(min_length=1, description="The part of the claim, in a plain sentence")
    aspect: Aspect = Field("statement", description="Which part of the claim it is (entity, place, period...)")
    records: list[str] = Field(default_factory=list, description="Records that would document it")
    against: list[str] = Field(default_factory=list, description="Records that state the opposite")
    gaps: list[str] = Field(default_factory=list, description="Gaps that say it was looked for and not found")


class DocumentedParams(CheckParams):
    parts: list[DocumentedPart] = Field(min_length=1)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


def _said(record) -> str:
    quote = getattr(record, "quote", None)
    if quote:
        return f": \"{_short(quote)}\""
    if getattr(record, "citation", None):
        return f": {_short(record.citation)}" + (f"; note: {_short(record.note)}" if record.note else "")
    if getattr(record, "what", None):
        return f": {_short(record.what)}"
    return ""


@register("documented", DocumentedParams)
def documented(ctx: CheckContext, p: DocumentedParams) -> Finding:
    """Each part of a descriptive claim is documented by a record, refuted by one, or a named gap."""
    check = "documented"
    rationale, named_gaps, parts = [], list(p.gaps), []
    for part in p.parts:
        present = [r for r in (ctx.record(rid) for rid in part.records) if r is not None]
        own = [r for r in present if ctx.is_own(r)]
        later = [r for r in present if not ctx.is_own(r) and ctx.is_after_claim(ctx.record_date(r))]
        present = [r for r in present if not ctx.is_own(r) and r not in later]
        against = [r for r in (ctx.record(rid) for rid in part.against) if r is not None and not ctx.is_own(r)]
        if against:
            first = against[0]
            reason = f"Refuted: {part.statement} ({first.id}{_said(first)})."
            parts.append(Part(part.aspect, part.statement, "contradicted", reason, [r.id for r in against],
                              [r.id for r in present]))
            rationale.append(reason)
            continue
        if present:
            first = present[0]
            more = f" (and {len(present) - 1} more)" if len(present) > 1 else ""
            reason = f"Documented: {part.statement} ({first.id}{more}{_said(first)})."
            parts.append(Part(part.aspect, part.statement, "supported", reason, [r.id for r in present]))
            rationale.append(reason)
            continue
        open_gaps = [g for g in part.gaps if (gap := ctx.gap(g)) is not None and gap.status != "filled"]
        named_gaps += part.gaps
        if open_gaps:
            why = "; ".join(f"{g}: {ctx.gap(g).what}" for g in open_gaps)
        elif own or later:
            why = "no other record states it"
        else:
            why = f"no record of {', '.join(part.records) or 'it'} in the store"
        if own:
            why += "; the claim's own article is not evidence for it"
        if later:
            why += f"; {', '.join(r.id for r in later)} is dated after the claim, so it is context only"
            own = own + later
        reason = f"Not documented: {part.statement} ({why})."
        parts.append(Part(part.aspect, part.statement, "unsupported", reason, context=[r.id for r in own]))
        rationale.append(reason)
    return ctx.finding(
        check,
        parts,
        rationale=rationale,
        gaps=named_gaps,
        assumptions=["A part counts as documented when a record from a source other than the claim's own "
                     "article states it; the record's wording is shown so a reader can judge the match."],
    )
