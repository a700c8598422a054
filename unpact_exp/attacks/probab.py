"""PROBAB: the budget-matched random-sampling baseline for FocusOnKey (docs/science.md §5).

Recovery by FocusOnKey only means something if it beats simply asking again: for each
forgotten question we draw as many multinomial samples from M1 on the *plain* prompt
as FocusOnKey has templates, and call the question recovered when any sample is
correct. For multiple-choice items a sample is a letter drawn from the model's letter
distribution. The seed is reset on every call, so two evaluations of the same model agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unpact_exp.attacks.focus_on_key import Recovery
from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.evaluation.correctness import any_correct, mc_letter_logprobs
from unpact_exp.models.prompt import LETTERS, PromptFormat
from unpact_exp.unpact.config import EvalConfig, ProbabConfig
from unpact_exp.unpact.generation import sampled_answers


def probab(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt_format: PromptFormat,
    items: Sequence[QAItem],
    num_samples: int,
    icl: Sequence[QAItem],
    probab_cfg: ProbabConfig,
    eval_cfg: EvalConfig,
) -> Recovery:
    """Sample ``num_samples`` answers per item from ``model`` and judge them.

    Args:
        model: the unlearned model M1.
        tokenizer: its tokenizer.
        prompt_format: renders the plain knowmem prompt (with ``icl`` in the prefix).
        items: the forgotten questions with gold answers.
        num_samples: the budget, ``len(focus_on_key.templates)``.
        icl: in-context examples, as in the plain knowmem prompt.
        probab_cfg: temperature, top_p and seed.
        eval_cfg: generation length, stop strings, batch size and correctness threshold.
    """
    prompts = [prompt_format.parts(item.question, tokenizer, icl=icl) for item in items]
    answers = sampled_answers(
        model,
        tokenizer,
        prompts,
        num_samples,
        probab_cfg.temperature,
        probab_cfg.top_p,
        probab_cfg.seed,
        eval_cfg.max_new_tokens,
        eval_cfg.stop_strings,
        eval_cfg.sampling_batch_size,
    )
    recovered = any_correct(
        [item.answer for item in items],
        answers,
        eval_cfg.correct_threshold,
        stemming=eval_cfg.rouge_stemming,
    )
    return Recovery(recovered=recovered, answers=answers)


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


def probab_mc(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt_format: PromptFormat,
    items: Sequence[MCItem],
    num_samples: int,
    probab_cfg: ProbabConfig,
    batch_size: int,
) -> Recovery:
    """PROBAB for multiple-choice items: sampled letters (see :func:`sample_letters`)."""
    scores = mc_letter_logprobs(model, tokenizer, prompt_format, items, batch_size)
    draws = sample_letters(
        scores, num_samples, probab_cfg.temperature, probab_cfg.top_p, probab_cfg.seed
    )
    return Recovery(
        recovered=[any(d == item.answer for d in picks) for item, picks in zip(items, draws)],
        answers=[[LETTERS[d] for d in picks] for picks in draws],
    )
