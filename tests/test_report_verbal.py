"""Calibrated verbal terms and natural frequencies (research.verbal)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from research.errors import InputError
from research.verbal import (
    IPCC_SCALE,
    IPCC_SCALE_DISPLAY,
    describe_change,
    describe_interval,
    grade_statement,
    likelihood,
    likelihood_term,
    likelihood_word_allowed,
    natural_frequency,
    natural_frequency_sentence,
    percent_change,
    plain_language_statement,
    size_class,
)


@pytest.mark.parametrize(
    ("p", "term"),
    [
        (1.0, "virtually certain"),
        (0.99, "virtually certain"),
        (0.985, "extremely likely"),
        (0.95, "extremely likely"),
        (0.93, "very likely"),
        (0.8, "likely"),
        (0.66, "likely"),
        (0.5, "about as likely as not"),
        (0.33, "unlikely"),
        (0.2, "unlikely"),
        (0.07, "very unlikely"),
        (0.03, "extremely unlikely"),
        (0.01, "exceptionally unlikely"),
        (0.0, "exceptionally unlikely"),
    ],
)
def test_ipcc_terms(p, term):
    assert likelihood_term(p) == term


def test_each_probability_gets_the_narrowest_anchored_range_that_contains_it():
    for p in np.linspace(0, 1, 2001):
        chosen = likelihood(p)
        assert chosen.low <= p <= chosen.high
        if 0.33 < p < 0.66:
            assert chosen.term == "about as likely as not"
            continue
        anchored = [e for e in IPCC_SCALE if e.low <= p <= e.high and (e.low == 0.0 or e.high == 1.0)]
        assert chosen.high - chosen.low == min(e.high - e.low for e in anchored)


def test_display_order_runs_from_most_to_least_likely():
    terms = [e.term for e in IPCC_SCALE_DISPLAY]
    assert terms[0] == "virtually certain" and terms[-1] == "exceptionally unlikely"
    assert terms.index("likely") < terms.index("about as likely as not") < terms.index("unlikely")


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), "often", None])
def test_invalid_probabilities_are_input_errors(bad):
    with pytest.raises(InputError, match="probability"):
        likelihood(bad)


@pytest.mark.parametrize("x", [-1.2, -0.2, 0.0, 0.3, 2.0])
def test_percent_change_is_the_back_transform_of_a_log_ratio(x):
    assert percent_change(x) == pytest.approx(100 * (math.exp(x) - 1))


def test_describe_change_and_interval():
    assert describe_change(math.log(0.8), "crashes") == "20% fewer crashes"
    assert describe_change(math.log(1.15), "crashes") == "15% more crashes"
    assert describe_change(0.0, "crashes") == "no change in crashes"
    assert describe_change(None) == "not available"
    assert describe_interval(math.log(0.69), math.log(1.04)) == "-31% to +4%"
    assert describe_interval(None, 0.1) == "not available"


def test_natural_frequencies_add_up_and_round_half_up():
    for p in np.linspace(0, 1, 1001):
        freq = natural_frequency(p, 100)
        assert freq.count + freq.rest == 100
        assert abs(freq.count - 100 * p) <= 0.5 + 1e-9
    assert natural_frequency(0.835).count == 84
    assert natural_frequency(0.125, 8).count == 1
    with pytest.raises(InputError):
        natural_frequency(0.5, 0)


def test_natural_frequency_sentence():
    text = natural_frequency_sentence(0.83, outcome="would see fewer crashes")
    assert text == "In 100 similar cities, about 83 would see fewer crashes and 17 would not."


@pytest.mark.parametrize(
    ("certainty", "interval", "expected"),
    [
        ("high", (-0.5, -0.3), "Speed cameras reduce crashes."),
        ("moderate", (-0.5, -0.3), "Speed cameras probably reduce crashes."),
        ("low", (0.1, 0.3), "Speed cameras may increase crashes."),
        ("low", (-0.2, -0.1), "Speed cameras may reduce crashes slightly."),
        ("moderate", (-0.03, 0.02), "Speed cameras probably result in little to no difference in crashes."),
        ("high", (-1.2, -0.8), "Speed cameras result in a large reduction in crashes."),
        ("very_low", (-0.3, -0.1), "We are very uncertain whether speed cameras reduce crashes."),
        ("moderate", (None, None), "The evidence does not show whether speed cameras reduce crashes."),
    ],
)
def test_plain_language_statement(certainty, interval, expected):
    assert plain_language_statement(certainty, "speed cameras", "crashes", *interval) == expected


@pytest.mark.parametrize(
    ("certainty", "expected"),
    [("high", "Public-area CCTV reduces crime."), ("moderate", "Public-area CCTV probably reduces crime."),
     ("low", "Public-area CCTV may reduce crime."),
     ("very_low", "We are very uncertain whether public-area CCTV reduces crime.")],
)
def test_grade_statement_follows_certainty_and_number(certainty, expected):
    # GRADE's informative statements; the very-low headline carries no number
    statement = grade_statement(certainty, "public-area CCTV", "crime", math.log(0.75))
    assert statement == expected
    assert not any(ch.isdigit() for ch in statement)


def test_likelihood_words_only_at_moderate_or_high_certainty():
    assert likelihood_word_allowed("high") and likelihood_word_allowed("moderate")
    assert not likelihood_word_allowed("low") and not likelihood_word_allowed("very_low")


@pytest.mark.parametrize(("change", "expected"), [(-3, "trivial"), (-10, "small"), (25, "moderate"), (-60, "large")])
def test_size_classes(change, expected):
    assert size_class(math.log1p(change / 100)) == expected
