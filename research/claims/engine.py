"""Run the checks on every claim of the store and collect the verdicts.

Every numeric claim is compared with every fact of the same quantity and place by default
(``checks.sources.default_comparisons``); the plan in ``analyses/claim-checks.yaml`` refines a
claim (named facts, derived steps, a tolerance exception with its reason) and adds the checks that
need declaring (arithmetic, causal, documented parts). The analyses are passed in as typed
results (``research.results.AnalysisResult``, or plain dicts of that shape, which are validated
once on the way in), so this layer never runs the pipeline itself.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from research.errors import InputError
from research.results import AnalysisResult, EstimateRow, coerce_analyses
from research.store.loader import Store
from research.store.schema import Claim, Source

from research.claims.checks import CHECKS
from research.claims.checks.sources import default_comparisons
from research.claims.claimreview import to_claimreview
from research.claims.context import OPEN_GAP_STATUSES, CheckContext
from research.claims.plan import CheckPlan, ClaimPlan, load_plan
from research.claims.verdict import (
    LABEL_NAMES, LABELS, Finding, Part, SourcedRecord, Verdict, combine_findings, combine_parts, evidence_strength,
)


def _by_kind(ctx: CheckContext) -> Finding:
    """The verdict of a claim no check reaches: an opinion is not checkable; anything else is unsupported."""
    claim = ctx.claim
    if claim.kind == "opinion":
        reason = "This states a view or perception, with no survey, sample or fact that could be checked."
        return Finding(check="kind", parts=[Part("statement", "a view", "not_checkable", reason)],
                       rationale=[reason], evidence=[claim.id], gaps=ctx.gaps_about([claim.id]))
    gaps = ctx.gaps_about([claim.id])
    reason = "No source in the evidence store states it."
    rationale = ["No check reaches this claim, and no record in the evidence store states or refutes it."]
    for gap_id in gaps:
        rationale.append(f"Open data gap {gap_id}: {ctx.gap(gap_id).what}")
    if gaps:
        reason += f" It was looked for and not found ({gaps[0]})."
    else:
        rationale.append("No data gap is recorded for it either.")
    return Finding(check="none", parts=[Part("statement", "the claim", "unsupported", reason)],
                   rationale=rationale, evidence=[claim.id], gaps=gaps)


def _gap_finding(ctx: CheckContext, gap_id: str) -> Finding | None:
    """A part of the claim that is blocked by a gap; None when the gap is filled."""
    gap = ctx.gap(gap_id)
    if gap is None:
        reason = f"Part of the claim depends on {gap_id}, which is not in the evidence store."
    elif gap.status not in OPEN_GAP_STATUSES:
        return None
    else:
        reason = f"Part of the claim cannot be checked: {gap.what} ({gap_id}, {gap.status})."
    return Finding(check="gap", parts=[Part("statement", gap_id, "unsupported", reason)], rationale=[reason],
                   gaps=[gap_id])


def _apply_unknown_value_gaps(ctx: CheckContext, findings: list[Finding]) -> None:
    """An open gap about the claim whose ``parameter`` is one of its quantities says the store does
    not know that value at the claim's date; numeric parts that rest only on undated records then
    cannot confirm the claim (they stay Unsupported, plausible)."""
    names = {q.name for q in ctx.claim.quantities}
    gaps = [g for g in ctx.store["gaps"] if g.status in OPEN_GAP_STATUSES and ctx.claim.id in g.related
            and g.parameter in names]
    if not gaps:
        return
    for finding in findings:
        for part in finding.parts:
            if part.aspect not in ("quantity", "comparison") or part.label != "supported" or not part.evidence:
                continue
            records = [ctx.lookup(r) for r in part.evidence]
            if any(r is not None and ctx.timing(ctx.record_date(r)) == "current" for r in records):
                continue
            part.label = "unsupported"
            part.plausibility = "plausible"
            part.reason += (f" But these records are undated, and {gaps[0].id} records the value at the claim's date "
                            f"as unknown: {gaps[0].what}")
            part.context, part.evidence = part.context + part.evidence, []
            finding.label = combine_parts(finding.parts)[0]
            finding.gaps += [g.id for g in gaps if g.id not in finding.gaps]


def _refined_quantities(entry: ClaimPlan | None) -> set[str]:
    """Quantities of the claim that a plan entry compares itself (the default comparison is skipped)."""
    names: set[str] = set()
    for spec in entry.checks if entry else []:
        claimed = spec.params.get("claimed")
        if spec.check == "cross_source" and isinstance(claimed, str) and claimed.startswith("claim:"):
            names.add(claimed.removeprefix("claim:"))
    return names


def _strength(ctx: CheckContext, parts: list[Part]):
    ids = {r for part in parts for r in part.evidence}
    records: dict[str, SourcedRecord] = {}
    for record_id in ids:
        found = ctx.sourced_record(record_id)
        if found is not None:
            records[record_id] = found
    return evidence_strength(parts, records, ctx.claim.source)


def evaluate_claim(
    claim: Claim,
    store: Store,
    analyses: Mapping[str, AnalysisResult | Mapping[str, Any]] | None = None,
    plan: CheckPlan | None = None,
    shared: dict[str, Any] | None = None,
) -> Verdict:
    """The verdict on one claim: default comparisons, then the plan's checks and gaps (or its kind)."""
    plan = plan or CheckPlan()
    shared = {} if shared is None else shared
    analyses = coerce_analyses(analyses)
    entry: ClaimPlan | None = plan.for_claim(claim.id)
    base = CheckContext(claim, store, analyses, shared=shared)
    claim_date = base.claim_date()
    dated = f"{claim_date[0]} ({claim_date[1]})" if claim_date[0] else None
    if claim.kind == "opinion":
        findings = [_by_kind(base)]
        return combine_findings(claim.id, findings, claim.text, _strength(base, findings[0].parts), dated)
    findings: list[Finding] = default_comparisons(base, _refined_quantities(entry))
    for spec in entry.checks if entry else []:
        params = plan.typed_params(entry, spec)
        ctx = CheckContext(claim, store, analyses, shared=shared)
        try:
            finding = CHECKS[spec.check].run(ctx, params)
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{plan.file or 'claim checks'}: claim '{claim.id}': check '{spec.check}': {exc}") from exc
        findings.append(finding)
    _apply_unknown_value_gaps(base, findings)
    # A declared gap blocks the claim only while nothing else decides it; once a source decides a
    # part (a fact added later, say), the gap is still named but no longer makes the claim unsupported.
    decided = any(p.label not in ("unsupported", "not_checkable") for f in findings for p in f.parts)
    gap_findings = [g for g in (_gap_finding(base, gap_id) for gap_id in (entry.gaps if entry else [])) if g]
    if not decided:
        findings += gap_findings
    if not findings:
        findings.append(_by_kind(base))
    parts = [part for finding in findings for part in finding.parts]
    verdict = combine_findings(claim.id, findings, claim.text, _strength(base, parts), dated)
    if base.date_mattered() and base.date_record() and base.date_record() not in verdict.evidence:
        verdict.evidence.append(base.date_record())  # the claim's date decides which facts may judge it
    if decided:
        for gap in gap_findings:
            verdict.rationale += [f"Still open: {r}" for r in gap.rationale]
            verdict.gaps += [g for g in gap.gaps if g not in verdict.gaps]
    return verdict


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
        """A table: one line per claim with its verdict, evidence strength, checks and reason."""
        width = max((len(v.claim_id) for v in self.verdicts), default=8)
        lines = [f"Claim verdicts ({len(self.verdicts)} claims; checks from {self.plan.file or 'no file'})",
                 f"{'claim':<{width}}  {'verdict':<36} {'strength':<8}  checks"]
        for v in self.verdicts:
            lines.append(f"{v.claim_id:<{width}}  {v.label_text:<36} {v.strength.level:<8}  {v.check}")
            lines.append(f"{'':<{width}}    {v.reason}")
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
            if verdict.label == "not_checkable":
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
    analyses: Mapping[str, AnalysisResult | Mapping[str, Any]] | None = None,
    plan: CheckPlan | str | Path | None = None,
    estimates: Mapping[str, EstimateRow | Mapping[str, Any]] | None = None,
) -> Verification:
    """Verdicts on every claim in the store. ``plan`` is a CheckPlan or the path of the checks file;
    ``estimates`` are the store's estimate rows as a build stored them (computed here when not given)."""
    if not isinstance(plan, CheckPlan):
        plan = load_plan(plan)
    analyses = coerce_analyses(analyses)
    shared: dict[str, Any] = {}
    if estimates:  # rows a build stored (typed, kept as they are) or computed elsewhere (plain data, validated)
        shared["estimate_rows"] = {k: EstimateRow.model_validate(v) for k, v in estimates.items()}
    verdicts = [evaluate_claim(claim, store, analyses, plan, shared) for claim in store["claims"]]
    claims = {c.id: c for c in store["claims"]}
    warnings = [f"{plan.file}: claim '{e.claim}' is not in the evidence store" for e in plan.claims
                if e.claim not in claims]
    for entry in plan.claims:
        for spec in entry.checks:
            params = plan.typed_params(entry, spec)
            if getattr(params, "unreasoned", False):
                warnings.append(f"{plan.file}: claim '{entry.claim}': check '{spec.check}': an exception to the "
                                "tolerance rule needs a tolerance_reason")
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
    analyses: Mapping[str, AnalysisResult | Mapping[str, Any]] | None = None,
    checks_path: str | Path | None = None,
    estimates: Mapping[str, EstimateRow | Mapping[str, Any]] | None = None,
) -> list[Verdict]:
    """The verdicts as a list (what the pipeline stores in its results)."""
    return verify_claims(store, analyses, checks_path, estimates).verdicts
