"""UNPACT prompt-token contributions (docs/science.md §2).

    LP(x, y)  = (1/T) sum_k log p(y_k | x, y_<k)
    C(x_i, y) = LP(x, y) - LP(x \\ x_i, y)          # > 0: unit x_i helps produce y

For each prompt the full prompt and its n ablations (unit i deleted, or replaced by
a filler token) are scored; the variants of all prompts go through
:func:`~unpact_exp.unpact.scoring.family_target_logprobs` together, batched at most
``batch_size`` variants per forward pass rather than one pass per variant. The n+1
variants of a prompt form one family: variant i repeats the prompt up to unit i, so
that shared prefix (template, in-context examples, the question up to the unit) is
computed once per prompt instead of n+1 times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unpact_exp.errors import UnpactConfigError
from unpact_exp.models.prompt import EncodedPrompt, PromptParts, encode_parts
from unpact_exp.unpact.scoring import family_target_logprobs, padding_id
from unpact_exp.unpact.units import PromptUnits, units_of


@dataclass(frozen=True)
class PromptContributions:
    """UNPACT result for one prompt.

    Attributes:
        units: unit texts in question order.
        spans: ``(start, end)`` token spans of the units in ``prompt_ids`` (end exclusive).
        prompt_ids: the unperturbed prompt token ids.
        target_ids: the scored target y.
        lp: LP(x, y) of the unperturbed prompt.
        contributions: C_i per unit, aligned with ``units``.
    """

    units: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    prompt_ids: tuple[int, ...]
    target_ids: tuple[int, ...]
    lp: float
    contributions: tuple[float, ...]


def resolve_filler_id(tokenizer: Any, filler: str | None) -> int:
    """The token id that ``removal=replace`` writes over a unit (``unpact.filler``).

    Args:
        tokenizer: the model's tokenizer.
        filler: token text; ``None`` picks the tokenizer's unk token, else its pad token.

    Raises:
        UnpactConfigError: ``filler`` is not exactly one token, or it is ``None`` and the
            tokenizer has neither unk nor pad.
    """
    if filler is None:
        for name in ("unk_token_id", "pad_token_id"):
            token_id = getattr(tokenizer, name, None)
            if token_id is not None:
                return int(token_id)
        raise UnpactConfigError(
            "unpact.filler=null needs a tokenizer with an unk or pad token and this one has "
            "neither; set unpact.filler to a single-token text such as '_'."
        )
    ids = tokenizer(filler, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise UnpactConfigError(
            f"unpact.filler={filler!r} is {len(ids)} tokens ({ids}); it must be exactly one "
            "token. Use null for the tokenizer's unk/pad token."
        )
    return int(ids[0])


def encode_target(
    tokenizer: Any, parts: PromptParts, answer: str, answer_prefix: str
) -> tuple[EncodedPrompt, list[int]]:
    """A prompt and the ids of a target answer after it, tokenized together.

    The sequence scored is ``tokenizer(prompt + answer_prefix + answer)`` (one string, so
    a SentencePiece tokenizer puts no stray "▁" at the boundary, see
    :func:`~unpact_exp.models.prompt.encode_parts`); the target is every token holding an
    answer character (the same convention as training on gold answers). An empty answer,
    or one that tokenizes to nothing, becomes ``[eos]`` after the prompt alone: the
    model's "answer" was to stop.

    Returns:
        The encoded prompt (question span included) and the target ids.

    Raises:
        UnpactConfigError: the answer is empty and the tokenizer has no EOS token.
    """
    encoded = encode_parts(tokenizer, parts, answer_prefix + answer if answer else "")
    if encoded.answer_ids:
        return encoded, list(encoded.answer_ids)
    if tokenizer.eos_token_id is None:
        raise UnpactConfigError(
            f"answer {answer!r} is empty and the tokenizer has no eos token to score instead."
        )
    if answer:
        encoded = encode_parts(tokenizer, parts)
    return encoded, [int(tokenizer.eos_token_id)]


def target_ids(tokenizer: Any, parts: PromptParts, answer: str, answer_prefix: str) -> list[int]:
    """Token ids of a target answer as tokenized after its prompt (see :func:`encode_target`)."""
    return encode_target(tokenizer, parts, answer, answer_prefix)[1]


def select_targets(target: str, generated: Sequence[str], reference: Sequence[str]) -> list[str]:
    """Pick the target answers named by ``unpact.target`` (``generated`` or ``reference``)."""
    return list(generated if target == "generated" else reference)


def ablate(ids: Sequence[int], span: tuple[int, int], removal: str, filler_id: int) -> list[int]:
    """``x \\ x_i``: the prompt with the unit at ``span`` deleted or replaced token by token."""
    start, end = span
    middle = [] if removal == "delete" else [filler_id] * (end - start)
    return list(ids[:start]) + middle + list(ids[end:])


def contribution_vectors(
    model: torch.nn.Module,
    prompts: Sequence[PromptUnits],
    targets: Sequence[Sequence[int]],
    removal: str,
    filler_id: int,
    batch_size: int,
    pad_token_id: int,
) -> list[tuple[float, list[float]]]:
    """LP and C_i for many prompts, all variants batched together.

    Args:
        model: a causal LM (see :func:`mean_target_logprobs`).
        prompts: tokenized prompts with their unit spans.
        targets: target ids y, one per prompt.
        removal: ``delete`` or ``replace``.
        filler_id: the replacement id for ``replace`` (ignored by ``delete``).
        batch_size: sequences per forward pass.
        pad_token_id: padding id.

    Returns:
        ``(LP(x, y), [C_1..C_n])`` per prompt.
    """
    if len(prompts) != len(targets):
        raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets; give one each.")
    families = [
        [(list(prompt.input_ids), list(target))]
        + [
            (ablate(prompt.input_ids, span, removal, filler_id), list(target))
            for span in prompt.spans
        ]
        for prompt, target in zip(prompts, targets)
    ]
    scores = family_target_logprobs(model, families, batch_size, pad_token_id)
    return [(full, [full - value for value in ablated]) for full, *ablated in scores]


def prompt_contributions(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: Sequence[PromptParts],
    answers: Sequence[str],
    answer_prefix: str,
    granularity: str,
    removal: str,
    filler: str | None,
    batch_size: int,
) -> list[PromptContributions]:
    """UNPACT for rendered prompts and target answer texts, one result per prompt.

    Args:
        model: a causal LM.
        tokenizer: its tokenizer.
        prompts: rendered prompts; only their question segment is perturbed.
        answers: target answer texts (the greedy answer or the gold one, see
            :func:`select_targets`; for multiple choice, the letter).
        answer_prefix: ``PromptFormat.answer_prefix``, put before every target.
        granularity: ``token`` or ``word`` (see :func:`units_of`).
        removal: ``delete`` or ``replace``.
        filler: ``unpact.filler`` (see :func:`resolve_filler_id`).
        batch_size: sequences per forward pass (``unpact.batch_size``).
    """
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers; give one each.")
    encoded = [
        encode_target(tokenizer, parts, answer, answer_prefix)
        for parts, answer in zip(prompts, answers)
    ]
    units = [
        units_of(tokenizer, enc, parts.question, granularity)
        for parts, (enc, _) in zip(prompts, encoded)
    ]
    targets = [target for _, target in encoded]
    filler_id = resolve_filler_id(tokenizer, filler) if removal == "replace" else 0
    scored = contribution_vectors(
        model, units, targets, removal, filler_id, batch_size, padding_id(tokenizer)
    )
    return [
        PromptContributions(
            units=u.units,
            spans=u.spans,
            prompt_ids=u.input_ids,
            target_ids=tuple(t),
            lp=lp,
            contributions=tuple(c),
        )
        for u, t, (lp, c) in zip(units, targets, scored)
    ]
