"""Where and when a sentence's claim holds: the place and the period it names.

Only what the sentence itself says is read: a period from years, months and dates ("in 2020",
"since December 2012", "с 2016 по 2020 год", "2020 жылдың 1 қаңтарынан"), written ISO-like
("2020", "2012-12", "2012-12-14", "2016/2020", "2012-12/.." for an open end); a place from
a capitalised name after a preposition of place ("in X", "across X", "в X", "по X"), a
possessive ("X's") or a Kazakh locative ("Xда", "Xдағы"). A name counts as a place only if the
article names it more than once or calls it a city, town, district or region, so that one-off
capitalised phrases are not taken for places.
"""

from __future__ import annotations

import re


MONTH_NUMBERS: dict[str, int] = {}
for _number, _names in enumerate([
    "january jan январь января қаңтар", "february feb февраль февраля ақпан", "march mar март марта наурыз",
    "april apr апрель апреля сәуір", "may май мая мамыр", "june jun июнь июня маусым",
    "july jul июль июля шілде", "august aug август августа тамыз", "september sep sept сентябрь сентября қыркүйек",
    "october oct октябрь октября қазан", "november nov ноябрь ноября қараша",
    "december dec декабрь декабря желтоқсан",
], start=1):
    for _name in _names.split():
        MONTH_NUMBERS[_name] = _number

_MONTH = r"(?P<{}>[^\W\d_]+)"
_YEAR = r"(?P<{}>(?:19|20)\d\d)(?!\d)"
SINCE = r"(?:since|starting|from|с|начиная с|со)"
PLACE_WORDS = r"(?:city|town|region|district|province|county|country|village|oblast|город\w*|област\w*|район\w*" \
              r"|стран\w*|қала\w*|облыс\w*|аудан\w*)"
PLACE_BEFORE = re.compile(rf"(?:\b(?:in|across|throughout|around|within)\s+(?:the\s+{PLACE_WORDS}\s+of\s+)?"
                          rf"|\b{PLACE_WORDS}\s+(?:of\s+)?|(?<!\w)(?:в|во|по|из|городе|города)\s+)"
                          r"(?P<name>[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w-]*(?:\s+[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w-]*)*)")
POSSESSIVE = re.compile(r"(?P<name>[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)['’]s?\b")
KAZAKH_LOCATIVE = re.compile(r"(?P<name>[А-ЯЁӘҒҚҢӨҰҮҺІ][\wәғқңөұүһі-]+?)(?:дағы|дегі|тағы|тегі|да|де|та|те)\b")


def _month(word: str | None) -> int | None:
    if not word:
        return None
    word = word.lower()
    if word in MONTH_NUMBERS:
        return MONTH_NUMBERS[word]
    for name, number in MONTH_NUMBERS.items():  # Kazakh cases: "қаңтарынан", "желтоқсанда"
        if len(name) >= 5 and word.startswith(name):
            return number
    return None


def _date(year: str, month: int | None = None, day: str | None = None) -> str:
    if month and day:
        return f"{year}-{month:02d}-{int(day):02d}"
    return f"{year}-{month:02d}" if month else year


_PATTERNS = [
    # 14 December 2012 / 15 сентября 2017 / December 14, 2012
    ("date", re.compile(rf"\b(?P<day>\d{{1,2}})\s+{_MONTH.format('month')}\s+{_YEAR.format('year')}")),
    ("date", re.compile(rf"\b{_MONTH.format('month')}\s+(?P<day>\d{{1,2}}),?\s+{_YEAR.format('year')}")),
    # 2020 жылдың 1 қаңтарынан
    ("date", re.compile(rf"{_YEAR.format('year')}\s+жыл\w*\s+(?P<day>\d{{1,2}})\s+{_MONTH.format('month')}")),
    ("month", re.compile(rf"\b{_MONTH.format('month')}\s+{_YEAR.format('year')}")),
]
_RANGE = re.compile(rf"(?:\b(?:from|between|с|со|от)\s+)?{_YEAR.format('a')}\s*(?:год\w*\s*)?"
                    rf"(?:–|—|-|to|and|по|до|/)\s*(?:[^\W\d_]+\s+)?{_YEAR.format('b')}")
_YEAR_ALONE = re.compile(_YEAR.format("year"))


def find_period(text: str) -> str | None:
    """The period a sentence names, ISO-like, or None when it names none."""
    periods: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            month = _month(match.group("month"))
            if month is None or not free(match.start(), match.end()):
                continue
            day = match.group("day") if kind == "date" else None
            value = _date(match.group("year"), month, day)
            if re.search(rf"(?:^|\s){SINCE}\s*$", text[:match.start()].lower()):
                value += "/.."
            periods.append((match.start(), value))
            taken.append((match.start(), match.end()))
    for match in _RANGE.finditer(text):
        if free(match.start(), match.end()) and match.group("a") < match.group("b"):
            periods.append((match.start(), f"{match.group('a')}/{match.group('b')}"))
            taken.append((match.start(), match.end()))
    for match in _YEAR_ALONE.finditer(text):
        if not free(match.start(), match.end()) or re.search(r"[\d.,]\s?$", text[:match.start()]) \
                or re.match(r"^\s?[.,]?\d", text[match.end():]):
            continue  # part of a larger number ("2 000", "1,2020")
        after = text[match.end():match.end() + 12].lower()
        before = text[max(0, match.start() - 14):match.start()].lower()
        if not (re.search(r"\b(?:in|since|by|during|of|until|till|through|for|в|с|за|до|к|по|итогам)\s+$", before)
                or re.match(r"^\s*(?:год|г\.|гг|жыл|year)", after) or re.match(r"^\s*[-–]?\s*(?:м|ж|ші)\b", after)):
            continue
        value = match.group("year")
        if re.search(rf"(?:^|\s){SINCE}\s+$", before) or re.match(r"^\s*жыл\w*\s+бастап", after):
            value += "/.."
        periods.append((match.start(), value))
        taken.append((match.start(), match.end()))
    values = list(dict.fromkeys(value for _, value in sorted(periods)))
    return "; ".join(values) if values else None


def find_places(text: str, article: str) -> list[str]:
    """Places the sentence names (see the module note on what counts as a place)."""
    names: list[tuple[int, str]] = []
    for pattern in (PLACE_BEFORE, POSSESSIVE, KAZAKH_LOCATIVE):
        for match in pattern.finditer(text):
            name = match.group("name").strip()
            if name.split()[0].lower() in MONTH_NUMBERS:
                continue
            explicit = re.search(rf"{PLACE_WORDS}\s+(?:of\s+)?$", text[:match.start("name")], re.I) \
                or re.match(rf"\s+{PLACE_WORDS}", text[match.end("name"):], re.I) \
                or re.search(rf"\b{PLACE_WORDS}$", name, re.I)
            if explicit or len(re.findall(rf"\b{re.escape(name)}", article)) >= 2:
                names.append((match.start(), name))
    return list(dict.fromkeys(name for _, name in sorted(names)))
