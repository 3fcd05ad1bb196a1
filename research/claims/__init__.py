"""Claim verification: every claim gets a verdict computed from the evidence.

``verify_claims(store, analyses, plan)`` runs the checks declared in
``analyses/claim-checks.yaml`` and returns a ``Verification`` (``summary()``, ``explain(id)``,
``to_dict()``, ``claimreviews()``); ``diff_verifications`` compares two versions of the evidence.
"""

from research.claims.checks import CHECKS
from research.claims.claimreview import to_claimreview
from research.claims.engine import Verification, evaluate_claim, evaluate_claims, verify_claims
from research.claims.plan import CheckPlan, load_plan, parse_plan
from research.claims.verdict import (
    FEVER_LABELS,
    LABEL_NAMES,
    LABELS,
    Finding,
    Step,
    Verdict,
    claimreview_rating,
    combine_findings,
    fever_label,
)

__all__ = [
    "CHECKS", "CheckPlan", "FEVER_LABELS", "Finding", "LABELS", "LABEL_NAMES", "Step", "Verdict",
    "Verification", "claimreview_rating", "combine_findings", "evaluate_claim", "evaluate_claims",
    "fever_label", "load_plan", "parse_plan", "to_claimreview", "verify_claims",
]
