"""Verdict labels, their FEVER and ClaimReview equivalents, and the records a check returns.

A check returns a ``Finding`` about one aspect of a claim; the findings of a claim are combined
into one ``Verdict`` by ``combine_findings``. Both carry the arithmetic they did, the assumptions
they made, and the ids of the records, analyses and gaps they read, so the reasoning can be shown
and compared between two versions of the evidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Label = Literal["supported", "partly_supported", "contradicted", "not_enough_evidence", "opinion"]
LABELS: tuple[Label, ...] = ("supported", "partly_supported", "contradicted", "not_enough_evidence", "opinion")

LABEL_NAMES: dict[str, str] = {
    "supported": "Supported",
    "partly_supported": "Partly supported",
    "contradicted": "Contradicted",
    "not_enough_evidence": "Not enough evidence",
    "opinion": "Opinion (not checkable)",
}

# FEVER has three labels. A partly supported claim is neither entailed by the evidence as worded
# nor refuted by it, so it maps to NOT ENOUGH INFO, as does an opinion.
FEVER_LABELS: dict[str, str] = {
    "supported": "SUPPORTS",
    "partly_supported": "NOT ENOUGH INFO",
    "contradicted": "REFUTES",
    "not_enough_evidence": "NOT ENOUGH INFO",
    "opinion": "NOT ENOUGH INFO",
}

# ClaimReview ratings on a 1 (worst) to 5 (best) scale. "Not enough evidence" and "opinion" are
# not points on a true-false scale, so they carry no ratingValue, only the alternateName.
RATING_VALUES: dict[str, int | None] = {
    "supported": 5,
    "partly_supported": 3,
    "contradicted": 1,
    "not_enough_evidence": None,
    "opinion": None,
}
BEST_RATING = 5
WORST_RATING = 1


def fever_label(label: str) -> str:
    return FEVER_LABELS[label]


def claimreview_rating(label: str) -> dict[str, Any]:
    return {
        "ratingValue": RATING_VALUES[label],
        "bestRating": BEST_RATING,
        "worstRating": WORST_RATING,
        "alternateName": LABEL_NAMES[label],
    }


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
        return f"{self.name}{what} = {self.formula} = {_fmt(self.result)} {self.unit}".rstrip()

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "description": self.description,
            "formula": self.formula,
            "result": self.result,
            "result_text": f"{_fmt(self.result)} {self.unit}".rstrip(),
            "unit": self.unit,
            "inputs": [asdict(op) for op in self.inputs],
        }


@dataclass
class Finding:
    """What one check concluded about one claim."""

    check: str
    label: Label
    confidence: float
    confidence_basis: str
    rationale: list[str] = field(default_factory=list)
    arithmetic: list[Step] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    analyses: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # references that named nothing in the store

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label: unknown verdict label {self.label!r}")
        self.confidence = _unit_interval(self.confidence)


@dataclass
class Verdict:
    """The verdict on one claim, with everything needed to explain and reproduce it."""

    claim_id: str
    label: Label
    confidence: float
    confidence_basis: str
    rationale: list[str]
    arithmetic: list[Step]
    assumptions: list[str]
    evidence: list[str]
    analyses: list[str]
    gaps: list[str]
    check: str
    findings: list[Finding] = field(default_factory=list)
    text: str = ""

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.label]

    @property
    def fever_label(self) -> str:
        return fever_label(self.label)

    @property
    def claimreview_rating(self) -> dict[str, Any]:
        return claimreview_rating(self.label)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``rationale`` is one paragraph, ``reasons`` the same sentences as a list."""
        return {
            "claim_id": self.claim_id,
            "text": self.text,
            "label": self.label,
            "label_name": self.label_name,
            "fever_label": self.fever_label,
            "claimreview_rating": dict(self.claimreview_rating),
            "confidence": self.confidence,
            "confidence_basis": self.confidence_basis,
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
                    "confidence": f.confidence,
                    "confidence_basis": f.confidence_basis,
                    "reasons": list(f.rationale),
                    "evidence": list(f.evidence),
                    "analyses": list(f.analyses),
                    "gaps": list(f.gaps),
                    "missing": list(f.missing),
                }
                for f in self.findings
            ],
        }

    def explain(self) -> str:
        """The verdict as plain text for a reader: label, reasons, arithmetic, assumptions, sources."""
        lines = [
            f"{self.claim_id}: {self.label_name} (FEVER: {self.fever_label}; "
            f"confidence {self.confidence:.2f})",
            *([f"  Claim: \"{self.text}\""] if self.text else []),
            f"  Checks: {self.check}",
            f"  Confidence basis: {self.confidence_basis}",
            "  Why:",
        ]
        lines += [f"    - {sentence}" for sentence in self.rationale]
        if self.arithmetic:
            lines.append("  Arithmetic:")
            for step in self.arithmetic:
                lines.append(f"    - {step.text()}")
                for operand in step.inputs:
                    dated = f", {operand.date}" if operand.date else ""
                    qual = "" if operand.qualifier == "exact" else f" ({operand.qualifier})"
                    lines.append(
                        f"        {operand.name} = {_fmt(operand.value)} {operand.unit}{qual} [{operand.ref}{dated}]"
                    )
        if self.assumptions:
            lines.append("  Assumptions:")
            lines += [f"    - {a}" for a in self.assumptions]
        lines.append(f"  Evidence records: {', '.join(self.evidence) or 'none'}")
        lines.append(f"  Analyses: {', '.join(self.analyses) or 'none'}")
        lines.append(f"  Data gaps: {', '.join(self.gaps) or 'none'}")
        return "\n".join(lines)


def _unit_interval(value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"confidence: must be between 0 and 1, got {value}")
    return value


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def combine_findings(claim_id: str, findings: list[Finding], text: str = "") -> Verdict:
    """One verdict from the findings of every check declared for a claim.

    Rules, in order: any contradicted part with no supported part -> contradicted (an overstated
    part does not rescue it); contradicted parts next to supported parts -> partly supported;
    supported parts next to overstated parts or parts that could not be checked -> partly
    supported; otherwise the common label. The confidence is that of the least certain finding,
    because the verdict is only as firm as its weakest part.
    """
    if not findings:
        raise ValueError("combine_findings: no findings")
    labels = [f.label for f in findings]
    positive = {"supported", "partly_supported"}
    if "opinion" in labels:
        label: Label = "opinion"
    elif "contradicted" in labels:
        label = "partly_supported" if "supported" in labels else "contradicted"
    elif positive & set(labels):
        label = "supported" if all(lab == "supported" for lab in labels) else "partly_supported"
    else:
        label = "not_enough_evidence"
    rationale = []
    for finding in findings:
        rationale.extend(finding.rationale)
    if len(findings) > 1:
        parts = ", ".join(f"{f.check}: {LABEL_NAMES[f.label].lower()}" for f in findings)
        rationale.append(f"Overall: {LABEL_NAMES[label].lower()}, combining the parts checked ({parts}).")
    weakest = min(findings, key=lambda f: f.confidence)
    basis = weakest.confidence_basis
    if len(findings) > 1:
        basis = f"lowest of {len(findings)} checks ({weakest.check}): {basis}"
    return Verdict(
        claim_id=claim_id,
        label=label,
        confidence=weakest.confidence,
        confidence_basis=basis,
        rationale=rationale,
        arithmetic=[s for f in findings for s in f.arithmetic],
        assumptions=_unique([a for f in findings for a in f.assumptions]),
        evidence=_unique([e for f in findings for e in f.evidence]),
        analyses=_unique([a for f in findings for a in f.analyses]),
        gaps=_unique([g for f in findings for g in f.gaps]),
        check="+".join(_unique([f.check for f in findings])),
        findings=findings,
        text=text,
    )
