"""Known, forgotten, unstable: the labels of the forget questions, from several neutral asks.

One greedy answer to one prompt is a noisy label on a small model: rewording the prompt
changes it whether or not anything was unlearned. So each question is asked ``eval.labels.asks``
times without emphasis (the plain prompt, then the first rewordings of
``eval.labels.neutral_templates``), by M0 and by M1 (docs/science.md §5):

- ``known``: M0 right on every ask (``eval.labels.known: all``) or on most (``majority``);
- ``forgotten``: known, and M1 wrong on every ask;
- ``unstable``: M0 right on some asks but not known: counted, and left out of the rates;
- ``never known``: M0 right on no ask (the FocusOnKey control's population).

A question whose gold answer appears in the question is answered by repeating it; with a judge
that flags those (``strict``) such items are left out of every label and counted. With one ask
and ``rouge_recall`` this is exactly the labelling before issue 22.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unpact_exp.evaluation.config import LabelSettings
from unpact_exp.evaluation.tasks import Answers, Task
from unpact_exp.unpact.progress import scope


def neutral_questions(question: str, templates: Sequence[str]) -> list[str]:
    """The question reworded by each template (no emphasis)."""
    return [template.format(question=question) for template in templates]


def ask_labels(
    model: torch.nn.Module,
    task: Task,
    items: Sequence[Any],
    plain: Answers,
    labels: LabelSettings,
) -> tuple[list[list[bool]], list[list[str]]]:
    """Per item, whether each neutral ask is answered correctly (the plain ask first), and
    the answers of the rewordings."""
    templates = labels.label_templates()
    if not templates:
        return [[c] for c in plain.correct], [[] for _ in items]
    questions = [neutral_questions(item.question, templates) for item in items]
    with scope("neutral asks"):
        answers = task.ask(model, items, questions)
    hits = task.judge(items, answers)
    return [[c, *h] for c, h in zip(plain.correct, hits)], answers


@dataclass(frozen=True)
class Labels:
    """The labels of one list of forget items (one boolean per item).

    Attributes:
        known: M0 knows it (and it is not flagged).
        unstable: M0 right on some asks, not known, not flagged.
        never_known: M0 right on no ask, not flagged.
        flagged: the gold answer appears in the question (left out of everything).
    """

    known: list[bool]
    unstable: list[bool]
    never_known: list[bool]
    flagged: list[bool]


def original_labels(
    asks_correct: Sequence[Sequence[bool]], rule: str, flagged: Sequence[bool]
) -> Labels:
    """M0's labels from its per-ask correctness (``rule``: ``all`` or ``majority``)."""
    known, unstable, never = [], [], []
    for hits, flag in zip(asks_correct, flagged):
        right = sum(bool(h) for h in hits)
        is_known = not flag and (right == len(hits) if rule == "all" else 2 * right > len(hits))
        known.append(is_known)
        unstable.append(not flag and not is_known and right > 0)
        never.append(not flag and right == 0)
    return Labels(known, unstable, never, [bool(f) for f in flagged])


def forgotten(known: Sequence[bool], m1_asks_correct: Sequence[Sequence[bool]]) -> list[bool]:
    """Known, and M1 wrong on every neutral ask."""
    return [bool(k) and not any(h) for k, h in zip(known, m1_asks_correct)]
