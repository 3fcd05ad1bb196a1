"""schema.org ClaimReview JSON-LD for a verdict.

Follows https://schema.org/ClaimReview: ``claimReviewed`` (the claim's text), ``reviewRating`` (a
Rating on a 1-5 scale with ``alternateName`` in words), ``itemReviewed`` (a Claim with its
``appearance`` and ``author`` where known), ``datePublished`` and ``author`` (the organisation that
checked it). Verdicts that are not points on a true-false scale (unsupported, not checkable) carry
no ``ratingValue``, only the words. ``reviewBody`` is the verdict's one-line reason and its evidence
strength, as the report's claims table shows them; ``ratingExplanation`` gives every reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from research.store.schema import Claim, Source

from research.claims.verdict import Verdict

REVIEWER = {"@type": "Organization", "name": "Sightline"}


def _creative_work(source: Source) -> dict[str, Any]:
    work: dict[str, Any] = {"@type": "CreativeWork", "name": source.citation}
    if source.url:
        work["url"] = source.url
    if source.published:
        work["datePublished"] = source.published
    if source.doi:
        work["sameAs"] = f"https://doi.org/{source.doi}"
    return work


def to_claimreview(
    verdict: Verdict,
    claim: Claim,
    source: Source | None,
    *,
    date_published: dt.date | str | None = None,
    url: str | None = None,
    cited: Iterable[Source] = (),
) -> dict[str, Any]:
    """One ClaimReview object (a JSON-compatible dict) for a verdict on a claim."""
    if verdict.claim_id != claim.id:
        raise ValueError(f"verdict is for '{verdict.claim_id}', claim is '{claim.id}'")
    date = date_published or dt.date.today()
    scale = verdict.claimreview_rating
    rating: dict[str, Any] = {
        "@type": "Rating",
        "bestRating": scale.bestRating,
        "worstRating": scale.worstRating,
        "alternateName": verdict.label_text,
        "ratingExplanation": " ".join(verdict.rationale),
    }
    if scale.ratingValue is not None:
        rating["ratingValue"] = scale.ratingValue
    item: dict[str, Any] = {"@type": "Claim", "name": claim.text}
    if source is not None:
        item["appearance"] = _creative_work(source)
        if source.published:
            item["datePublished"] = source.published
    if claim.speaker:
        item["author"] = {"@type": "Person", "name": claim.speaker}
    elif source is not None:
        item["author"] = {"@type": "Organization", "name": source.citation}
    review: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "identifier": claim.id,
        "claimReviewed": claim.text,
        "reviewRating": rating,
        "itemReviewed": item,
        "author": dict(REVIEWER),
        "datePublished": date.isoformat() if isinstance(date, dt.date) else str(date),
        "reviewBody": verdict.one_line,
    }
    if url:
        review["url"] = f"{url.rstrip('#')}#{claim.id}"
    works = [_creative_work(s) for s in cited if source is None or s.id != source.id]
    if works:
        review["citation"] = works
    return review
