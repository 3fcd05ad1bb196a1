"""Claim verification: every claim gets a verdict on a defined scale, computed from the evidence.

``verify_claims(store, analyses, plan)`` compares every numeric claim with the facts of the same
quantity and place, runs the checks declared in ``analyses/claim-checks.yaml``, and returns a
``Verification`` (``summary()``, ``explain(id)``, ``to_dict()``, ``claimreviews()``). Each verdict
carries its label (the scale in ``research.claims.verdict`` and docs/verdict-scale.md), a one-line
reason, an evidence strength and its claim parts; ``diff_verifications`` compares two versions of
the evidence.
"""

from research.claims.checks import CHECKS
from research.claims.claimreview import to_claimreview
from research.claims.engine import Verification, evaluate_claim, evaluate_claims, verify_claims
from research.claims.plan import CheckPlan, load_plan, parse_plan
from research.claims.verdict import (
    ASPECTS,
    FEVER_LABELS,
    LABEL_NAMES,
    LABEL_RULES,
    LABELS,
    STRENGTHS,
    EvidenceStrength,
    Finding,
    Part,
    Step,
    Verdict,
    claimreview_rating,
    combine_findings,
    combine_parts,
    evidence_strength,
    fever_label,
)

__all__ = [
    "ASPECTS", "CHECKS", "CheckPlan", "EvidenceStrength", "FEVER_LABELS", "Finding", "LABELS", "LABEL_NAMES",
    "LABEL_RULES", "Part", "STRENGTHS", "Step", "Verdict", "Verification", "claimreview_rating", "combine_findings",
    "combine_parts", "evaluate_claim", "evaluate_claims", "evidence_strength", "fever_label", "load_plan",
    "parse_plan", "to_claimreview", "verify_claims",
]
