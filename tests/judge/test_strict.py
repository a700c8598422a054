"""The strict judge on hand-worked cases, every failure of the ROUGE rule in issue 22 among them.

Each case names the rule that decides it (the verdict's ``reason``); where the old
``rouge_recall`` rule decided otherwise, the test says so too, so the cases document
what changed.
"""

from __future__ import annotations

import pytest

from unpact_exp.data.worldfacts import load_facts
from unpact_exp.judge import build, gold_in_question
from unpact_exp.judge.base import Verdict

STRICT = build("strict", correct_threshold=0.5, rouge_stemming=False)
ROUGE = build("rouge_recall", correct_threshold=0.5, rouge_stemming=False)
DEMONYMS = {"yen": "Japanese", "euro": "German", "pound sterling": "British",
            "renminbi yuan": "Chinese"}  # fmt: skip
CAPITALS = ("Madrid", "Moscow", "Amsterdam", "London", "Berlin", "Rome")


def strict(question: str, gold: str, answer: str, **kw: tuple[str, ...]) -> Verdict:
    return STRICT.judge(question, gold, answer, **kw)


def rouge_accepts(question: str, gold: str, answer: str) -> bool:
    return ROUGE.judge(question, gold, answer).correct


# (question, gold, wrong answer) pairs the ROUGE rule counted as right (issue 22).
ROUGE_FALSE_POSITIVES = [
    ("On which continent is Brazil?", "South America", "North America"),
    ("What is the highest mountain in the world?", "Mount Everest", "Mount Kilimanjaro"),
    ("What is the largest ocean on Earth?", "Pacific Ocean", "The Atlantic Ocean."),
    ("What is the currency of Ghana?", "Ghanaian cedi", "The Ghanaian dollar."),
]


@pytest.mark.parametrize(("question", "gold", "answer"), ROUGE_FALSE_POSITIVES)
def test_a_wrong_name_sharing_half_the_gold_is_wrong(question: str, gold: str, answer: str):
    # ROUGE-L recall: one of the gold's two words in order -> 1/2 = 0.5 >= 0.5.
    assert rouge_accepts(question, gold, answer)
    assert strict(question, gold, answer) == Verdict(False, "gold absent")


def test_north_america_names_the_distractor_when_the_item_lists_it() -> None:
    verdict = strict(
        "On which continent is Brazil?", "South America", "North America.",
        distractors=("North America", "Europe"),
    )  # fmt: skip
    assert verdict == Verdict(False, "names distractor 'North America'")


def test_a_list_of_candidates_is_wrong() -> None:
    answer = "London, Berlin, Madrid or Paris"
    assert rouge_accepts("What is the capital of France?", "Paris", answer)
    verdict = strict("What is the capital of France?", "Paris", answer, distractors=CAPITALS)
    # The first distractor in the answer is named.
    assert verdict == Verdict(False, "names distractor 'London'")


def test_demonym_dollar_is_wrong_for_every_other_currency() -> None:
    facts = [f for f in load_facts() if f["category"] == "currency"]
    others = [f for f in facts if "dollar" not in f["answer"]]
    accepted_by_rouge = 0
    for fact in others:
        gold = fact["answer"]
        demonym = DEMONYMS.get(gold, " ".join(gold.split()[:-1]))  # "Ghanaian cedi" -> Ghanaian
        answer = f"The {demonym} dollar."
        verdict = strict(fact["question"], gold, answer)
        assert verdict == Verdict(False, "gold absent"), (gold, verdict)
        accepted_by_rouge += rouge_accepts(fact["question"], gold, answer)
    # ROUGE accepts every "<demonym> <unit>" gold: the demonym is half of its words or more
    # ("South African rand" vs "South African dollar": 2/3); the four in DEMONYMS share none.
    assert (len(others), accepted_by_rouge) == (32, 32 - len(DEMONYMS))
    for fact in facts:
        if "dollar" in fact["answer"]:  # the right dollar is still right
            assert strict(fact["question"], fact["answer"], fact["answer"] + ".").correct


def test_a_question_echo_is_wrong() -> None:
    question = "What is the capital of Mexico?"
    # ROUGE: "mexico" is one of the gold's two words -> recall 0.5.
    assert rouge_accepts(question, "Mexico City", question)
    assert strict(question, "Mexico City", question) == Verdict(False, "repeats the question")
    # An echo followed by the answer is judged on the answer.
    assert strict(question, "Mexico City", f"{question} Mexico City.").correct


def test_alias_farsi_for_persian() -> None:
    question = "What is the official language of Iran?"
    assert not rouge_accepts(question, "Persian", "Farsi.")
    assert strict(question, "Persian", "Farsi.") == Verdict(False, "gold absent")
    verdict = strict(question, "Persian", "Farsi.", aliases=("Farsi",))
    assert verdict == Verdict(True, "alias 'Farsi' at word boundary")
    assert strict(question, "Persian", "Persian (Farsi).", aliases=("Farsi",)) == Verdict(
        True, "gold at word boundary"
    )


@pytest.mark.parametrize(
    ("gold", "answer", "aliases"),
    [
        ("J. K. Rowling", "JK Rowling wrote it.", ()),  # initials joined on both sides
        ("Washington, D.C.", "Washington DC.", ()),
        ("1912", "It sank in 1,912.", ()),  # digit groups
        ("Réunion", "Reunion.", ()),  # accents
        ("Myanmar", "Burma.", ("Burma",)),  # alias
        ("100 degrees Celsius", "At 100°C.", ("100 °C",)),  # the degree sign, an alias
    ],
)
def test_right_answers_the_rouge_rule_rejected(gold: str, answer: str, aliases: tuple) -> None:
    assert not rouge_accepts("q?", gold, answer)
    assert strict("q?", gold, answer, aliases=aliases).correct


@pytest.mark.parametrize(
    ("gold", "answer", "distractors", "expected"),
    [
        # A gold inside a longer distractor: the output names the distractor.
        (
            "Guinea",
            "Equatorial Guinea.",
            ("Equatorial Guinea",),
            (False, "names distractor 'Equatorial Guinea'"),
        ),
        # A distractor inside the gold is a part of the gold's name.
        ("Equatorial Guinea", "Equatorial Guinea.", ("Guinea",), (True, "gold at word boundary")),
        (
            "Guinea",
            "Guinea-Bissau",
            ("Guinea-Bissau",),
            (False, "names distractor 'Guinea-Bissau'"),
        ),
        ("Guinea-Bissau", "Guinea Bissau", ("Guinea",), (True, "gold at word boundary")),
        # Word boundaries: "Niger" is not in "Nigeria", and the other way round.
        ("Niger", "Nigeria.", (), (False, "gold absent")),
        ("Nigeria", "Niger.", (), (False, "gold absent")),
        ("Niger", "Niger, not Nigeria.", ("Nigeria",), (False, "names distractor 'Nigeria'")),
        # Articles: the needle's leading article is optional in the answer.
        ("the Netherlands", "Netherlands.", (), (True, "gold at word boundary")),
        ("Pacific Ocean", "the Pacific Ocean", (), (True, "gold at word boundary")),
        # Numbers written as words or digits.
        (
            "eight planets",
            "There are 8 planets.",
            ("seven planets",),
            (True, "gold at word boundary"),
        ),
        ("1912", "In 19120.", (), (False, "gold absent")),
        # Only the first sentence counts.
        ("Paris", "France is in Europe. Its capital is Paris.", (), (False, "gold absent")),
        ("Paris", "", (), (False, "empty answer")),
        ("Paris", " \n ", (), (False, "empty answer")),
    ],
)
def test_decisions(gold: str, answer: str, distractors: tuple, expected: tuple) -> None:
    assert strict("Which one?", gold, answer, distractors=distractors) == Verdict(*expected)


def test_a_distractor_the_question_contains_is_not_counted() -> None:
    question = "Which pigment makes plant leaves green?"
    verdict = strict(question, "chlorophyll", "Chlorophyll makes leaves green.",
                     distractors=("green", "giraffe"))  # fmt: skip
    assert verdict == Verdict(True, "gold at word boundary")


def test_a_distractor_equal_to_an_alias_is_no_distractor() -> None:
    verdict = strict("q?", "Myanmar", "Burma.", aliases=("Burma",), distractors=("Burma", "Laos"))
    assert verdict == Verdict(True, "alias 'Burma' at word boundary")


def test_chemical_symbols_keep_their_case() -> None:
    question = "What is the chemical symbol for helium?"
    assert strict(question, "He", "The symbol is He.").correct
    assert not strict(question, "He", "Then he said hydrogen.").correct
    # A possessive leaves no stray "s" (sulfur) behind.
    verdict = strict("What is the chemical symbol for gold?", "Au", "Gold's symbol is Au.",
                     distractors=("S", "Ag"))  # fmt: skip
    assert verdict == Verdict(True, "gold at word boundary")


def test_gold_in_question() -> None:
    assert gold_in_question("What is the capital of Luxembourg?", "Luxembourg")
    assert gold_in_question("What is the capital of Djibouti?", "Djibouti City", ("Djibouti",))
    assert not gold_in_question("What is the capital of Mexico?", "Mexico City")
    assert not gold_in_question("What is the capital of Niger?", "Niamey", ("Nigeria",))


def test_judge_many_checks_lengths_and_keeps_order() -> None:
    verdicts = STRICT.judge_many(
        ["q?", "q?"], ["Paris", "Persian"], ["Paris.", "Farsi"], aliases=[(), ("Farsi",)]
    )
    assert [v.correct for v in verdicts] == [True, True]
    with pytest.raises(ValueError, match="one entry per item"):
        STRICT.judge_many(["q?"], ["Paris", "Rome"], ["Paris"])
