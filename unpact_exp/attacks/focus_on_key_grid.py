"""FocusOnKey over a grid of KeyToken thresholds: the paper's alpha/beta search.

Not a registered attack (it re-scores a finished run); the ``unpact grid`` command
(:mod:`unpact_exp.stages.threshold_grid`) runs it.

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
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unpact_exp.attacks.focus_on_key import focus_questions
from unpact_exp.config import checks
from unpact_exp.config.binder import coerce
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.evaluation.correctness import any_correct
from unpact_exp.results import atomic_path
from unpact_exp.unpact.config import Normalization
from unpact_exp.unpact.keytokens import keys_phrase, keytokens

GRID_CSV = "threshold_grid.csv"
GRID_PNG = "threshold_grid.png"
SOURCES = {"original": "m0_contributions", "unlearned": "m1_contributions"}

KINDS = ("qa", "mc")
BOOLS = {"True": True, "False": False}
"""How ``questions.csv`` writes ``forgotten`` (Python's ``str`` of a bool)."""

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


def read_grid_questions(
    path: str | Path, keytokens_from: str, evals: dict[str, Any] | None = None
) -> list[GridQuestion]:
    """The forgotten free-form questions of a ``questions.csv`` with their contributions.

    Multiple-choice rows are left out: their FocusOnKey answer is a letter score, not a
    generation, and is not part of this search.

    A damaged file is refused, never read in part (a file cut in half gave a smaller grid
    with exit 0): bytes that are not UTF-8, a row whose field count differs from the
    header's, a ``kind``/``forgotten`` cell that is not one the evaluation writes, units and
    contributions that are not JSON lists of equal length, rows of several evaluations. With
    ``evals`` (the run's ``results.json`` ``eval`` mapping) the row and forgotten counts must
    also match the evaluation the file says it holds, which catches a cut at a row boundary.

    Args:
        path: a run's ``questions.csv`` (the latest evaluation, the final one after a run).
        keytokens_from: ``original`` (M0's contributions) or ``unlearned`` (M1's), as
            ``focus_on_key.keytokens_from``.
        evals: ``results.json``'s ``eval`` entries, for the count check (None: no check).

    Raises:
        DataError: the file is missing, was written before contributions were stored, or is
            damaged (naming the row, 1-based after the header, and the line).
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
    fix = "re-run eval.py on the run's unlearned/ folder to write it again"
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is damaged: byte {err.start} is not UTF-8 text; {fix}.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        table = [(reader.line_num, row) for row in reader]
    except csv.Error as err:
        raise DataError(f"{path} is damaged at line {reader.line_num} ({err}); {fix}.") from None
    if header is None:
        raise DataError(f"{path} is empty; {fix}.")
    if column not in header or "units" not in header:
        raise DataError(
            f"{path} has no 'units'/'{column}' columns: it was written before contributions "
            f"were stored per question; {fix}."
        )
    rows = []
    for number, (line, cells) in enumerate(table, start=1):
        where = f"{path} is damaged at row {number} (line {line})"
        if len(cells) != len(header):
            raise DataError(
                f"{where}: {len(cells)} fields where the header has {len(header)} (the file "
                f"was cut or edited); {fix}."
            )
        rows.append(_checked_row(dict(zip(header, cells)), column, where, fix))
    _check_counts(path, rows, evals, fix)
    return [
        GridQuestion(
            question=row["question"],
            gold=row["gold"],
            units=row["units"],
            contributions=row[column],
        )
        for row in rows
        if row["kind"] == "qa" and row["forgotten"]
    ]


def _checked_row(row: dict[str, Any], column: str, where: str, fix: str) -> dict[str, Any]:
    """One ``questions.csv`` row with ``forgotten`` a bool and the contributions parsed."""
    if row.get("kind") not in KINDS or row.get("forgotten") not in BOOLS:
        raise DataError(
            f"{where}: kind={row.get('kind')!r}, forgotten={row.get('forgotten')!r} are not "
            f"values the evaluation writes (kind in {list(KINDS)}, forgotten in "
            f"{list(BOOLS)}); {fix}."
        )
    row["forgotten"] = BOOLS[row["forgotten"]]
    if row["kind"] != "qa" or not row["forgotten"]:
        return row
    try:
        units = tuple(str(u) for u in json.loads(row["units"]))
        values = tuple(float(c) for c in json.loads(row[column]))
    except (ValueError, TypeError) as err:
        raise DataError(f"{where}: units or {column} are not JSON lists ({err}); {fix}.") from None
    if len(units) != len(values) or not all(math.isfinite(v) for v in values):
        raise DataError(
            f"{where}: {len(units)} units but {len(values)} {column}, or a non-finite value; {fix}."
        )
    row["units"], row[column] = units, values
    return row


def _check_counts(
    path: Path, rows: Sequence[dict[str, Any]], evals: dict[str, Any] | None, fix: str
) -> None:
    """Refuse rows of several evaluations, or fewer rows than the evaluation recorded."""
    steps = sorted({str(row.get("step")) for row in rows})
    if len(steps) > 1:
        raise DataError(f"{path} mixes the rows of evaluations {steps}; {fix}.")
    if not evals or not steps or not isinstance(evals.get(steps[0]), dict):
        return
    metrics = evals[steps[0]]
    expected = (metrics.get("n_forget_questions"), metrics.get("n_forgotten"))
    found = (len(rows), sum(bool(row["forgotten"]) for row in rows))
    if None not in expected and tuple(int(n) for n in expected) != found:
        raise DataError(
            f"{path} holds {found[0]} questions ({found[1]} forgotten) where results.json "
            f"records {int(expected[0])} ({int(expected[1])} forgotten) for evaluation "
            f"{steps[0]}: the file was cut or edited; {fix}."
        )


def grid_csv_text(cells: Sequence[GridCell]) -> str:
    """One line per cell: alpha, beta, counts, mean KeyTokens and recovery rate."""
    header = "alpha,beta,n_questions,keytokens_total,keytokens_mean,n_recovered,recovery_rate\n"
    lines = [
        f"{c.alpha:g},{c.beta:g},{c.n_questions},{c.keytokens_total},{c.keytokens_mean:.4f},"
        f"{c.n_recovered},{c.recovery_rate:.4f}\n"
        for c in cells
    ]
    return header + "".join(lines)


def grid_figure(
    cells: Sequence[GridCell],
    alphas: Sequence[float],
    betas: Sequence[float],
    mark: tuple[float, float] | None = None,
) -> Any:
    """Two heatmaps side by side (beta rows, alpha columns): recovery rate, mean KeyTokens.

    The run's own ``mark`` = (alpha, beta) is outlined in red, and a caption under the
    panels says so (or that the run's thresholds are not on the grid).
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    by_cell = {(c.alpha, c.beta): c for c in cells}
    panels = (
        ("FocusOnKey recovery rate", "recovery_rate", "viridis"),
        ("mean KeyTokens per question", "keytokens_mean", "magma"),
    )
    fig = Figure(figsize=(4 + 1.1 * len(alphas) * 2, 2.4 + 0.6 * len(betas)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
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
                        Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, lw=2, ec="red")
                    )
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
        ax.set_yticks(range(len(betas)), [f"{b:g}" for b in betas])
        ax.set_xlabel("alpha (KeyToken if its normalised C_i > alpha)")
        ax.set_ylabel("beta (all positive units if |P|/n < beta)")
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax)
    n = cells[0].n_questions if cells else 0
    fig.suptitle(f"KeyToken thresholds over {n} forgotten questions", fontsize=10)
    fig.text(0.5, 0.0, grid_caption(alphas, betas, mark), ha="center", va="top", fontsize=8)
    return fig


def grid_caption(
    alphas: Sequence[float], betas: Sequence[float], mark: tuple[float, float] | None
) -> str:
    """The caption under the grid: what a cell is and what the red box marks."""
    text = "Each cell: FocusOnKey re-run with the KeyTokens chosen at that alpha and beta."
    if mark is None:
        return text
    where = f"alpha={mark[0]:g}, beta={mark[1]:g}"
    if mark[0] in alphas and mark[1] in betas:
        return f"{text}\nRed box: the thresholds the run itself used ({where})."
    return f"{text}\nThe run's own thresholds ({where}) are not on this grid."


def plot_grid(
    cells: Sequence[GridCell],
    alphas: Sequence[float],
    betas: Sequence[float],
    out: str | Path,
    mark: tuple[float, float] | None = None,
) -> Path:
    """Write :func:`grid_figure` to the PNG ``out``.

    Args:
        cells: what :func:`threshold_grid` returned for ``alphas`` x ``betas``.
        alphas: the columns.
        betas: the rows.
        out: PNG path.
        mark: the run's own (alpha, beta), outlined when it is on the grid.
    """
    fig = grid_figure(cells, alphas, betas, mark)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:  # a kill mid-write leaves the previous plot whole
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    return out
