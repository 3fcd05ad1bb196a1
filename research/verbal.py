"""Plain-language wording of probabilities and effects for readers who are not statisticians.

Verbal terms follow the calibrated likelihood scale of the IPCC (Mastrandrea et al. 2010,
"Guidance Note for Lead Authors of the IPCC Fifth Assessment Report on Consistent Treatment of
Uncertainties", Table 1): virtually certain 99-100%, extremely likely 95-100%, very likely
90-100%, likely 66-100%, about as likely as not 33-66%, unlikely 0-33%, very unlikely 0-10%,
extremely unlikely 0-5%, exceptionally unlikely 0-1%. The IPCC ranges overlap; we report the
narrowest range anchored at 0% or 100% that contains the probability, and "about as likely as
not" only strictly between 33% and 66%, so each probability gets exactly one term.

Natural frequencies ("in 100 similar cities, about 80 ...") are easier to reason with than
percentages (Gigerenzer & Hoffrage 1995, Psychological Review 102(4)), so the report pairs each
probability with one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from research.errors import InputError


@dataclass(frozen=True)
class LikelihoodTerm:
    """One term of the IPCC likelihood scale and the probability range it stands for."""

    term: str
    low: float
    high: float

    @property
    def range_text(self) -> str:
        return f"{_pct(self.low)}-{_pct(self.high)}%"


# Narrowest first on each side of one half, so the first range that contains p is the most specific.
IPCC_SCALE: tuple[LikelihoodTerm, ...] = (
    LikelihoodTerm("virtually certain", 0.99, 1.00),
    LikelihoodTerm("extremely likely", 0.95, 1.00),
    LikelihoodTerm("very likely", 0.90, 1.00),
    LikelihoodTerm("likely", 0.66, 1.00),
    LikelihoodTerm("exceptionally unlikely", 0.00, 0.01),
    LikelihoodTerm("extremely unlikely", 0.00, 0.05),
    LikelihoodTerm("very unlikely", 0.00, 0.10),
    LikelihoodTerm("unlikely", 0.00, 0.33),
    LikelihoodTerm("about as likely as not", 0.33, 0.66),
)
# The same terms from most to least likely, for showing the scale to readers.
IPCC_SCALE_DISPLAY: tuple[LikelihoodTerm, ...] = tuple(
    sorted(IPCC_SCALE, key=lambda e: (-(e.low + e.high), e.high - e.low))
)


def _pct(x: float) -> str:
    return f"{100 * x:g}"


def _check_probability(p: float, name: str = "probability") -> float:
    try:
        value = float(p)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected a number between 0 and 1, got {p!r}") from exc
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"{name}: expected a number between 0 and 1, got {p!r}")
    return value


def likelihood(p: float) -> LikelihoodTerm:
    """The most specific IPCC likelihood term whose range contains ``p``.

    Shared boundaries go to the term further from one half (0.99 is "virtually certain", 0.66 is
    "likely", 0.33 is "unlikely"), which keeps the mapping a function.
    """
    value = _check_probability(p)
    for entry in IPCC_SCALE:
        if entry.low <= value <= entry.high:
            return entry
    raise AssertionError("the scale covers [0, 1]")  # pragma: no cover - ranges are exhaustive


def likelihood_term(p: float) -> str:
    """Just the word(s), e.g. ``"very likely"``."""
    return likelihood(p).term


def percent_change(log_ratio: float | None) -> float | None:
    """Log ratio (negative = fewer events) to percent change: 100 * (exp(x) - 1)."""
    if log_ratio is None:
        return None
    value = float(log_ratio)
    if not math.isfinite(value):
        return None
    return 100.0 * math.expm1(value)


def format_percent_change(log_ratio: float | None, missing: str = "n/a") -> str:
    """A log ratio as a signed whole percent change ("-14%"); ``missing`` when there is no number.

    The one formatter of percent changes: claims, the report and GRADE say a change the same way.

    >>> format_percent_change(-0.15), format_percent_change(None)
    ('-14%', 'n/a')
    """
    change = percent_change(log_ratio)
    return missing if change is None else f"{change:+.0f}%"


def describe_change(log_ratio: float | None, noun: str = "events", digits: int = 0) -> str:
    """``-0.2`` -> ``"18% fewer events"``; ``None`` -> ``"not available"``."""
    change = percent_change(log_ratio)
    if change is None:
        return "not available"
    rounded = round(abs(change), digits)
    if rounded == 0:
        return f"no change in {noun}"
    amount = f"{rounded:.{digits}f}%"
    return f"{amount} {'fewer' if change < 0 else 'more'} {noun}"


def describe_interval(low: float | None, high: float | None, digits: int = 0) -> str:
    """A log-ratio interval as percent changes, e.g. ``"-31% to +4%"``."""
    a, b = percent_change(low), percent_change(high)
    if a is None or b is None:
        return "not available"
    return f"{a:+.{digits}f}% to {b:+.{digits}f}%"


@dataclass(frozen=True)
class NaturalFrequency:
    """``count`` out of ``total`` units, the rounded form of a probability."""

    count: int
    total: int
    probability: float

    @property
    def rest(self) -> int:
        return self.total - self.count


def natural_frequency(p: float, total: int = 100) -> NaturalFrequency:
    """Round a probability to whole units out of ``total`` (e.g. 0.834 -> 83 of 100)."""
    value = _check_probability(p)
    if not isinstance(total, int) or total < 1:
        raise InputError(f"total: expected a positive whole number, got {total!r}")
    # round half up (not banker's rounding); the inner round removes float noise such as 0.835 * 100 = 83.4999...
    count = int(math.floor(round(value * total, 9) + 0.5))
    return NaturalFrequency(count=min(count, total), total=total, probability=value)


def natural_frequency_sentence(
    p: float,
    total: int = 100,
    units: str = "similar cities",
    outcome: str = "would see fewer events",
    otherwise: str = "would not",
) -> str:
    """E.g. "In 100 similar cities, about 83 would see fewer crashes and 17 would not."."""
    freq = natural_frequency(p, total)
    return f"In {freq.total} {units}, about {freq.count} {outcome} and {freq.rest} {otherwise}."


def probability_sentence(p: float, event: str) -> str:
    """E.g. "It is likely (66-100%; here 83%) that ..."."""
    entry = likelihood(p)
    return f"It is {entry.term} ({entry.range_text} range; estimate {100 * _check_probability(p):.0f}%) that {event}."


# GRADE's informative statements by certainty (Santesso et al. 2020, J Clin Epidemiol 119:126-135):
# high "reduces", moderate "probably reduces", low "may reduce", very low "We are very uncertain
# whether ... reduces ...". The size class of the point estimate picks the verb phrase ("slightly",
# "a large reduction", "little to no difference"); at very low certainty no size is claimed.
_HEDGES = {"high": "", "moderate": "probably ", "low": "may "}
# A probability may carry an IPCC likelihood word only where the evidence behind it is rated at least
# moderate: a calibrated word next to low or very low certainty says more than the evidence allows.
LIKELIHOOD_WORD_MIN_CERTAINTY = ("moderate", "high")


def is_plural(noun_phrase: str) -> bool:
    """Rough number agreement for an intervention named in English ("speed cameras" vs "CCTV")."""
    last = noun_phrase.strip().split()[-1].lower() if noun_phrase.strip() else ""
    return last.endswith("s") and not last.endswith(("ss", "us", "is"))


def _verb(base: str, hedge: str, plural: bool) -> str:
    """'reduce' -> 'reduces' (high, singular), 'probably reduce' (moderate, plural), 'may reduce' (low)."""
    if hedge == "may ":
        return f"may {base}"
    third = base if plural else (base[:-1] + "ies" if base.endswith("y") else base + "s")
    return f"{hedge}{third}"


def grade_statement(certainty: str, intervention: str, outcome: str, estimate: float | None) -> str:
    """GRADE's informative statement for a pooled log ratio (negative = fewer events)."""
    plural = is_plural(intervention)
    x, y = intervention, outcome
    increases = estimate is not None and estimate > 0
    verb = ("increase" if increases else "reduce") if plural else ("increases" if increases else "reduces")
    if certainty == "very_low" or certainty not in _HEDGES:
        return f"We are very uncertain whether {x} {verb} {y}."
    if estimate is None:
        return f"The evidence does not show whether {x} {verb} {y}."
    hedge = _HEDGES[certainty]
    size = size_class(estimate)
    if size == "trivial":
        return f"{x[:1].upper() + x[1:]} {_verb('result', hedge, plural)} in little to no difference in {y}."
    change = "increase" if increases else "reduce"
    if size == "large":
        noun = "an increase" if increases else "a reduction"
        return f"{x[:1].upper() + x[1:]} {_verb('result', hedge, plural)} in a large {noun.split()[-1]} in {y}."
    text = f"{x[:1].upper() + x[1:]} {_verb(change, hedge, plural)} {y}"
    return text + (" slightly." if size == "small" else ".")


def likelihood_word_allowed(certainty: str) -> bool:
    """Whether a calibrated likelihood word may stand next to a probability at this GRADE certainty."""
    return certainty in LIKELIHOOD_WORD_MIN_CERTAINTY


def plain_language_statement(
    certainty: str, intervention: str, outcome: str, low: float | None, high: float | None,
    estimate: float | None = None,
) -> str:
    """The headline sentence: GRADE's informative statement (see ``grade_statement``).

    ``estimate`` is the pooled log ratio; without it the middle of ``low``/``high`` stands in.
    """
    if estimate is None and low is not None and high is not None:
        estimate = (low + high) / 2
    return grade_statement(certainty, intervention, outcome, estimate)


# Size classes of a relative change, for GRADE's informative statements ("little or no
# difference", "slightly", a plain "reduces", "a large reduction"). The cut-offs are ours and are
# printed wherever a class is used; "large" starts at a halving, GRADE's large-effect threshold.
SIZE_CLASSES: tuple[tuple[str, float], ...] = (("trivial", 5.0), ("small", 20.0), ("moderate", 50.0))
SIZE_CLASS_RULE = (
    "size of a change: trivial below 5%, small 5% to 20%, moderate 20% to 50%, large 50% or more "
    "(in either direction)"
)


def size_class(log_ratio: float | None) -> str | None:
    """``"trivial"``, ``"small"``, ``"moderate"`` or ``"large"`` for a log ratio; None if unknown."""
    change = percent_change(log_ratio)
    if change is None:
        return None
    for name, below in SIZE_CLASSES:
        if abs(change) < below:
            return name
    return "large"


def direction(log_ratio: float | None) -> str | None:
    """``"fewer"`` or ``"more"`` events (``"no change"`` at exactly zero); None if unknown."""
    change = percent_change(log_ratio)
    if change is None:
        return None
    return "fewer" if change < 0 else "more" if change > 0 else "no change"
