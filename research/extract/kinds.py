"""What kind of claim a sentence makes, how strongly, and how much it is worth checking.

Kinds: numeric, comparison, temporal, causal, attribution, opinion (a sentence may make
several). Numeric claims also get a QuanTemp-style category (statistical, temporal,
comparison, interval). Causal claims get a strength from cue words ("proven",
"significantly" -> strong; "reduces", "helps" -> moderate; "may", "could" -> weak).
The check-worthiness score (0 to 1) adds up reasons a fact-checking desk would give, so the
best candidates are reviewed first; every reason is written out with the score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from research.extract.quantities import FoundQuantity

_I = re.IGNORECASE | re.UNICODE


def _cues(words: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + words + r")(?!\w)", _I)


CAUSAL = _cues(
    r"caus\w*|lead(?:s|ing)? to|led to|result(?:s|ed|ing)? in|because|due to|thanks to|owing to|as a result"
    r"|reduc\w*|cut|cuts|cutting|halve|halves|prevent\w*|contribut\w*|effective\w*|efficien\w*|help\w*"
    r"|aids?|aided|improv\w*|curb\w*"
    r"|combat\w*|deter|deters|deterred|deterrence|deterrent|impact\w*|effect(?:s)?|beneficial|boost\w*"
    r"|lowers|lowered"
    r"|благодаря|привел\w*|приводит|привело|способств\w*|помога\w*|помог\w*|снижа\w*|позволил\w*|из-за"
    r"|в результате|эффективн\w*|влия\w*|арқасында|себеб\w*|нәтижесінде|әсер\w*|көмектес\w*|ықпал\w*"
)
STRONG = _cues(r"proven|prove[sd]?|proof|clearly|significantly|definitely|undoubtedly|always|demonstrat\w*"
               r"|confirm\w*|доказан\w*|доказал\w*|значительно|существенно|несомненно|дәлелден\w*|айтарлықтай")
WEAK = _cues(r"may|might|could|can|possibl\w*|potentially|perhaps|suggest\w*|likely|appear\w*|remains to be seen"
             r"|seems?|may be|может|могут|мог\w*|возможно|вероятно|по-видимому|мүмкін|сияқты|ықтимал")
ATTRIBUTION = _cues(
    r"according to|as reported by|reported by|as revealed by|revealed by|said|says|told|stated|states|claimed"
    r"|announced|reported|noted|explained|по словам|по данным|по информации|сообщил\w*|заявил\w*|отметил\w*"
    r"|рассказал\w*|пояснил\w*|деді|айтты|мәлімдеді|мәліметінше|хабарлады|сөзінше|атап өтті"
)
OPINION = _cues(
    r"seems?|seem to|feel\w*|believe\w*|think\w*|opinion\w*|appreciat\w*|satisf\w*|comfort\w*|intrusive"
    r"|should|must|ought|crucial|important|in my view|we believe|considers?|hope\w*|fear\w*|view\w* (?:it|them)"
    r"|считают|считает|мнени\w*|кажется|думают|полагают|должн\w*|следует|важно|ойынша|пікір\w*|керек|тиіс"
)
COMPARISON = _cues(
    r"more|less|fewer|than|compared|comparison|increas\w*|decreas\w*|rose|fell|grew|doubl\w*|halv\w*"
    r"|twice|higher|lower|larger|smaller|most|least|largest|highest|lowest|times|versus|vs"
    r"|больше|меньше|чем|сравнени\w*|вырос\w*|снизил\w*|уменьшил\w*|увеличил\w*|раз|вдвое|выше|ниже"
    r"|көп|аз|артты|азайды|өсті|төмендеді|есе|қарағанда"
)
TEMPORAL = _cues(
    r"since|until|so far|already|now|currently|today|recently|this year|last year|every|each|daily|hourly"
    r"|annually|skyrocketing|growing|rising|increasingly|over time|at night|around the clock|from \d"
    r"|с начала|уже|сейчас|сегодня|ежегодно|ежедневно|круглосуточно|биыл|қазір|жыл сайын|бастап"
)
TREND = _cues(r"skyrocket\w*|soar\w*|surg\w*|grow(?:s|ing|n)?|grew|ris(?:e|es|ing|en)|rose|declin\w*|falling|fell"
              r"|dropp\w*|increasing|decreasing|растет|растёт|вырос\w*|снижается|сократил\w*|увеличил\w*"
              r"|уменьшил\w*|өсіп|өсті|азайып|азайды|артып|көбейіп")
BOUNDS = re.compile(r"(?<!\w)(?:more|less|fewer|greater|higher|lower) than(?=\s+(?:[\d$€£]|a |an |one|two|three|"
                    r"four|five|six|seven|eight|nine|ten|twenty|fifty|hundred))|(?<!\w)(?:более|больше|меньше|менее)"
                    r"(?=\s+(?:чем\s+)?\d)", _I)
EMPHASIS = _cues(r"whopping|record|skyrocket\w*|massive|huge|only|every|all|never|none|first|largest|biggest"
                 r"|рекорд\w*|все|всех|только|впервые|барлық|тек|алғаш")
# Kinds as the store records them: numeric, causal, descriptive, opinion.
STORE_KIND = {"numeric": "numeric", "comparison": "descriptive", "temporal": "descriptive", "causal": "causal",
              "attribution": "descriptive", "opinion": "opinion", "descriptive": "descriptive"}


@dataclass(frozen=True)
class Reason:
    points: float
    why: str

    def __str__(self) -> str:
        return f"{self.points:+.2f} {self.why}"


@dataclass
class Reading:
    """What the sentence claims: kinds, category, causal strength, speaker and its score."""

    kinds: list[str]
    category: str | None  # QuanTemp-style category of a numeric claim
    causal_strength: str | None  # strong, moderate, weak
    causal_cues: list[str] = field(default_factory=list)
    speaker: str | None = None
    reasons: list[Reason] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(min(1.0, max(0.0, sum(r.points for r in self.reasons))), 2)


def _found(pattern: re.Pattern[str], text: str) -> list[str]:
    return list(dict.fromkeys(m.group().lower() for m in pattern.finditer(text)))


NAME = r"[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w.-]*(?:\s+[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w.-]*)+|[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w-]*\.[a-z]{2,}"


def find_speaker(text: str) -> str | None:
    """The person or outlet a sentence attributes its claim to, when it names one."""
    match = ATTRIBUTION.search(text)
    if not match:
        return None
    tail = text[match.end():]
    clause, _, rest = tail.partition(",")
    names = [m.group() for m in re.finditer(NAME, clause)
             if not re.match(r"['’]s\b", clause[m.end():])]  # "Almali District's inspector" names no speaker
    if names:
        return names[-1].strip().rstrip(".")
    appositive = re.match(rf"\s*({NAME})\s*,", rest)
    if appositive:
        return appositive.group(1).strip().rstrip(".")
    before = re.findall(NAME, text[:match.start()])  # "Dr. Ana Petrov of the university said"
    if before and match.group().lower() in {"said", "says", "told", "stated"}:
        return before[0].strip().rstrip(".")
    return None


def numeric_category(text: str, quantities: list[FoundQuantity], period: str | None) -> str:
    """QuanTemp-style category: interval, comparison, temporal or statistical."""
    roles = {q.role for q in quantities}
    if any(q.in_range for q in quantities):
        return "interval"
    compared = BOUNDS.sub(" ", text)
    if roles & {"change", "multiple"} or (COMPARISON.search(compared)
                                          and re.search(r"\bthan\b|чем|қарағанда", compared, _I)):
        return "comparison"
    if roles & {"clock", "interval"} or period:
        return "temporal"
    return "statistical"


def read_claim(text: str, quantities: list[FoundQuantity], period: str | None, places: list[str],
               location: str) -> Reading:
    """Kinds, category, causal strength, speaker and check-worthiness of one sentence."""
    kinds: list[str] = []
    reasons: list[Reason] = []
    category = None
    if quantities:
        kinds.append("numeric")
        category = numeric_category(text, quantities, period)
        shown = ", ".join(q.written for q in quantities[:3])
        reasons.append(Reason(0.45, f"states a number that can be checked ({shown})"))
        if any(q.qualifier == "exact" and q.value >= 100 for q in quantities):
            reasons.append(Reason(0.05, "a precise figure, so a wrong one shows"))
        if any(q.qualifier in ("more_than", "up_to") for q in quantities):
            reasons.append(Reason(-0.05, "an open bound ('more than', 'up to') is hard to falsify"))
    compared = BOUNDS.sub(" ", text)  # "more than 150" bounds a number; it compares nothing
    if COMPARISON.search(compared) and (quantities or re.search(r"\bthan\b|чем|қарағанда", compared, _I)):
        kinds.append("comparison")
        reasons.append(Reason(0.1, "compares or states a change"))
    trend = _found(TREND, text)
    if period or trend or (TEMPORAL.search(text) and not quantities):
        kinds.append("temporal")
        if period:
            reasons.append(Reason(0.05, f"names a period ({period}) to check against dated records"))
        if trend and not quantities:
            reasons.append(Reason(0.25, f"claims a change over time ({', '.join(trend[:3])}) that counts can test"))
    causal_cues = _found(CAUSAL, text)
    strength = None
    if causal_cues:
        kinds.append("causal")
        strong, weak = _found(STRONG, text), _found(WEAK, text)
        strength = "strong" if strong else "weak" if weak else "moderate"
        reasons.append(Reason(0.3, f"claims an effect ({', '.join(causal_cues[:3])})"))
        if strong:
            reasons.append(Reason(0.15, f"states it strongly ({', '.join(strong[:3])})"))
            causal_cues += [c for c in strong if c not in causal_cues]
        elif weak:
            reasons.append(Reason(-0.1, f"hedged ({', '.join(weak[:3])})"))
            causal_cues += [c for c in weak if c not in causal_cues]
    speaker = find_speaker(text) if location != "headline" else None  # Title Case hides names in a headline
    if ATTRIBUTION.search(text):
        kinds.append("attribution")
        reasons.append(Reason(0.1, f"attributed to {speaker}: the source can be asked" if speaker
                              else "attributed, though to no named source"))
    opinion_cues = _found(OPINION, text)
    if opinion_cues and not quantities:
        kinds.append("opinion")
        reasons.append(Reason(-0.15, f"a matter of view ({', '.join(opinion_cues[:3])}): checkable only as "
                                     "who holds it"))
    emphasis = _found(EMPHASIS, text)
    if emphasis and (quantities or causal_cues):
        reasons.append(Reason(0.05, f"emphatic wording ({', '.join(emphasis[:3])})"))
    if places:
        reasons.append(Reason(0.05, f"names a place ({', '.join(places)})"))
    if text.rstrip().endswith("?"):
        reasons.append(Reason(-1.0, "a question, not a claim"))
    if location == "headline" and not quantities:
        reasons.append(Reason(0.1, "the headline frames the article"))
    if not kinds:
        kinds.append("descriptive")
        reasons.append(Reason(0.1, "a plain statement of fact"))
    return Reading(kinds, category, strength, causal_cues if strength else [], speaker, reasons)
