"""The alpha/beta grid: KeyToken counts worked by hand, recovery, and generation reuse.

Two forgotten questions, ``normalize: max``, one template ``"Focus on {keys}. {question}"``:

- Q1 units (Where, did, Ada, work), C = (0.5, 0.1, -0.2, 0.3): P = {0, 1, 3}, |P|/n = 0.75,
  N = (1, 0.2, 0.6) on P. beta = 0.8 > 0.75: K = P (3 KeyTokens, "Where did work").
  beta = 0.5: alpha 0.1 keeps all three; alpha 0.5 keeps {0, 3} ("Where work");
  alpha 0.7 keeps {0} ("Where").
- Q2 units (Who, wrote, Hamlet, first, ?), C = (-0.1, 0.4, -0.3, -0.2, 0.0): P = {1},
  |P|/n = 0.2 < both betas: K = {1} ("wrote") in every cell.

KeyTokens per cell: (0.1, 0.5) 3+1 = 4, (0.5, 0.5) 2+1 = 3, (0.7, 0.5) 1+1 = 2, beta 0.8: 4.
M1 (a lookup table) answers Q1 only when "work" is among its keys, Q2 never: recovery 1/2
except (0.7, 0.5), 0/2. Distinct prompts: Q1 has 3 phrases, Q2 one, so 4 generations for
the 6 cells' 12 asks, and 0 for the same grid again.
"""

from __future__ import annotations

import math

import pytest

from unpact_exp.attacks.focus_on_key_grid import (
    AnswerCache,
    GridQuestion,
    grid_csv_text,
    grid_figure,
    parse_grid,
    plot_grid,
    read_grid_questions,
    threshold_grid,
)
from unpact_exp.errors import DataError, UnpactConfigError

Q1 = GridQuestion(
    "Where did Ada work", "Paris", ("Where", "did", "Ada", "work"), (0.5, 0.1, -0.2, 0.3)
)
Q2 = GridQuestion(
    "Who wrote Hamlet first ?",
    "Shakespeare",
    ("Who", "wrote", "Hamlet", "first", "?"),
    (-0.1, 0.4, -0.3, -0.2, 0.0),
)
TEMPLATES = ("Focus on {keys}. {question}",)
ANSWERS = {
    "Focus on Where did work. Where did Ada work": "in Paris",
    "Focus on Where work. Where did Ada work": "Paris",
    "Focus on Where. Where did Ada work": "London",
}


def _fake_m1(asked: list[list[str]]):
    def answer(questions: list[str]) -> list[str]:
        asked.append(list(questions))
        return [ANSWERS.get(q, "no idea") for q in questions]

    return answer


def _grid(cache: AnswerCache):
    return threshold_grid(
        [Q1, Q2], [0.1, 0.5, 0.7], [0.5, 0.8], "max", TEMPLATES, cache, 0.5, stemming=False
    )


def test_keytoken_counts_and_recovery_match_the_hand_worked_grid() -> None:
    cells = {(c.alpha, c.beta): c for c in _grid(AnswerCache(_fake_m1([])))}
    totals = {k: c.keytokens_total for k, c in cells.items()}
    assert totals == {
        (0.1, 0.5): 4,
        (0.5, 0.5): 3,
        (0.7, 0.5): 2,
        (0.1, 0.8): 4,
        (0.5, 0.8): 4,
        (0.7, 0.8): 4,
    }
    assert cells[(0.5, 0.5)].keytokens_mean == 1.5
    recovered = {k: c.n_recovered for k, c in cells.items()}
    assert recovered == {
        (0.1, 0.5): 1,
        (0.5, 0.5): 1,
        (0.7, 0.5): 0,
        (0.1, 0.8): 1,
        (0.5, 0.8): 1,
        (0.7, 0.8): 1,
    }
    assert all(c.n_questions == 2 for c in cells.values())
    assert cells[(0.7, 0.5)].recovery_rate == 0.0 and cells[(0.1, 0.5)].recovery_rate == 0.5


def test_each_distinct_prompt_is_generated_once() -> None:
    asked: list[list[str]] = []
    cache = AnswerCache(_fake_m1(asked))
    _grid(cache)
    assert cache.generated == 4 and cache.calls == 1  # one batched call for 12 asks
    assert sorted(asked[0]) == sorted([*ANSWERS, "Focus on wrote. Who wrote Hamlet first ?"])
    _grid(cache)  # the same grid again: everything cached
    assert cache.generated == 4 and cache.calls == 1


def test_an_empty_question_list_gives_nan_rates_and_no_generation() -> None:
    cache = AnswerCache(_fake_m1([]))
    (cell,) = threshold_grid([], [0.2], [0.2], "max", TEMPLATES, cache, 0.5, stemming=False)
    assert cell.n_questions == 0 and math.isnan(cell.recovery_rate) and cache.generated == 0


def test_parse_grid_refuses_values_outside_the_unit_interval() -> None:
    assert parse_grid("0.1, 0.22,1", "alpha") == [0.1, 0.22, 1.0]
    with pytest.raises(UnpactConfigError, match=r"unpact.beta=1.5"):
        parse_grid("0.2,1.5", "beta")
    with pytest.raises(UnpactConfigError, match="'x' is not a number"):
        parse_grid("0.2,x", "alpha")


def test_questions_round_trip_through_questions_csv(tmp_path) -> None:
    from dataclasses import replace

    from unpact_exp.evaluation.question_table import write_question_csv
    from unpact_exp.evaluation.rows import QuestionRow

    row = QuestionRow(
        kind="qa",
        index=0,
        question=Q1.question,
        gold=Q1.gold,
        original_answer="",
        unlearned_answer="",
        known=True,
        forgotten=True,
        keytokens_original=[],
        keytokens_unlearned=[],
        keytoken_similarity=0.0,
        contribution_similarity=0.0,
        units=list(Q1.units),
        contributions_original=list(Q1.contributions),
        contributions_unlearned=[0.0, 0.0, 0.0, 0.1],
    )
    kept = replace(row, index=1, forgotten=False)
    mc = replace(row, index=2, kind="mc")
    path = write_question_csv(tmp_path, [row, kept, mc], 3)
    assert read_grid_questions(path, "original") == [Q1]
    (unlearned,) = read_grid_questions(path, "unlearned")
    assert unlearned.contributions == (0.0, 0.0, 0.0, 0.1)
    old = tmp_path / "old.csv"
    old.write_text("step,kind,question\n3,qa,Where\n")
    with pytest.raises(DataError, match="re-run eval.py"):
        read_grid_questions(old, "original")
    with pytest.raises(DataError, match="does not exist"):
        read_grid_questions(tmp_path / "missing.csv", "original")


def test_csv_and_heatmap_are_written(tmp_path) -> None:
    cells = _grid(AnswerCache(_fake_m1([])))
    lines = grid_csv_text(cells).splitlines()
    assert lines[0].startswith("alpha,beta,n_questions,keytokens_total")
    assert lines[3] == "0.5,0.5,2,3,1.5000,1,0.5000"
    out = plot_grid(cells, [0.1, 0.5, 0.7], [0.5, 0.8], tmp_path / "grid.png", mark=(0.5, 0.5))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_outlined_box_is_explained() -> None:
    cells = _grid(AnswerCache(_fake_m1([])))
    fig = grid_figure(cells, [0.1, 0.5, 0.7], [0.5, 0.8], mark=(0.5, 0.5))
    captions = [t.get_text() for t in fig.texts]
    assert any(
        "Red box: the thresholds the run itself used (alpha=0.5, beta=0.5)" in c for c in captions
    )
    off = grid_figure(cells, [0.1, 0.5, 0.7], [0.5, 0.8], mark=(0.22, 0.24))
    assert any("(alpha=0.22, beta=0.24) are not on this grid" in t.get_text() for t in off.texts)
