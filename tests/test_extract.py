"""Claim extraction: from an article to draft claim records that validate and carry the right numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from research.cli import main
from research.extract import extract_claims, segment_article, split_sentences
from research.extract.context import find_period, find_places
from research.extract.kinds import find_speaker, read_claim
from research.extract.quantities import find_quantities
from research.store import load_store

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "evidence"
ALMATY = ROOT / "evidence" / "raw" / "almaty-article.txt"
FICTIONAL = Path(__file__).parent / "fixtures" / "fictional-riverton-article.txt"  # test data, invented


def _triples(quantities) -> set[tuple[float, str, str]]:
    return {(float(q.value), q.unit, q.qualifier) for q in quantities}


# --- the Almaty article against the claims already in the store -------------------------------------------------

@pytest.fixture(scope="module")
def almaty_drafts():
    return extract_claims(ALMATY.read_text(encoding="utf-8"), "src-almaty-article", min_score=0)


def test_every_stored_claim_location_is_a_sentence_of_the_article():
    sentences = {s.location: s.text for s in segment_article(ALMATY.read_text(encoding="utf-8"))}
    for claim in load_store(EVIDENCE)["claims"]:
        if claim.source == "src-almaty-article":
            assert claim.location in sentences, claim.id
            assert claim.text.rstrip(".") in sentences[claim.location], claim.id


def test_every_stored_numeric_claim_is_recovered_with_the_same_values(almaty_drafts):
    stored = [c for c in load_store(EVIDENCE)["claims"] if c.source == "src-almaty-article" and c.kind == "numeric"]
    assert len(stored) >= 10
    by_location = {d.location: d for d in almaty_drafts if d.kind == "numeric"}
    for claim in stored:
        draft = by_location.get(claim.location)
        assert draft is not None, f"{claim.id}: no numeric draft at {claim.location}"
        assert _triples(claim.quantities) <= _triples(draft.quantities), claim.id


def test_numeric_drafts_carry_no_number_the_article_does_not_claim(almaty_drafts):
    """The "102" of the emergency line, years and the image address are not quantities."""
    stored: dict[str, set] = {}
    for claim in load_store(EVIDENCE)["claims"]:
        if claim.source == "src-almaty-article" and claim.kind == "numeric":
            stored.setdefault(claim.location, set()).update(_triples(claim.quantities))
    for draft in almaty_drafts:
        if draft.kind == "numeric":
            assert _triples(draft.quantities) == stored.get(draft.location), draft.location


def test_almaty_kinds_and_strength(almaty_drafts):
    by_id = {d.id: d for d in almaty_drafts}
    proven = by_id["draft-almaty-article-p7-s2"]
    assert (proven.kind, proven.causal_strength) == ("causal", "strong") and "proven" in proven.causal_cues
    hedged = by_id["draft-almaty-article-p8-s3"]
    assert (hedged.kind, hedged.causal_strength) == ("causal", "weak")
    assert by_id["draft-almaty-article-p6-s1"].kind == "opinion"
    assert by_id["draft-almaty-article-p3-s3"].speaker == "Saltanat Azirbek"
    assert by_id["draft-almaty-article-p1-s3"].speaker == "Almaty.tv"
    # a numeric sentence that also claims an effect gets a causal draft of its own
    assert by_id["draft-almaty-article-p1-s2-causal"].kind == "causal"
    assert by_id["draft-almaty-article-p5-s2"].category == "interval"


def test_drafts_are_ranked_with_reasons(almaty_drafts):
    scores = [d.score for d in almaty_drafts]
    assert scores == sorted(scores, reverse=True)
    assert all(d.reasons for d in almaty_drafts if d.score > 0)
    numeric = [d.score for d in almaty_drafts if d.kind == "numeric"]
    opinions = [d.score for d in almaty_drafts if d.kind == "opinion"]
    assert min(numeric) > max(opinions)


def test_extract_command_drafts_validate_in_a_copy_of_the_store(tmp_path, capsys):
    store = tmp_path / "evidence"
    shutil.copytree(EVIDENCE, store)
    draft = tmp_path / "draft.yaml"
    assert main(["extract", str(ALMATY), "--evidence", str(store), "--out", str(draft)]) == 0
    assert "note" not in capsys.readouterr().err  # the source exists and every id is new
    records = yaml.safe_load(draft.read_text(encoding="utf-8"))
    assert {r["source"] for r in records} == {"src-almaty-article"}  # default: src-<file name>
    assert draft.read_text(encoding="utf-8").count("# check-worthiness") == len(records)
    assert main(["add", "claims", str(draft), "--evidence", str(store), "--into", "drafts.yaml"]) == 0
    assert main(["validate", "--strict-quotes", str(store)]) == 0
    added = load_store(store)
    assert len(added["claims"]) == len(load_store(EVIDENCE)["claims"]) + len(records)


def test_extract_command_notes_an_unknown_source_and_prints_without_out(tmp_path, capsys):
    assert main(["extract", str(FICTIONAL), "--source", "src-test-riverton", "--evidence", str(EVIDENCE)]) == 0
    captured = capsys.readouterr()
    records = yaml.safe_load(captured.out)
    assert records and all(r["source"] == "src-test-riverton" for r in records)
    assert "src-test-riverton" in captured.err and "not in sources" in captured.err


def test_extract_command_bad_input(tmp_path, capsys):
    assert main(["extract", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["extract", str(FICTIONAL), "--source", "Not An Id"]) == 2
    assert "--source" in capsys.readouterr().err


# --- the fictional article: expected drafts ----------------------------------------------------------------------

# location -> (store kind, quantities as (value, unit, qualifier), place, period, speaker, category)
EXPECTED = {
    "headline": ("numeric", {(0.5, "times", "exact")}, "Riverton", None, None, "comparison"),
    "paragraph 1, sentence 1": ("numeric", {(48, "cameras", "exact"), (3, "bridges", "exact")}, "Riverton",
                                "2021-03", None, "temporal"),
    "paragraph 1, sentence 2": ("numeric", {(-12, "percent_change", "exact")}, None, None, "Mira Holt",
                                "comparison"),
    "paragraph 2, sentence 1": ("numeric", {(150, "offences per day", "more_than"), (2.3e6, "florins", "exact")},
                                None, "2022", None, "temporal"),
    "paragraph 2, sentence 2": ("numeric", {(25, "percent", "about")}, None, None, None, "statistical"),
    "paragraph 2, sentence 3": ("numeric", {(0.5, "times", "exact")}, None, None, None, "comparison"),
    "paragraph 3, sentence 1": ("causal", set(), None, None, "Dr. Ana Petrov", None),
    "paragraph 3, sentence 2": ("causal", set(), None, None, None, None),
    "bullet 1": ("numeric", {(4, "shifts", "exact"), (6, "hour of day", "exact"), (22, "hour of day", "exact")},
                 None, None, None, "interval"),
    "bullet 2": ("numeric", {(40, "cameras", "up_to")}, None, "2024/2026", None, "temporal"),
    "image caption, sentence 2": ("numeric", {(1200, "cars per hour", "about")}, None, None, None, "statistical"),
}


@pytest.fixture(scope="module")
def fictional_drafts():
    return extract_claims(FICTIONAL.read_text(encoding="utf-8"), "src-test-riverton")


def test_fictional_article_gives_the_expected_drafts(fictional_drafts):
    main_drafts = {d.location: d for d in fictional_drafts if not d.id.endswith("-causal")}
    assert set(main_drafts) == set(EXPECTED)
    for location, (kind, quantities, place, period, speaker, category) in EXPECTED.items():
        draft = main_drafts[location]
        got = (draft.kind, _triples(draft.quantities), draft.place, draft.period, draft.speaker, draft.category)
        assert got == (kind, {(float(v), u, q) for v, u, q in quantities}, place, period, speaker, category), location


def test_fictional_article_causal_strength(fictional_drafts):
    by_location = {d.location: d for d in fictional_drafts if d.kind == "causal"}
    assert by_location["paragraph 3, sentence 1"].causal_strength == "strong"
    assert {"proven", "significantly"} <= set(by_location["paragraph 3, sentence 1"].causal_cues)
    assert by_location["paragraph 3, sentence 2"].causal_strength == "weak"
    assert by_location["headline"].kind == "causal"  # "Cameras Halve ... Crashes" claims an effect


def test_low_scores_are_dropped_unless_asked(fictional_drafts):
    everything = extract_claims(FICTIONAL.read_text(encoding="utf-8"), "src-test-riverton", min_score=0)
    dropped = {d.location for d in everything} - {d.location for d in fictional_drafts}
    assert dropped == {"bullet 3", "image caption, sentence 1", "paragraph 4, sentence 1"}
    assert {d.location: d.kind for d in everything}["bullet 3"] == "opinion"


# --- the parts ---------------------------------------------------------------------------------------------------

def test_sentence_splitting_keeps_abbreviations_initials_and_decimals():
    assert split_sentences("Dr. Ana Petrov said 2.3 billion. Then S. Holt left. In 2020 г. Алматы рос.") == [
        "Dr. Ana Petrov said 2.3 billion.", "Then S. Holt left.", "In 2020 г. Алматы рос."]
    assert split_sentences('He said "no." She agreed! Why? Yes…') == ['He said "no."', "She agreed!", "Why?", "Yes…"]
    assert split_sentences("The answer was no. Case No. 5 (Dr. Holt) closed.") == [
        "The answer was no.", "Case No. 5 (Dr. Holt) closed."]


def test_blank_line_paragraphs_join_wrapped_lines():
    sentences = segment_article("Title here\n\nOne line\nwrapped. Two.\n\n- a bullet\n- another one.\n")
    assert [(s.location, s.text) for s in sentences] == [
        ("headline", "Title here"), ("paragraph 1, sentence 1", "One line wrapped."),
        ("paragraph 1, sentence 2", "Two."), ("bullet 1", "a bullet"), ("bullet 2", "another one.")]


@pytest.mark.parametrize(("text", "expected"), [
    ("A whopping 120,000 systems are operating", {(120000, "systems", "exact")}),
    ("recording around 360,000 violations totaling 2.3 billion tenge so far",
     {(360000, "violations", "about"), (2.3e9, "tenge", "exact")}),
    ("with an average of more than 150 calls per day", {(150, "calls per day", "more_than")}),
    ("Operators work in four shifts", {(4, "shifts", "exact")}),
    ("Almost a quarter of the sample disengaged", {(25, "percent", "about")}),
    ("The new timing halves the wait", {(0.5, "times", "exact")}),
    ("it is planned that up to 10,000 cameras will be added", {(10000, "cameras", "up_to")}),
    ("Over 98 thousand violations were recorded", {(98000, "violations", "more_than")}),
    ("crimes fell by 16% and arrests rose by 5 per cent", {(-16, "percent_change", "exact"),
                                                           (5, "percent_change", "exact")}),
    # Russian
    ("Более четырех тысяч звонков в сутки поступают от заявителей.", {(4000, "звонков per day", "more_than")}),
    ("если в 2023 году работало около 18 тысяч камер, то сейчас их количество достигло 65 тысяч.",
     {(18000, "камер", "about"), (65000, "камер", "exact")}),
    ("подключено 18 399 видеокамер в 515 государственных объектах",
     {(18399, "видеокамер", "exact"), (515, "объектах", "exact")}),
    ("взыскано в бюджет 3,6 млрд тенге", {(3.6e9, "тенге", "exact")}),
    ("число ДТП уменьшилось на 20 %", {(-20, "percent_change", "exact")}),
    ("выросло в 9 раз", {(9, "times", "exact")}),
    ("С начала года уровень преступности снизился на 10-15%.",
     {(-10, "percent_change", "exact"), (-15, "percent_change", "exact")}),
    # Kazakh
    ("бір кешен төрт камерадан тұрады", {(4, "камерадан", "exact")}),
    ("5 жылда 156 млрд айыппұл салынған", {(5, "жылда", "exact"), (156e9, "айыппұл", "exact")}),
    ("жол көлік апаттары 20%-ға азайды", {(-20, "percent_change", "exact")}),
    ("сегіз оператор жұмыс істейді", {(8, "оператор", "exact")}),
    ("100-ден астам камера орнатылды", {(100, "камера", "more_than")}),
    ("свыше 124 000 нарушений", {(124000, "нарушений", "more_than")}),
])
def test_quantities(text, expected):
    assert _triples(find_quantities(text)) == {(float(v), u, q) for v, u, q in expected}


def test_labels_years_and_dates_are_not_quantities():
    assert find_quantities("handled by a \"102\" operator") == []
    assert find_quantities("Operator '102' handles calls") == []
    assert find_quantities("the system was launched in Almaty on December 14, 2012.") == []
    assert find_quantities("Открытый в 2000 году центр") == []
    assert find_quantities("статья 592 КоАП") == []
    assert find_quantities("thousands of cameras, тысячи камер, operators on duty 24/7") == []
    assert find_quantities("see https://example.org/news/2024/613574/ and Claim 6") == []
    assert _triples(find_quantities("a thousand cameras")) == {(1000.0, "cameras", "exact")}
    assert _triples(find_quantities("fines of €5m")) == {(5e6, "EUR", "exact")}


def test_clock_times():
    found = find_quantities("City points operate from 8 AM to 8 PM")
    assert [(q.name, q.value) for q in found] == [("time_of_day_start", 8), ("time_of_day_end", 20)]
    found = find_quantities("С семи до десяти вечера участковый принимает граждан")
    assert [q.value for q in found] == [7, 22]


@pytest.mark.parametrize(("text", "period"), [
    ("launched in Almaty on December 14, 2012.", "2012-12-14"),
    ("recorded since December 2012", "2012-12/.."),
    ("По итогам 2020 года смертность снижена", "2020"),
    ("Начиная с полуночи 15 сентября 2017 года водители", "2017-09-15"),
    ("деректері 2020 жылдың 1 қаңтарынан бастап тіркеле бастайды", "2020-01-01"),
    ("Between 2016 and 2019 crashes fell", "2016/2019"),
    ("Crashes fell by a third.", None),
    ("about 2 000 calls a day", None),
])
def test_period(text, period):
    assert find_period(text) == period


def test_places_need_a_second_mention_or_a_place_word():
    article = "Crime in Riverton fell. Riverton's council met. The Scene Unit came in Suspected Crime Scene."
    assert find_places("Crime in Riverton fell.", article) == ["Riverton"]
    assert find_places("The Scene Unit came in Suspected Crime Scene.", article) == []
    assert find_places("in the town of Eastbrook", "in the town of Eastbrook") == ["Eastbrook"]
    assert find_places("в городе Алматы используются камеры", "") == ["Алматы"]


def test_speaker():
    assert find_speaker("According to an official, Saltanat Azirbek, the system aids police.") == "Saltanat Azirbek"
    assert find_speaker("As revealed by Almali District's patrol inspector, Sagidulla Siazhanov, calls come in.") \
        == "Sagidulla Siazhanov"
    assert find_speaker("Crime fell, said Mira Holt.") == "Mira Holt"
    assert find_speaker("Crime fell in the city.") is None


@pytest.mark.parametrize(("text", "strength"), [
    ("Cameras have proven effective in reducing crime.", "strong"),
    ("Cameras reduce crime in car parks.", "moderate"),
    ("Cameras could potentially help combat crime.", "weak"),
    ("Камеры доказанно снижают преступность значительно.", "strong"),
    ("Камеры могут помогать снижать аварийность.", "weak"),
    ("Камералардың арқасында апаттар азайды.", "moderate"),
])
def test_causal_strength(text, strength):
    reading = read_claim(text, [], None, [], "paragraph 1, sentence 1")
    assert "causal" in reading.kinds and reading.causal_strength == strength
