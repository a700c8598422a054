"""Per-token and per-sequence log-probabilities of the target tokens of a causal LM batch.

Every objective in this package reads the model through these three functions, so they fix the
one convention all of them share (the Hugging Face causal-LM convention):

- logits at position ``t`` predict the token at position ``t + 1`` (the *causal shift*): for
  ``logits`` of shape ``[B, T, V]`` and ``labels`` of shape ``[B, T]`` the scored pairs are
  ``(logits[:, t], labels[:, t + 1])`` for ``t = 0 .. T - 2``, giving ``[B, T - 1]`` outputs;
  ``labels[:, 0]`` is never a target and ``logits[:, T - 1]`` is never used;
- a label equal to ``IGNORE_INDEX`` (-100) is not a target (prompt or padding token): its
  log-prob is reported as 0 and its mask entry is False.

Equations, with ``m_{b,t} = [labels[b, t+1] != -100]`` and ``log p`` the log-softmax over the
vocabulary::

    logp[b, t]           = log p_theta(labels[b, t+1] | logits[b, t]) * m_{b,t}
    sequence_logprob[b]  = sum_t logp[b, t]                       (NPO, arXiv 2404.05868)
    mean_nll             = -sum_{b,t} logp[b, t] / sum_{b,t} m_{b,t}

``mean_nll`` is the token mean over the whole batch, the same number as Hugging Face's
``CausalLM`` loss (``F.cross_entropy(..., ignore_index=-100)`` on the shifted tensors), not a
mean of per-sequence means.

Log-softmax is computed in float32 whatever the logits' dtype (bf16 log-softmax over a 32k+
vocabulary loses most of its precision); the outputs are float32.
"""

from __future__ import annotations

import torch
from torch import Tensor

IGNORE_INDEX = -100
"""Label value marking a position that is not a target (Hugging Face / PyTorch convention)."""


def _check_shapes(logits: Tensor, labels: Tensor) -> None:
    if logits.dim() != 3:
        raise ValueError(f"logits must be [batch, seq, vocab]; got shape {tuple(logits.shape)}")
    if tuple(labels.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"labels must be [batch, seq] matching logits {tuple(logits.shape)}; "
            f"got shape {tuple(labels.shape)}"
        )


def token_logprobs(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Log-probability of each target token, after the causal shift.

    Args:
        logits: ``[B, T, V]`` model outputs.
        labels: ``[B, T]`` token ids, ``-100`` where the position is not a target.

    Returns:
        ``(logp, mask)``, both ``[B, T - 1]``: ``logp[b, t]`` is the float32 log-probability the
        logits at position ``t`` give to ``labels[b, t + 1]`` (0 where ignored), and ``mask`` is the
        bool tensor ``labels[:, 1:] != -100``.
    """
    _check_shapes(logits, labels)
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    # gather needs a valid index at ignored positions; 0 is a placeholder zeroed by the mask.
    index = shift_labels.masked_fill(~mask, 0).unsqueeze(-1)
    picked = torch.gather(shift_logits, dim=-1, index=index).squeeze(-1)
    logp = picked - torch.logsumexp(shift_logits, dim=-1)
    return logp * mask, mask


def sequence_logprob(logits: Tensor, labels: Tensor) -> Tensor:
    """Sum of the target-token log-probabilities of each sequence.

    This is the sequence log-likelihood ``log p_theta(y | x)`` that NPO compares against the
    reference model; a sequence with no target token gets 0.

    Args:
        logits: ``[B, T, V]`` model outputs.
        labels: ``[B, T]`` token ids, ``-100`` where the position is not a target.

    Returns:
        ``[B]`` float32 tensor of per-sequence sums.
    """
    logp, _ = token_logprobs(logits, labels)
    return logp.sum(dim=-1)


def mean_nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Token-mean negative log-likelihood over every target token of the batch.

    Equal to Hugging Face's causal-LM loss. One deliberate difference: a batch with no target
    token at all returns 0 (with zero gradient) instead of NaN, so a degenerate batch cannot
    poison the weights; the data layer is where such batches should be caught.

    Args:
        logits: ``[B, T, V]`` model outputs.
        labels: ``[B, T]`` token ids, ``-100`` where the position is not a target.

    Returns:
        Scalar float32 tensor.
    """
    logp, mask = token_logprobs(logits, labels)
    return -logp.sum() / mask.sum().clamp(min=1)
