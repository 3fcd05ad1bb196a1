"""Each claim check on a small store built from real records of the Almaty dossier."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from research.claims import parse_plan, verify_claims
from research.claims.verdict import FEVER_LABELS, RATING_VALUES, STRENGTHS
from research.errors import InputError
from research.store import load_store

ARTICLE = "src-article"


def _fact(id_, quantity, value, unit, source, quote, date=None, qualifier="exact", **extra):
    record = {"id": id_, "quantity": quantity, "value": value, "unit": unit, "qualifier": qualifier,
              "place": "Almaty", "date": date, "source": source, "where_read": "dossier", "quote": quote}
    record.update(extra)
    return {k: v for k, v in record.items() if v is not None}


def _source(id_, citation, kind="web_page"):
    return {"id": id_, "kind": kind, "citation": citation}


# Values and quotes as the source dossier (evidence/raw/almaty-sources.md) gives them.
RECORDS = {
    "sources": [
        {"id": ARTICLE, "kind": "article", "url": "https://fintechinsights.top/en/surveillance-cameras-in-almaty",
         "citation": "Surveillance Cameras in Almaty: Exploring the Efficiency of the Sergei Crime-Fighting System"},
        _source("src-caravan-363383", "caravan.kz, AIS Road Safety in Almaty"),
        _source("src-altyn-orda", "altyn-orda.kz, results of 2013"),
        _source("src-tengrinews-2021", "tengrinews.kz, Sergek cameras in Almaty"),
        _source("src-bizmedia-2022", "bizmedia.kz, Sergek violations 2022"),
        _source("src-pravodel-2019", "pravodel.kz, MRP 2019"),
        _source("src-16news-2020", "16news.kz, MRP 2020"),
        _source("src-tengrinews-2024", "tengrinews.kz, MRP 2024"),
        _source("src-allinsurance-2022", "allinsurance.kz, fines 2022"),
        _source("src-ic24", "ic24.kz, Sergek fines"),
        _source("src-caravan-398098", "caravan.kz, 97,666 cameras"),
        _source("src-prosud-2024", "prosud.kz, crime in Almaty"),
        _source("src-informburo-102", "informburo.kz, how the 102 service works"),
        _source("src-bestnews-2025", "bestnews.kz, akim visits the command centre"),
        _source("src-vss-research", "Video Surveillance Standards Research-TS"),
        _source("lit-wf-2009", "Welsh & Farrington (2009), Public Area CCTV and Crime Prevention", kind="study"),
    ],
    "claims": [
        {"id": "claim-headline", "text": "Exploring the Efficiency of the Sergei Crime-Fighting System",
         "source": ARTICLE, "location": "headline", "kind": "descriptive"},
        {"id": "claim-body-sergek", "text": "with its \"Sergek\" cameras at 105 strategic locations",
         "source": ARTICLE, "location": "paragraph 1", "kind": "numeric",
         "quantities": [{"name": "posts", "value": 105, "unit": "locations"}]},
        {"id": "claim-cameras", "text": "A whopping 120,000 systems are operating", "source": ARTICLE,
         "location": "paragraph 1", "kind": "numeric",
         "quantities": [{"name": "cameras_city_total", "value": 120000, "unit": "systems"}]},
        {"id": "claim-violations", "text": "recording around 360,000 violations", "source": ARTICLE,
         "location": "paragraph 1", "kind": "numeric",
         "quantities": [{"name": "violations", "value": 360000, "unit": "violations", "qualifier": "about"}]},
        {"id": "claim-fines", "text": "totaling 2.3 billion tenge so far", "source": ARTICLE,
         "location": "paragraph 1", "kind": "numeric",
         "quantities": [{"name": "fines_total", "value": 2.3, "unit": "billion tenge"}]},
        {"id": "claim-calls", "text": "an average of more than 150 calls per day handled by a \"102\" operator",
         "source": ARTICLE, "location": "paragraph 3", "kind": "numeric",
         "quantities": [{"name": "calls", "value": 150, "unit": "calls per day", "qualifier": "more_than"}]},
        {"id": "claim-monitors", "text": "monitoring the city in real-time through 156 monitors, which receive "
         "signals from the 120,000 surveillance cameras", "source": ARTICLE, "location": "bullet 1",
         "kind": "numeric", "quantities": [{"name": "monitors", "value": 156, "unit": "monitors"},
                                           {"name": "cameras", "value": 120000, "unit": "cameras"}]},
        {"id": "claim-proven", "text": "Generally, CCTV systems, coupled with modern technologies like computer "
         "vision and AI, have proven effective in reducing crime", "source": ARTICLE, "location": "paragraph 7",
         "kind": "causal"},
        {"id": "claim-opinion", "text": "However, opinions are mixed", "source": ARTICLE,
         "location": "paragraph 6", "kind": "opinion"},
        {"id": "claim-hours", "text": "City points operate from 8 AM to 8 PM", "source": ARTICLE,
         "location": "paragraph 5", "kind": "numeric",
         "quantities": [{"name": "opening_hour", "value": 8, "unit": "hour of day"}]},
    ],
    "facts": [
        _fact("fact-ais-posts-2016", "ais_road_safety_posts", 105, "posts", "src-caravan-363383",
              "размещены 105 подобных постов, оснащенных в общей сложности 663 видеокамерами"),
        _fact("fact-ais-posts-2014", "ais_road_safety_posts", 104, "posts", "src-altyn-orda",
              "только на дорогах города установлены 104 поста видеофиксации", date="2014"),
        _fact("fact-sergek-complexes-2021", "sergek_complexes", 460, "complexes", "src-tengrinews-2021",
              "всего в Алматы сейчас функционируют 460 комплексов и 2 284 камеры \"Сергек\"", date="2021-04-30"),
        _fact("fact-sergek-complexes-2022", "sergek_complexes", 766, "complexes", "src-bizmedia-2022",
              "В Алматы установлено 766 АПК «Сергек» (5034 камеры)", date="2022-11-30"),
        _fact("fact-sergek-launch", "sergek_launch", None, "date", "src-16news-2020",
              "Жол ережесін бұзу деректері 2020 жылдың 1 қаңтарынан бастап тіркеле бастайды", date="2020-01-01"),
        _fact("fact-mrp-2019", "mrp_tenge", 2525, "tenge", "src-pravodel-2019", "… – 2 525 тенге", date="2019"),
        _fact("fact-mrp-2020-01", "mrp_tenge", 2651, "tenge", "src-16news-2020",
              "с 1 апреля он составляет 2778 тг, против 2651 тг до изменений", date="2020-01-01"),
        _fact("fact-mrp-2020-04", "mrp_tenge", 2778, "tenge", "src-16news-2020",
              "с 1 апреля он составляет 2778 тг, против 2651 тг до изменений", date="2020-04-01"),
        _fact("fact-mrp-2024", "mrp_tenge", 3692, "tenge", "src-tengrinews-2024",
              "С 1 января 2024 года МРП вырос до 3692 тенге.", date="2024"),
        _fact("fact-fine-speeding-10-20", "fine_speeding_10_20_kmh", 5, "MRP", "src-allinsurance-2022",
              "на величину от 10 до 20 км/ч влечёт штраф в размере 5 МРП (15 315 тенге)", date="2022"),
        _fact("fact-early-payment-share", "early_payment_share", 0.5, "share", "src-ic24",
              "нарушитель может оплатить половину суммы в течении 7 дней после уведомления"),
        _fact("fact-cameras-97666", "cameras_city_total", 97666, "cameras", "src-caravan-398098",
              "в городе Алматы используются возможности 97 666 камер видеонаблюдения"),
        _fact("fact-cameras-150000", "cameras_city_total", 150000, "cameras", "src-prosud-2024",
              "системе видеонаблюдения, насчитывающей около 150 тысяч камер", date="2024-12-12",
              qualifier="about"),
        _fact("fact-calls-per-day", "command_centre_calls_per_day", 2000, "calls per day", "src-informburo-102",
              "Центр оперативного управления ДВД принимает около 2 000 звонков ежедневно", qualifier="about"),
        _fact("fact-operators", "command_centre_102_operators", 10, "operators", "src-informburo-102",
              "Круглосуточно с обращениями граждан работают 10 девушек-операторов диспетчерской службы \"102\""),
        _fact("fact-staff-round-the-clock", "command_centre_staff_round_the_clock", 28, "staff",
              "src-bestnews-2025", "Аким посетил ЦОУ, здесь круглосуточно работают 28 сотрудников.",
              date="2025-09-17"),
        _fact("fact-monitors-per-operator", "monitors_per_operator_upper_goal", 16, "monitors per operator",
              "src-vss-research", "The practical upper goal that is most frequently established is 16 video "
              "monitors per operator.", place=None),
    ],
    "studies": [
        {"id": "study-wf-2009", "title": "Public Area CCTV and Crime Prevention", "source": "lit-wf-2009",
         "year": 2009, "design": "meta_analysis", "intervention": "CCTV"},
    ],
    "estimates": [
        {"id": "est-wf-overall", "study": "study-wf-2009", "source": "lit-wf-2009", "where_read": "abstract",
         "quote": "16% decrease (experimental vs control); significant", "outcome": "overall crime",
         "measure": "percent_change", "estimate": -16, "significant": True, "provenance": "primary"},
        {"id": "est-wf-city-centres", "study": "study-wf-2009", "source": "lit-wf-2009", "where_read": "abstract",
         "quote": "city and town centers: 7% decrease; small and nonsignificant", "outcome": "crime",
         "subgroup": "city and town centers", "measure": "percent_change", "estimate": -7, "significant": False,
         "provenance": "primary"},
    ],
    "gaps": [
        {"id": "gap-almaty-tv-report", "what": "The Almaty.tv report with 360,000 violations and 2.3 bn tenge",
         "why_it_matters": "the figures have no other source", "who_may_hold": "Almaty.tv",
         "related": ["claim-fines", "claim-violations"]},
        {"id": "gap-156-monitors", "what": "Any source for 156 monitors in the command centre",
         "why_it_matters": "the figure is not found", "who_may_hold": "Almaty police", "related": ["claim-monitors"]},
        {"id": "gap-ai-cctv", "what": "Evaluations of CCTV with computer vision or AI",
         "why_it_matters": "the claim names these technologies", "who_may_hold": "researchers",
         "related": ["claim-proven"]},
        {"id": "gap-police-point-hours", "what": "Almaty police-point opening hours",
         "why_it_matters": "the claim gives them", "who_may_hold": "Almaty police", "related": ["claim-hours"]},
    ],
}

MRP_FACTS = ["fact-mrp-2019", "fact-mrp-2020-01", "fact-mrp-2020-04", "fact-mrp-2024"]
AVERAGE_FINE = {
    "check": "average_fine",
    "params": {"total": "claim-fines:fines_total", "count": "claim-violations:violations",
               "lowest_fine": ["fact-fine-speeding-10-20"], "index_value": MRP_FACTS,
               "early_payment_share": "fact-early-payment-share", "first_year": "fact-sergek-launch"},
}
PLAN = {
    "claims": [
        {"claim": "claim-fines", "checks": [AVERAGE_FINE], "gaps": ["gap-almaty-tv-report"]},
        {"claim": "claim-violations", "checks": [AVERAGE_FINE]},
        {"claim": "claim-headline", "checks": [
            {"check": "name_consistency", "params": {"variants": {"Sergek": ["Sergek", "Сергек"],
                                                                  "Sergei": ["Sergei", "Сергей"]}}}]},
        {"claim": "claim-body-sergek", "checks": [
            {"check": "cross_source", "params": {"claimed": "claim:posts", "quantities": ["ais_road_safety_posts"],
                                                 "same_units": ["posts"]}},
            {"check": "cross_source", "params": {"claimed": "claim:posts", "quantities": ["sergek_complexes"],
                                                 "same_units": ["complexes"]}}]},
        {"claim": "claim-cameras", "checks": [
            {"check": "cross_source", "params": {"claimed": "claim:cameras_city_total",
                                                 "quantities": ["cameras_city_total"], "same_units": ["cameras"]}}]},
        {"claim": "claim-calls", "checks": [
            {"check": "capacity", "params": {
                "derive": [{"name": "calls_per_operator", "formula": "divide",
                            "inputs": ["fact-calls-per-day", "fact-operators"], "unit": "calls per day"}],
                "compare": [{"value": "step:calls_per_operator", "relation": "at_least", "reference": "claim:calls",
                             "tests": "the sourced load per operator exceeds the claimed 150 calls a day"}]}}]},
        {"claim": "claim-monitors", "checks": [
            {"check": "capacity", "params": {
                "derive": [{"name": "monitors_per_person_on_duty", "formula": "divide",
                            "inputs": ["claim:monitors", "fact-staff-round-the-clock"], "unit": "monitors per person"}],
                "compare": [{"value": "step:monitors_per_person_on_duty", "relation": "at_most",
                             "reference": "fact-monitors-per-operator",
                             "tests": "staff on duty could watch the monitors"}]}}],
         "gaps": ["gap-156-monitors"]},
        {"claim": "claim-proven", "checks": [
            {"check": "causal", "params": {"intervention": "CCTV", "overall": ["est-wf-overall"],
                                           "settings": ["est-wf-city-centres"],
                                           "unstudied": ["computer vision and AI"], "gaps": ["gap-ai-cctv"]}}]},
    ]
}


def write_store(root: Path, records: dict) -> Path:
    for kind, items in records.items():
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{kind}.yaml").write_text(yaml.safe_dump(items, sort_keys=False, allow_unicode=True),
                                             encoding="utf-8")
    return root


def records_copy() -> dict:
    return copy.deepcopy(RECORDS)


def set_fact(records: dict, fact_id: str, **fields) -> dict:
    for fact in records["facts"]:
        if fact["id"] == fact_id:
            fact.update(fields)
            return records
    raise KeyError(fact_id)


def run(tmp_path: Path, records: dict | None = None, plan: dict | None = None, analyses=None):
    store = load_store(write_store(tmp_path / "evidence", records or records_copy()))
    return verify_claims(store, analyses or {}, parse_plan(copy.deepcopy(plan or PLAN), "claim-checks.yaml"))


@pytest.fixture
def verification(tmp_path):
    return run(tmp_path)


# --- average fine ------------------------------------------------------------------------------


def test_average_fine_is_total_over_count_from_the_claims(verification):
    verdict = verification["claim-fines"]
    step = next(s for s in verdict.arithmetic if s.name == "average_fine")
    assert step.result == pytest.approx(2.3e9 / 360000)
    assert [op.ref for op in step.inputs] == ["claim-fines (as stated)", "claim-violations (as stated)"]


def test_average_fine_below_discounted_lowest_fine_since_sergek_is_contradicted(verification):
    finding = verification["claim-fines"].findings[0]
    average = 2.3e9 / 360000
    # every year from the Sergek launch on: below 5 MRP at half price
    assert all(average < 5 * mrp * 0.5 for mrp in (2651, 2778, 3692))
    assert finding.label == "contradicted"
    assert finding.parts[0].aspect == "comparison"
    assert "fact-mrp-2019" not in finding.evidence  # before the first year
    assert {"fact-mrp-2020-01", "fact-mrp-2024", "fact-fine-speeding-10-20"} <= set(finding.evidence)
    # the claim also has an open gap for its source, which adds a part that cannot be checked
    assert verification["claim-fines"].label == "contradicted"
    assert "gap-almaty-tv-report" in verification["claim-fines"].gaps


def test_average_fine_in_2019_fits_only_with_the_discount(tmp_path):
    plan = copy.deepcopy(PLAN)
    for entry in plan["claims"]:
        if entry["claim"] == "claim-violations":
            entry["checks"][0]["params"].update(first_year=2019, last_year=2019)
    verdict = run(tmp_path, plan=plan)["claim-violations"]
    average = 2.3e9 / 360000
    assert 5 * 2525 * 0.5 <= average < 5 * 2525
    assert verdict.label == "unsupported" and verdict.plausibility == "plausible"
    assert any("early" in sentence for sentence in verdict.rationale)


def test_average_fine_without_mrp_for_the_period_names_what_is_missing(tmp_path):
    records = records_copy()
    records["facts"] = [f for f in records["facts"] if f["quantity"] != "mrp_tenge" or f["date"] == "2019"]
    verdict = run(tmp_path, records)["claim-violations"]
    assert verdict.label == "unsupported"
    assert "gap-almaty-tv-report" in verdict.gaps
    assert any("MRP value" in sentence for sentence in verdict.rationale)


def test_average_fine_speaks_in_the_units_the_facts_declare(tmp_path):
    # the same arithmetic with another fee unit and currency: the words follow the facts, the label does not move
    records = records_copy()
    for fact in records["facts"]:
        if fact["quantity"] == "mrp_tenge":
            fact["unit"] = "crowns"
        if fact["id"] == "fact-fine-speeding-10-20":
            fact["unit"] = "fee units"
    for claim in records["claims"]:
        for quantity in claim.get("quantities", []):
            quantity["unit"] = quantity["unit"].replace("tenge", "crowns")
    before = run(tmp_path / "a")["claim-violations"]
    after = run(tmp_path / "b", records)["claim-violations"]
    assert after.label == before.label
    assert any("the average is" in s and "fee units" in s and "crowns" in s for s in after.rationale)
    assert not any("MRP" in s or "tenge" in s for s in after.rationale)


def test_average_fine_refuses_a_conversion_in_the_fines_own_unit(tmp_path):
    records = set_fact(records_copy(), "fact-mrp-2024", unit="MRP")
    with pytest.raises(InputError, match="fact-mrp-2024 is in MRP, the fines' own unit"):
        run(tmp_path, records)


# --- cross-source ------------------------------------------------------------------------------


def test_cross_source_within_range_but_unstated_is_unsupported_and_plausible(verification):
    verdict = verification["claim-cameras"]
    assert 97666 < 120000 < 150000
    assert verdict.label == "unsupported" and verdict.plausibility == "plausible"
    assert verdict.label_text == "Unsupported (plausible)"
    assert verdict.strength.level == "none"  # no source states it
    assert set(verdict.evidence) >= {"fact-cameras-97666", "fact-cameras-150000"}
    assert any("read as the claim's systems" in a for a in verdict.assumptions)


def test_cross_source_match_and_mismatch_combine_to_partly_supported(verification):
    verdict = verification["claim-body-sergek"]
    ais, sergek = verdict.findings
    assert ais.label == "supported" and sergek.label == "contradicted"
    assert verdict.label == "partly_supported"
    assert ais.parts[0].evidence == ["fact-ais-posts-2016"]  # 105 matches; 104 is outside 105's rounding


# --- capacity ----------------------------------------------------------------------------------


def test_capacity_calls_per_operator_supports_more_than_150(verification):
    verdict = verification["claim-calls"]
    step = verdict.arithmetic[0]
    assert step.result == pytest.approx(2000 / 10)
    assert verdict.label == "supported"


def test_capacity_fails_when_the_load_is_below_the_claim(tmp_path):
    records = set_fact(records_copy(), "fact-operators", value=20)
    verdict = run(tmp_path, records)["claim-calls"]
    assert verdict.arithmetic[0].result == pytest.approx(2000 / 20)
    assert verdict.label == "contradicted"


def test_capacity_with_gap_names_the_gap(verification):
    verdict = verification["claim-monitors"]
    (capacity,) = verdict.findings
    assert capacity.arithmetic[0].result == pytest.approx(156 / 28)
    assert capacity.label == "supported"  # 5.6 monitors per person is within 16
    # a declared gap blocks only while nothing else decides the claim; it is still named
    assert verdict.label == "supported" and "gap-156-monitors" in verdict.gaps
    assert any(r.startswith("Still open:") for r in verdict.rationale)


def test_a_declared_gap_blocks_a_claim_nothing_else_decides(tmp_path):
    plan = copy.deepcopy(PLAN)
    entry = next(e for e in plan["claims"] if e["claim"] == "claim-monitors")
    entry["checks"] = []
    verdict = run(tmp_path, plan=plan)["claim-monitors"]
    assert verdict.label == "unsupported" and verdict.check == "gap"
    assert "gap-156-monitors" in verdict.reason


# --- internal consistency ----------------------------------------------------------------------


def test_name_used_by_no_source_is_contradicted(verification):
    verdict = verification["claim-headline"]
    assert verdict.label == "contradicted"
    assert "fact-sergek-complexes-2021" in verdict.evidence
    assert any("claim-body-sergek" in sentence for sentence in verdict.rationale)  # the article's own spelling


def test_name_check_follows_the_sources(tmp_path):
    records = records_copy()
    for fact in records["facts"]:
        fact["quote"] = fact["quote"].replace("Сергек", "Сергей")
    for source in records["sources"][1:]:
        source["citation"] = source["citation"].replace("Sergek", "Sergei")
    verdict = run(tmp_path, records)["claim-headline"]
    assert verdict.label == "supported"


# --- causal ------------------------------------------------------------------------------------


def test_proven_on_reported_reviews_is_overstated(verification):
    verdict = verification["claim-proven"]
    assert verdict.label == "unsupported"
    strength = next(p for p in verdict.parts if p.aspect == "causal_strength")
    assert strength.label == "unsupported" and strength.reason.startswith("Overstated")
    assert {"est-wf-overall", "est-wf-city-centres"} <= set(verdict.evidence)
    assert "gap-ai-cctv" in verdict.gaps
    assert any("city and town centers" in sentence for sentence in verdict.rationale)
    assert verdict.strength.primary == ("lit-wf-2009",)  # both results read in the primary source


def test_hedged_causal_becomes_supported_without_the_failing_setting_and_unstudied_part(tmp_path):
    plan = copy.deepcopy(PLAN)
    entry = next(e for e in plan["claims"] if e["claim"] == "claim-proven")
    entry["checks"][0]["params"].update(settings=[], unstudied=[], strength="possible")
    assert run(tmp_path, plan=plan)["claim-proven"].label == "supported"


def test_causal_uses_an_ok_analysis_before_the_reviews(tmp_path):
    from research.meta import rma

    # the Welsh & Farrington subgroup changes are not poolable; pool three real CMFs instead
    yi = [math.log(0.52), math.log(0.33), math.log(0.863)]
    vi = [(0.16 / 0.52) ** 2, (0.09 / 0.33) ** 2, (0.026 / 0.863) ** 2]
    fit = rma(yi, vi, method="REML", test="z").to_dict()
    analysis = {"id": "speed", "title": "speed", "intervention": "speed cameras", "outcome": "crashes", "k": 3,
                "inputs": ["est-wf-overall"], "status": "ok", "frequentist": fit, "bayes": None, "studies": []}
    plan = copy.deepcopy(PLAN)
    entry = next(e for e in plan["claims"] if e["claim"] == "claim-proven")
    entry["checks"][0]["params"].update(analyses=["speed"], unstudied=[], settings=[])
    verdict = run(tmp_path, plan=plan, analyses={"speed": analysis})["claim-proven"]
    assert verdict.analyses == ["speed"]
    # k = 3 observational CMFs cannot reach moderate certainty: "proven" is overstated whatever the direction
    assert verdict.label == "unsupported"
    assert "needs at least moderate certainty" in verdict.reason


def test_causal_falls_back_to_reviews_when_the_analysis_has_too_few_studies(tmp_path):
    analysis = {"id": "cctv", "status": "insufficient_data", "status_reason": "0 estimates", "gaps": ["gap-ai-cctv"],
                "inputs": [], "k": 0}
    plan = copy.deepcopy(PLAN)
    entry = next(e for e in plan["claims"] if e["claim"] == "claim-proven")
    entry["checks"][0]["params"]["analyses"] = ["cctv"]
    verdict = run(tmp_path, plan=plan, analyses={"cctv": analysis})["claim-proven"]
    assert verdict.analyses == ["cctv"]
    assert verdict.label == "unsupported"
    assert any("could not pool" in sentence for sentence in verdict.rationale)


# --- documented --------------------------------------------------------------------------------


def test_documented_parts(tmp_path):
    plan = copy.deepcopy(PLAN)
    parts = [
        {"statement": "the command centre has call operators", "records": ["fact-operators"]},
        {"statement": "points open 8 AM to 8 PM", "gaps": ["gap-police-point-hours"]},
    ]
    plan["claims"].append({"claim": "claim-hours", "checks": [{"check": "documented", "params": {"parts": parts}}]})
    verdict = run(tmp_path, plan=plan)["claim-hours"]
    assert verdict.label == "unsupported"
    assert [p.label for p in verdict.parts] == ["supported", "unsupported"]
    assert "Sourced: the command centre has call operators" in verdict.reason
    assert "gap-police-point-hours" in verdict.gaps
    assert any("10 девушек-операторов" in sentence for sentence in verdict.rationale)


# --- defaults, labels, plan errors -------------------------------------------------------------


def test_claims_without_checks_follow_their_kind(verification):
    assert verification["claim-opinion"].label == "not_checkable"
    hours = verification["claim-hours"]
    assert hours.label == "unsupported"
    assert hours.gaps == ["gap-police-point-hours"]
    assert any("Almaty police-point opening hours" in sentence for sentence in hours.rationale)


def test_labels_map_to_fever_and_claimreview(verification):
    for verdict in verification:
        assert verdict.fever_label == FEVER_LABELS[verdict.label]
        assert verdict.claimreview_rating.ratingValue == RATING_VALUES[verdict.label]
        assert verdict.strength.level in STRENGTHS and verdict.strength.basis and verdict.reason
    assert verification["claim-headline"].fever_label == "REFUTES"
    assert verification["claim-calls"].fever_label == "SUPPORTS"


def test_plan_errors_name_the_claim_check_and_field():
    with pytest.raises(InputError, match=r"claim 'claim-x': check 'nope': unknown check"):
        parse_plan({"claims": [{"claim": "claim-x", "checks": [{"check": "nope"}]}]})
    with pytest.raises(InputError, match=r"claim 'claim-x': check 'capacity': field 'params.compare'"):
        parse_plan({"claims": [{"claim": "claim-x", "checks": [{"check": "capacity", "params": {"derive": []}}]}]})
    with pytest.raises(InputError, match=r"claim 'claim-x': declared twice"):
        parse_plan({"claims": [{"claim": "claim-x"}, {"claim": "claim-x"}]})


def test_a_check_that_names_a_non_fact_is_an_input_error(tmp_path):
    plan = copy.deepcopy(PLAN)
    plan["claims"].append({"claim": "claim-hours", "checks": [{"check": "capacity", "params": {
        "compare": [{"value": "claim:opening_hour", "relation": "at_most", "reference": "study-wf-2009",
                     "tests": "x"}]}}]})
    with pytest.raises(InputError, match=r"claim 'claim-hours': check 'capacity': 'study-wf-2009' is a Study"):
        run(tmp_path, plan=plan)


def test_hedged_causal_claim_uses_the_posterior_probability(tmp_path):
    from research.bayes import exact_meta
    from research.claims.checks.causal import VERY_LIKELY
    from research.meta import rma

    yi = [math.log(0.52), math.log(0.33), math.log(0.863), math.log(0.81)]
    vi = [(0.16 / 0.52) ** 2, (0.09 / 0.33) ** 2, (0.026 / 0.863) ** 2, (0.217 / 0.81) ** 2]
    fit = rma(yi, vi, method="REML", test="hksj").to_dict()
    posterior = exact_meta(yi, vi, mu_prior="normal:0,1", tau_prior="halfnormal:0.5")
    p_benefit = posterior.p_mu_below(0.0)
    analysis = {"id": "speed", "k": 4, "inputs": [], "status": "ok", "frequentist": fit, "studies": [],
                "bayes": {"p_benefit": p_benefit, "p_pred_benefit": posterior.p_pred_below(0.0)}}
    plan = copy.deepcopy(PLAN)
    entry = next(e for e in plan["claims"] if e["claim"] == "claim-proven")
    entry["checks"][0]["params"].update(analyses=["speed"], unstudied=[], settings=[], strength="possible")
    verdict = run(tmp_path, plan=plan, analyses={"speed": analysis})["claim-proven"]
    if fit["ci_high"] < 0 or p_benefit >= VERY_LIKELY:
        assert verdict.label == "supported"
        assert f"{p_benefit:.0%}" in " ".join(verdict.rationale)
    else:
        assert verdict.label == "unsupported"
