"""Run the declared checks on every claim of the store and collect the verdicts.

The analyses are passed in as data (``{analysis_id: result}``), so this layer never runs the
pipeline itself.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from research.errors import InputError
from research.store.loader import Store
from research.store.schema import Claim, Source

from research.claims.checks import CHECKS
from research.claims.claimreview import to_claimreview
from research.claims.context import OPEN_GAP_STATUSES, CheckContext
from research.claims.plan import CheckPlan, ClaimPlan, load_plan
from research.claims.verdict import LABEL_NAMES, LABELS, Finding, Verdict, combine_findings


def _by_kind(ctx: CheckContext) -> Finding:
    """The verdict of a claim that has no declared check: opinion, or not enough evidence."""
    claim = ctx.claim
    if claim.kind == "opinion":
        return Finding(
            check="kind",
            label="opinion",
            confidence=1.0,
            confidence_basis="the claim is recorded as an opinion (kind: opinion) in the evidence store",
            rationale=["This states a view or perception, with no survey, sample or fact that could be checked."],
            evidence=[claim.id],
            gaps=ctx.gaps_about([claim.id]),
        )
    gaps = ctx.gaps_about([claim.id])
    rationale = ["No check is declared for this claim, and nothing in the evidence store settles it."]
    for gap_id in gaps:
        rationale.append(f"Open data gap {gap_id}: {ctx.gap(gap_id).what}")
    if not gaps:
        rationale.append("No data gap is recorded for it either.")
    return Finding(
        check="none",
        label="not_enough_evidence",
        confidence=1.0,
        confidence_basis="no declared check and no record that decides the claim",
        rationale=rationale,
        evidence=[claim.id],
        gaps=gaps,
    )


def _gap_finding(ctx: CheckContext, gap_id: str) -> Finding | None:
    """A part of the claim that is blocked by a gap; None when the gap is filled."""
    gap = ctx.gap(gap_id)
    if gap is None:
        return Finding(
            check="gap",
            label="not_enough_evidence",
            confidence=1.0,
            confidence_basis="the declared gap record is missing from the store",
            rationale=[f"Part of the claim depends on {gap_id}, which is not in the evidence store."],
            gaps=[gap_id],
        )
    if gap.status not in OPEN_GAP_STATUSES:
        return None
    return Finding(
        check="gap",
        label="not_enough_evidence",
        confidence=1.0,
        confidence_basis=f"gap {gap_id} is {gap.status}",
        rationale=[f"Part of the claim cannot be checked: {gap.what} ({gap_id}, {gap.status})."],
        evidence=[],
        gaps=[gap_id],
    )


def evaluate_claim(
    claim: Claim,
    store: Store,
    analyses: Mapping[str, Mapping[str, Any]] | None = None,
    plan: CheckPlan | None = None,
    shared: dict[str, Any] | None = None,
) -> Verdict:
    """The verdict on one claim from its declared checks (or its kind when none is declared)."""
    plan = plan or CheckPlan()
    shared = {} if shared is None else shared
    analyses = analyses or {}
    entry: ClaimPlan | None = plan.for_claim(claim.id)
    base = CheckContext(claim, store, analyses, shared=shared)
    if claim.kind == "opinion" or entry is None or (not entry.checks and not entry.gaps):
        return combine_findings(claim.id, [_by_kind(base)], claim.text)
    findings: list[Finding] = []
    for spec in entry.checks:
        params = plan.typed_params(entry, spec)
        ctx = CheckContext(claim, store, analyses, shared=shared)
        try:
            finding = CHECKS[spec.check].run(ctx, params)
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{plan.file or 'claim checks'}: claim '{claim.id}': check '{spec.check}': {exc}") from exc
        findings.append(finding)
    for gap_id in entry.gaps:
        finding = _gap_finding(base, gap_id)
        if finding is not None:
            findings.append(finding)
    if not findings:
        findings.append(_by_kind(base))
    return combine_findings(claim.id, findings, claim.text)


@dataclass
class Verification:
    """The verdicts on every claim of one version of the store (a results object)."""

    verdicts: list[Verdict]
    claims: dict[str, Claim]
    sources: dict[str, Source]
    plan: CheckPlan
    warnings: list[str] = field(default_factory=list)
    record_sources: dict[str, str] = field(default_factory=dict)  # record id -> its source id

    def __getitem__(self, claim_id: str) -> Verdict:
        for verdict in self.verdicts:
            if verdict.claim_id == claim_id:
                return verdict
        raise KeyError(claim_id)

    def __contains__(self, claim_id: str) -> bool:
        return any(v.claim_id == claim_id for v in self.verdicts)

    def __iter__(self):
        return iter(self.verdicts)

    def __len__(self) -> int:
        return len(self.verdicts)

    def counts(self) -> dict[str, int]:
        found = Counter(v.label for v in self.verdicts)
        return {label: found[label] for label in LABELS if found[label]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "checks_file": self.plan.file,
            "counts": self.counts(),
            "warnings": list(self.warnings),
            "claims": [v.to_dict() for v in self.verdicts],
        }

    def summary(self) -> str:
        """A table: one line per claim with its verdict, confidence and checks."""
        width = max((len(v.claim_id) for v in self.verdicts), default=8)
        lines = [f"Claim verdicts ({len(self.verdicts)} claims; checks from {self.plan.file or 'no file'})",
                 f"{'claim':<{width}}  {'verdict':<24} {'conf.':>5}  checks"]
        for v in self.verdicts:
            lines.append(f"{v.claim_id:<{width}}  {v.label_name:<24} {v.confidence:>5.2f}  {v.check}")
        lines.append("Counts: " + ", ".join(f"{LABEL_NAMES[k].lower()} {n}" for k, n in self.counts().items()))
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def explain(self, claim_id: str) -> str:
        verdict = self[claim_id]
        claim = self.claims[claim_id]
        head = f"Claim {claim.id} ({claim.kind}, {claim.location} of {claim.source})"
        return head + "\n" + verdict.explain()

    def claimreviews(self, date_published: dt.date | str | None = None, url: str | None = None) -> list[dict]:
        """ClaimReview JSON-LD for every claim that was checked (opinions are not rated)."""
        out = []
        for verdict in self.verdicts:
            if verdict.label == "opinion":
                continue
            claim = self.claims[verdict.claim_id]
            cited = [self.sources[sid] for sid in _sources_of(verdict, self) if sid in self.sources]
            out.append(to_claimreview(verdict, claim, self.sources.get(claim.source), date_published=date_published,
                                      url=url, cited=cited))
        return out


def _sources_of(verdict: Verdict, verification: Verification) -> list[str]:
    """Source ids of the records a verdict used, in order."""
    ids: list[str] = []
    for record_id in verdict.evidence:
        source = verification.record_sources.get(record_id)
        if source and source not in ids:
            ids.append(source)
    return ids


def verify_claims(
    store: Store,
    analyses: Mapping[str, Mapping[str, Any]] | None = None,
    plan: CheckPlan | str | Path | None = None,
) -> Verification:
    """Verdicts on every claim in the store. ``plan`` is a CheckPlan or the path of the checks file."""
    if not isinstance(plan, CheckPlan):
        plan = load_plan(plan)
    shared: dict[str, Any] = {}
    verdicts = [evaluate_claim(claim, store, analyses, plan, shared) for claim in store["claims"]]
    claims = {c.id: c for c in store["claims"]}
    warnings = [f"{plan.file}: claim '{e.claim}' is not in the evidence store" for e in plan.claims
                if e.claim not in claims]
    known = {r.id for records in store.records.values() for r in records}
    for verdict in verdicts:
        for finding in verdict.findings:
            for ref in finding.missing:
                record_id = ref.split(":", 1)[0].removesuffix(".value")
                if record_id in known or " " in ref or ref.startswith("step:"):
                    continue
                warnings.append(f"{plan.file}: claim '{verdict.claim_id}': check '{finding.check}' names "
                                f"'{ref}', which is not in the evidence store")
    record_sources = {r.id: r.source for records in store.records.values() for r in records
                      if isinstance(getattr(r, "source", None), str)}
    return Verification(verdicts, claims, {s.id: s for s in store["sources"]}, plan, warnings, record_sources)


def evaluate_claims(
    store: Store,
    analyses: Mapping[str, Mapping[str, Any]] | None = None,
    checks_path: str | Path | None = None,
) -> list[Verdict]:
    """The verdicts as a list (what the pipeline stores in its results)."""
    return verify_claims(store, analyses, checks_path).verdicts
