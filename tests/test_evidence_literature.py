"""The research literature in the evidence store: every row of the raw tables is represented,
numbers keep their provenance, every study with estimates has a risk-of-bias record, and the
known gaps are recorded. Expected counts and values are read from the raw copies in
evidence/raw/, never typed here."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from research.store import EvidenceError, load_store
from research.store.schema import EffectEstimate

EVIDENCE = Path(__file__).resolve().parents[1] / "evidence"
RAW = EVIDENCE / "raw"
TEMPLATE = EVIDENCE / "estimates" / "TEMPLATE-per-study-res.csv.example"
SAME_PAGE_SITES = {"brå": "bra.se", "safetylit": "safetylit.org", "studylib": "studylib.net"}


@pytest.fixture(scope="module")
def store():
    return load_store(EVIDENCE)


def raw_rows(name: str) -> list[dict[str, str]]:
    with open(RAW / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def headline_rows() -> list[dict[str, str]]:
    """Headline rows with "same X page" resolved to the last address read on that site."""
    rows, seen = [], []
    for row in raw_rows("headline_estimates.csv"):
        address = row["where_read"]
        if address.startswith("same "):
            site = next(host for key, host in SAME_PAGE_SITES.items() if key in address.lower())
            address = next(url for url in reversed(seen) if site in url)
        if address.startswith("http"):
            seen.append(address)
        rows.append({**row, "address": address})
    return rows


def numbers_in(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"\d*\.\d+|\d+", text)}


def stated_sign(text: str) -> int:
    """+1 / -1 when the wording says increase / decrease unambiguously, else 0."""
    down = bool(re.search(r"decrease|reduction|reduced|lower|fewer|worsened|(^|\s)-\d", text))
    up = bool(re.search(r"increase|rise|improvement|\+\d", text))
    return 0 if down == up else (-1 if down else 1)


def has_number(estimate: EffectEstimate) -> bool:
    values = [estimate.estimate, estimate.ci_low, estimate.ci_high, estimate.se,
              estimate.a, estimate.b, estimate.c, estimate.d]
    return any(v is not None for v in values)


def gap_related_ids(store) -> set[str]:
    return {rid for gap in store["gaps"] for rid in gap.related}


def test_store_validates():
    store = load_store(EVIDENCE)
    assert store["estimates"] and store["studies"] and store["risk_of_bias"]


def test_raw_copies_are_kept():
    for name in ("headline_estimates.csv", "cmf_clearinghouse_automated_enforcement.csv",
                 "cctv_single_evaluations.csv", "cctv_gill2005_scheme_list.csv", "README-shared-data.md"):
        assert (RAW / name).stat().st_size > 0, name


@pytest.mark.parametrize("row", headline_rows(), ids=lambda r: r["subgroup_or_outcome"][:40])
def test_every_headline_row_has_its_estimates(store, row):
    matches = [e for e in store["estimates"]
               if row["estimate_as_reported"] in e.quote and row["subgroup_or_outcome"] in e.quote]
    parts = row["estimate_as_reported"].split(" / ")
    assert len(matches) >= len(parts), f"{len(parts)} value(s) in the row, {len(matches)} estimate(s)"
    for estimate in matches:
        if row["address"].startswith("http"):
            assert row["address"] in estimate.where_read
        else:
            assert estimate.where_read == row["address"]
        expected = "primary" if row["provenance"].lower().startswith("primary") else "secondary"
        assert estimate.provenance == expected
        if estimate.estimate is not None and estimate.measure == "percent_change":
            assert abs(estimate.estimate) in numbers_in(row["estimate_as_reported"])
            sign = stated_sign(row["estimate_as_reported"]) if len(parts) == 1 else 0
            if sign:
                assert sign * estimate.estimate > 0, "sign differs from the wording"


@pytest.mark.parametrize("row", raw_rows("cctv_single_evaluations.csv"), ids=lambda r: r["outcome"][:40])
def test_every_single_evaluation_row_has_its_estimate(store, row):
    matches = [e for e in store["estimates"]
               if row["estimate_as_reported"] in e.quote and row["outcome"] in e.quote
               and row["source_url"] in e.where_read]
    assert len(matches) == 1
    estimate = matches[0]
    if row["ratio_after_before"]:
        assert estimate.measure == "ratio_after_before"
        assert estimate.estimate == float(row["ratio_after_before"])
        assert (estimate.ci_low, estimate.ci_high) == (float(row["ci_low"]), float(row["ci_high"]))
    else:
        assert estimate.measure == "percent_change"
        assert abs(estimate.estimate) in numbers_in(row["estimate_as_reported"])
        sign = stated_sign(row["estimate_as_reported"])
        if sign:
            assert sign * estimate.estimate > 0


def test_res_of_two_arms_names_experimental_arm_first(store):
    by_id = {e.id: e for e in store["estimates"]}
    res_rows = [e for e in store["estimates"] if e.measure == "RES" and e.derived_from]
    arm_rows = raw_rows("cctv_single_evaluations.csv")
    outcomes_with_arms = {r["outcome"] for r in arm_rows if r["ratio_after_before"]}
    assert {e.outcome for e in res_rows} >= outcomes_with_arms
    for res in res_rows:
        assert res.estimate is None and res.derivation
        experimental, control = (by_id[i] for i in res.derived_from)
        assert "cctv" in experimental.arm.lower() and "control" in control.arm.lower()
        assert experimental.outcome == control.outcome == res.outcome


@pytest.mark.parametrize("row", raw_rows("cmf_clearinghouse_automated_enforcement.csv"), ids=lambda r: r["cmf_id"])
def test_every_cmf_row_has_one_estimate_with_its_values(store, row):
    matches = [e for e in store["estimates"] if row["source_url"] in e.where_read]
    assert len(matches) == 1
    estimate = matches[0]
    assert estimate.measure == "CMF"
    assert estimate.estimate == (float(row["cmf"]) if row["cmf"] else None)
    assert estimate.se == (float(row["cmf_unadj_se"]) if row["cmf_unadj_se"] else None)
    if estimate.se is not None:
        assert estimate.se_scale == "natural"
    assert f"Crash type: {row['crash_type']}" in estimate.quote


def test_every_gill_scheme_is_a_study_with_a_gap(store):
    schemes = raw_rows("cctv_gill2005_scheme_list.csv")
    related = gap_related_ids(store)
    for row in schemes:
        matches = [s for s in store["studies"] if s.title.startswith(f"{row['study']} (")]
        assert len(matches) == 1, row["study"]
        study = matches[0]
        assert study.setting == row["setting"] and study.design == "controlled_before_after"
        assert study.id in related


def test_every_raw_address_is_a_source_or_a_place_read(store):
    addresses = [r["address"] for r in headline_rows() if r["address"].startswith("http")]
    addresses += [r["source_url"] for r in raw_rows("cctv_single_evaluations.csv")]
    addresses += [r["source_url"] for r in raw_rows("cmf_clearinghouse_automated_enforcement.csv")]
    addresses += [r["source_url"] for r in raw_rows("cctv_gill2005_scheme_list.csv")]
    source_urls = {s.url for s in store["sources"]}
    places = [e.where_read for e in store["estimates"]]
    for address in addresses:
        assert address in source_urls or any(address in place for place in places), address


def test_every_number_has_source_place_and_quote(store):
    source_ids = store.ids("sources")
    numbered = [e for e in store["estimates"] if has_number(e)]
    assert numbered
    for estimate in numbered:
        assert estimate.source in source_ids
        assert estimate.where_read.strip() and estimate.quote.strip()


def test_every_study_with_estimates_has_risk_of_bias(store):
    judged = {r.study for r in store["risk_of_bias"]}
    missing = {e.study for e in store["estimates"]} - judged
    assert not missing


DESIGN_LEVELS = {
    "before_after_no_control": {2},
    "controlled_before_after": {2, 3},
    "difference_in_differences": {3, 4},
    "empirical_bayes_before_after": {3},
    "interrupted_time_series": {2, 3, 4},
    "cross_section": {1, 2},
    "propensity_score_matching": {3, 4},
    "randomised_experiment": {5},
}
RANK = {"high": 3, "some_concerns": 2, "low": 0}


def test_risk_of_bias_follows_the_stated_rules(store):
    designs = {s.id: s.design for s in store["studies"]}
    for rob in store["risk_of_bias"]:
        assert set(rob.domains) == {"confounding", "selection", "measurement", "missing_data", "reporting"}
        judged = [j for j in rob.domains.values() if j != "unclear"]
        worst = max(judged, key=RANK.get, default="unclear")
        if worst == "low" and len(judged) < len(rob.domains):
            worst = "unclear"
        assert rob.overall == worst, rob.id
        allowed = DESIGN_LEVELS.get(designs[rob.study])
        if allowed:
            assert rob.design_level in allowed, rob.id


def test_required_literature_gaps_exist(store):
    related = gap_related_ids(store)
    by_doi = {s.doi: s.id for s in store["sources"] if s.doi}
    readme = (RAW / "README-shared-data.md").read_text(encoding="utf-8")
    dois = re.findall(r"doi\s+(10\.\S+?)[);,]", readme)
    assert dois, "the shared README names the reviews whose per-study tables are missing"
    for doi in dois:
        assert by_doi[doi] in related or any(
            st.id in related for st in store["studies"] if st.source == by_doi[doi]), doi
    assert all(g.status and g.who_may_hold and g.why_it_matters for g in store["gaps"])


def test_every_missing_interval_is_a_gap(store):
    related = gap_related_ids(store)
    for row in headline_rows():
        if "not retrieved" not in row["ci_or_se_as_reported"].lower():
            continue
        matches = [e for e in store["estimates"]
                   if row["estimate_as_reported"] in e.quote and row["subgroup_or_outcome"] in e.quote]
        for estimate in matches:
            assert estimate.id in related, estimate.id


def test_every_blank_cmf_is_a_gap(store):
    related = gap_related_ids(store)
    for row in raw_rows("cmf_clearinghouse_automated_enforcement.csv"):
        if not row["cmf"]:
            estimate = next(e for e in store["estimates"] if row["source_url"] in e.where_read)
            assert estimate.id in related


def _store_with_template_rows(tmp_path: Path, rows: list[str]) -> Path:
    root = tmp_path / "evidence"
    shutil.copytree(EVIDENCE, root, ignore=shutil.ignore_patterns("raw"))
    lines = [line for line in TEMPLATE.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    (root / "estimates" / "per-study-res.csv").write_text("\n".join(lines + rows) + "\n", encoding="utf-8")
    return root


def test_template_accepts_per_study_counts(tmp_path):
    # Synthetic counts, only to exercise the loader; they are not evidence.
    row = ("est-test-scheme-total-crime,study-gill-2005-city-outskirts,lit-gill-2005-home-office,"
           "Table 1,\"Before E: 1; After E: 2; Before C: 3; After C: 4\",total crime,RES,primary,,,"
           "10,8,20,21,,,,,,,,,,,")
    store = load_store(_store_with_template_rows(tmp_path, [row]))
    added = store.get("est-test-scheme-total-crime")
    assert (added.a, added.b, added.c, added.d) == (10, 8, 20, 21) and added.estimate is None


def test_template_rows_are_validated(tmp_path):
    row = ("est-test-bad,study-gill-2005-city-outskirts,lit-gill-2005-home-office,Table 1,"
           "\"Before E: 1\",total crime,RES,primary,,,10,,,,,,,,,,,,,,")
    with pytest.raises(EvidenceError) as info:
        load_store(_store_with_template_rows(tmp_path, [row]))
    assert [(p.record, p.field) for p in info.value.problems] == [("est-test-bad", "a")]
