"""Draft claim records from an article, ranked by check-worthiness.

``extract_claims`` reads every sentence and returns ``DraftClaim`` objects: the claim record
in the store's format (``record()``) plus what a reviewer needs to judge it (detailed kinds,
QuanTemp-style category, causal strength and cues, score and reasons). ``drafts_yaml``
writes them as a YAML list that ``research add claims`` accepts once reviewed, best
candidates first, with the review notes as comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from research.extract.context import find_period, find_places
from research.extract.kinds import STORE_KIND, Reason, read_claim
from research.extract.quantities import FoundQuantity, find_quantities
from research.extract.sentences import Sentence, segment_article
from research.store.schema import Claim, Quantity

DEFAULT_MIN_SCORE = 0.2


@dataclass
class DraftClaim:
    """One draft claim record and the reading behind it."""

    id: str
    text: str
    source: str
    location: str
    kind: str  # the store's kind: numeric, causal, descriptive, opinion
    quantities: list[Quantity] = field(default_factory=list)
    place: str | None = None
    period: str | None = None
    speaker: str | None = None
    kinds: list[str] = field(default_factory=list)  # numeric, comparison, temporal, causal, attribution, opinion
    category: str | None = None  # statistical, temporal, comparison, interval (numeric claims)
    causal_strength: str | None = None
    causal_cues: list[str] = field(default_factory=list)
    score: float = 0.0
    reasons: list[Reason] = field(default_factory=list)
    order: int = 0  # position in the article

    def record(self) -> dict:
        """The claim as the store records it (fields that are not given are left out)."""
        record = {"id": self.id, "text": self.text, "source": self.source, "location": self.location,
                  "kind": self.kind}
        if self.quantities:
            record["quantities"] = [_plain(q.model_dump()) for q in self.quantities]
        for name in ("place", "period", "speaker"):
            if getattr(self, name):
                record[name] = getattr(self, name)
        Claim.model_validate(record)  # a draft that the store would refuse is a bug here, not the user's
        return record

    def summary(self) -> str:
        kinds = ", ".join(
            f"{k} ({self.category})" if k == "numeric" and self.category
            else f"{k} ({self.causal_strength}: {', '.join(self.causal_cues[:3])})" if k == "causal"
            else f"{k} ({self.speaker})" if k == "attribution" and self.speaker else k
            for k in self.kinds)
        return f"check-worthiness {self.score:.2f} | {self.location} | {kinds}"


def _plain(values: dict) -> dict:
    return {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in values.items()}


def location_slug(location: str) -> str:
    """'paragraph 1, sentence 2' -> 'p1-s2'; 'bullet 3' -> 'b3'; 'image caption' -> 'caption'."""
    slug = location.lower().replace("image caption", "caption")
    slug = re.sub(r"\b(paragraph|sentence|bullet|heading)\s*(\d+)", lambda m: m.group(1)[0] + m.group(2), slug)
    return re.sub(r"[^a-z0-9]+", "-", slug).strip("-")


def _quantity(found: FoundQuantity) -> Quantity:
    return Quantity(name=found.name, value=found.value, unit=found.unit, qualifier=found.qualifier)


def _draft_for(sentence: Sentence, order: int, source: str, article: str, base: str) -> list[DraftClaim]:
    found = find_quantities(sentence.text)
    period = find_period(sentence.text)
    places = find_places(sentence.text, article)
    reading = read_claim(sentence.text, found, period, places, sentence.location)
    common = dict(text=sentence.text, source=source, location=sentence.location, place=", ".join(places) or None,
                  period=period, speaker=reading.speaker, kinds=reading.kinds, category=reading.category,
                  causal_strength=reading.causal_strength, causal_cues=reading.causal_cues,
                  score=reading.score, reasons=reading.reasons, order=order)
    draft_id = f"draft-{base}-{location_slug(sentence.location)}"
    if found:
        drafts = [DraftClaim(id=draft_id, kind="numeric", quantities=[_quantity(q) for q in found], **common)]
        if "causal" in reading.kinds:  # the effect it claims is checked apart from its numbers
            drafts.append(DraftClaim(id=f"{draft_id}-causal", kind="causal", **{**common, "category": None}))
        return drafts
    primary = next((k for k in ("causal", "opinion") if k in reading.kinds), "descriptive")
    return [DraftClaim(id=draft_id, kind=STORE_KIND[primary], **common)]


def extract_claims(text: str, source: str, min_score: float = DEFAULT_MIN_SCORE) -> list[DraftClaim]:
    """Draft claims of an article, best candidates first (ties in reading order).

    Numeric claims are always kept; others only when their check-worthiness reaches ``min_score``."""
    base = re.sub(r"^src-", "", source)
    drafts: list[DraftClaim] = []
    for order, sentence in enumerate(segment_article(text)):
        for draft in _draft_for(sentence, order, source, text, base):
            if draft.kind == "numeric" or draft.score >= min_score:
                drafts.append(draft)
    return sorted(drafts, key=lambda d: (-d.score, d.order, d.id))


def drafts_yaml(drafts: list[DraftClaim], header: str = "") -> str:
    """The drafts as a YAML list for ``research add claims``, each under its review notes."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    for draft in drafts:
        lines.append("")
        lines.append(f"# {draft.summary()}")
        lines.extend(f"#   {reason}" for reason in draft.reasons)
        block = yaml.safe_dump([draft.record()], sort_keys=False, allow_unicode=True, width=110)
        lines.append(block.rstrip("\n"))
    return "\n".join(lines).lstrip("\n") + "\n"
