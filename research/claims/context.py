"""What a check can read: the claim, the store, typed analysis results, and the steps computed so far.

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

import calendar
import functools
import re
from decimal import Decimal
from dataclasses import dataclass, field
from typing import Any, Mapping

from research.results import AnalysisResult
from research.store.loader import Store
from research.store.schema import Claim, DataGap, EffectEstimate, Fact, Record, Source, Study

from research.claims.verdict import Finding, Label, Operand, Part, SourcedRecord, Step

# Unit words that scale a number, as they appear in sources ("2.3 billion euros", "53 thousand").
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
# The quantity of a fact that dates a source (its publication date, with how it was found).
PUBLICATION_DATE = "publication_date"
# A claim with no period of its own speaks of the time it was published ("now", "so far"). A
# number dated more than this many years before that describes another period: it is shown as
# context, not used to confirm or refute the claim.
STALE_YEARS = 3
PRIMARY_SOURCE_KINDS = frozenset({"official_statement", "dataset", "study", "review"})

# The one tolerance rule: a claimed number stands for every value it rounds from (105 means 104.5
# to 105.5; 120,000 means 115,000 to 125,000), and "about" on either side widens that to 10%. A plan
# entry may set another tolerance only with a reason, which the verdict shows.
ABOUT_TOLERANCE = 0.10
MAX_ROUNDING = 0.05  # a round number such as 100 is not read as "anything from 50 to 150"
TOLERANCE_RULE = ("Two numbers are the same when the sourced value lies within the claim's own rounding "
                  "(half a unit of its last non-zero digit: 105 means 104.5 to 105.5, 120,000 means 115,000 to "
                  f"125,000; never more than {MAX_ROUNDING:.0%}), or within {ABOUT_TOLERANCE:.0%} when either "
                  "is given as 'about'.")


@functools.lru_cache(maxsize=65536)  # called once per compared value; the same claim number recurs
def rounding_tolerance(value: float) -> float:
    """Half a unit of the number's last non-zero digit, relative to the number (105 -> 0.5/105)."""
    if value == 0:
        return 0.0
    exponent = Decimal(repr(abs(float(value)))).normalize().as_tuple().exponent
    return min(MAX_ROUNDING, 0.5 * 10.0 ** int(exponent) / abs(value))


def normalise_unit(value: float, unit: str) -> tuple[float, str]:
    """``(2.3, "billion euros")`` -> ``(2.3e9, "euros")``; other units are left as they are."""
    words = unit.strip().split(maxsplit=1)
    if len(words) == 2 and words[0].lower() in SCALE_WORDS:
        return value * SCALE_WORDS[words[0].lower()], words[1]
    return value, unit.strip()


@functools.lru_cache(maxsize=65536)  # called once per dated record a claim is compared with
def date_key(date: str | None, end: bool = False) -> str | None:
    """A comparable 'YYYY-MM-DD' from a date or period text; ``end`` takes the period's last day.

    "2020" -> 2020-01-01 (or 2020-12-31 with ``end``); "2012-12/2013" -> its start or end.
    """
    if not date:
        return None
    found = re.findall(r"(?<!\d)(1[89]\d\d|20\d\d)(?:-(\d\d))?(?:-(\d\d))?", str(date))
    if not found:
        return None
    year, month, day = found[-1] if end else found[0]
    if end:
        last = calendar.monthrange(int(year), int(month or 12))[1]
        return f"{year}-{month or '12'}-{day or last:0>2}"
    return f"{year}-{month or '01'}-{day or '01'}"


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
    analyses: Mapping[str, AnalysisResult] = field(default_factory=dict)
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

    def lookup(self, record_id: str) -> Record | None:
        """The record with this id, or None; nothing is noted (for ids that may be steps or constants)."""
        return self._records().get(record_id)

    def use(self, record_id: str) -> None:
        if record_id not in self.evidence:
            self.evidence.append(record_id)

    def note_missing(self, ref: str) -> None:
        if ref not in self.missing:
            self.missing.append(ref)

    def facts_of(self, quantities: list[str], place: str | None = None) -> list[Fact]:
        """Facts measuring any of these quantities (optionally at one place), in store order."""
        if "facts_by_quantity" not in self.shared:  # indexed once per run, not scanned per claim
            index: dict[str, list[tuple[int, Fact]]] = {}
            for position, fact in enumerate(self.store["facts"]):
                index.setdefault(fact.quantity, []).append((position, fact))
            self.shared["facts_by_quantity"] = index
        found = [entry for quantity in set(quantities) for entry in self.shared["facts_by_quantity"].get(quantity, [])]
        found.sort(key=lambda entry: entry[0])
        return [fact for _, fact in found if place is None or _same_place(fact.place, place)]

    def is_own(self, record: Record) -> bool:
        """True when the record comes from the claim's own article (it cannot support the claim)."""
        return record.id == self.claim.source or getattr(record, "source", None) == self.claim.source

    def claim_date(self) -> tuple[str | None, str]:
        """The date the claim speaks of and how it is known: the end of its period, else the
        publication date of its source (a store fact), else None."""
        if self.claim.period and date_key(self.claim.period, end=True):
            return date_key(self.claim.period, end=True), f"the claim's period ({self.claim.period})"
        if "published" not in self.shared:
            self.shared["published"] = {f.source: f for f in self.store["facts"]
                                        if f.quantity == PUBLICATION_DATE and f.date}
        fact = self.shared["published"].get(self.claim.source)
        if fact is not None:
            self.shared.setdefault("date_records", {})[self.claim.id] = fact.id
            return date_key(fact.date, end=True), f"publication date of {self.claim.source} ({fact.date}, {fact.id})"
        if "sources_by_id" not in self.shared:  # indexed once per run: a scan per comparison grows quadratically
            self.shared["sources_by_id"] = {s.id: s for s in self.store["sources"]}
        source = self.shared["sources_by_id"].get(self.claim.source)
        if source is not None and source.published and date_key(source.published, end=True):
            return date_key(source.published, end=True), f"publication date of {source.id} ({source.published})"
        return None, "no date known for the claim"

    def date_record(self) -> str | None:
        """The id of the store record that dates the claim (its source's publication date), if any."""
        self.claim_date()
        return self.shared.get("date_records", {}).get(self.claim.id)

    def is_after_claim(self, date: str | None) -> bool:
        """True when a record's date starts after the claim's date (it cannot confirm or refute it)."""
        claim_date = self.claim_date()[0]
        start = date_key(date)
        after = claim_date is not None and start is not None and start > claim_date
        if after:
            self._date_mattered()
        return after

    def _date_mattered(self) -> None:
        self.shared.setdefault("date_mattered", set()).add(self.claim.id)

    def date_mattered(self) -> bool:
        """True when the claim's date kept some record from judging it (the diff then lists the date record)."""
        return self.claim.id in self.shared.get("date_mattered", set())

    def timing(self, date: str | None) -> str:
        """Where a record's date stands against the claim: 'after' (it began after the claim),
        'stale' (it ended more than STALE_YEARS before a claim about its own present), 'undated',
        or 'current'."""
        if not date:
            return "undated"
        if self.is_after_claim(date):
            return "after"
        claim_date = self.claim_date()[0]
        end = date_key(date, end=True)
        if claim_date and end and not self.claim.period:
            limit = f"{int(claim_date[:4]) - STALE_YEARS}{claim_date[4:]}"
            if end < limit:
                self._date_mattered()
                return "stale"
        return "current"

    def source_of(self, record_id: str) -> Source | None:
        record = self._records().get(record_id)
        if record is None:
            return None
        if isinstance(record, Source):
            return record
        if isinstance(record, EffectEstimate):
            study = self._records().get(record.study)
            source_id = getattr(study, "source", None) or record.source
        else:
            source_id = getattr(record, "source", None)
        found = self._records().get(source_id) if source_id else None
        return found if isinstance(found, Source) else None

    def record_date(self, record: Record) -> str | None:
        for name in ("date", "published"):
            if getattr(record, name, None):
                return str(getattr(record, name))
        if isinstance(record, EffectEstimate):
            study = self._records().get(record.study)
            if isinstance(study, Study) and study.year:
                return str(study.year)
        if isinstance(record, Study) and record.year:
            return str(record.year)
        return None

    def sourced_record(self, record_id: str) -> SourcedRecord | None:
        """Source, kind and date of one record, as evidence strength counts them."""
        record = self._records().get(record_id)
        source = self.source_of(record_id)
        if record is None or source is None or isinstance(record, (Claim, DataGap)):
            return None
        if isinstance(record, EffectEstimate):
            primary = record.provenance == "primary"
        else:
            primary = source.kind in PRIMARY_SOURCE_KINDS
        date = self.record_date(record) or self.record_date(source)
        claim_date = self.claim_date()[0]
        if date is None:
            dated: bool | None = None
        elif claim_date is None:
            dated = True
        else:
            dated = (date_key(date) or "") <= claim_date
        return SourcedRecord(record_id, source.id, primary, dated)

    def gaps_about(self, ids: list[str]) -> list[str]:
        """Ids of unfilled gaps whose ``related`` list mentions any of these ids."""
        if "open_gaps_by_related" not in self.shared:  # indexed once per run, not scanned per finding
            index: dict[str, list[int]] = {}
            for position, gap in enumerate(self.store["gaps"]):
                if gap.status in OPEN_GAP_STATUSES:
                    for related in set(gap.related):
                        index.setdefault(related, []).append(position)
            self.shared["open_gaps_by_related"] = index
        index = self.shared["open_gaps_by_related"]
        positions = sorted({position for record_id in set(ids) for position in index.get(record_id, [])})
        return [self.store["gaps"][position].id for position in positions]

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

    def finding(self, check: str, parts: list[Part], label: Label | None = None, **fields: Any) -> Finding:
        """A finding that lists every record this context has read so far."""
        fields.setdefault("evidence", list(self.evidence))
        gaps = list(fields.pop("gaps", []))
        gaps += self.gaps_about([self.claim.id, *self.evidence, *self.missing])
        fields.setdefault("missing", list(self.missing))
        return Finding(check=check, parts=parts, label=label, gaps=list(dict.fromkeys(gaps)), **fields)

    def not_enough(self, check: str, what: str, declared_gaps: list[str] | None = None,
                   aspect: str = "statement") -> Finding:
        """The verdict when a needed input is missing: name the inputs and the gaps about them."""
        missing = ", ".join(self.missing) or "none named"
        gaps = list(declared_gaps or []) + self.gaps_about([self.claim.id, *self.missing])
        gaps = list(dict.fromkeys(gaps))
        rationale = [f"{what} cannot be computed: these inputs are not in the evidence store: {missing}."]
        for gap_id in gaps:
            gap = self.gap(gap_id)
            if gap is not None:
                rationale.append(f"Open data gap {gap_id}: {gap.what}")
        reason = f"No source in the store gives what is needed: {missing}."
        if gaps:
            reason += f" Open data gap: {gaps[0]}."
        part = Part(aspect, what, "unsupported", reason)  # type: ignore[arg-type]
        return self.finding(check, [part], rationale=rationale, gaps=gaps)


def _same_place(a: str | None, b: str) -> bool:
    return a is not None and a.strip().lower() == b.strip().lower()
