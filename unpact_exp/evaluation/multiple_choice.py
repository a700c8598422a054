"""Multiple-choice items: lm-eval's letter scoring, predictions and sampled letters.

lm-eval's zero-shot prompt and ``acc`` rule (docs/science.md §4): the prediction is the
choice letter whose continuation (" A", " B", ...) has the highest summed log-probability
after the prompt (first on ties, as ``numpy.argmax``); aggregate = accuracy. PROBAB's
multiple-choice analogue of sampling an answer draws letters from the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unpact_exp.data.schema import MCItem
from unpact_exp.models.prompt import LETTERS, PromptFormat
from unpact_exp.unpact.contributions import encode_target
from unpact_exp.unpact.scoring import mean_target_logprobs, padding_id


def mc_letter_logprobs(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt_format: PromptFormat,
    items: Sequence[MCItem],
    batch_size: int,
) -> list[list[float]]:
    """Summed log-prob of each choice letter (``mc_answer_prefix + letter``) after each prompt.

    lm-eval's ``acc`` rule: the log-likelihood of the whole continuation (" A", " B", ...)
    summed over its tokens, so a letter split into several tokens is not favoured by a
    mean. Each letter is tokenized together with its prompt (one string, as the model would
    read it). All letters of all items are scored in the same batched passes.
    """
    pairs: list[tuple[list[int], list[int]]] = []
    for item in items:
        parts = prompt_format.mc_parts(item, tokenizer)
        for letter in LETTERS[: len(item.choices)]:
            encoded, target = encode_target(
                tokenizer, parts, letter, prompt_format.mc_answer_prefix
            )
            pairs.append((encoded.input_ids, target))
    means = mean_target_logprobs(
        model, pairs, batch_size, padding_id(tokenizer), "multiple-choice scoring"
    )
    scores = [mean * len(target) for mean, (_, target) in zip(means, pairs)]
    result: list[list[float]] = []
    cursor = 0
    for item in items:
        result.append(scores[cursor : cursor + len(item.choices)])
        cursor += len(item.choices)
    return result


def mc_predictions(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt_format: PromptFormat,
    items: Sequence[MCItem],
    batch_size: int,
) -> list[int]:
    """Index of the highest-scoring letter per item (first one on ties)."""
    scores = mc_letter_logprobs(model, tokenizer, prompt_format, items, batch_size)
    return [max(range(len(s)), key=s.__getitem__) for s in scores]


def accuracy(predictions: Sequence[int], golds: Sequence[int]) -> float:
    """Fraction of equal entries; NaN when empty."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold labels.")
    if not golds:
        return float("nan")
    return sum(p == g for p, g in zip(predictions, golds)) / len(golds)


def sample_letters(
    letter_logprobs: Sequence[Sequence[float]],
    num_samples: int,
    temperature: float,
    top_p: float,
    seed: int,
) -> list[list[int]]:
    """Draw ``num_samples`` letter indices per item from ``softmax(logprobs / temperature)``.

    The multiple-choice analogue of sampling an answer: the letter scores are the
    model's distribution over answers. Nucleus filtering keeps the smallest set of
    most likely letters whose mass reaches ``top_p`` (at least one). A private
    ``torch.Generator`` seeded with ``seed`` makes the draw reproducible without
    touching the global RNG.
    """
    generator = torch.Generator().manual_seed(seed)
    draws: list[list[int]] = []
    for scores in letter_logprobs:
        probs = torch.softmax(torch.tensor(scores, dtype=torch.float64) / temperature, dim=-1)
        sorted_probs, order = probs.sort(descending=True)
        keep = (sorted_probs.cumsum(-1) - sorted_probs) < top_p
        keep[0] = True
        filtered = torch.zeros_like(probs)
        filtered[order[keep]] = sorted_probs[keep]
        picks = torch.multinomial(filtered, num_samples, replacement=True, generator=generator)
        draws.append(picks.tolist())
    return draws
