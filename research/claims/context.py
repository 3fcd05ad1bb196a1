"""What a check can read: the claim, the store, analysis results, and the steps computed so far.

Checks name their inputs as references, so the declarations in ``analyses/claim-checks.yaml``
stay data:

- ``claim:<name>``: a quantity stated in the claim itself;
- ``<claim-id>:<name>``: a quantity stated in another claim (e.g. the same sentence's other half);
- ``step:<name>``: the result of an earlier arithmetic step of the same check;
- a record id (``fact-...``): the value of that fact in the store;
- a mapping ``{value, unit, why}``: a constant that is not evidence (e.g. 24 hours in a day),
  with the reason it is used.

Every record a check reads is noted, so the verdict lists it and a diff can tell which inputs
changed. A reference that names nothing in the store is noted as missing, not raised: the
verdict then says "not enough evidence" and names the gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from research.store.loader import Store
from research.store.schema import Claim, DataGap, Fact, Record

from research.claims.verdict import Finding, Operand, Step

# Unit words that scale a number, as they appear in sources ("2.3 billion tenge", "53 thousand").
SCALE_WORDS: dict[str, float] = {
    "thousand": 1e3,
    "thousands": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mln": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
}
OPEN_GAP_STATUSES = frozenset({"open", "requested", "partly_filled"})


def normalise_unit(value: float, unit: str) -> tuple[float, str]:
    """``(2.3, "billion tenge")`` -> ``(2.3e9, "tenge")``; other units are left as they are."""
    words = unit.strip().split(maxsplit=1)
    if len(words) == 2 and words[0].lower() in SCALE_WORDS:
        return value * SCALE_WORDS[words[0].lower()], words[1]
    return value, unit.strip()


def year_of(date: str | None) -> int | None:
    """The first four-digit year in a date or period text, e.g. ``"2020-04-01"`` -> 2020."""
    if not date:
        return None
    match = re.search(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)", str(date))
    return int(match.group(1)) if match else None


@dataclass
class CheckContext:
    claim: Claim
    store: Store
    analyses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    shared: dict[str, Any] = field(default_factory=dict)  # per-store caches shared by all claims

    def _records(self) -> dict[str, Record]:
        if "index" not in self.shared:
            self.shared["index"] = {r.id: r for records in self.store.records.values() for r in records}
        return self.shared["index"]

    # --- records ---------------------------------------------------------------------------

    def record(self, record_id: str, *, note: bool = True) -> Record | None:
        """The record with this id, or None (and noted as missing)."""
        found = self._records().get(record_id)
        if found is None:
            self.note_missing(record_id)
        elif note:
            self.use(record_id)
        return found

    def use(self, record_id: str) -> None:
        if record_id not in self.evidence:
            self.evidence.append(record_id)

    def note_missing(self, ref: str) -> None:
        if ref not in self.missing:
            self.missing.append(ref)

    def facts_of(self, quantities: list[str], place: str | None = None) -> list[Fact]:
        """Facts measuring any of these quantities (optionally at one place), in store order."""
        wanted = set(quantities)
        out = []
        for fact in self.store["facts"]:
            if fact.quantity in wanted and (place is None or _same_place(fact.place, place)):
                out.append(fact)
        return out

    def gaps_about(self, ids: list[str]) -> list[str]:
        """Ids of unfilled gaps whose ``related`` list mentions any of these ids."""
        wanted = set(ids)
        return [
            gap.id
            for gap in self.store["gaps"]
            if gap.status in OPEN_GAP_STATUSES and wanted & set(gap.related)
        ]

    def gap(self, gap_id: str) -> DataGap | None:
        found = self.record(gap_id, note=False)
        return found if isinstance(found, DataGap) else None

    # --- operands ----------------------------------------------------------------------------

    def operand(self, ref: str | Mapping[str, Any]) -> Operand | None:
        """Resolve a reference to a number with its unit and origin; None when it is missing."""
        if isinstance(ref, Mapping):
            value, unit = normalise_unit(float(ref["value"]), str(ref.get("unit", "")))
            return Operand(str(ref.get("name", "constant")), value, unit, f"constant: {ref.get('why', '')}".strip())
        if ":" in ref and not ref.startswith("step:"):
            owner_id, name = ref.split(":", 1)
            owner = self.claim if owner_id == "claim" else self.record(owner_id)
            if isinstance(owner, Claim):
                for quantity in owner.quantities:
                    if quantity.name == name:
                        value, unit = normalise_unit(quantity.value, quantity.unit)
                        self.use(owner.id)
                        return Operand(name, value, unit, f"{owner.id} (as stated)", quantity.qualifier, owner.period)
            self.note_missing(ref)
            return None
        if ref.startswith("step:"):
            step = self.steps.get(ref.removeprefix("step:"))
            if step is None:
                self.note_missing(ref)
                return None
            return Operand(step.name, step.result, step.unit, ref)
        record = self.record(ref)
        if record is None:
            return None
        if not isinstance(record, Fact):
            raise TypeError(f"'{ref}' is a {type(record).__name__}, not a fact with a value")
        if record.value is None:
            self.note_missing(f"{ref}.value")
            return None
        value, unit = normalise_unit(record.value, record.unit)
        return Operand(record.quantity, value, unit, record.id, record.qualifier, record.date)

    # --- findings ----------------------------------------------------------------------------

    def finding(self, check: str, label: str, confidence: float, basis: str, **parts: Any) -> Finding:
        """A finding that lists every record this context has read so far."""
        parts.setdefault("evidence", list(self.evidence))
        gaps = list(parts.pop("gaps", []))
        gaps += self.gaps_about([self.claim.id, *self.evidence, *self.missing])
        parts.setdefault("missing", list(self.missing))
        return Finding(check=check, label=label, confidence=confidence, confidence_basis=basis,
                       gaps=list(dict.fromkeys(gaps)), **parts)

    def not_enough(self, check: str, what: str, declared_gaps: list[str] | None = None) -> Finding:
        """The verdict when a needed input is missing: name the inputs and the gaps about them."""
        missing = ", ".join(self.missing) or "none named"
        gaps = list(declared_gaps or []) + self.gaps_about([self.claim.id, *self.missing])
        gaps = list(dict.fromkeys(gaps))
        rationale = [f"{what} cannot be computed: these inputs are not in the evidence store: {missing}."]
        for gap_id in gaps:
            gap = self.gap(gap_id)
            if gap is not None:
                rationale.append(f"Open data gap {gap_id}: {gap.what}")
        return self.finding(
            check,
            "not_enough_evidence",
            1.0,
            f"{len(self.missing)} required input(s) missing",
            rationale=rationale,
            gaps=gaps,
        )


def _same_place(a: str | None, b: str) -> bool:
    return a is not None and a.strip().lower() == b.strip().lower()
