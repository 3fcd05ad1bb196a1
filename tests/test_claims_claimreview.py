"""ClaimReview JSON-LD (schema.org): required keys, types and the rating scale."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from research.claims import to_claimreview
from tests.test_claims_checks import run


@pytest.fixture
def verification(tmp_path):
    return run(tmp_path)


def _check_review(review: dict) -> None:
    assert review["@context"] == "https://schema.org"
    assert review["@type"] == "ClaimReview"
    assert isinstance(review["claimReviewed"], str) and review["claimReviewed"]
    dt.date.fromisoformat(review["datePublished"])
    assert review["author"] == {"@type": "Organization", "name": "Sightline"}
    rating = review["reviewRating"]
    assert rating["@type"] == "Rating"
    assert rating["bestRating"] == 5 and rating["worstRating"] == 1
    assert isinstance(rating["alternateName"], str) and rating["alternateName"]
    if "ratingValue" in rating:
        assert isinstance(rating["ratingValue"], int)
        assert rating["worstRating"] <= rating["ratingValue"] <= rating["bestRating"]
    item = review["itemReviewed"]
    assert item["@type"] == "Claim"
    assert item["appearance"]["@type"] == "CreativeWork"
    assert item["author"]["@type"] in {"Person", "Organization"}
    json.loads(json.dumps(review))  # plain JSON


def test_every_checked_claim_gives_a_valid_claimreview(verification):
    reviews = verification.claimreviews(dt.date(2026, 11, 25), url="https://example.org/checks")
    assert reviews
    for review in reviews:
        _check_review(review)
        assert review["url"] == f"https://example.org/checks#{review['identifier']}"
    assert "claim-opinion" not in {r["identifier"] for r in reviews}


def test_rating_follows_the_verdict(verification):
    claim = verification.claims["claim-headline"]
    source = verification.sources[claim.source]
    review = to_claimreview(verification["claim-headline"], claim, source, date_published="2026-11-25")
    _check_review(review)
    assert review["reviewRating"]["ratingValue"] == 1
    assert review["reviewRating"]["alternateName"] == "Contradicted"
    assert review["itemReviewed"]["appearance"]["url"] == source.url
    assert review["claimReviewed"] == claim.text
    unsure = to_claimreview(verification["claim-hours"], verification.claims["claim-hours"], source)
    assert "ratingValue" not in unsure["reviewRating"]
    assert unsure["reviewRating"]["alternateName"] == "Unsupported"


def test_claimreview_cites_the_sources_of_the_evidence(verification):
    review = next(r for r in verification.claimreviews("2026-11-25") if r["identifier"] == "claim-calls")
    assert [c["name"] for c in review["citation"]] == ["informburo.kz, how the 102 service works"]


def test_a_speaker_is_the_claim_author(verification):
    claim = verification.claims["claim-calls"].model_copy(update={"speaker": "Saltanat Azirbek"})
    review = to_claimreview(verification["claim-calls"], claim, verification.sources[claim.source])
    assert review["itemReviewed"]["author"] == {"@type": "Person", "name": "Saltanat Azirbek"}


def test_verdict_and_claim_must_match(verification):
    with pytest.raises(ValueError, match="claim-calls"):
        to_claimreview(verification["claim-calls"], verification.claims["claim-fines"], None)


def test_review_body_is_the_one_line_reason_with_evidence_strength(verification):
    for review in verification.claimreviews("2026-11-25"):
        verdict = verification[review["identifier"]]
        assert review["reviewBody"] == f"{verdict.reason} Evidence strength: {verdict.strength.level}."
        assert review["reviewRating"]["alternateName"] == verdict.label_text
    cameras = next(r for r in verification.claimreviews("2026-11-25") if r["identifier"] == "claim-cameras")
    assert cameras["reviewRating"]["alternateName"] == "Unsupported (plausible)"
    assert "ratingValue" not in cameras["reviewRating"]
