"""The paper's alpha/beta search: KeyToken counts and FocusOnKey recovery over a threshold grid.

The paper picked ``unpact.alpha`` and ``unpact.beta`` (docs/science.md §3) by a grid search;
a user moving to a new domain or model needs the same search. The expensive parts of an
evaluation (M0's UNPACT contributions, which questions M1 forgot) do not depend on the
thresholds, so they are read back from a run's ``questions.csv`` and only FocusOnKey is
re-run. Even that is shared: a grid cell only changes the KeyTokens *phrase* of a question,
many cells give the same phrase, and each distinct rewritten question is generated once
(:class:`AnswerCache`), so a 5 x 5 grid typically costs a few times one FocusOnKey pass,
not 25.

Per cell (alpha, beta), over the forgotten free-form questions F:

    keytokens_mean  = mean_q |K_q(alpha, beta)|
    recovery_rate   = |{q in F : any template's answer with K_q(alpha, beta) is correct}| / |F|

exactly as the FocusOnKey attack (:mod:`unpact_exp.attacks.focus_on_key`) measures
``recovery_rate`` at the configured thresholds (an empty phrase is not asked and counts
as not recovered).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from unpact_exp.attacks.focus_on_key import focus_questions
from unpact_exp.config import checks
from unpact_exp.config.binder import coerce
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.evaluation.correctness import any_correct
from unpact_exp.unpact.config import Normalization
from unpact_exp.unpact.keytokens import keys_phrase, keytokens

GRID_CSV = "threshold_grid.csv"
GRID_PNG = "threshold_grid.png"
SOURCES = {"original": "m0_contributions", "unlearned": "m1_contributions"}

AnswerFn = Callable[[list[str]], list[str]]
"""Greedy answers of M1 to rewritten questions (the question text only; the caller renders)."""


@dataclass(frozen=True)
class GridQuestion:
    """One forgotten question with the contributions its KeyTokens are chosen from.

    Attributes:
        question: the question text.
        gold: the gold answer.
        units: UNPACT unit texts in question order.
        contributions: C_i per unit (M0's, or M1's with ``keytokens_from: unlearned``).
    """

    question: str
    gold: str
    units: tuple[str, ...]
    contributions: tuple[float, ...]


@dataclass(frozen=True)
class GridCell:
    """The outcome of one (alpha, beta) pair.

    Attributes:
        alpha: ``unpact.alpha``.
        beta: ``unpact.beta``.
        n_questions: |F|, the forgotten questions asked.
        keytokens_total: sum of |K_q| over F.
        keytokens_mean: ``keytokens_total / n_questions`` (NaN over no question).
        n_recovered: questions recovered by FocusOnKey.
        recovery_rate: ``n_recovered / n_questions`` (NaN over no question).
    """

    alpha: float
    beta: float
    n_questions: int
    keytokens_total: int
    keytokens_mean: float
    n_recovered: int
    recovery_rate: float


class AnswerCache:
    """Answers by rewritten question: each distinct text is generated once, ever.

    Attributes:
        generated: how many texts were sent to the answer function (for tests and logs).
        calls: how many times the answer function was called.
    """

    def __init__(self, answer_fn: AnswerFn) -> None:
        self._answer_fn = answer_fn
        self._answers: dict[str, str] = {}
        self.generated = 0
        self.calls = 0

    def answers(self, questions: Sequence[str]) -> list[str]:
        """The answer to each question, generating (in one call) only those not seen before."""
        new = [q for q in dict.fromkeys(questions) if q not in self._answers]
        if new:
            outputs = self._answer_fn(new)
            if len(outputs) != len(new):
                raise ValueError(f"answer function gave {len(outputs)} answers for {len(new)}.")
            self._answers.update(zip(new, outputs))
            self.generated += len(new)
            self.calls += 1
        return [self._answers[q] for q in questions]


def parse_grid(text: str, name: str) -> list[float]:
    """``"0.1,0.2"`` -> ``[0.1, 0.2]``, each checked to lie in (0, 1] like ``unpact.<name>``.

    Raises:
        UnpactConfigError: an entry is not a number, is outside (0, 1], or the list is empty.
    """
    values: list[float] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            value = float(part)
        except ValueError:
            raise UnpactConfigError(
                f"--{name} entry {part!r} is not a number; give a comma-separated list such "
                "as 0.1,0.22,0.4."
            ) from None
        checks.unit_interval(f"unpact.{name}", value)
        values.append(value)
    if not values:
        raise UnpactConfigError(f"--{name} is empty; give at least one value in (0, 1].")
    return values


def threshold_grid(
    questions: Sequence[GridQuestion],
    alphas: Sequence[float],
    betas: Sequence[float],
    normalize: str,
    templates: Sequence[str],
    cache: AnswerCache,
    correct_threshold: float,
    *,
    stemming: bool,
) -> list[GridCell]:
    """Every (alpha, beta) cell, alpha-major, with one batched generation for the whole grid.

    Args:
        questions: the forgotten questions (see :func:`read_grid_questions`).
        alphas: values of ``unpact.alpha``, each in (0, 1].
        betas: values of ``unpact.beta``, each in (0, 1].
        normalize: ``unpact.normalize`` of the run.
        templates: ``focus_on_key.templates`` of the run.
        cache: M1's answers; texts already answered (an earlier grid) are not regenerated.
        correct_threshold: ``eval.correct_threshold``.
        stemming: ``eval.rouge_stemming``.
    """
    coerce("unpact.normalize", normalize, Normalization)
    cells = [(a, b) for a in alphas for b in betas]
    phrases = {
        cell: [
            keys_phrase(q.units, keytokens(q.contributions, cell[0], cell[1], normalize))
            for q in questions
        ]
        for cell in cells
    }
    counts = {
        cell: sum(len(keytokens(q.contributions, cell[0], cell[1], normalize)) for q in questions)
        for cell in cells
    }
    wanted = {(i, phrase) for cell in cells for i, phrase in enumerate(phrases[cell]) if phrase}
    asked = sorted(wanted)
    rewritten = [focus_questions(questions[i].question, p, templates) for i, p in asked]
    answers = iter(cache.answers([text for texts in rewritten for text in texts]))
    tried = [[next(answers) for _ in texts] for texts in rewritten]
    hits = any_correct(
        [questions[i].gold for i, _ in asked], tried, correct_threshold, stemming=stemming
    )
    recovered = dict(zip(asked, hits))
    n = len(questions)
    result = []
    for cell in cells:
        k = sum(recovered.get((i, p), False) for i, p in enumerate(phrases[cell]) if p)
        result.append(
            GridCell(
                alpha=cell[0],
                beta=cell[1],
                n_questions=n,
                keytokens_total=counts[cell],
                keytokens_mean=counts[cell] / n if n else float("nan"),
                n_recovered=k,
                recovery_rate=k / n if n else float("nan"),
            )
        )
    return result


def read_grid_questions(path: str | Path, keytokens_from: str) -> list[GridQuestion]:
    """The forgotten free-form questions of a ``questions.csv`` with their contributions.

    Multiple-choice rows are left out: their FocusOnKey answer is a letter score, not a
    generation, and is not part of this search.

    Args:
        path: a run's ``questions.csv`` (the latest evaluation, the final one after a run).
        keytokens_from: ``original`` (M0's contributions) or ``unlearned`` (M1's), as
            ``focus_on_key.keytokens_from``.

    Raises:
        DataError: the file is missing or was written before contributions were stored.
    """
    if keytokens_from not in SOURCES:
        raise UnpactConfigError(
            f"focus_on_key.keytokens_from={keytokens_from!r} is not valid; choose one of "
            f"{list(SOURCES)}."
        )
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path} does not exist; point at a run directory whose evaluation wrote "
            "questions.csv (train.py with the checkpoint analysis callback, or eval.py)."
        )
    column = SOURCES[keytokens_from]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and (column not in rows[0] or "units" not in rows[0]):
        raise DataError(
            f"{path} has no 'units'/'{column}' columns: it was written before contributions "
            "were stored per question; re-run eval.py on the run's unlearned/ folder."
        )
    return [
        GridQuestion(
            question=row["question"],
            gold=row["gold"],
            units=tuple(json.loads(row["units"])),
            contributions=tuple(float(c) for c in json.loads(row[column])),
        )
        for row in rows
        if row["kind"] == "qa" and row["forgotten"] == "True"
    ]


def grid_csv_text(cells: Sequence[GridCell]) -> str:
    """One line per cell: alpha, beta, counts, mean KeyTokens and recovery rate."""
    header = "alpha,beta,n_questions,keytokens_total,keytokens_mean,n_recovered,recovery_rate\n"
    lines = [
        f"{c.alpha:g},{c.beta:g},{c.n_questions},{c.keytokens_total},{c.keytokens_mean:.4f},"
        f"{c.n_recovered},{c.recovery_rate:.4f}\n"
        for c in cells
    ]
    return header + "".join(lines)


def plot_grid(
    cells: Sequence[GridCell],
    alphas: Sequence[float],
    betas: Sequence[float],
    out: str | Path,
    mark: tuple[float, float] | None = None,
) -> Path:
    """Two heatmaps side by side (beta rows, alpha columns): recovery rate, mean KeyTokens.

    Args:
        cells: what :func:`threshold_grid` returned for ``alphas`` x ``betas``.
        alphas: the columns.
        betas: the rows.
        out: PNG path.
        mark: the run's own (alpha, beta), outlined when it is on the grid.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    by_cell = {(c.alpha, c.beta): c for c in cells}
    panels = (
        ("FocusOnKey recovery rate", "recovery_rate", "viridis"),
        ("mean KeyTokens per question", "keytokens_mean", "magma"),
    )
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.1 * len(alphas) * 2, 1.5 + 0.6 * len(betas)))
    for ax, (title, attr, cmap) in zip(axes, panels):
        grid = np.array([[getattr(by_cell[(a, b)], attr) for a in alphas] for b in betas])
        image = ax.imshow(grid, cmap=cmap, aspect="auto", origin="lower")
        for row, b in enumerate(betas):
            for col, a in enumerate(alphas):
                value = grid[row, col]
                dark = bool(np.isfinite(value) and image.norm(value) < 0.5)  # light text on dark
                ax.text(
                    col,
                    row,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
                if mark == (a, b):
                    ax.add_patch(
                        plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, lw=2, ec="red")
                    )
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
        ax.set_yticks(range(len(betas)), [f"{b:g}" for b in betas])
        ax.set_xlabel("alpha")
        ax.set_ylabel("beta")
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax)
    n = cells[0].n_questions if cells else 0
    fig.suptitle(f"KeyToken thresholds over {n} forgotten questions", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
