"""Internal consistency: is a name spelled the way the sources (and the article itself) spell it?"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from research.claims.checks import register
from research.claims.checks.base import CheckParams
from research.claims.context import CheckContext
from research.claims.verdict import Finding, Label, Part

# Record fields that hold text read in a source.
TEXT_FIELDS = ("quote", "citation", "title", "text")


class NameParams(CheckParams):
    variants: dict[str, list[str]] = Field(description="Each name and its spellings, e.g. Lumen: [Lumen, Люмен]")
    if_inconsistent: Label = "contradicted"

    @field_validator("variants")
    @classmethod
    def _two_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if len(value) < 2 or any(not spellings for spellings in value.values()):
            raise ValueError("give at least two names, each with at least one spelling")
        return value


def _pattern(spellings: list[str]) -> re.Pattern[str]:
    # a spelling may carry suffixes (Lumen's, Люмена) but must start a word
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(s) for s in spellings) + ")", re.IGNORECASE)


def _names_in(text: str, patterns: dict[str, re.Pattern[str]]) -> set[str]:
    return {name for name, pattern in patterns.items() if pattern.search(text)}


@register("name_consistency", NameParams)
def name_consistency(ctx: CheckContext, p: NameParams) -> Finding:
    """The name used in the claim against the spelling in independent sources and the article."""
    check = "name_consistency"
    patterns = {name: _pattern(spellings) for name, spellings in p.variants.items()}
    claim = ctx.claim
    in_claim = _names_in(claim.text, patterns)
    article_use: dict[str, list[str]] = {name: [] for name in patterns}
    for other in ctx.store["claims"]:
        if other.source == claim.source and other.id != claim.id:
            for name in _names_in(other.text, patterns):
                article_use[name].append(other.id)
    independent: dict[str, list[str]] = {name: [] for name in patterns}
    for kind, records in ctx.store.records.items():
        if kind in ("claims", "gaps"):
            continue
        for record in records:
            if getattr(record, "source", None) == claim.source or record.id == claim.source:
                continue
            text = " ".join(str(getattr(record, f, "") or "") for f in TEXT_FIELDS)
            for name in _names_in(text, patterns):
                independent[name].append(record.id)
    total = sum(len(ids) for ids in independent.values())
    if not in_claim:
        ctx.missing.append(f"any of the names {', '.join(patterns)} in the claim text")
        return ctx.not_enough(check, "The name comparison", p.gaps, aspect="entity")
    if total == 0:
        ctx.missing.append(f"a source outside the article that names {' or '.join(patterns)}")
        return ctx.not_enough(check, "The name comparison", p.gaps, aspect="entity")

    canonical = max(independent, key=lambda name: len(independent[name]))
    for ids in independent.values():
        for record_id in ids:
            ctx.use(record_id)
    counts = ", ".join(f"{name}: {len(ids)}" for name, ids in independent.items())
    rationale = [
        f"The claim uses {', '.join(sorted(in_claim))}.",
        f"Records from other sources that use each name: {counts}; the sources' name is {canonical}.",
    ]
    if article_use[canonical]:
        rationale.append(f"The article itself uses {canonical} elsewhere ({', '.join(article_use[canonical])}).")
    if in_claim == {canonical}:
        label: Label = "supported"
    elif canonical in in_claim:
        label = "partly_supported"
        rationale.append("The claim uses the sources' name and another one.")
    else:
        used = sorted(in_claim)
        if all(not independent[name] for name in used):
            label = p.if_inconsistent
            rationale.append(f"No source outside the article uses {', '.join(used)}; it looks like a "
                             f"misspelling or mistranslation of {canonical}.")
        else:
            label = "partly_supported"
            rationale.append(f"Some sources also use {', '.join(used)}, but most use {canonical}.")
    evidence = [i for ids in independent.values() for i in ids]
    deciding = independent[canonical]
    reason = {
        "supported": f"Sources outside the article name it {canonical}, as the claim does "
                     f"({len(independent[canonical])} of {total} mentions).",
        "contradicted": f"The claim names it {', '.join(sorted(in_claim))}; no source outside the article "
                        f"does, and {len(independent[canonical])} of {total} mentions say {canonical}.",
        "partly_supported": f"The claim's name is partly the sources' ({canonical}, "
                            f"{len(independent[canonical])} of {total} mentions).",
    }.get(label, rationale[-1])
    part = Part("entity", f"the name {', '.join(sorted(in_claim))}", label, reason, deciding,
                [e for e in evidence if e not in deciding])
    return ctx.finding(
        check,
        [part],
        rationale=rationale,
        assumptions=["Spellings counted as the same name: "
                     + "; ".join(f"{n} = {', '.join(s)}" for n, s in p.variants.items()) + "."],
    )
