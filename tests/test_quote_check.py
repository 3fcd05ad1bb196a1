"""The quote check: every stored number is read back from its own quoted wording."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from research.cli import main
from research.store import load_store
from research.store.quotes import check_quotes, digit_readings, find_value, formula_of, read_numbers
from tests.conftest import MINIMAL_STORE, write_store

EVIDENCE = Path(__file__).resolve().parents[1] / "evidence"


def _values(text: str) -> set[float]:
    return {round(r.value, 9) for r in read_numbers(text)}


def test_shipped_store_has_no_unexplained_warning():
    store = load_store(EVIDENCE)
    assert check_quotes(store) == []
    # the check is not vacuous: it reads a number for every numeric record of the store
    assert sum(f.value is not None for f in store["facts"]) > 150


@pytest.mark.parametrize(("token", "values"), [
    ("120,000", [120000, 120]),  # a decimal comma is possible too
    ("97 666", [97666]),
    ("2\u00a0211\u00a0198", [2211198]),
    ("1 123 735", [1123735]),
    ("2,046,499,967", [2046499967]),
    ("5,3", [5.3]),
    ("18,8", [18.8]),
    ("2,513", [2513, 2.513]),  # ambiguous: thousands or decimal comma
    ("35.983", [35983, 35.983]),
    ("1 234,5", [1234.5]),
])
def test_digits_with_any_separator(token, values):
    assert digit_readings(token) == [float(v) for v in values]


def test_english_separators_are_not_ambiguous():
    assert digit_readings("2,513", "en") == [2513.0]
    assert digit_readings("35.983", "en") == [35.983]
    assert digit_readings("2,513", "ru") == [2513.0, 2.513]


def test_a_number_with_a_scale_word_is_never_read_bare():
    assert find_value(36, "установлено 36 тысяч камер") is None
    assert find_value(1e6, "for over 1 billion tenge ($6.7 million)") is None
    assert find_value(1000, "тысяча камер") is not None  # a scale word alone is a number


def test_every_shipped_fact_with_a_slipped_digit_or_scale_is_caught():
    """Change each stored value's last digit, or its scale by a thousand: the check notices,
    unless the quote really states that other number too ("20%-ға ... 21%-ға")."""
    store = load_store(EVIDENCE)
    checked = 0
    for fact in store["facts"]:
        if fact.value is None or fact.derived or fact.value == 0:
            continue
        value = fact.value
        slips = [value + 1 if value == int(value) else round(value + 0.1, 6), value * 1000,
                 value / 1000 if abs(value) >= 1000 else value * 10]
        for slip in slips:
            if find_value(slip, fact.quote, fact.unit) is not None:
                plain = f"{abs(slip):g}"
                assert re.search(rf"(?<![\d.,]){re.escape(plain)}(?![\d])", fact.quote), (fact.id, slip)
            checked += 1
    assert checked > 600


@pytest.mark.parametrize(("text", "value"), [
    ("установлено 36 тысяч камер", 36000),
    ("достигло 65 тысяч", 65000),
    ("около 18 тысяч камер", 18000),
    ("Over 98 thousand traffic violations", 98000),
    ("взыскано в бюджет 3,6 млрд тенге", 3.6e9),
    ("totaling 2.3 billion tenge", 2.3e9),
    ("с помощью 12 тыс. камер", 12000),
    ("1.36 million cameras", 1.36e6),
    ("94 млрд теңгесі өндірілді", 94e9),
    ("1 миллиард 270 миллион теңге", 1.27e9),
    ("в размере 1 тыс. 982 тенге", 1982),
    ("два миллиона одна тысяча 304 человека", 2001304),
    ("35.983 m / 2,513", 35983000),
    ("Более четырех тысяч звонков", 4000),
    ("работают восемь операторов", 8),
    ("меньше восьми операторов", 8),
    ("четверо суток", 4),
    ("бір кешен төрт камерадан тұрады", 4),
    ("сегіз камера", 8),
    ("алғашқы он айда", 10),
    ("Fifty percent of target behaviours", 50),
    ("one hundred and five posts", 105),
    ("twenty-five posts", 25),
    ("не зафиксировано ни одного преступления", 0),
    ("бірде-бір қылмыс тіркелмеді", 0),
    ("d = .12", 0.12),
])
def test_scaled_numbers_and_number_words(text, value):
    assert find_value(value, text) is not None, sorted(_values(text))


@pytest.mark.parametrize(("text", "value", "unit"), [
    ("оплатить половину суммы", 0.5, "share"),
    ("оплатить 50% от общей суммы", 0.5, "share"),
    ("Almost a quarter of the sample", 25, "percent"),
    ("City points operate from 8 AM to 8 PM", 20, "hour of day"),
    ("начинается в 8.30 с инструктажа", 8.5, "hour of day"),
    ("С семи до десяти вечера", 19, "hour of day"),
    ("С семи до десяти вечера", 22, "hour of day"),
    ("Every hour, inspectors patrol", 1, "hours"),
    ("a 16% decrease", -16, "percent_change"),
])
def test_readings_that_depend_on_the_unit(text, value, unit):
    assert find_value(value, text, unit) is not None


def test_unit_readings_stay_with_their_unit():
    assert find_value(0.5, "оплатить 50% от суммы", "tenge") is None
    assert find_value(20, "from 8 AM to 8 PM", "calls") is None
    assert find_value(8.5, "в 8.30", "people") is None


# A quote, the value it gives, and a wrong value of each kind, in each language of the store.
CAUGHT = [
    # (language, quote, right, changed digit, wrong scale, wrong number word)
    ("en", "Over 98 thousand traffic violations were recorded", 98000, 97000, 98e6, None),
    ("en", "observers viewing nine monitors", 9, None, None, 8),
    ("en", "Currently, Kazakhstan has 1.36 million cameras nationwide", 1.36e6, 1.35e6, 1.36e9, None),
    ("ru", "в городе Алматы используются возможности 97 666 камер видеонаблюдения", 97666, 97667, None, None),
    ("ru", "в настоящее время их количество достигло 65 тысяч", 65000, 66000, 65e6, None),
    ("ru", "Более четырех тысяч звонков в сутки поступают от заявителей.", 4000, None, 4e6, 5000),
    ("ru", "Сейчас в ЦОУ ДВД Алматы работают восемь операторов", 8, None, None, 7),
    ("ru", "собрано в бюджет города уже 17,5 млрд тенге", 17.5e9, 17.6e9, 17.5e6, None),
    ("kk", "Биыл Алматыдағы «Сергек» жүйесі 1 123 735 ереже бұзу сәтін тіркеді.", 1123735, 1123736, None, None),
    ("kk", "156 млрд айыппұл салынған", 156e9, 157e9, 156e6, None),
    ("kk", "Бір кешен 12 камерадан, ал желілік бөліктегі бір кешен төрт камерадан тұрады.", 4, None, None, 5),
    ("kk", "сегіз камера", 8, None, None, 9),
]


@pytest.mark.parametrize(("language", "quote", "right", "digit", "scale", "word"), CAUGHT,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CAUGHT)])
def test_wrong_values_are_caught(language, quote, right, digit, scale, word):
    assert find_value(right, quote) is not None
    for wrong in (digit, scale, word):
        if wrong is not None:
            assert find_value(wrong, quote) is None, f"{wrong} wrongly found in {quote!r}"


def test_each_language_has_each_kind_of_mistake():
    for language in ("en", "ru", "kk"):
        rows = [c for c in CAUGHT if c[0] == language]
        for column in (3, 4, 5):
            assert any(row[column] is not None for row in rows), (language, column)


def _store_with_fact(tmp_path: Path, **fact) -> Path:
    records = copy.deepcopy(MINIMAL_STORE)
    records["facts"] = [{
        "id": "fact-1", "quantity": "cameras", "unit": "cameras", "source": "src-a", "where_read": "page 1",
        "quote": "в городе установлено 36 тысяч камер", "value": 36000, **fact,
    }]
    return write_store(tmp_path / "evidence", records)


def test_minimal_store_passes(tmp_path):
    assert check_quotes(load_store(_store_with_fact(tmp_path))) == []


def test_warning_names_file_record_and_field(tmp_path):
    root = _store_with_fact(tmp_path, value=63000)
    [problem] = check_quotes(load_store(root))
    assert (problem.file, problem.record, problem.field) == ("evidence/facts/facts.yaml", "fact-1", "value")
    assert "63,000" in problem.message and "36,000" in problem.message


def test_claim_quantities_are_checked_against_the_claim_text(tmp_path):
    records = copy.deepcopy(MINIMAL_STORE)
    records["claims"][0]["quantities"][0]["value"] = 12000
    [problem] = check_quotes(load_store(write_store(tmp_path / "evidence", records)))
    assert (problem.record, problem.field) == ("claim-1", "quantities.0.value")


def test_estimate_numbers_are_checked(tmp_path):
    records = copy.deepcopy(MINIMAL_STORE)
    records["estimates"][0]["ci_high"] = 1.7
    [problem] = check_quotes(load_store(write_store(tmp_path / "evidence", records)))
    assert (problem.record, problem.field) == ("est-1", "ci_high")


def test_derived_estimate_is_checked_against_its_formula(tmp_path):
    records = copy.deepcopy(MINIMAL_STORE)
    estimate = records["estimates"][0]
    estimate.update(quote="crimes fell from 120 to 96", estimate=0.8, ci_low=None, ci_high=None,
                    measure="ratio_after_before", derivation="96 / 120: after over before")
    assert check_quotes(load_store(write_store(tmp_path / "a", records))) == []
    estimate["derivation"] = "96 / 110: after over before"
    [problem] = check_quotes(load_store(write_store(tmp_path / "b", records)))
    assert "0.872727" in problem.message


def test_derived_estimate_must_say_how(tmp_path):
    records = copy.deepcopy(MINIMAL_STORE)
    records["estimates"].append({**records["estimates"][0], "id": "est-2", "derived_from": ["est-1"],
                                 "quote": "computed from est-1"})
    [problem] = check_quotes(load_store(write_store(tmp_path / "evidence", records)))
    assert (problem.record, problem.field) == ("est-2", "derivation") and "say how" in problem.message


def test_derived_fact_must_say_how(tmp_path):
    quote = "Работают они сутки через трое"
    root = _store_with_fact(tmp_path / "a", quote=quote, value=24, unit="hours", derived=True)
    [problem] = check_quotes(load_store(root))
    assert "derivation" in problem.message
    root = _store_with_fact(tmp_path / "b", quote=quote, value=24, unit="hours", derived=True,
                            note="Derived: 24 = one 'сутки' in hours.")
    assert check_quotes(load_store(root)) == []
    root = _store_with_fact(tmp_path / "c", quote=quote, value=48, unit="hours", derived=True,
                            note="Derived: 24 * 2 = two days in hours.")
    [problem] = check_quotes(load_store(root))
    assert "2, which the quote does not give" in problem.message


def test_formula_of():
    assert formula_of("35 983 000 / 2 513: average fine") == (pytest.approx(35983000 / 2513), [35983000.0, 2513.0])
    assert formula_of("sum of the arms' variances") is None


def test_validate_warns_and_strict_quotes_fails(tmp_path, capsys):
    root = _store_with_fact(tmp_path, value=63000)
    assert main(["validate", str(root)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "fact-1" in err and "63,000" in err
    assert main(["validate", "--strict-quotes", str(root)]) == 2
    err = capsys.readouterr().err
    assert "evidence/facts/facts.yaml" in err and "'fact-1'" in err and "'value'" in err
    assert main(["validate", "--strict-quotes", str(_store_with_fact(tmp_path / "ok"))]) == 0


def test_add_warns_about_a_number_missing_from_its_quote(tmp_path, capsys):
    root = write_store(tmp_path / "evidence", copy.deepcopy(MINIMAL_STORE))
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump([{
        "id": "fact-9", "quantity": "cameras", "unit": "cameras", "source": "src-a", "where_read": "page 2",
        "quote": "установлено 36 тысяч камер", "value": 3600}], allow_unicode=True), encoding="utf-8")
    assert main(["add", "facts", str(new), "--evidence", str(root)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "fact-9" in err and "3,600" in err
