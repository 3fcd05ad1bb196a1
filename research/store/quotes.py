"""Reading numbers out of quoted wording, and the quote check of the store.

Owns: the number reader (digits with any thousands separator or decimal comma, scale words
such as "65 тысяч", "18 thousand", "2,3 млрд", and number words in English, Russian and
Kazakh, inflected forms included) and ``check_quotes``, which warns when a stored number is
not found in its own quote (facts, effect estimates) or in its claim's verbatim text.

A value that was computed rather than read (``derived: true`` on a fact, ``derived_from`` or
``derivation`` on an estimate) is checked against its inputs instead: the derivation must be
stated, and an arithmetic formula at its start must give the value from numbers of the quote.

This module belongs to the store layer: it imports nothing above it.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from dataclasses import dataclass
from itertools import product

from research.store.loader import Problem, Store

# ---------------------------------------------------------------------------
# Number words
# ---------------------------------------------------------------------------


def _forms(table: dict[int | float, str]) -> dict[str, float]:
    return {form: float(value) for value, forms in table.items() for form in forms.split()}


_ENGLISH = _forms({
    0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
    9: "nine", 10: "ten", 11: "eleven", 12: "twelve dozen", 13: "thirteen", 14: "fourteen",
    15: "fifteen", 16: "sixteen", 17: "seventeen", 18: "eighteen", 19: "nineteen", 20: "twenty",
    30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety",
    100: "hundred", 1000: "thousand thousands", 10**6: "million millions mln", 10**9: "billion billions bn",
    10**12: "trillion trillions",
})

_RUSSIAN = _forms({
    0: "ноль ноля нолю нолём нолем нуль нуля нулю нулём нулем",
    1: "один одна одно одного одной одному одним одною одну",
    2: "два две двух двум двумя двое двоих",
    3: "три трех трёх трем трём тремя трое троих",
    4: "четыре четырех четырёх четырем четырём четырьмя четверо четверых",
    5: "пять пяти пятью пятеро пятерых", 6: "шесть шести шестью шестеро шестерых",
    7: "семь семи семеро семерых", 8: "восемь восьми восемью восьмью",
    9: "девять девяти девятью", 10: "десять десяти десятью",
    40: "сорок сорока", 90: "девяносто девяноста", 100: "сто ста стам стами",
    50: "пятьдесят пятидесяти пятьюдесятью", 60: "шестьдесят шестидесяти шестьюдесятью",
    70: "семьдесят семидесяти семьюдесятью", 80: "восемьдесят восьмидесяти восемьюдесятью",
    200: "двести двухсот двумстам двумястами", 300: "триста трехсот трёхсот тремстам",
    400: "четыреста четырехсот четырёхсот четырьмстам", 500: "пятьсот пятисот пятистам",
    600: "шестьсот шестисот", 700: "семьсот семисот", 800: "восемьсот восьмисот", 900: "девятьсот девятисот",
    1000: "тысяча тысячи тысяч тысяче тысячу тысячей тысячью тысячам тысячами тысячах тыс",
    10**6: "миллион миллиона миллионов миллиону миллионом миллионе миллионы миллионам миллионами млн",
    10**9: "миллиард миллиарда миллиардов миллиарду миллиардом миллиарде миллиарды миллиардами млрд",
    10**12: "триллион триллиона триллионов трлн",
})
for _stem, _value in [("одиннадцат", 11), ("двенадцат", 12), ("тринадцат", 13), ("четырнадцат", 14),
                      ("пятнадцат", 15), ("шестнадцат", 16), ("семнадцат", 17), ("восемнадцат", 18),
                      ("девятнадцат", 19), ("двадцат", 20), ("тридцат", 30)]:
    _RUSSIAN.update({_stem + ending: float(_value) for ending in ("ь", "и", "ью")})

_KAZAKH_STEMS = {
    "төрт": 4, "алты": 6, "жеті": 7, "сегіз": 8, "тоғыз": 9, "жиырма": 20, "отыз": 30, "қырық": 40,
    "елу": 50, "алпыс": 60, "жетпіс": 70, "сексен": 80, "тоқсан": 90, "миллион": 10**6, "миллиард": 10**9,
}
# Case, possessive, collective and ordinal endings; short stems ("он", "үш") get only the forms
# listed below, since their suffixed spellings collide with other words ("оны", "үшін").
_KAZAKH_SUFFIXES = ("", "ға", "ге", "қа", "ке", "а", "е", "ны", "ні", "ды", "ді", "ты", "ті", "ның", "нің",
                    "дың", "дің", "тың", "тің", "да", "де", "та", "те", "дан", "ден", "тан", "тен", "нан",
                    "нен", "мен", "бен", "пен", "ы", "і", "сы", "сі", "еу", "ау", "у", "ншы", "нші",
                    "ыншы", "інші")
_KAZAKH = {stem + suffix: float(value) for stem, value in _KAZAKH_STEMS.items() for suffix in _KAZAKH_SUFFIXES}
_KAZAKH.update(_forms({
    0: "нөл", 1: "бір бірі біреуі", 2: "екі екеу екіге екіден екінші", 3: "үш үшеу үшке үштен үшінші",
    5: "бес бесеу беске бестен бесінші", 10: "он онға оннан оныншы", 100: "жүз жүзге жүзден",
    1000: "мың мыңға мыңнан мыңы мыңдаған", 10**6: "млн", 10**9: "млрд",
}))

NUMBER_WORDS: dict[str, float] = {**_ENGLISH, **_RUSSIAN, **_KAZAKH}
# Words that multiply the number before them ("36 тысяч", "2.3 billion").
SCALE_WORDS: dict[str, float] = {w: v for w, v in NUMBER_WORDS.items() if v >= 1000}
SCALE_WORDS.update({"k": 1e3, "m": 1e6})  # only read after a number: "35.983 m"
FRACTION_WORDS = _forms({
    0.5: "half halves halved halve половина половины половине половину половиной вдвое жарты",
    0.25: "quarter quarters четверть четверти ширек",
    1 / 3: "third thirds треть трети",
    1.5: "полтора полторы",
})
MULTIPLE_WORDS = _forms({1: "once every each per ежедневно ежесуточно ежечасно", 2: "twice double doubled",
                         3: "triple tripled thrice"})
NEGATION_ONE = {"ни", "no", "бірде"}  # "ни одного", "бірде-бір": zero
KAZAKH_LETTERS = re.compile(r"[әғқңөұүһі]", re.I)

_CYRILLIC = re.compile(r"[а-яё]", re.I)
_SEPARATOR = re.compile(r"[ \u00a0\u202f\u2009.,'’]")
_ONE_NUMBER = re.compile(r"\d{1,3}(?:([ \u00a0\u202f\u2009.,'’])\d{3}(?:\1\d{3})*)?(?:[.,]\d+)?")
_SPACE = re.compile(r"\s")
_DIGITS = re.compile(r"(?<![\w.,])\.\d+|\d+(?:[ \u00a0\u202f\u2009.,'’]\d+)*")
_TOKEN = re.compile(rf"{_DIGITS.pattern}|[^\W\d_]+\.?|%|[-–—]|[^\s\w]", re.UNICODE)


@dataclass(frozen=True)
class NumberReading:
    """One way of reading a number in a text: its value, where it stands and how it was read."""

    value: float
    start: int
    end: int
    how: str  # "digits", "words", "scaled", "fraction", "percent", "time"

    def __str__(self) -> str:
        return f"{_fmt(self.value)} ({self.how})"


def _fmt(value: float) -> str:
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}" if value == int(value) else f"{value:,g}"


def language_of(text: str) -> str:
    """"kk", "ru" or "en", from the letters used (enough to pick how numbers are written)."""
    if KAZAKH_LETTERS.search(text):
        return "kk"
    return "ru" if _CYRILLIC.search(text) else "en"


def digit_readings(token: str, language: str | None = None) -> list[float]:
    """Every value a run of digit groups can mean: "2 060" is 2060; "2,513" is 2513 or, with a
    decimal comma, 2.513 (in English text only the first; "35.983" there is only 35.983).

    Groups joined by one separator with three digits after each read as thousands; a final
    '.' or ',' group reads as decimals; single groups read as themselves."""
    if token.startswith("."):  # "d = .12"
        return [float("0" + token)]
    groups = _SEPARATOR.split(token)
    separators = _SEPARATOR.findall(token)
    values: list[float] = []

    def grouped(i: int, j: int) -> float | None:  # groups i..j as one thousands-grouped integer
        if j > i and (len(groups[i]) > 3 or any(len(g) != 3 for g in groups[i + 1:j + 1])
                      or len(set(separators[i:j])) != 1):
            return None
        return float("".join(groups[i:j + 1]))

    last = len(groups) - 1
    if last == 0:
        return [float(token)]
    whole = grouped(0, last)
    if whole is not None:  # "2 060", "1 123 735", and "2,513" / "35.983", which may also be decimals
        if last == 1 and separators[0] in ".,":
            decimal = float(f"{groups[0]}.{groups[1]}")
            if language == "en":
                return [whole] if separators[0] == "," else [decimal]
            return [whole, decimal]
        return [whole]
    head = grouped(0, last - 1)
    if head is not None and separators[-1] in ".," and (last == 1 or separators[-1] != separators[0]):
        return [float(f"{''.join(groups[:last])}.{groups[last]}")]  # "5,3", "8.1", "1 234,5"
    for i in range(len(groups)):  # anything else ("25.09.2020"): every part that reads as a number
        for j in range(i, len(groups)):
            part = grouped(i, j)
            if part is not None:
                values.append(part)
                if j + 1 < len(groups) and separators[j] in ".," and (j == i or separators[j] != separators[i]):
                    values.append(float(f"{''.join(groups[i:j + 1])}.{groups[j + 1]}"))
    return list(dict.fromkeys(values))


def _reads_as_one(token: str) -> bool:
    """Whether digit groups form one number (thousands groups, maybe with decimals)."""
    return _ONE_NUMBER.fullmatch(token) is not None


@dataclass
class _Token:
    text: str
    start: int
    end: int
    values: list[float]  # readings if the token is a number, else []
    kind: str  # "digits", "word", "scale", "other"


def _tokens(text: str) -> list[_Token]:
    language = language_of(text)
    tokens = []
    for match in _TOKEN.finditer(text):
        raw = match.group()
        word = raw.lower().rstrip(".")
        if raw[0].isdigit() or raw[0] == "." and raw[1:2].isdigit():
            readings = digit_readings(raw, language)
            if _SPACE.search(raw) and not _reads_as_one(raw):  # "2020 100": two numbers, not one
                for part in re.finditer(r"\S+", raw):
                    tokens.append(_Token(part.group(), match.start() + part.start(), match.start() + part.end(),
                                         digit_readings(part.group(), language), "digits"))
                continue
            tokens.append(_Token(raw, match.start(), match.end(), readings, "digits"))
        elif word in SCALE_WORDS and word not in ("k", "m"):
            tokens.append(_Token(raw, match.start(), match.end(), [SCALE_WORDS[word]], "scale"))
        elif word in NUMBER_WORDS:
            tokens.append(_Token(raw, match.start(), match.end(), [NUMBER_WORDS[word]], "word"))
        else:
            tokens.append(_Token(raw, match.start(), match.end(), [], "other"))
    return tokens


def _compound(values: list[tuple[float, bool]]) -> list[tuple[float, int, int]]:
    """Numbers written in parts: "два миллиона одна тысяча 304", "1 тыс. 982", "one hundred five".

    ``values`` holds (value, is_scale) in order; a number that cannot continue the one before
    ("500-600", "six and nine") starts a new number. Returns (value, first, last) index ranges."""
    out: list[tuple[float, int, int]] = []
    total = current = 0.0
    first = 0
    for index, (value, is_scale) in enumerate(values):
        if is_scale:
            total += (current or 1.0) * value
            current = 0.0
        elif value == 100 and 0 < current < 10:
            current *= 100
        elif current == 0 and (total == 0 or value < total) \
                or current % (10 ** len(str(int(value)))) == 0 and value == int(value) and current:
            current += value
        else:
            out.append((total + current, first, index - 1))
            total, current, first = 0.0, value, index
    if values:
        out.append((total + current, first, len(values) - 1))
    return out


def _number_runs(tokens: list[_Token], text: str, spaced_suffix: bool = True) -> list[tuple[int, int, list[_Token]]]:
    """Runs of numbers and scale words joined by spaces, hyphens or "and"/"и": (first, after, run).

    "k" and "m" multiply the number they follow when attached ("5m"); with ``spaced_suffix``
    also after a space ("35.983 m"), which a quote may mean but a text may use for metres."""
    runs = []
    n = len(tokens)
    i = 0
    while i < n:
        if tokens[i].kind == "other":
            i += 1
            continue
        run = [tokens[i]]
        j = i + 1
        while j < n:
            nxt = tokens[j]
            if nxt.kind != "other":
                run.append(nxt)
                j += 1
            elif nxt.text.lower() in ("and", "и", "-") and j + 1 < n and tokens[j + 1].kind in ("word", "scale") \
                    and run[-1].kind != "digits":
                j += 1
            elif nxt.text.lower().rstrip(".") in ("k", "m") and run[-1].kind == "digits" \
                    and (text[run[-1].end:nxt.start] == "" or spaced_suffix
                         and text[run[-1].end:nxt.start].strip() == ""):
                run.append(_Token(nxt.text, nxt.start, nxt.end, [SCALE_WORDS[nxt.text.lower().rstrip(".")]],
                                  "scale"))
                j += 1
                break
            else:
                break
        runs.append((i, j, run))
        i = j
    return runs


def read_numbers(text: str) -> list[NumberReading]:
    """All readings of the numbers in ``text`` (several per number when the writing is ambiguous)."""
    return list(_readings(text))


@functools.lru_cache(maxsize=256)  # a record's quote is read once for each of its numbers
def _readings(text: str) -> tuple[NumberReading, ...]:
    tokens = _tokens(text)
    readings: list[NumberReading] = []
    for token in tokens:
        lowered = token.text.lower().rstrip(".")
        if token.kind == "other" and lowered in FRACTION_WORDS:
            readings.append(NumberReading(FRACTION_WORDS[lowered], token.start, token.end, "fraction"))
        if token.kind == "other" and lowered in MULTIPLE_WORDS:
            readings.append(NumberReading(MULTIPLE_WORDS[lowered], token.start, token.end, "words"))
    for i, j, run in _number_runs(tokens, text):
        for k, part in enumerate(run):
            how = "digits" if part.kind == "digits" else "words"
            scaled = k + 1 < len(run) and run[k + 1].kind == "scale" and part.kind != "scale"
            for value in part.values:
                # "36 тысяч" is 36000, never 36; "6.7 million" never a bare million
                if not scaled and (part.kind != "scale" or k == 0):
                    readings.append(NumberReading(value, part.start, part.end, how))
                if scaled:
                    readings.append(NumberReading(value * run[k + 1].values[0], part.start, run[k + 1].end,
                                                  "scaled"))
        choices = [part.values for part in run]
        if len(run) > 1 and math.prod(len(c) for c in choices) <= 64:
            kinds = [part.kind == "scale" for part in run]
            for combo in product(*choices):
                for value, first, last in _compound(list(zip(combo, kinds))):
                    readings.append(NumberReading(value, run[first].start, run[last].end, "scaled"))
        before = [t.text.lower() for t in tokens[max(0, i - 2):i] if t.text != "-"]
        if before and before[-1] in NEGATION_ONE and run[0].values == [1.0]:  # "ни одного", "бірде-бір"
            readings.append(NumberReading(0.0, run[0].start, run[-1].end, "words"))
        readings.extend(_context_readings(text, tokens, run, j))
    return tuple(_unique(readings))


@dataclass(frozen=True)
class NumberMention:
    """One number as a reader would take it: its most likely value and where it is written."""

    value: float
    start: int
    end: int
    written: str  # "digits", "words" or "mixed"
    scaled: bool  # a scale word multiplies it ("2.3 billion")


def number_mentions(text: str) -> list[NumberMention]:
    """Each number of ``text`` once, with its most likely reading ("2,513" as 2513, "1 тыс. 982" as 1982)."""
    tokens = _tokens(text)
    mentions = []
    for _, _, run in _number_runs(tokens, text, spaced_suffix=False):
        kinds = [part.kind == "scale" for part in run]
        primary = [part.values[0] for part in run]
        for value, first, last in _compound(list(zip(primary, kinds))):
            parts = run[first:last + 1]
            sorts = {"digits" if p.kind == "digits" else "words" for p in parts if p.kind != "scale"} or {"words"}
            mentions.append(NumberMention(value, parts[0].start, parts[-1].end,
                                          sorts.pop() if len(sorts) == 1 else "mixed",
                                          any(p.kind == "scale" for p in parts)))
    return mentions


def _context_readings(text: str, tokens: list[_Token], run: list[_Token], after: int) -> list[NumberReading]:
    """Readings that depend on the words around a number: percents and clock times."""
    out = []
    last = run[-1]
    tail = text[last.end:last.end + 40].lower()
    if _PERCENT_AFTER.match(tail):
        for value in last.values:
            out.append(NumberReading(value / 100, last.start, last.end, "percent"))
    for token in run:
        if token.kind == "digits" and re.fullmatch(r"\d{1,2}[.:]\d{2}", token.text):
            hours, minutes = re.split(r"[.:]", token.text)
            out.append(NumberReading(int(hours) + int(minutes) / 60, token.start, token.end, "time"))
    # "8 PM", "десяти вечера", and the first hour of "с семи до десяти вечера"
    if _EVENING_AFTER.match(tail) or _EVENING_RANGE_AFTER.match(tail):
        for value in last.values:
            if 0 < value < 12:
                out.append(NumberReading(value + 12, last.start, last.end, "time"))
    return out


_PERCENT_AFTER = re.compile(r"^\s*(?:%|per\s?cent|percent|процент|пайыз)")
_EVENING = r"(?:p\.?\s?m\b\.?|вечера|вечером|кешкі|кешке)"
_EVENING_AFTER = re.compile(rf"^\s*{_EVENING}")
_EVENING_RANGE_AFTER = re.compile(rf"^\s*(?:до|to|-|–|—)\s*[^\W_]+\s+{_EVENING}")


def _unique(readings: list[NumberReading]) -> list[NumberReading]:
    seen, out = set(), []
    for reading in readings:
        key = (round(reading.value, 9), reading.start)
        if key not in seen:
            seen.add(key)
            out.append(reading)
    return out


def same_number(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def find_value(value: float, text: str, unit: str | None = None) -> NumberReading | None:
    """The reading of ``text`` that gives ``value`` (sign ignored: "a 16% decrease" is -16), or None.

    The unit decides which readings count: a share (0.5) may be written as a percent ("50%")
    or a fraction ("half"); a percent as a fraction ("a quarter"); an hour of day as a clock
    time ("8.30", "8 PM")."""
    unit = (unit or "").lower()
    target = abs(value)
    for reading in read_numbers(text):
        candidate = reading.value
        if reading.how == "percent" and "share" not in unit and "proportion" not in unit:
            continue
        if reading.how == "time" and "hour" not in unit:
            continue
        if same_number(candidate, target):
            return reading
        if reading.how == "fraction" and "percent" in unit and same_number(candidate * 100, target):
            return reading
    return None


# ---------------------------------------------------------------------------
# Derived values: "derivation" starts with a formula over numbers of the quote
# ---------------------------------------------------------------------------

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_FORMULA = re.compile(r"^\s*([\d\s.,+\-*/×÷()]+?)\s*(?:=|:|$)")
# Constants of units a conversion may use without quoting them (percent, clock, calendar, SI).
CONVERSION_CONSTANTS = {100.0, 60.0, 24.0, 12.0, 7.0, 1000.0}


def formula_of(derivation: str) -> tuple[float, list[float]] | None:
    """(result, operands) of the arithmetic formula that starts ``derivation``, e.g. "24 * 1 (сутки)"."""
    match = _FORMULA.match(derivation or "")
    if not match or not re.search(r"\d", match.group(1)):
        return None
    source = match.group(1).replace("×", "*").replace("÷", "/").replace(",", "")
    source = re.sub(r"(?<=\d) (?=\d{3}\b)", "", source)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return None
    operands: list[float] = []

    def evaluate(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            operands.append(float(node.value))
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](evaluate(node.left), evaluate(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -evaluate(node.operand)
        raise ValueError("not arithmetic")

    try:
        return evaluate(tree), operands
    except (ValueError, ZeroDivisionError):
        return None


def _check_derived(value: float, derivation: str | None, quote: str, unit: str | None) -> str | None:
    """Why a derived value fails its check against its inputs, or None when it passes."""
    if not derivation:
        return "derived value without a derivation: say how it was computed from the quoted figures"
    parsed = formula_of(derivation)
    if parsed is None:
        return None  # a derivation in words (e.g. from other records) is checked through those records
    result, operands = parsed
    if not same_number(abs(result), abs(value)):
        return f"derivation gives {_fmt(result)}, not {_fmt(value)}"
    missing = [x for x in operands if x not in CONVERSION_CONSTANTS and find_value(x, quote, unit) is None
               and find_value(x, quote) is None]
    if missing:
        return "derivation uses " + ", ".join(_fmt(x) for x in missing) + ", which the quote does not give"
    return None


# ---------------------------------------------------------------------------
# The store check
# ---------------------------------------------------------------------------

ESTIMATE_NUMBERS = ("estimate", "ci_low", "ci_high", "a", "b", "c", "d", "se")


def fact_derivation(note: str | None) -> str | None:
    """A derived fact states its derivation in its note, after "Derived:" (facts have no field for it)."""
    match = re.search(r"\bderived:\s*(.+)", note or "", re.IGNORECASE | re.DOTALL)
    return match.group(1).strip() if match else None


def _missing(value: float, text: str, unit: str | None, what: str) -> str:
    found = sorted({r.value for r in read_numbers(text) if r.how in ("digits", "scaled", "words")})
    shown = ", ".join(_fmt(v) for v in found[:8]) or "no number"
    return f"{_fmt(value)} is not found in the {what} (it gives {shown})"


def check_quotes(store: Store) -> list[Problem]:
    """Warnings for stored numbers that their own quote (or claim text) does not give."""
    problems: list[Problem] = []

    def warn(record, field_name: str, message: str) -> None:
        problems.append(Problem(store.origin.get(record.id, "?"), record.id, field_name, message))

    for fact in store["facts"]:
        if fact.value is None:
            continue
        if fact.derived:
            reason = _check_derived(fact.value, fact_derivation(fact.note), fact.quote, fact.unit)
            if reason:
                warn(fact, "value", reason)
        elif find_value(fact.value, fact.quote, fact.unit) is None:
            warn(fact, "value", _missing(fact.value, fact.quote, fact.unit, "quote"))
    for estimate in store["estimates"]:
        derived = bool(estimate.derived_from or estimate.derivation)
        unit = "percent" if estimate.measure == "percent_change" else None
        numbers = [(name, getattr(estimate, name)) for name in ESTIMATE_NUMBERS if getattr(estimate, name) is not None]
        if derived and numbers and not estimate.derivation:
            warn(estimate, "derivation", _check_derived(numbers[0][1], None, estimate.quote, unit) or "")
            continue
        for name, value in numbers:
            if derived:  # inputs named in derived_from are checked as records of their own
                reason = _check_derived(value, estimate.derivation, estimate.quote, unit)
                if reason:
                    warn(estimate, name, reason)
            elif find_value(value, estimate.quote, unit) is None:
                warn(estimate, name, _missing(value, estimate.quote, unit, "quote"))
    for claim in store["claims"]:
        for index, quantity in enumerate(claim.quantities):
            if find_value(quantity.value, claim.text, quantity.unit) is None:
                warn(claim, f"quantities.{index}.value", _missing(quantity.value, claim.text, quantity.unit,
                                                                  "claim text"))
    return problems
