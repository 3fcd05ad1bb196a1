"""The Almaty case in the evidence store: claims of the article, dated facts, data gaps.

Claims must be verbatim from the stored article and facts verbatim from the stored source
dossier, so a typo or a paraphrase in the YAML fails here.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
from pathlib import Path

import pytest

from research.store import load_store

REPO = Path(__file__).resolve().parents[1]
EVIDENCE = REPO / "evidence"
ARTICLE = EVIDENCE / "raw" / "almaty-article.txt"
DOSSIER = EVIDENCE / "raw" / "almaty-sources.md"

ALMATY_FILES = [
    "sources/almaty.yaml",
    "claims/almaty-article.yaml",
    "gaps/almaty.yaml",
    *sorted(str(p.relative_to(EVIDENCE)) for p in (EVIDENCE / "facts").glob("*.yaml")),
]

# Fixity of the raw copies: they must stay byte-identical to the shared originals.
RAW_SHA256 = {
    "almaty-article.txt": "18973033a176ae4cf51f2222a62429f84c94d172fca81493337adcdc033da47a",
    "almaty-sources.md": "d45709e4125dc6eb0e613dfd5ade5bb9bc4e6066434c553b1594e961c4dc8d15",
}

ISO_LIKE_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?(/\d{4}(-\d{2}(-\d{2})?)?)?$")
LOCATION = re.compile(r"^(headline|image caption|bullet [1-4]|paragraph [1-8], sentence [1-9])$")
TOPICS = {"cameras", "sergek", "fines", "command-centre", "policing", "effectiveness", "opinion", "naming"}


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def occurs_in(quote: str, document: str) -> bool:
    """True if every part of ``quote`` between ellipses occurs in ``document`` (whitespace-normalised)."""
    document = normalise(document)
    parts = [normalise(part) for part in quote.split("…")]
    return any(parts) and all(part in document for part in parts if part)


@pytest.fixture(scope="module")
def almaty_store(tmp_path_factory):
    """The Almaty files alone, loaded as a store: they must validate without the rest."""
    root = tmp_path_factory.mktemp("almaty") / "evidence"
    for name in ALMATY_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EVIDENCE / name, root / name)
    return load_store(root)


@pytest.fixture(scope="module")
def article_text() -> str:
    return ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def dossier_text() -> str:
    return DOSSIER.read_text(encoding="utf-8")


# --- the store ---------------------------------------------------------------


def test_whole_store_validates():
    store = load_store(EVIDENCE)
    assert "src-almaty-article" in store.ids("sources")


def test_almaty_files_validate_on_their_own(almaty_store):
    assert len(almaty_store["claims"]) >= 15
    assert almaty_store["facts"] and almaty_store["gaps"]


@pytest.mark.parametrize("name", sorted(RAW_SHA256))
def test_raw_copies_are_unchanged(name):
    digest = hashlib.sha256((EVIDENCE / "raw" / name).read_bytes()).hexdigest()
    assert digest == RAW_SHA256[name], f"evidence/raw/{name} differs from the shared original"


def test_ids_carry_the_almaty_prefixes(almaty_store):
    prefixes = {"sources": "src-", "claims": "claim-", "facts": "fact-", "gaps": "gap-"}
    for kind, prefix in prefixes.items():
        for record in almaty_store[kind]:
            assert record.id.startswith(prefix), record.id
    assert not any(gap.id.startswith("gap-lit-") for gap in almaty_store["gaps"])


def test_every_almaty_source_is_used(almaty_store):
    used = {r.source for r in [*almaty_store["facts"], *almaty_store["claims"]]}
    used |= {ref for gap in almaty_store["gaps"] for ref in gap.related}
    unused = almaty_store.ids("sources") - used
    assert not unused, f"sources no fact, claim or gap refers to: {sorted(unused)}"


def test_article_source_has_address_and_no_date():
    store = load_store(EVIDENCE)
    article = store.get("src-almaty-article")
    assert article.kind == "article"
    assert article.url.startswith("https://fintechinsights.top/")
    assert article.published is None
    assert "no publication date" in article.note.lower()


# --- the verbatim checks themselves ------------------------------------------


def test_occurs_in_accepts_reflowed_text_and_ellipsis_joins():
    document = "A whopping 120,000 systems\n  are operating. Later: 156 monitors."
    assert occurs_in("120,000 systems are operating", document)
    assert occurs_in("A whopping … 156 monitors", document)


def test_occurs_in_rejects_changed_numbers_and_paraphrase(almaty_store, article_text):
    claim = next(c for c in almaty_store["claims"] if c.id == "claim-cameras-120000-systems")
    assert occurs_in(claim.text, article_text)
    assert not occurs_in(claim.text.replace("120,000", "12,000"), article_text)
    assert not occurs_in("About 120,000 cameras operate", article_text)
    assert not occurs_in("…", article_text)


# --- claims --------------------------------------------------------------------


def test_at_least_15_claims_each_verbatim_in_the_article(almaty_store, article_text):
    claims = [c for c in almaty_store["claims"] if c.source == "src-almaty-article"]
    assert len(claims) >= 15
    missing = [c.id for c in claims if not occurs_in(c.text, article_text)]
    assert not missing, f"claim text not found in the article: {missing}"


REQUIRED_CLAIMS = {
    "claim-naming-sergei-headline": "Sergei",
    "claim-cameras-120000-systems": "120,000 systems",
    "claim-sergek-road-safety-105-locations": "105 strategic locations",
    "claim-fines-360000-violations": "360,000 violations",
    "claim-fines-2-3-billion-tenge": "2.3 billion tenge",
    "claim-fines-attribution-almaty-tv": "Almaty.tv",
    "claim-command-156-monitors": "156 monitors",
    "claim-command-four-shifts": "four shifts",
    "claim-command-150-calls-per-operator": "more than 150 calls per day",
    "claim-command-azirbek-plates-silhouettes-details": "license plates",
    "claim-policing-points-8am-8pm": "8 AM to 8 PM",
    "claim-policing-hourly-patrols": "Every hour",
    "claim-effectiveness-cctv-ai-proven": "proven effective in reducing crime",
    "claim-opinion-feel-safer": "feel safer",
    "claim-opinion-mixed": "opinions are mixed",
    "claim-bullet-156-monitors-120000-cameras": "120,000 surveillance cameras",
    "claim-effectiveness-bullet-reduced-crime": "appreciate the reduced crime",
    "claim-command-caption-150-calls": "more than 150 calls within a single day",
}


@pytest.mark.parametrize(("claim_id", "wording"), sorted(REQUIRED_CLAIMS.items()))
def test_required_claim_is_recorded(almaty_store, claim_id, wording):
    claim = almaty_store.get(claim_id)
    assert wording in claim.text


def test_claims_have_location_topic_and_no_invented_period(almaty_store):
    for claim in almaty_store["claims"]:
        assert LOCATION.match(claim.location), (claim.id, claim.location)
        assert claim.topic in TOPICS, (claim.id, claim.topic)
        # the article dates nothing, so no claim may carry a period, and the note says so
        assert claim.period is None, claim.id
        assert "no period" in (claim.note or "").lower(), claim.id


def test_numeric_claims_carry_quantities_written_in_their_text(almaty_store):
    for claim in almaty_store["claims"]:
        if claim.kind == "numeric":
            assert claim.quantities, claim.id
        for quantity in claim.quantities:
            if quantity.value < 100:
                continue  # small numbers are written in words or as clock times
            spellings = {f"{quantity.value:,.0f}"}
            if quantity.value >= 1e9:
                spellings.add(f"{quantity.value / 1e9:g} billion")
            assert any(s in claim.text for s in spellings), (claim.id, quantity.name)


def test_qualifiers_follow_the_wording(almaty_store):
    def qualifier(claim_id):
        return almaty_store.get(claim_id).quantities[0].qualifier

    assert qualifier("claim-fines-360000-violations") == "about"  # "around 360,000"
    assert qualifier("claim-command-150-calls-per-operator") == "more_than"
    assert qualifier("claim-command-caption-150-calls") == "more_than"


def test_headline_and_body_name_the_system_differently(almaty_store, article_text):
    headline = almaty_store.get("claim-naming-sergei-headline")
    assert headline.location == "headline" and headline.topic == "naming"
    assert "Sergei" in article_text.splitlines()[0]
    assert "Sergek" in almaty_store.get("claim-sergek-road-safety-105-locations").text


# --- facts ---------------------------------------------------------------------


def test_every_almaty_fact_and_claim_names_an_existing_source(almaty_store):
    sources = almaty_store.ids("sources")
    for record in [*almaty_store["facts"], *almaty_store["claims"]]:
        assert record.source in sources, (record.id, record.source)


def test_fact_quotes_are_verbatim_from_the_dossier(almaty_store, dossier_text, article_text):
    # A fact read in the article itself (its publication date) is quoted from the article.
    missing = [f.id for f in almaty_store["facts"]
               if not occurs_in(f.quote, article_text if f.source == "src-almaty-article" else dossier_text)]
    assert not missing, f"quote not found in its raw copy (evidence/raw/): {missing}"


SCALE_WORDS = [
    (r"(?:млрд|миллиард\w*|billion|bn)", 1e9),
    (r"(?:млн|миллион\w*|million|m\b)", 1e6),
    (r"(?:тыс\.?|тысяч\w*|thousand)", 1e3),
]
NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?!\d)|\d{1,3}(?:[ \u00a0]\d{3})+|\d+(?:[.,]\d+)?)"
    r"(?:\s*(" + "|".join(pattern for pattern, _ in SCALE_WORDS) + r"))?",
    re.IGNORECASE,
)


def numbers_in(text: str) -> set[float]:
    """Numbers written in digits, read as Russian/Kazakh or English text would mean them:
    "97 666", "120,000" and "17,5 млрд" give 97666, 120000 and 17.5 and 17.5e9."""
    found = set()
    for match in NUMBER.finditer(text):
        digits, scale = match.group(1), match.group(2)
        raw = re.sub(r"[ \u00a0]", "", digits)
        if re.fullmatch(r"\d{1,3}(,\d{3})+", raw):
            raw = raw.replace(",", "")  # English thousands separator
        value = float(raw.replace(",", "."))  # otherwise a comma is a decimal mark
        found.add(value)
        for pattern, factor in SCALE_WORDS:
            if scale and re.fullmatch(pattern, scale, re.IGNORECASE):
                found.add(value * factor)
    return found


def test_numbers_in_reads_local_number_formats():
    assert numbers_in("подключено 18 399 видеокамер") == {18399.0}
    assert {17.5e9, 2.6e9} <= numbers_in("собрано 17,5 млрд тенге, выплачено 2,6 млрд тенге")
    assert 120000.0 in numbers_in("A whopping 120,000 systems")
    assert 2046499967.0 in numbers_in("(2,046,499,967 / 178,416)")
    assert 36000.0 in numbers_in("установлено 36 тысяч камер")
    assert 1512.0 not in numbers_in("увеличен до 1521 тенге")


def test_fact_values_are_written_in_their_quotes(almaty_store):
    # A number written in words or converted (a clock time, a share) must say so in the note.
    wrong = []
    for fact in almaty_store["facts"]:
        if fact.value is None or "recorded as" in (fact.note or ""):
            continue
        if not any(math.isclose(abs(fact.value), n, rel_tol=1e-9) for n in numbers_in(fact.quote)):
            wrong.append((fact.id, fact.value))
    assert not wrong, f"value not found in its quote: {wrong}"


def test_fact_where_read_names_the_address_of_its_source(almaty_store):
    for fact in almaty_store["facts"]:
        source = almaty_store.get(fact.source)
        if source.url:
            assert source.url in fact.where_read, fact.id


def test_fact_dates_are_iso_like_and_undated_facts_say_so(almaty_store):
    for fact in almaty_store["facts"]:
        if fact.date is None:
            assert fact.note and "date not shown" in fact.note.lower(), fact.id
        else:
            assert ISO_LIKE_DATE.match(fact.date), (fact.id, fact.date)


def test_facts_without_a_value_are_dates_or_explained(almaty_store):
    for fact in almaty_store["facts"]:
        if fact.value is None:
            assert fact.unit == "date" or "no value" in (fact.note or "").lower(), fact.id


def test_mrp_has_one_value_per_year_and_two_dated_values_in_2020(almaty_store):
    mrp = [f for f in almaty_store["facts"] if f.quantity == "mrp_tenge"]
    by_year: dict[str, list] = {}
    for fact in mrp:
        assert fact.unit == "tenge" and fact.value > 0
        by_year.setdefault(fact.date[:4], []).append(fact)
    assert {year for year, facts in by_year.items() if len(facts) > 1} == {"2020"}
    assert sorted(f.date for f in by_year["2020"]) == ["2020-01-01", "2020-04-01"]
    values = [f.value for f in sorted(mrp, key=lambda f: f.date)]
    assert values == sorted(values), "the MRP never fell, so a decrease means a typo"


def test_early_payment_rule_is_a_share(almaty_store):
    shares = [f for f in almaty_store["facts"] if f.quantity == "early_payment_share"]
    assert shares and all(f.value == 0.5 and f.unit == "share" for f in shares)


def test_effect_claims_are_percent_changes_with_sign(almaty_store):
    # The official effect claims all report decreases ("снижена", "уменьшилось", "азайды",
    # "reducing"), stored as negative percent changes.
    effects = [f for f in almaty_store["facts"] if f.id.startswith("fact-effect-")]
    assert effects
    for fact in effects:
        assert fact.unit == "percent_change", fact.id
        assert fact.value is None or fact.value < 0, fact.id


def test_reported_increases_are_positive(almaty_store):
    # Statistics that say "плюс" (plus) are increases and must not be stored as decreases.
    increases = [f for f in almaty_store["facts"] if f.unit == "percent_change" and "плюс" in f.quote]
    assert increases
    assert all(f.value > 0 for f in increases)


# --- gaps ----------------------------------------------------------------------

REQUIRED_GAPS = {
    "gap-almaty-crime-counts-before-after-sergek": "local_effect_crime",
    "gap-almaty-crash-counts-camera-sites": "local_effect_crashes",
    "gap-violations-360000-date-definition": "average_fine",
    "gap-fines-2-3bn-imposed-or-collected": "average_fine",
    "gap-almaty-tv-report": None,
    "gap-cameras-120000-source": "cameras_city_total",
    "gap-command-centre-156-monitors": "monitors_per_operator",
    "gap-azirbek-quote": None,
    "gap-police-points-hours-patrols": None,
    "gap-mrp-2013": "mrp_tenge",
    "gap-mrp-2014": "mrp_tenge",
    "gap-mrp-2017": "mrp_tenge",
    "gap-koap-red-light-fine": "average_fine",
    "gap-date-caravan-363383": None,
    "gap-date-caravan-398098": None,
    "gap-date-informburo-102": None,
    "gap-almaty-tv-ownership": None,
    "gap-sergek-meaning": None,
}


@pytest.mark.parametrize(("gap_id", "parameter"), sorted(REQUIRED_GAPS.items()))
def test_required_gap_exists(almaty_store, gap_id, parameter):
    gap = almaty_store.get(gap_id)
    assert gap.status == "open"
    assert gap.related, gap_id
    if parameter is not None:
        assert gap.parameter == parameter


def test_gaps_about_local_effects_name_who_may_hold_the_data(almaty_store):
    for gap in almaty_store["gaps"]:
        if gap.parameter in {"local_effect_crime", "local_effect_crashes"}:
            assert any(holder in gap.who_may_hold for holder in ("ДП г. Алматы", "КПСиСУ")), gap.id
