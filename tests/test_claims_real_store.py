"""The declared checks on the real evidence store of the Almaty article."""

from __future__ import annotations

from pathlib import Path

import pytest

from research.claims import load_plan, verify_claims
from research.store import load_store

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ROOT / "analyses" / "claim-checks.yaml"


@pytest.fixture(scope="module")
def store():
    return load_store(ROOT / "evidence")


@pytest.fixture(scope="module")
def verification(store):
    return verify_claims(store, {}, load_plan(CHECKS))


def _quantity(store, claim_id, name):
    claim = store.get(claim_id)
    return next(q for q in claim.quantities if q.name == name)


def test_every_declaration_names_records_that_exist(verification):
    assert verification.warnings == []


def test_every_claim_gets_a_verdict(store, verification):
    assert [v.claim_id for v in verification] == [c.id for c in store["claims"]]
    for verdict in verification:
        assert verdict.rationale and verdict.reason and verdict.strength.basis and verdict.parts


def test_average_fine_is_computed_from_the_claims_own_quantities(store, verification):
    total = _quantity(store, "claim-fines-2-3-billion-tenge", "fines_total")
    count = _quantity(store, "claim-fines-360000-violations", "violations_recorded")
    assert total.unit == "tenge"  # no scale word to apply
    for claim_id in ("claim-fines-2-3-billion-tenge", "claim-fines-360000-violations"):
        step = next(s for s in verification[claim_id].arithmetic if s.name == "average_fine")
        assert step.result == pytest.approx(total.value / count.value)


def test_average_fine_compares_with_every_declared_mrp_year(store, verification):
    finding = next(f for f in verification["claim-fines-2-3-billion-tenge"].findings if f.check == "average_fine")
    mrp_ids = [f.id for f in store["facts"] if f.quantity == "mrp_tenge"]
    declared = [i for i in load_plan(CHECKS).for_claim("claim-fines-2-3-billion-tenge").checks[0].params["index_value"]]
    assert set(declared) <= set(mrp_ids)
    published = next(f for f in store["facts"] if f.quantity == "publication_date" and f.source == "src-almaty-article")
    # schedules dated after the article cannot test it
    before = [i for i in declared if store.get(i).date <= published.date]
    assert set(before) <= set(finding.evidence)
    assert not set(declared) - set(before) & set(finding.evidence)


def test_opinions_are_not_rated(store, verification):
    for claim in store["claims"]:
        if claim.kind == "opinion":
            assert verification[claim.id].label == "not_checkable"
    reviewed = {r["identifier"] for r in verification.claimreviews("2026-11-25")}
    assert reviewed == {c.id for c in store["claims"] if c.kind != "opinion"}
