"""Quantities in a sentence: value, unit, multiplier, qualifier, ranges and clock times.

Numbers are read by ``research.store.quotes.number_mentions`` (digits with any separator,
scale words, number words in English, Russian and Kazakh). Around each number this module
reads what a claim record needs: the counted thing ("120,000 surveillance cameras" ->
cameras), a rate ("150 calls per day"), the qualifier ("around", "more than", "up to",
"более", "астам"), percents and their direction ("fell by 20%" -> -20 percent_change),
fractions ("a quarter of" -> 25 percent), multiples ("halves", "in 9 times"), intervals
("every hour"), clock times ("8 PM" -> 20 hour of day) and ranges. Years and days of dates are
not quantities: they are read as the period (see ``context``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from research.store.quotes import NumberMention, language_of, number_mentions

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

QUALIFIERS_BEFORE = [  # (pattern over the words just before the number, qualifier); longest first
    (r"(?:more|greater|higher) than|over|above|exceeding|upwards of|in excess of|at least|no fewer than"
     r"|no less than|более чем|более|свыше|больше|не менее|не меньше", "more_than"),
    (r"(?:less|fewer|lower) than|under|below|менее|меньше|не более|не больше", "less_than"),
    (r"up to|as many as|as much as|до", "up_to"),
    (r"around|about|approximately|approx\.?|roughly|nearly|almost|some|close to|an estimated|около|примерно"
     r"|приблизительно|порядка|почти|почти что|чуть более|шамамен|шамасы|жуық|жуығы", "about"),
]
QUALIFIERS_AFTER = [
    (r"or more|plus|\+|и более|и больше|астам|артық|кем емес", "more_than"),
    (r"or less|or fewer|и менее|кем", "less_than"),
    (r"дейін|шейін", "up_to"),
    (r"or so|жуық|шамасында|шамалы", "about"),
]
# Words that end the noun phrase after a number.
STOPWORDS = set("""
a an the and or but of in on at to for from by with without within into onto over under per than as
is are was were be been being has have had do does did will would can could may might must should shall
this that these those it its their his her our your which who whom whose what when where while since so
such not no also just only very more less most least about around nearly almost up down out each every
и в во на по за из от до с со к ко о об при для без над под через между или а но же ли не ни что как
это этот эта эти тот та те его ее её их уже еще ещё также только около более менее свыше порядка
был была были было будет будут есть является составляет составила составил года году год
және мен бен пен да де та те үшін бойынша дейін астам жуық шамамен бұл сол ол олар осы жылы жыл
""".split())
TIME_UNITS = {"hour": "hours", "day": "days", "week": "weeks", "month": "months", "year": "years",
              "minute": "minutes", "second": "seconds"}
RATES = [
    (r"(?:per|a|an|each|every|within a single|in a single|in one|a single|in a|within a|within one)\s+"
     r"(hour|day|week|month|year|minute)\b", None),
    (r"daily|a day|each day|every day|в сутки|в день|за сутки|ежедневно|ежесуточно|тәулігіне|күніне|күн сайын",
     "day"),
    (r"hourly|в час|ежечасно|сағатына|сағат сайын", "hour"),
    (r"weekly|в неделю|еженедельно|аптасына", "week"),
    (r"monthly|в месяц|ежемесячно|айына", "month"),
    (r"annually|yearly|в год|ежегодно|жылына|жыл сайын", "year"),
]
PERCENT_AFTER = re.compile(r"^\s*(?:%|per\s?cent\b|percent\b|процент\w*|пайыз\w*)(?:-?[^\W\d_]+)?", re.UNICODE)
TIMES_AFTER = re.compile(r"^\s*(?:times\b|-?fold\b|раз\w*\b|есе\b)", re.UNICODE)
CLOCK_AFTER = re.compile(r"^\s*(a\.?\s?m\b\.?|p\.?\s?m\b\.?|утра|вечера|вечером|дня|ночи|таңғы|кешкі|түнгі)", re.I)
EVENING = {"p", "pm", "вечера", "вечером", "дня", "кешкі"}
DECREASE = re.compile(r"\b(?:decreas|reduc|fell|fall|drop|declin|lower|cut|down|shrank|halv|снизи|сниж|уменьш|сократ|"
                      r"упал|паден|азай|төмендеп|төмендеді|қысқар)\w*", re.I)
INCREASE = re.compile(r"\b(?:increas|rise|rose|grew|grow|gain|up(?=\s)|doubl|tripl|jump|surg|climb|вырос|выросл|рост|"
                      r"увелич|прирост|плюс|өсті|өсім|артты|көбейді)\w*", re.I)
FRACTIONS = {"half": 50.0, "quarter": 25.0, "third": 100 / 3, "половина": 50.0, "половину": 50.0,
             "половины": 50.0, "четверть": 25.0, "треть": 100 / 3, "жартысы": 50.0, "ширегі": 25.0}
MULTIPLES = {"halves": 0.5, "halved": 0.5, "halve": 0.5, "halving": 0.5, "doubles": 2.0, "doubled": 2.0,
             "double": 2.0, "doubling": 2.0, "triples": 3.0, "tripled": 3.0, "twice": 2.0, "вдвое": 2.0,
             "втрое": 3.0}
MONTHS = set("""
january february march april may june july august september october november december jan feb mar apr jun jul
aug sep sept oct nov dec января февраля марта апреля мая июня июля августа сентября октября ноября декабря
январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь
қаңтар ақпан наурыз сәуір мамыр маусым шілде тамыз қыркүйек қазан қараша желтоқсан
""".split())
ID_WORDS = {"no", "no.", "№", "number", "article", "articles", "статья", "статьи", "статье", "бап", "бабы", "route",
            "line", "code", "model", "version", "room", "page", "table", "figure", "fig", "chapter", "section",
            "claim", "item", "step", "paragraph", "bullet", "news", "issue"}
URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
QUOTES = "\"'“”«»‘’„"
YEAR_BEFORE = {"in", "since", "by", "from", "between", "until", "till", "to", "of", "before", "after", "during",
               "through", "в", "с", "до", "по", "за", "к", "от", "году", "года", "год", "начиная"}


@dataclass(frozen=True)
class FoundQuantity:
    """A quantity as read from a sentence, before it becomes a claim quantity."""

    name: str
    value: float
    unit: str
    qualifier: str  # exact, about, more_than, less_than, up_to
    start: int
    end: int
    written: str  # the words as written, e.g. "more than 150 calls per day"
    role: str = "count"  # count, percent, change, multiple, fraction, interval, clock
    in_range: bool = False


def _words_before(text: str, start: int, count: int = 4) -> str:
    clause = re.split(r"[,;:()\[\]]", text[:start])[-1]
    return " ".join(WORD.findall(clause.lower())[-count:])


def _qualifier(text: str, mention: NumberMention) -> tuple[str, int, int]:
    """Qualifier and the span it widens the quantity to."""
    before = _words_before(text, mention.start)
    for pattern, qualifier in QUALIFIERS_BEFORE:
        match = re.search(rf"(?:^|\s)(?:{pattern})$", before)
        if match:
            if qualifier == "up_to" and re.search(r"(?:^|\s)(?:от|с|from)\s", text[max(0, mention.start - 40):
                                                                                mention.start].lower()):
                continue  # "с 193 тысяч до 126 тысяч" is a change, not a bound
            phrase = match.group().strip()
            at = text.lower().rfind(phrase, 0, mention.start)
            return qualifier, (at if at >= 0 else mention.start), mention.end
    after = text[mention.end:mention.end + 30].lower()
    for pattern, qualifier in QUALIFIERS_AFTER:
        match = re.match(rf"^\s*(?:-?[^\W\d_]{{0,4}}\s+)?(?:{pattern})(?=\W|$)", after)
        if match:
            return qualifier, mention.start, mention.end + match.end()
    return "exact", mention.start, mention.end


KAZAKH_QUALIFIERS = {"астам", "артық", "жуық", "шамасында", "шамалы", "дейін", "шейін", "кем"}
RUSSIAN_ADJECTIVE = re.compile(r"(?:ых|их|ый|ий|ой|ая|яя|ое|ее|ые|ие|ого|его|ому|ему|ым|им|ую|юю|ыми|ими)$")
ENGLISH_PLURAL = re.compile(r"^[a-z-]{2,}(?<![su])s$|^[a-z-]*(?:ies|ches|shes|xes|sses)$")


def _noun_phrase(text: str, end: int, language: str) -> tuple[list[str], int]:
    """The words after a number that name what is counted, and where they end.

    English: up to three words, up to the first plural ("120,000 surveillance cameras").
    Russian: adjectives, then the head noun ("515 государственных объектах").
    Kazakh: the first word ("төрт камерадан")."""
    rest = text[end:]
    suffix = re.match(r"^-[^\W\d_]{1,5}\b", rest)  # Kazakh case ending on digits: "78-і", "20-ға"
    offset = suffix.end() if suffix else 0
    words: list[str] = []
    stop = end + offset
    for match in re.finditer(r"\s*([^\W\d_]+(?:-[^\W\d_]+)*)|\s*(\S)", rest[offset:]):
        word = match.group(1)
        if word is None or len(words) == 3:
            break
        lowered = word.lower()
        if not words and lowered in KAZAKH_QUALIFIERS:
            continue  # "100-ден астам камера": the qualifier stands between number and noun
        if lowered in STOPWORDS or (words and re.search(r"(?:ing|ed)$", lowered)) or lowered in EVENING:
            break
        words.append(word)
        stop = end + offset + match.end()
        if language == "kk" or (language == "ru" and not RUSSIAN_ADJECTIVE.search(lowered)):
            break
        if language == "en" and ENGLISH_PLURAL.search(lowered):
            break  # "1,200 cars cross it": the counted noun is the first plural
    return words, stop


def _rate(text: str, end: int) -> tuple[str | None, int]:
    window = text[end:end + 40].lower()
    for pattern, unit in RATES:
        match = re.match(rf"^\s*(?:{pattern})", window)
        if match:
            return (unit or match.group(1)), end + match.end()
    return None, end


def _slug(words: list[str]) -> str:
    return re.sub(r"[^\w]+", "_", " ".join(words).lower()).strip("_") or "quantity"


def _unit_of(words: list[str]) -> str:
    if not words:
        return "number"
    head = words[-1]
    return head if head.isupper() and len(head) > 1 else head.lower()


def _is_quoted(text: str, mention: NumberMention) -> bool:
    before = text[mention.start - 1:mention.start] if mention.start else ""
    after = text[mention.end:mention.end + 1]
    return bool(before) and before in QUOTES and after in QUOTES


def _is_year(text: str, mention: NumberMention) -> bool:
    written = text[mention.start:mention.end]
    if not (re.fullmatch(r"(?:19|20)\d\d", written)):
        return False
    before = WORD.findall(text[max(0, mention.start - 25):mention.start].lower())
    after = WORD.findall(text[mention.end:mention.end + 20].lower())
    nxt = text[mention.end:mention.end + 3]
    previous_year = re.search(r"(?:19|20)\d\d\s*(?:and|to|и|до|по)\s*$", text[:mention.start])
    return bool((before and (before[-1] in YEAR_BEFORE or before[-1] in MONTHS)) or previous_year
                or (after and re.match(r"год|жыл|year|г$|гг", after[0]))
                or re.match(r"^\s*(?:[-–—/.,;:)]|$)", nxt) or not after)


def _is_date_day(text: str, mention: NumberMention) -> bool:
    written = text[mention.start:mention.end]
    if not re.fullmatch(r"\d{1,2}", written):
        return False
    after = WORD.findall(text[mention.end:mention.end + 15].lower())
    before = WORD.findall(text[max(0, mention.start - 15):mention.start].lower())
    return bool((after and after[0] in MONTHS) or (before and before[-1] in MONTHS))


VAGUE_SCALES = {"thousands", "millions", "billions", "hundreds", "тысячи", "тысяч", "тысячами", "тысячах",
                "миллионы", "миллионов", "миллиарды", "миллиардов", "сотни", "мыңдаған", "миллиондаған"}


def _is_vague_scale(text: str, mention: NumberMention) -> bool:
    """"thousands of cameras", "тысячи камер": a scale word alone, in the plural, is no count."""
    return text[mention.start:mention.end].lower() in VAGUE_SCALES


def _is_identifier(text: str, mention: NumberMention) -> bool:
    before = text[max(0, mention.start - 12):mention.start].lower().split()
    return bool(before) and (before[-1] in ID_WORDS or before[-1].endswith("№"))


def _direction(text: str, start: int) -> float:
    """-1 when the words nearest a number speak of a fall, +1 of a rise, 0 when they do not say."""
    nearest: tuple[int, float] | None = None
    for pattern, sign in ((DECREASE, -1.0), (INCREASE, 1.0)):
        for match in pattern.finditer(text):
            distance = start - match.end() if match.end() <= start else 3 * (match.start() - start)
            if nearest is None or distance < nearest[0]:
                nearest = (distance, sign)
    return nearest[1] if nearest else 0.0


def find_quantities(text: str) -> list[FoundQuantity]:
    """Every quantity of one sentence, in the order written."""
    found: list[FoundQuantity] = []
    text = URL.sub(lambda m: " " * len(m.group()), text)  # numbers of web addresses are no claims
    language = language_of(text)
    mentions = number_mentions(text)
    for mention in mentions:
        if _is_quoted(text, mention) or _is_identifier(text, mention) or _is_year(text, mention) \
                or _is_date_day(text, mention) or _is_vague_scale(text, mention) \
                or re.match(r"^/\d", text[mention.end:]) or re.search(r"\d/$", text[:mention.start]):
            continue  # labels, dates, "thousands of", "24/7"
        clock = CLOCK_AFTER.match(text[mention.end:])
        hhmm = re.fullmatch(r"(\d{1,2})[.:](\d{2})", text[mention.start:mention.end])
        before = _words_before(text, mention.start, 1)
        if clock or (hhmm and before in {"at", "from", "to", "until", "в", "с", "до", "по", "сағат"}):
            hours = float(hhmm.group(1)) + float(hhmm.group(2)) / 60 if hhmm else mention.value
            if clock and clock.group(1).lower().rstrip(".").replace(".", "").replace(" ", "") in EVENING | {"pm"} \
                    and hours < 12:
                hours += 12
            end = mention.end + (clock.end() if clock else 0)
            found.append(FoundQuantity("time_of_day", hours, "hour of day", "exact", mention.start, end,
                                       text[mention.start:end].strip(), "clock"))
            continue
        if mention.written == "words" and mention.value == 1 and not mention.scaled:
            continue  # "one of", "одна из", "бір": an article or pronoun far more often than a count
        qualifier, start, end = _qualifier(text, mention)
        percent = PERCENT_AFTER.match(text[mention.end:])
        times = TIMES_AFTER.match(text[mention.end:])
        if percent:
            direction = _direction(text, mention.start)
            unit, role = ("percent_change", "change") if direction else ("percent", "percent")
            value = mention.value * (direction or 1.0)
            stop = mention.end + percent.end()
            found.append(FoundQuantity(unit, value, unit, qualifier, start, stop, text[start:stop].strip(), role))
            continue
        if times:
            stop = mention.end + times.end()
            found.append(FoundQuantity("ratio", mention.value, "times", qualifier, start, stop,
                                       text[start:stop].strip(), "multiple"))
            continue
        currency = re.search(r"([$€£¥₽₸])\s*$", text[:mention.start])
        words, stop = _noun_phrase(text, mention.end, language)
        if currency and not words:
            words = [{"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₽": "RUB"}.get(currency.group(1),
                                                                                       currency.group(1))]
            start = min(start, currency.start(1))
        rate, stop = _rate(text, stop)
        unit = _unit_of(words)
        name_words = list(words)
        if rate:
            unit = f"{unit} per {rate}"
            name_words += ["per", rate]
        found.append(FoundQuantity(_slug(name_words), mention.value, unit, qualifier, start, stop,
                                   text[start:stop].strip()))
    found.extend(_word_quantities(text))
    found = _rates_from_every(sorted(found, key=lambda q: q.start))
    found = _mark_ranges(text, found)
    return _borrow_units(found)


def _borrow_units(quantities: list[FoundQuantity]) -> list[FoundQuantity]:
    """A number without its own noun counts what the number before it counted
    ("18 тысяч камер ... достигло 65 тысяч")."""
    out = []
    for quantity in quantities:
        if quantity.unit == "number" and out and out[-1].role == quantity.role == "count":
            previous = out[-1]
            name = re.sub(r"_(?:low|high|start|end)$", "", previous.name)
            quantity = replace(quantity, unit=previous.unit, name=name + quantity.name[len("quantity"):]
                               if quantity.name.startswith("quantity") else name)
        out.append(quantity)
    return out


def _rates_from_every(quantities: list[FoundQuantity]) -> list[FoundQuantity]:
    """"1,200 cars cross it every hour": "every hour" is the rate of the count before it, not an interval."""
    out: list[FoundQuantity] = []
    for quantity in quantities:
        counts = [i for i, q in enumerate(out) if q.role == "count" and " per " not in f" {q.unit} "]
        if quantity.role == "interval" and counts:
            i = counts[-1]
            period = quantity.unit.removesuffix("s")
            out[i] = replace(out[i], unit=f"{out[i].unit} per {period}", name=f"{out[i].name}_per_{period}")
            continue
        out.append(quantity)
    return out


def _word_quantities(text: str) -> list[FoundQuantity]:
    """Quantities written without a number: "a quarter of", "halves", "every hour"."""
    out = []
    for match in re.finditer(r"\b(?:(almost|nearly|about|around|more than|over|less than|under|почти|около|более)\s+)?"
                             r"(?:an?\s+|одна\s+)?(half|quarter|third|половина|половину|половины|четверть|треть)"
                             r"\s+(?:of|из|от)\b", text, re.I):
        qualifier = _qualifier_word(match.group(1))
        out.append(FoundQuantity("share", FRACTIONS[match.group(2).lower()], "percent", qualifier,
                                 match.start(), match.end(), match.group(), "fraction"))
    for match in re.finditer(r"\b(жартысы|ширегі)\b", text, re.I):
        out.append(FoundQuantity("share", FRACTIONS[match.group(1).lower()], "percent", "exact",
                                 match.start(), match.end(), match.group(), "fraction"))
    for match in re.finditer(r"\b(" + "|".join(MULTIPLES) + r")\b", text, re.I):
        out.append(FoundQuantity("ratio", MULTIPLES[match.group(1).lower()], "times", "exact",
                                 match.start(), match.end(), match.group(), "multiple"))
    for match in re.finditer(r"\b(?:every|each)\s+(hour|day|week|month|year|minute)\b", text, re.I):
        unit = TIME_UNITS[match.group(1).lower()]
        out.append(FoundQuantity("interval", 1.0, unit, "exact", match.start(), match.end(), match.group(),
                                 "interval"))
    return out


def _qualifier_word(word: str | None) -> str:
    if not word:
        return "exact"
    for pattern, qualifier in QUALIFIERS_BEFORE:
        if re.fullmatch(pattern, word.lower()):
            return qualifier
    return "exact"


def _mark_ranges(text: str, quantities: list[FoundQuantity]) -> list[FoundQuantity]:
    """"from 8 AM to 8 PM", "10-15%", "between 2 and 55": both ends form an interval; a bare
    first end takes the unit of the second."""
    out = list(quantities)
    for i in range(len(out) - 1):
        first, second = out[i], out[i + 1]
        between = text[first.end:second.start].strip().lower()
        if between not in {"to", "till", "until", "and", "-", "–", "—", "до", "по", "и"}:
            continue
        opener = _words_before(text, first.start, 1)
        if between in {"and", "и"} and opener not in {"between", "между"}:
            continue
        if between in {"до", "to"} and opener not in {"from", "от", "с", "between"} and first.unit != "number":
            continue
        if first.unit == "number":  # "10-15%", "с семи до десяти вечера": the first end is bare
            sign = -1.0 if second.role == "change" and second.value < 0 and first.value > 0 else 1.0
            first = replace(first, unit=second.unit, name=second.name, role=second.role, value=first.value * sign)
        suffix = ("start", "end") if first.role == "clock" else ("low", "high")
        out[i] = replace(first, name=f"{first.name}_{suffix[0]}", in_range=True)
        out[i + 1] = replace(second, name=f"{second.name}_{suffix[1]}", in_range=True)
    return out
