"""The likelihood label: does the model rank the gold answer above every distractor?

A label that needs no judge (docs/science.md §5): where an item carries distractors (the world
facts' other answers of the same kind), the gold continuation's summed log-probability after
the prompt is compared with each distractor's. The item is *likely known* when the gold
outranks all of them. ``mc_known`` counts the forget items M0 ranks right; ``mc_forget_rate``
is the share of those M1 no longer ranks right; ``mc_recovery_rate`` the share of those it
ranks right again under FocusOnKey's prompt (any template, M0's KeyTokens). The summed
log-probability is lm-eval's ``acc`` rule, as for multiple-choice letters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unpact_exp.data.schema import QAItem
from unpact_exp.evaluation.tasks import TaskContext
from unpact_exp.unpact.contributions import encode_target
from unpact_exp.unpact.scoring import mean_target_logprobs, padding_id


def has_distractors(items: Sequence[object]) -> bool:
    """Whether any item is a free-form item with distractors (the label applies)."""
    return any(isinstance(i, QAItem) and i.distractors for i in items)


def gold_outranks(
    model: torch.nn.Module,
    ctx: TaskContext,
    items: Sequence[QAItem],
    questions: Sequence[Sequence[str]] | None = None,
) -> list[bool]:
    """Per item, whether the gold outranks every distractor after any of its ``questions``
    (default: the item's own question); False for an item without distractors or questions.

    All candidates of all prompts are scored in the same batched passes.
    """
    asked = [[item.question] for item in items] if questions is None else questions
    pairs: list[tuple[list[int], list[int]]] = []
    owners: list[tuple[int, int, int]] = []  # (item, prompt, candidate)
    tok, fmt = ctx.tokenizer, ctx.prompt_format
    for i, (item, qs) in enumerate(zip(items, asked)):
        if not item.distractors:
            continue
        for p, question in enumerate(qs):
            parts = fmt.parts(question, tok, icl=ctx.icl)
            for c, candidate in enumerate((item.answer, *item.distractors)):
                encoded, target = encode_target(tok, parts, candidate, fmt.answer_prefix)
                pairs.append((list(encoded.input_ids), target))
                owners.append((i, p, c))
    if not pairs:
        return [False] * len(items)
    means = mean_target_logprobs(
        model, pairs, ctx.eval.scoring_batch_size, padding_id(tok), "likelihood labels"
    )
    sums: dict[tuple[int, int], list[float]] = {}
    for (i, p, _), mean, (_, target) in zip(owners, means, pairs):
        sums.setdefault((i, p), []).append(mean * len(target))
    right = [False] * len(items)
    for (i, _), scores in sums.items():
        right[i] = right[i] or scores[0] > max(scores[1:])
    return right
