"""The verdict scale, claim parts, evidence strength, and the rule that combines parts into a verdict.

The scale (docs/verdict-scale.md gives the same rules with examples)
--------------------------------------------------------------------
A claim is split into the parts a fact-checker checks: ``quantity``, ``unit``, ``entity`` (the
system or body the claim names), ``place``, ``period``, ``comparison``, ``causal_strength``,
``effect_size``, ``uniformity`` and ``statement`` (a descriptive part, e.g. who said it). Each
part gets one of these labels, and the claim gets one from its parts:

=====================  ==========================================================  ===========  ===============
label                  meaning                                                     ClaimReview  FEVER
=====================  ==========================================================  ===========  ===============
Supported              every checkable part is stated by a source (other than the  5 True       SUPPORTS
                       claim's own article) or follows from sourced figures
Partly supported       some part is sourced true AND some part is sourced false.   3 Half true  NOT ENOUGH INFO
                       Lying between two sourced values is never enough.
Unsupported            no source states it (and none refutes it). A secondary      no value,    NOT ENOUGH INFO
                       note says "plausible" or "implausible" against the sourced  "Unsupported"
                       range when there is one.
Contradicted           the sources state something else, and no part is true       1 False      REFUTES
Misleading             the number or fact is true of something else: another       2 Misleading REFUTES
                       system, definition, place or period
Not checkable          an opinion or a statement no evidence could settle          no value     NOT ENOUGH INFO
=====================  ==========================================================  ===========  ===============

Combining parts (``combine_parts``), in order:

1. every part not checkable (or no part) -> Not checkable;
2. a contradicted part and a supported part -> Partly supported;
3. a contradicted part (no supported part) -> Contradicted;
4. a misleading part -> Misleading;
5. every checkable part supported -> Supported;
6. otherwise (some part unsourced) -> Unsupported; a supported part does not lift an unsourced one,
   and the reason names which parts are sourced.

Evidence strength (``evidence_strength``) replaces a "confidence" number. It is a word, from the
records that decided the parts (context records do not count):

- strong: at least two independent sources (one source counts once however many records it
  gives), at least one of them primary, at least one record dated no later than the claim, and
  every deciding record on the claim's definition;
- moderate: two independent sources, or one primary source, with at least one dated record and
  matching definitions;
- weak: anything less (one secondary source, undated records only, or a definition that differs);
- none: no source outside the claim's own article bears on it.

A source is primary when it is the body that produced the number (an official statement, a
dataset, a study or review read in full, an estimate whose provenance is primary); news reports
and web pages are secondary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from research.results import ReviewRating

Label = Literal["supported", "partly_supported", "unsupported", "contradicted", "misleading", "not_checkable"]
LABELS: tuple[Label, ...] = ("supported", "partly_supported", "misleading", "contradicted", "unsupported",
                             "not_checkable")

LABEL_NAMES: dict[str, str] = {
    "supported": "Supported",
    "partly_supported": "Partly supported",
    "unsupported": "Unsupported",
    "contradicted": "Contradicted",
    "misleading": "Misleading",
    "not_checkable": "Not checkable / opinion",
}

# What each label means, in one sentence (the docs page and `research check` show it).
LABEL_RULES: dict[str, str] = {
    "supported": "every checkable part is stated by a source other than the claim's own article, "
                 "or follows from sourced figures",
    "partly_supported": "some part is sourced true and some part is sourced false",
    "unsupported": "no source states it and none refutes it",
    "contradicted": "the sources state something else and no part of the claim is sourced true",
    "misleading": "the number or fact is true of something else (another system, definition, place or period)",
    "not_checkable": "an opinion, or a statement no evidence could settle",
}

# FEVER has three labels. Partly supported and unsupported claims are neither entailed nor refuted
# as worded; a misleading claim is refuted as worded (its number belongs to something else).
FEVER_LABELS: dict[str, str] = {
    "supported": "SUPPORTS",
    "partly_supported": "NOT ENOUGH INFO",
    "unsupported": "NOT ENOUGH INFO",
    "contradicted": "REFUTES",
    "misleading": "REFUTES",
    "not_checkable": "NOT ENOUGH INFO",
}

# ClaimReview ratings on a 1 (worst) to 5 (best) scale. Unsupported and not checkable are not
# points on a true-false scale: they carry no ratingValue, only the words.
RATING_VALUES: dict[str, int | None] = {
    "supported": 5,
    "partly_supported": 3,
    "misleading": 2,
    "contradicted": 1,
    "unsupported": None,
    "not_checkable": None,
}
BEST_RATING = 5
WORST_RATING = 1

Aspect = Literal["quantity", "unit", "entity", "place", "period", "comparison", "causal_strength",
                 "effect_size", "uniformity", "statement"]
ASPECTS: tuple[Aspect, ...] = ("quantity", "unit", "entity", "place", "period", "comparison", "causal_strength",
                               "effect_size", "uniformity", "statement")

Strength = Literal["strong", "moderate", "weak", "none"]
STRENGTHS: tuple[Strength, ...] = ("strong", "moderate", "weak", "none")
STRENGTH_RULES: dict[str, str] = {
    "strong": "at least two independent sources, one of them primary, dated no later than the claim, "
              "on the claim's definition",
    "moderate": "two independent sources, or one primary source, with a dated record and matching definitions",
    "weak": "one secondary source, undated records only, or a definition that differs",
    "none": "no source outside the claim's own article bears on it",
}
Plausibility = Literal["plausible", "implausible"]


def fever_label(label: str) -> str:
    return FEVER_LABELS[label]


def claimreview_rating(label: str) -> ReviewRating:
    return ReviewRating(ratingValue=RATING_VALUES[label], bestRating=BEST_RATING, worstRating=WORST_RATING,
                        alternateName=LABEL_NAMES[label])


@dataclass(frozen=True)
class Operand:
    """One number a step uses, and where it came from (a record id, ``claim:<quantity>`` or a step)."""

    name: str
    value: float
    unit: str
    ref: str
    qualifier: str = "exact"
    date: str | None = None


@dataclass(frozen=True)
class Step:
    """One arithmetic step: what is computed, from which inputs, by which formula, to what result."""

    name: str
    formula: str
    inputs: list[Operand]
    result: float
    unit: str
    description: str = ""

    def text(self) -> str:
        what = f" ({self.description})" if self.description else ""
        return f"{self.name}{what} = {self.formula} = {format_number(self.result)} {self.unit}".rstrip()

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "description": self.description,
            "formula": self.formula,
            "result": self.result,
            "result_text": f"{format_number(self.result)} {self.unit}".rstrip(),
            "unit": self.unit,
            "inputs": [asdict(op) for op in self.inputs],
        }


@dataclass
class Part:
    """One part of a claim (its quantity, the system it names, its causal strength...) and its verdict.

    ``evidence`` are the records that decided the part; ``context`` records are shown but did not
    decide it (later dates, other definitions). ``definition_match`` is False when the deciding
    records measure a different definition from the claim's.
    """

    aspect: Aspect
    claimed: str
    label: Label
    reason: str
    evidence: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    arithmetic: list[Step] = field(default_factory=list)
    plausibility: Plausibility | None = None
    definition_match: bool = True

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label: unknown verdict label {self.label!r}")
        if self.aspect not in ASPECTS:
            raise ValueError(f"aspect: unknown claim part {self.aspect!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "aspect": self.aspect,
            "claimed": self.claimed,
            "label": self.label,
            "label_name": LABEL_NAMES[self.label],
            "reason": self.reason,
            "plausibility": self.plausibility,
            "evidence": list(self.evidence),
            "context": list(self.context),
            "definition_match": self.definition_match,
            "arithmetic": [s.to_dict() for s in self.arithmetic],
        }


@dataclass(frozen=True)
class EvidenceStrength:
    """How strong the evidence behind a verdict is, in words, with what it was counted from."""

    level: Strength
    basis: str
    sources: tuple[str, ...] = ()
    primary: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "basis": self.basis, "sources": list(self.sources),
                "primary": list(self.primary)}


@dataclass(frozen=True)
class SourcedRecord:
    """What strength needs to know of one deciding record: its source, kind and date."""

    record: str
    source: str
    primary: bool
    dated_by_claim: bool | None  # True: dated no later than the claim; False: after it; None: undated


def evidence_strength(parts: list[Part], records: dict[str, SourcedRecord], own_source: str | None = None
                      ) -> EvidenceStrength:
    """The strength of the records that decided the parts (see the module docstring for the rule)."""
    deciding = [p for p in parts if p.label != "not_checkable"]
    used = [records[r] for p in deciding for r in p.evidence if r in records]
    used = [r for r in used if r.source != own_source]
    sources = tuple(dict.fromkeys(r.source for r in used))
    if not sources:
        return EvidenceStrength("none", "no source outside the claim's own article decides any part of it")
    primary = tuple(dict.fromkeys(r.source for r in used if r.primary))
    dated = [r for r in used if r.dated_by_claim]
    undated = [r for r in used if r.dated_by_claim is None]
    definitions = all(p.definition_match for p in deciding)
    n, n_primary = len(sources), len(primary)
    basis = (f"{n} independent source{'s' if n != 1 else ''} ({n_primary} primary, {n - n_primary} secondary); "
             f"{len(dated)} record{'s' if len(dated) != 1 else ''} dated no later than the claim, "
             f"{len(undated)} undated; definitions {'match' if definitions else 'differ'}")
    if n >= 2 and n_primary >= 1 and dated and definitions:
        level: Strength = "strong"
    elif (n >= 2 or n_primary >= 1) and dated and definitions:
        level = "moderate"
    else:
        level = "weak"
    return EvidenceStrength(level, basis, sources, primary)


@dataclass
class Finding:
    """What one check concluded about one claim: its parts and the label they combine to."""

    check: str
    parts: list[Part] = field(default_factory=list)
    label: Label | None = None  # None: combined from the parts
    rationale: list[str] = field(default_factory=list)
    arithmetic: list[Step] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    analyses: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # references that named nothing in the store

    def __post_init__(self) -> None:
        if self.label is None:
            self.label = combine_parts(self.parts)[0]
        if self.label not in LABELS:
            raise ValueError(f"label: unknown verdict label {self.label!r}")


@dataclass
class Verdict:
    """The verdict on one claim, with everything needed to explain and reproduce it."""

    claim_id: str
    label: Label
    reason: str
    strength: EvidenceStrength
    parts: list[Part]
    rationale: list[str]
    arithmetic: list[Step]
    assumptions: list[str]
    evidence: list[str]
    analyses: list[str]
    gaps: list[str]
    check: str
    findings: list[Finding] = field(default_factory=list)
    text: str = ""
    claim_date: str | None = None

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.label]

    @property
    def fever_label(self) -> str:
        return fever_label(self.label)

    @property
    def claimreview_rating(self) -> ReviewRating:
        return claimreview_rating(self.label)

    @property
    def plausibility(self) -> Plausibility | None:
        """The secondary note of an unsupported verdict: plausible or implausible against sourced values."""
        if self.label != "unsupported":
            return None
        notes = [p.plausibility for p in self.parts if p.label == "unsupported" and p.plausibility]
        if not notes:
            return None
        return "implausible" if "implausible" in notes else "plausible"

    @property
    def label_text(self) -> str:
        """The label with its secondary note, e.g. 'Unsupported (plausible)'."""
        return self.label_name + (f" ({self.plausibility})" if self.plausibility else "")

    @property
    def one_line(self) -> str:
        """The reason and the evidence strength in one line, for tables and ClaimReview."""
        return f"{self.reason} Evidence strength: {self.strength.level}."

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``rationale`` is one paragraph, ``reasons`` the same sentences as a list."""
        return {
            "claim_id": self.claim_id,
            "text": self.text,
            "label": self.label,
            "label_name": self.label_name,
            "label_text": self.label_text,
            "plausibility": self.plausibility,
            "reason": self.reason,
            "evidence_strength": self.strength.level,
            "evidence_strength_basis": self.strength.basis,
            "independent_sources": list(self.strength.sources),
            "claim_date": self.claim_date,
            "fever_label": self.fever_label,
            "claimreview_rating": self.claimreview_rating.to_dict(),
            "parts": [p.to_dict() for p in self.parts],
            "rationale": " ".join(self.rationale),
            "reasons": list(self.rationale),
            "arithmetic": [step.to_dict() for step in self.arithmetic],
            "assumptions": list(self.assumptions),
            "evidence": list(self.evidence),
            "analyses": list(self.analyses),
            "gaps": list(self.gaps),
            "check": self.check,
            "findings": [
                {
                    "check": f.check,
                    "label": f.label,
                    "reasons": list(f.rationale),
                    "parts": [p.to_dict() for p in f.parts],
                    "evidence": list(f.evidence),
                    "analyses": list(f.analyses),
                    "gaps": list(f.gaps),
                    "missing": list(f.missing),
                }
                for f in self.findings
            ],
        }

    def parts_table(self) -> list[str]:
        """The parts as text rows: aspect, what the claim says, the part's label and its reason."""
        if not self.parts:
            return []
        width = max(len(p.aspect) for p in self.parts)
        rows = []
        for part in self.parts:
            note = f" ({part.plausibility})" if part.plausibility else ""
            rows.append(f"{part.aspect:<{width}}  {LABEL_NAMES[part.label] + note:<26} {part.claimed}: {part.reason}")
        return rows

    def explain(self) -> str:
        """The verdict as plain text for a reader: label, parts, reasons, arithmetic, assumptions, sources."""
        lines = [
            f"{self.claim_id}: {self.label_text} (FEVER: {self.fever_label}; evidence strength {self.strength.level})",
            *([f"  Claim: \"{self.text}\""] if self.text else []),
            f"  Reason: {self.reason}",
            f"  Rule: {LABEL_NAMES[self.label]} = {LABEL_RULES[self.label]}.",
            f"  Evidence strength: {self.strength.level} ({STRENGTH_RULES[self.strength.level]}); "
            f"counted: {self.strength.basis}",
            f"  Claim dated: {self.claim_date or 'no date known'}",
            f"  Checks: {self.check}",
        ]
        if self.parts:
            lines.append("  Parts:")
            lines += [f"    {row}" for row in self.parts_table()]
        lines.append("  Why:")
        lines += [f"    - {sentence}" for sentence in self.rationale]
        if self.arithmetic:
            lines.append("  Arithmetic:")
            for step in self.arithmetic:
                lines.append(f"    - {step.text()}")
                for operand in step.inputs:
                    dated = f", {operand.date}" if operand.date else ""
                    qual = "" if operand.qualifier == "exact" else f" ({operand.qualifier})"
                    lines.append(
                        f"        {operand.name} = {format_number(operand.value)} {operand.unit}{qual} [{operand.ref}{dated}]"
                    )
        if self.assumptions:
            lines.append("  Assumptions:")
            lines += [f"    - {a}" for a in self.assumptions]
        lines.append(f"  Evidence records: {', '.join(self.evidence) or 'none'}")
        lines.append(f"  Analyses: {', '.join(self.analyses) or 'none'}")
        lines.append(f"  Data gaps: {', '.join(self.gaps) or 'none'}")
        return "\n".join(lines)


def format_number(value: float) -> str:
    """A number as a verdict shows it: whole numbers with thousands separators, others to 3 significant digits."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _aspects(parts: list[Part], label: str) -> str:
    """The parts with this label, by aspect, or by what they say when they are descriptive statements."""
    names = [_short(p.claimed) if p.aspect == "statement" else f"{p.aspect.replace('_', ' ')} ({_short(p.claimed, 50)})"
             for p in parts if p.label == label]
    return "; ".join(_unique(names))


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def combine_parts(parts: list[Part]) -> tuple[Label, str]:
    """The claim's label from its parts, by the rule in the module docstring, and the reason in one line."""
    checkable = [p for p in parts if p.label != "not_checkable"]
    if not checkable:
        reason = parts[0].reason if parts else "Nothing in the claim can be checked against evidence."
        return "not_checkable", reason
    labels = {p.label for p in checkable}
    true = [p for p in checkable if p.label == "supported"]
    false = [p for p in checkable if p.label in ("contradicted", "partly_supported")]
    if "partly_supported" in labels or ("contradicted" in labels and true):
        first_false = next(p for p in checkable if p.label in ("contradicted", "partly_supported"))
        sourced = _aspects(checkable, "supported") or "one part"
        return "partly_supported", f"Sourced true: {sourced}; sourced false: {first_false.reason}"
    if false:
        return "contradicted", false[0].reason
    misleading = [p for p in checkable if p.label == "misleading"]
    if misleading:
        return "misleading", misleading[0].reason
    if len(true) == len(checkable):
        return "supported", true[0].reason if len(true) == 1 else \
            f"Every part checked is sourced ({_aspects(true, 'supported')}). {true[0].reason}"
    unsourced = [p for p in checkable if p.label == "unsupported"]
    # the part that carries the secondary note explains it: implausible first, then plausible
    unsourced.sort(key=lambda p: {"implausible": 0, "plausible": 1}.get(p.plausibility or "", 2))
    reason = unsourced[0].reason
    if true:
        reason += f" (Sourced: {_aspects(true, 'supported')}. Not sourced: {_aspects(unsourced, 'unsupported')}.)"
    return "unsupported", reason


def combine_findings(claim_id: str, findings: list[Finding], text: str = "",
                     strength: EvidenceStrength | None = None, claim_date: str | None = None) -> Verdict:
    """One verdict from the findings of every check run on a claim: the parts of all findings are
    combined by ``combine_parts``; a finding without parts counts as one part with its label."""
    if not findings:
        raise ValueError("combine_findings: no findings")
    parts: list[Part] = []
    for finding in findings:
        if finding.parts:
            parts.extend(finding.parts)
        else:
            reason = finding.rationale[0] if finding.rationale else f"{finding.check}: {LABEL_NAMES[finding.label]}"
            parts.append(Part("statement", finding.check, finding.label, reason, list(finding.evidence)))
    label, reason = combine_parts(parts)
    rationale = []
    for finding in findings:
        rationale.extend(finding.rationale)
    if len(parts) > 1:
        summary = ", ".join(f"{p.aspect.replace('_', ' ')}: {LABEL_NAMES[p.label].lower()}" for p in parts)
        rationale.append(f"Overall: {LABEL_NAMES[label].lower()}, combining the parts ({summary}).")
    return Verdict(
        claim_id=claim_id,
        label=label,
        reason=reason,
        strength=strength or EvidenceStrength("none", "not counted"),
        parts=parts,
        rationale=rationale,
        arithmetic=[s for f in findings for s in f.arithmetic],
        assumptions=_unique([a for f in findings for a in f.assumptions]),
        evidence=_unique([e for f in findings for e in f.evidence]),
        analyses=_unique([a for f in findings for a in f.analyses]),
        gaps=_unique([g for f in findings for g in f.gaps]),
        check="+".join(_unique([f.check for f in findings])),
        findings=findings,
        text=text,
        claim_date=claim_date,
    )
