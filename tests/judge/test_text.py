"""The strict judge's text rules, each worked by hand (unpact_exp/judge/text.py)."""

from __future__ import annotations

import pytest

from unpact_exp.judge.text import answer_span, find, needle, normalise, occurs, sentences


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The Pacific Ocean.", "The Pacific Ocean"),  # punctuation -> space, case kept
        ("Réunion", "Reunion"),  # NFKD, combining acute dropped
        ("Antoine de Saint-Exupéry", "Antoine de Saint Exupery"),  # hyphen -> space
        ("Malmø, Łódź", "Malmo Lodz"),  # letters NFKD keeps, spelled in ASCII
        ("1,912 and 12,345,678", "1912 and 12345678"),  # digit groups joined
        ("3.14", "3 14"),  # a decimal point is punctuation, on both sides alike
        ("eight planets, Twenty", "8 planets 20"),  # number words as digits
        ("sixty minutes", "60 minutes"),
        ("J. K. Rowling", "JK Rowling"),  # initials joined
        ("Washington, D.C.", "Washington DC"),
        ("the U.S. dollar", "the US dollar"),
        ("Gulliver's Travels", "Gullivers Travels"),  # apostrophe dropped: no stray "s"
        ("Côte d’Ivoire", "Cote dIvoire"),  # curly apostrophe too
        ("100°C", "100 C"),
        ("  \t ", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_needle_drops_a_leading_article_only() -> None:
    assert needle("the Netherlands") == "Netherlands"
    assert needle("The Hague") == "Hague"
    assert needle("A") == "A"  # a one-word needle keeps its only word
    assert needle("Gone with the Wind") == "Gone with the Wind"


def test_word_boundaries() -> None:
    assert not occurs(normalise("Nigeria"), needle("Niger"))
    assert occurs(normalise("Niger, not Nigeria"), needle("Niger"))
    assert not occurs(normalise("19123"), needle("1912"))
    assert [(m.start, m.end) for m in find("Equatorial Guinea", "Guinea")] == [(11, 17)]


def test_a_plural_s_or_es_is_allowed_on_long_needles() -> None:
    assert occurs("Swiss francs", "Swiss franc")
    assert occurs("two kittens", "kitten") and occurs("the Thames flows", "Thames")
    assert occurs("many boxes", "box")
    assert not occurs("Nigeria", "Niger") and not occurs("francais", "franc")
    assert not occurs("Hes", "He")  # short needles: exactly as written
    assert not occurs("1912s", "1912")  # a number takes no plural


def test_short_needles_keep_their_case_long_ones_do_not() -> None:
    assert occurs("The symbol is He", "He")
    assert not occurs("then he left", "He")  # the pronoun is not helium
    assert occurs("the pacific ocean", "Pacific Ocean")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Paris. It is big.", ["Paris.", "It is big."]),
        ("J. K. Rowling wrote it. Yes.", ["J. K. Rowling wrote it.", "Yes."]),
        ("It is Washington, D.C. on the Potomac.", ["It is Washington, D.C. on the Potomac."]),
        ("St. Petersburg! Or Moscow?", ["St. Petersburg!", "Or Moscow?"]),
        ("Pi is 3.14 roughly", ["Pi is 3.14 roughly"]),
    ],
)
def test_sentences(line: str, expected: list[str]) -> None:
    assert sentences(line) == expected


def test_answer_span_is_the_first_line_first_non_question_sentence() -> None:
    assert answer_span("\n\n Paris. It is in France.\nLondon") == "Paris."
    assert answer_span("What is the capital of France? Paris.") == "Paris."
    assert answer_span("What is the capital of France?") == "What is the capital of France?"
    assert answer_span("France is in Europe.\nParis") == "France is in Europe."
    assert answer_span("   ") == ""
