"""GRADE-style rules: each domain moves the rating for the stated reason and only then."""

from __future__ import annotations

import math

import pytest

from research.grade import ROB_RULE, UPGRADE_DOMAINS, TransportTarget, grade_all, target_of
from research.grade import assess_certainty as _assess_certainty
from tests.test_report_fixture import FIXTURE_TARGET, realistic_results

# Test data: the target the domain rules are exercised against (a city, current generation since 2017).
CASE_TARGET = TransportTarget.from_record(FIXTURE_TARGET)


def assess_certainty(a, risk_of_bias=None, target=CASE_TARGET):
    return _assess_certainty(a, risk_of_bias, target)

LOG = math.log


def study(i, yi=-0.2, vi=0.01, design="controlled_before_after", rob="low", country="Kazakhstan",
          setting="urban intersections", year=2020):
    return {"id": f"s{i}", "label": f"Study {i}", "yi": yi, "vi": vi, "design": design, "rob_overall": rob,
            "setting": setting, "country": country, "year": year}


def analysis(studies, **freq):
    base = {"estimate": -0.2, "ci_low": LOG(0.7), "ci_high": LOG(0.9), "pi_low": LOG(0.6), "pi_high": LOG(0.95),
            "tau2": 0.0, "i2": 10.0, "bias": {"egger": None, "trimfill": None}}
    base.update(freq)
    return {"id": "a", "outcome": "crashes", "status": "ok", "k": len(studies), "studies": studies,
            "frequentist": base}


def clean_studies(n=3, **kw):
    return [study(i, **kw) for i in range(n)]


def test_observational_evidence_with_no_problems_stays_low():
    grade = assess_certainty(analysis(clean_studies()))
    assert grade.start == "low"
    assert [d.downgrade for d in grade.domains] == [0] * 8
    assert [d.name for d in grade.domains][-3:] == list(UPGRADE_DOMAINS)
    assert all(d.judgement == "no upgrade" for d in grade.domains[-3:])
    assert grade.certainty == "low"


def test_randomised_evidence_starts_high():
    grade = assess_certainty(analysis(clean_studies(design="randomised_experiment")))
    assert grade.start == "high"
    assert grade.certainty == "high"


def test_start_follows_the_design_that_carries_the_weight():
    heavy_rct = [study(0, design="randomised_experiment", vi=0.001), study(1, vi=0.1), study(2, vi=0.1)]
    assert assess_certainty(analysis(heavy_rct)).start == "high"
    light_rct = [study(0, design="randomised_experiment", vi=0.1), study(1, vi=0.001), study(2, vi=0.001)]
    assert assess_certainty(analysis(light_rct)).start == "low"


def test_risk_of_bias_counts_weight_not_studies():
    # one high risk-of-bias study out of three: very serious only when it carries most of the weight
    precise_bad = [study(0, rob="high", vi=0.001), study(1, vi=0.05), study(2, vi=0.05)]
    imprecise_bad = [study(0, rob="high", vi=0.2), study(1, vi=0.01), study(2, vi=0.01)]
    serious = assess_certainty(analysis(precise_bad)).domain("risk of bias")
    assert serious.downgrade == 2 and "high risk of bias" in serious.reason
    assert assess_certainty(analysis(imprecise_bad)).domain("risk of bias").downgrade == 0


def test_risk_of_bias_records_take_precedence_over_study_rows():
    studies = clean_studies()
    records = [{"study": s["id"], "overall": "high"} for s in studies]
    assert assess_certainty(analysis(studies), records).domain("risk of bias").downgrade == 2


def test_unassessed_risk_of_bias_is_serious():
    d = assess_certainty(analysis(clean_studies(rob=None))).domain("risk of bias")
    assert d.downgrade == 1 and "not assessed" in d.reason


@pytest.mark.parametrize(
    ("i2", "pi", "expected"),
    [
        (10.0, (LOG(0.6), LOG(0.95)), 0),
        (60.0, (LOG(0.6), LOG(0.95)), 1),
        (10.0, (LOG(0.5), LOG(1.3)), 1),  # prediction interval reaches no effect, confidence interval does not
        (80.0, (LOG(0.5), LOG(1.3)), 2),
        (80.0, (LOG(0.4), LOG(0.95)), 1),  # considerable but all in one direction
    ],
)
def test_inconsistency(i2, pi, expected):
    d = assess_certainty(analysis(clean_studies(), i2=i2, pi_low=pi[0], pi_high=pi[1])).domain("inconsistency")
    assert d.downgrade == expected
    assert f"I² = {i2:.0f}%" in d.reason


def test_inconsistency_not_assessable_for_one_study():
    d = assess_certainty(analysis(clean_studies(1))).domain("inconsistency")
    assert not d.assessable and d.downgrade == 0


def test_indirectness_to_almaty():
    direct = assess_certainty(analysis(clean_studies())).domain("indirectness")
    assert direct.downgrade == 0
    other_country = assess_certainty(analysis(clean_studies(country="Norway"))).domain("indirectness")
    assert other_country.downgrade == 1 and "no study from Kazakhstan" in other_country.reason
    nothing_matches = assess_certainty(
        analysis(clean_studies(country="USA", setting="rural motorway", year=2009))
    ).domain("indirectness")
    assert nothing_matches.downgrade == 2
    assert "current generation" in nothing_matches.reason and "2009" in nothing_matches.reason


def test_indirectness_uses_the_given_target():
    target = TransportTarget(name="Oslo", intervention="speed cameras", country="Norway", setting_terms=("urban",),
                             generation_since=2000)
    studies = clean_studies(country="Norway", setting="urban road", year=2005)
    assert assess_certainty(analysis(studies), target=target).domain("indirectness").downgrade == 0
    assert assess_certainty(analysis(studies), target=CASE_TARGET).domain("indirectness").downgrade == 1


def test_indirectness_is_not_assessed_without_a_target():
    d = _assess_certainty(analysis(clean_studies(country="Norway", year=2009))).domain("indirectness")
    assert not d.assessable and d.downgrade == 0 and "names no target" in d.reason


def test_target_comes_from_the_record_the_analysis_names():
    record = {"id": "target-x", "name": "Springfield", "country": "Freedonia", "setting_type": "school",
              "setting_plural": "schools", "intervention": "tutoring", "generation_fact": "fact-start"}
    target = target_of({"target": "target-x"}, [record], {"fact-start": "2019-09-01"})
    assert target.name == "Springfield" and target.generation_since == 2019 and target.setting_terms == ("school",)
    assert target_of({"target": "target-y"}, [record]) is None and target_of({}, [record]) is None
    studies = clean_studies(country="Freedonia", setting="primary school", year=2018)
    d = _assess_certainty(analysis(studies), target=target).domain("indirectness")
    assert d.downgrade == 1 and "current generation" in d.reason and "tutoring" in d.reason


@pytest.mark.parametrize(
    ("ci", "k", "expected"),
    [
        ((LOG(0.7), LOG(0.9)), 3, 0),
        ((LOG(0.7), LOG(0.9)), 2, 1),  # excludes no effect but rests on two studies
        ((LOG(0.8), LOG(1.1)), 3, 1),
        ((LOG(0.6), LOG(1.4)), 3, 2),  # spans a 25% benefit and a 25% harm
    ],
)
def test_imprecision(ci, k, expected):
    d = assess_certainty(analysis(clean_studies(k), ci_low=ci[0], ci_high=ci[1])).domain("imprecision")
    assert d.downgrade == expected


def test_imprecision_falls_back_to_the_credible_interval():
    a = analysis(clean_studies())
    a["frequentist"] = None
    a["bayes"] = {"mu": {"q025": LOG(0.8), "q975": LOG(1.1)}}
    d = assess_certainty(a).domain("imprecision")
    assert d.downgrade == 1 and "credible interval" in d.reason


def test_publication_bias_needs_ten_studies():
    d = assess_certainty(analysis(clean_studies(), bias={"egger": {"z": 3.0, "p": 0.001}})).domain("publication bias")
    assert not d.assessable and d.downgrade == 0 and "k = 3 < 10" in d.reason


@pytest.mark.parametrize(
    ("bias", "expected"),
    [
        ({"egger": {"z": 2.5, "p": 0.01}, "trimfill": None}, 1),
        ({"egger": {"z": 0.5, "p": 0.6}, "trimfill": {"k0": 0, "side": "right", "estimate": -0.2}}, 0),
        ({"egger": {"z": 0.5, "p": 0.6}, "trimfill": {"k0": 3, "side": "right", "estimate": 0.01}}, 1),
    ],
)
def test_publication_bias_with_enough_studies(bias, expected):
    d = assess_certainty(analysis(clean_studies(12), bias=bias)).domain("publication bias")
    assert d.assessable and d.downgrade == expected


def test_downgrades_add_up_and_stop_at_very_low():
    studies = clean_studies(country="USA", setting="rural", year=2001, rob="high")
    grade = assess_certainty(analysis(studies, ci_low=LOG(0.6), ci_high=LOG(1.4)))
    assert grade.total_downgrade >= 4
    assert grade.certainty == "very_low"
    one_level = assess_certainty(analysis(clean_studies(design="randomised_experiment", country="USA")))
    assert one_level.certainty == "moderate"


def test_large_effect_upgrades_clean_observational_evidence():
    a = analysis(clean_studies(), estimate=LOG(0.3), ci_low=LOG(0.2), ci_high=LOG(0.45),
                 pi_low=LOG(0.15), pi_high=LOG(0.48))
    grade = assess_certainty(a)
    assert grade.domain("large effect").downgrade == -1 and grade.domain("large effect").judgement == "upgrade (+1)"
    assert grade.certainty == "moderate"


def test_insufficient_data_is_very_low_and_not_assessable():
    grade = assess_certainty({"id": "x", "status": "insufficient_data", "k": 0, "studies": []})
    assert grade.certainty == "very_low"
    assert all(not d.assessable for d in grade.domains)


def test_summary_names_every_domain_and_reason():
    grade = assess_certainty(analysis(clean_studies(country="USA")))
    text = grade.summary()
    for d in grade.domains:
        assert d.name in text and d.reason in text
    assert grade.to_dict()["certainty"] == grade.certainty


def test_grade_all_on_the_fixture():
    results = realistic_results()
    grades = grade_all(results)
    assert [g.analysis_id for g in grades] == [a["id"] for a in results["analyses"]]
    speed = grades[0]
    # four US/Norway before-after CMFs without risk-of-bias records
    assert speed.start == "low"
    assert speed.domain("risk of bias").downgrade == 1
    assert "no study from Kazakhstan" in speed.domain("indirectness").reason
    assert speed.domain("publication bias").judgement == "not assessable"


# --- risk of bias from the domains, not only the overall label ------------------------------------

DOMAINS = ("confounding", "selection", "measurement", "missing_data", "reporting")


def _rob_records(studies, overall, domains):
    return [{"study": s["id"], "overall": overall, "domains": dict(zip(DOMAINS, domains))} for s in studies]


def test_flipping_domains_changes_the_risk_of_bias_row():
    studies = clean_studies()
    mostly_unclear = ["some_concerns", "unclear", "unclear", "unclear", "low"]
    optimistic = assess_certainty(analysis(studies), _rob_records(studies, "low", mostly_unclear))
    row = optimistic.domain("risk of bias")
    # the overall label says "low", but four of five domains are unclear: serious, with the numbers shown
    assert row.downgrade == 1 and row.judgement == "serious"
    assert "100% of the weight at high risk" not in row.reason and "4 of 5 domains" in row.reason
    flipped = assess_certainty(analysis(studies), _rob_records(studies, "low", ["low"] * 5)).domain("risk of bias")
    assert flipped.downgrade == 0 and flipped.judgement == "not serious"
    one_high = assess_certainty(analysis(studies), _rob_records(studies, "low", ["high"] + ["low"] * 4))
    assert one_high.domain("risk of bias").downgrade == 2 and "high in confounding" in one_high.domain("risk of bias").reason
    assert optimistic.certainty == "very_low" and assess_certainty(
        analysis(studies), _rob_records(studies, "low", ["low"] * 5)).certainty == "low"


def test_some_concerns_across_most_of_the_weight_is_serious():
    # the speed-camera case: every study "some concerns" with mostly unclear domains
    studies = [dict(study(i), study=f"study-{i}") for i in range(4)]
    records = [{"study": f"study-{i}", "overall": "some_concerns",
                "domains": dict(zip(DOMAINS, ["some_concerns", "unclear", "unclear", "unclear", "unclear"]))}
               for i in range(4)]
    row = assess_certainty(analysis(studies), records).domain("risk of bias")
    assert row.downgrade == 1
    assert "100% with some concerns or unclear" in row.reason and "study-0 (25% of the weight)" in row.reason


def test_store_records_typed_rows_and_plain_data_are_graded_alike():
    """The pipeline hands plain data, the claims store records and the report typed results: one rating."""
    from research.results import AnalysisResult, RiskOfBiasRow
    from research.store.schema import RiskOfBias

    studies = [dict(study(i), study=f"study-{i}") for i in range(4)]
    judged = ["high", "low", "some_concerns", "unclear"]
    stored = [RiskOfBias(id=f"rob-{i}", study=f"study-{i}", domains={"confounding": level, "selection": "low"},
                         overall="high" if level == "high" else "some_concerns", rationale="test data")
              for i, level in enumerate(judged)]
    plain = [r.model_dump(mode="json") for r in stored]
    typed = [RiskOfBiasRow.model_validate(r) for r in plain]
    grades = [assess_certainty(analysis(studies), records) for records in (stored, plain, typed)]
    grades.append(assess_certainty(AnalysisResult.model_validate(analysis(studies)), typed))
    row = grades[0].domain("risk of bias")
    assert "study-0 (25% of the weight): high; 0 of 2 domains some concerns or unclear; high in confounding" in row.reason
    assert all(g == grades[0] for g in grades[1:])


def test_the_rule_travels_with_the_row():
    grade = assess_certainty(analysis(clean_studies()))
    assert grade.domain("risk of bias").rule == ROB_RULE
    rows = {d["name"]: d for d in grade.to_dict()["domains"]}
    assert rows["risk of bias"]["rule"] == ROB_RULE and "half the weight" in ROB_RULE


# --- upgrades ----------------------------------------------------------------------------------


def _with_regression(a, slope, p, moderator="cameras_per_km"):
    a["upgrades"] = {"dose_response": moderator, "residual_confounding": None}
    a["meta_regression"] = {"status": "ok", "fit": {"coefficients": [
        {"name": "intrcpt", "estimate": -0.1, "p": 0.2},
        {"name": moderator, "estimate": slope, "p": p}]}}
    return a


def test_dose_response_upgrades_only_a_clear_gradient_in_the_direction_of_the_effect():
    clear = assess_certainty(_with_regression(analysis(clean_studies()), slope=-0.05, p=0.01))
    assert clear.domain("dose-response").downgrade == -1 and clear.certainty == "moderate"
    assert "p = 0.010" in clear.domain("dose-response").reason
    unclear = assess_certainty(_with_regression(analysis(clean_studies()), slope=-0.05, p=0.3))
    assert unclear.domain("dose-response").downgrade == 0 and unclear.certainty == "low"
    wrong_way = assess_certainty(_with_regression(analysis(clean_studies()), slope=0.05, p=0.01))
    assert wrong_way.domain("dose-response").downgrade == 0


def test_residual_confounding_is_a_declared_judgement():
    a = analysis(clean_studies())
    a["upgrades"] = {"dose_response": None, "residual_confounding": "sites were chosen for rising crash trends"}
    grade = assess_certainty(a)
    d = grade.domain("residual confounding")
    assert d.downgrade == -1 and "sites were chosen" in d.reason and grade.certainty == "moderate"


def test_no_upgrade_once_rated_down():
    a = analysis(clean_studies(country="USA"))
    a["upgrades"] = {"dose_response": None, "residual_confounding": "a reason"}
    grade = assess_certainty(a)
    assert grade.domain("residual confounding").downgrade == 0
    assert "already rated down (indirectness)" in grade.domain("residual confounding").reason


def test_very_large_effect_upgrades_two_levels():
    a = analysis(clean_studies(), estimate=LOG(0.1), ci_low=LOG(0.05), ci_high=LOG(0.15),
                 pi_low=LOG(0.04), pi_high=LOG(0.18))
    grade = assess_certainty(a)
    assert grade.domain("large effect").downgrade == -2 and grade.certainty == "high"
