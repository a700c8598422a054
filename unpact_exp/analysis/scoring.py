"""Batched, padding-invariant log-probabilities of target tokens given prompts.

UNPACT needs n+1 scores per prompt and multiple-choice evaluation one per letter, so
scoring is the hot loop of the analysis (SPEC section 2: "batched forward passes,
not a Python loop of single forwards"). Sequences are left-padded so every target
ends at the last position; the attention mask hides the padding and explicit
``position_ids`` (counted from the first real token) make a row's score independent
of how much padding its batch needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unpact_exp.analysis.inference import analysis_mode, forward_kwargs, model_device
from unpact_exp.errors import DataError


def padding_id(tokenizer: Any) -> int:
    """The id written into padding: pad, else eos, else 0 (never attended to, so any valid id)."""
    for name in ("pad_token_id", "eos_token_id"):
        token_id = getattr(tokenizer, name, None)
        if token_id is not None:
            return int(token_id)
    return 0


def left_pad(
    sequences: Sequence[Sequence[int]], pad_token_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad token id lists into ``input_ids``, ``attention_mask`` and ``position_ids``.

    Position ids are ``cumsum(mask) - 1`` (clamped at 0 on padding), so the first real
    token of every row is at position 0 as it would be unpadded.

    Args:
        sequences: the rows, each a non-empty list of token ids.
        pad_token_id: id written into padding positions (never attended to).
        device: where the tensors are created.
    """
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            input_ids[row, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
            attention_mask[row, width - len(seq) :] = 1
    position_ids = (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)
    return input_ids.to(device), attention_mask.to(device), position_ids.to(device)


def mean_target_logprobs(
    model: torch.nn.Module,
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    batch_size: int,
    pad_token_id: int,
) -> list[float]:
    """LP(x, y) = (1/T) sum_k log p(y_k | x, y_<k) for every (prompt ids, target ids) pair.

    This is the score of SPEC section 2. Pairs are sorted by length before batching
    (less padding), scored ``batch_size`` at a time in one forward pass each, and
    returned in input order.

    Args:
        model: a causal LM whose forward takes ``input_ids``, ``attention_mask`` and
            ``position_ids`` and returns an object with ``.logits``.
        pairs: (prompt ids, target ids); both must be non-empty.
        batch_size: sequences per forward pass.
        pad_token_id: padding id.

    Returns:
        One float per pair.

    Raises:
        DataError: a prompt or a target is empty (the first target token would have no
            position to be predicted from, or the mean would be over nothing).
    """
    for prompt, target in pairs:
        if not prompt or not target:
            raise DataError(
                f"cannot score prompt of {len(prompt)} tokens with target of {len(target)} "
                "tokens: both must be non-empty (use a prompt template with a prefix or BOS, "
                "or unpact.removal=replace)."
            )
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    scores = [0.0] * len(pairs)
    device = model_device(model)
    with analysis_mode(model):
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            for index, value in zip(
                chunk, _score_batch(model, [pairs[i] for i in chunk], pad_token_id, device)
            ):
                scores[index] = value
    return scores


def _score_batch(
    model: torch.nn.Module,
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    pad_token_id: int,
    device: torch.device,
) -> list[float]:
    """Score one batch; targets are right-aligned because the padding is on the left."""
    sequences = [list(p) + list(t) for p, t in pairs]
    input_ids, attention_mask, position_ids = left_pad(sequences, pad_token_id, device)
    max_target = max(len(t) for _, t in pairs)
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        **forward_kwargs(model, max_target + 1),
    )
    # Position j predicts token j+1: the last max_target+1 logits minus the final one
    # predict the last max_target tokens, which hold every row's (right-aligned) target.
    logits = out.logits[:, -(max_target + 1) : -1, :].float()
    targets = torch.full((len(pairs), max_target), 0, dtype=torch.long)
    target_mask = torch.zeros((len(pairs), max_target), dtype=torch.float32)
    for row, (_, target) in enumerate(pairs):
        targets[row, max_target - len(target) :] = torch.tensor(list(target), dtype=torch.long)
        target_mask[row, max_target - len(target) :] = 1.0
    targets, target_mask = targets.to(logits.device), target_mask.to(logits.device)
    token_logps = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)
    means = (token_logps * target_mask).sum(-1) / target_mask.sum(-1)
    return means.tolist()
