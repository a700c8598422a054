"""Batched, padding-invariant log-probabilities of target tokens given prompts.

UNPACT needs n+1 scores per prompt and multiple-choice evaluation one per letter, so
scoring is the hot loop of the analysis (docs/science.md §2: "batched forward passes,
not a Python loop of single forwards"). Two batched paths:

- :func:`mean_target_logprobs` scores independent (prompt, target) pairs. Sequences are
  left-padded so every target ends at the last position; the attention mask hides the
  padding and explicit ``position_ids`` (counted from the first real token) make a
  row's score independent of how much padding its batch needed.
- :func:`family_target_logprobs` scores *families* of pairs that share a prefix (a
  prompt and its n ablations: every variant repeats the prompt up to the removed unit).
  The shared prefix is computed once per family: each family becomes one packed row
  (the shared tokens, then every member's own tokens) with an explicit 4-D attention
  mask that lets a member's tokens see only the shared tokens before its divergence
  point and its own earlier tokens, and ``position_ids`` that give every token its
  position in its own sequence. Each member therefore gets exactly the logits it would
  get alone, while the forward pass computes the shared tokens once instead of n+1
  times. Models that cannot take a 4-D mask (no ``config._attn_implementation`` of
  ``sdpa``/``eager``, e.g. flash-attention or hand-made test models) fall back to the
  first path.

:func:`collect_stats` counts the work done (forward passes, token slots, attended pairs,
logits), so benchmarks can turn wall time into a multiply-add rate.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from unpact_exp.errors import DataError
from unpact_exp.models.prompt import common_prefix
from unpact_exp.stop import check_stop
from unpact_exp.unpact.inference import analysis_mode, forward_kwargs, model_device
from unpact_exp.unpact.progress import phase


@dataclass
class ScoringStats:
    """Work done by the scoring forward passes while :func:`collect_stats` was active.

    Attributes:
        forwards: forward passes.
        slots: token slots computed (rows x width, padding included).
        tokens: real (non-padding) token slots.
        attended: (query, key) pairs that real queries attend to, summed over rows.
        logits: positions at which the LM head produced logits.
    """

    forwards: int = 0
    slots: int = 0
    tokens: int = 0
    attended: int = 0
    logits: int = 0


@dataclass
class _Collector:
    active: list[ScoringStats] = field(default_factory=list)

    def add(self, **counts: int) -> None:
        for stats in self.active:
            for key, value in counts.items():
                setattr(stats, key, getattr(stats, key) + int(value))


_COLLECTOR = _Collector()
Pair = tuple[Sequence[int], Sequence[int]]


@contextlib.contextmanager
def collect_stats() -> Iterator[ScoringStats]:
    """Count the scoring work done inside the block (for benchmarks; costs a few sums)."""
    stats = ScoringStats()
    _COLLECTOR.active.append(stats)
    try:
        yield stats
    finally:
        _COLLECTOR.active.remove(stats)


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
    label: str = "scoring",
) -> list[float]:
    """LP(x, y) = (1/T) sum_k log p(y_k | x, y_<k) for every (prompt ids, target ids) pair.

    This is the score of docs/science.md §2. Pairs are sorted by length before batching
    (less padding), scored ``batch_size`` at a time in one forward pass each, and
    returned in input order. Pairs with identical prompts (the letters of a
    multiple-choice item) are scored as one family by :func:`family_target_logprobs`
    when the model supports it, so their common prompt is forwarded once.

    Args:
        model: a causal LM whose forward takes ``input_ids``, ``attention_mask`` and
            ``position_ids`` and returns an object with ``.logits``.
        pairs: (prompt ids, target ids); both must be non-empty.
        batch_size: sequences per forward pass.
        pad_token_id: padding id.
        label: the progress bar's name for this phase (:mod:`unpact_exp.unpact.progress`).

    Returns:
        One float per pair.

    Raises:
        DataError: a prompt or a target is empty (the first target token would have no
            position to be predicted from, or the mean would be over nothing).
    """
    _check_pairs(pairs)
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (prompt, _) in enumerate(pairs):
        groups.setdefault(tuple(prompt), []).append(index)
    if len(groups) < len(pairs) and supports_shared_prefix(model):
        members = list(groups.values())
        families = [[pairs[i] for i in group] for group in members]
        scores = [0.0] * len(pairs)
        for group, values in zip(
            members, family_target_logprobs(model, families, batch_size, pad_token_id, label)
        ):
            for index, value in zip(group, values):
                scores[index] = value
        return scores
    return _pair_logprobs(model, pairs, batch_size, pad_token_id, label)


def _pair_logprobs(
    model: torch.nn.Module,
    pairs: Sequence[Pair],
    batch_size: int,
    pad_token_id: int,
    label: str = "scoring",
) -> list[float]:
    """Every pair its own left-padded row, ``batch_size`` rows per forward pass."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    scores = [0.0] * len(pairs)
    device = model_device(model)
    with analysis_mode(model), phase(label, len(pairs), "sequences") as advance:
        for start in range(0, len(order), batch_size):
            check_stop()  # SIGTERM: stop between batches (unpact_exp.stop)
            chunk = order[start : start + batch_size]
            for index, value in zip(
                chunk, _score_batch(model, [pairs[i] for i in chunk], pad_token_id, device)
            ):
                scores[index] = value
            advance(len(chunk))
    return scores


def _check_pairs(pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
    for prompt, target in pairs:
        if not prompt or not target:
            raise DataError(
                f"cannot score prompt of {len(prompt)} tokens with target of {len(target)} "
                "tokens: both must be non-empty (use a prompt template with a prefix or BOS, "
                "or unpact.removal=replace)."
            )


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
    if _COLLECTOR.active:
        real = attention_mask.sum(-1)
        _COLLECTOR.add(
            forwards=1,
            slots=attention_mask.numel(),
            tokens=real.sum(),
            attended=(real * (real + 1) // 2).sum(),
            logits=out.logits.shape[0] * out.logits.shape[1],
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


def supports_shared_prefix(model: torch.nn.Module) -> bool:
    """Whether ``model`` can score a packed family row (see the module docstring).

    It must be a decoder-only HF model whose attention takes an additive 4-D mask as
    given (``sdpa`` or ``eager``), whose forward takes ``position_ids``, and which has
    no sliding window (a 4-D mask would silently override it).
    """
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) not in ("sdpa", "eager"):
        return False
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "sliding_window", None):
        return False
    params = inspect.signature(model.forward).parameters
    return "position_ids" in params and "attention_mask" in params


def family_target_logprobs(
    model: torch.nn.Module,
    families: Sequence[Sequence[Pair]],
    batch_size: int,
    pad_token_id: int,
    label: str = "UNPACT scoring",
) -> list[list[float]]:
    """LP(x, y) for every (prompt, target) pair of every family, shared prefixes computed once.

    The first pair of a family is its anchor. Every member shares with the anchor the
    tokens before the first place where their ``prompt + target`` sequences differ
    (at most up to its own last prompt token, whose logits it needs). Those shared
    tokens are forwarded once per row; the rest of each member is forwarded as its own
    segment. Results equal scoring every pair alone up to float rounding; models
    without :func:`supports_shared_prefix` take the independent-pairs path instead.

    Args:
        model: a causal LM (see :func:`mean_target_logprobs`).
        families: groups of (prompt ids, target ids); both must be non-empty.
        batch_size: at most this many pairs per forward pass. A family with more
            members is split into rows of ``batch_size`` members, each repeating the
            shared prefix.
        pad_token_id: padding id.
        label: the progress bar's name for this phase (:mod:`unpact_exp.unpact.progress`).

    Returns:
        One list of floats per family, aligned with its pairs.

    Raises:
        DataError: a prompt or a target is empty.
    """
    sizes = [len(family) for family in families]
    flat = [pair for family in families for pair in family]
    _check_pairs(flat)
    if not supports_shared_prefix(model):
        scores = iter(_pair_logprobs(model, flat, batch_size, pad_token_id, label))
        return [[next(scores) for _ in range(size)] for size in sizes]
    rows = [
        _layout_row(family, index, list(range(start, min(start + batch_size, len(family)))))
        for index, family in enumerate(families)
        for start in range(0, len(family), batch_size)
    ]
    rows.sort(key=lambda row: len(row.ids))  # similar widths together: less padding
    results = [[0.0] * size for size in sizes]
    device = model_device(model)
    with analysis_mode(model), phase(label, len(flat), "sequences") as advance:
        batch: list[_Row] = []
        for row in rows:
            if batch and sum(len(r.members) for r in batch) + len(row.members) > batch_size:
                check_stop()  # SIGTERM: stop between batches (unpact_exp.stop)
                _score_rows(model, batch, pad_token_id, device, results)
                advance(sum(len(r.members) for r in batch))
                batch = []
            batch.append(row)
        if batch:
            _score_rows(model, batch, pad_token_id, device, results)
            advance(sum(len(r.members) for r in batch))
    return results


@dataclass
class _Row:
    """One packed row: a family's shared prefix, then its members' own tokens.

    Per slot: the token, its position in its own sequence, its group (0: shared,
    k + 1: the k-th member of the row) and the cutoff (shared tokens at positions below
    it are visible to the slot). The last ``len(targets)`` slots are the scoring slots:
    slot j's logits predict ``targets[j]`` for member ``owners[j]`` of the family.
    """

    family: int
    members: list[int]
    ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    cutoffs: list[int] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)

    def add(self, tokens: Sequence[int], start: int, group: int, cutoff: int) -> None:
        """Append a segment: ``tokens`` at positions ``start, start + 1, ...``."""
        self.ids.extend(tokens)
        self.positions.extend(range(start, start + len(tokens)))
        self.groups.extend([group] * len(tokens))
        self.cutoffs.extend([cutoff] * len(tokens))


def _layout_row(family: Sequence[Pair], index: int, members: list[int]) -> _Row:
    """Lay out ``members`` of a family: shared prefix, own context tokens, scoring tokens."""
    anchor = list(family[0][0]) + list(family[0][1])
    sequences = [list(family[m][0]) + list(family[m][1]) for m in members]
    cuts = [
        min(common_prefix(seq, anchor), len(family[m][0]) - 1) for m, seq in zip(members, sequences)
    ]
    shared = max(cuts)
    row = _Row(family=index, members=members)
    row.add(anchor[:shared], 0, 0, shared)
    scoring: list[tuple[list[int], int, int, int]] = []
    for k, (m, seq, cut) in enumerate(zip(members, sequences, cuts)):
        first = len(family[m][0]) - 1  # the last prompt token: its logits predict y_1
        row.add(seq[cut:first], cut, k + 1, cut)
        scoring.append((seq[first:-1], first, k + 1, cut))
        row.targets.extend(seq[first + 1 :])
        row.owners.extend([m] * (len(seq) - 1 - first))
    for segment in scoring:
        row.add(*segment)
    return row


def _score_rows(
    model: torch.nn.Module,
    rows: Sequence[_Row],
    pad_token_id: int,
    device: torch.device,
    results: list[list[float]],
) -> None:
    """One forward pass over packed rows (left-padded); writes member means into ``results``."""
    width = max(len(r.ids) for r in rows)
    keep = max(len(r.targets) for r in rows)
    shape = (len(rows), width)
    ids = torch.full(shape, pad_token_id, dtype=torch.long)
    pos = torch.zeros(shape, dtype=torch.long)
    grp = torch.full(shape, -1, dtype=torch.long)
    cut = torch.zeros(shape, dtype=torch.long)
    for b, row in enumerate(rows):
        off = width - len(row.ids)
        ids[b, off:] = torch.tensor(row.ids)
        pos[b, off:] = torch.tensor(row.positions)
        grp[b, off:] = torch.tensor(row.groups)
        cut[b, off:] = torch.tensor(row.cutoffs)
    # The width x width masks are built where the model runs (they dwarf the id tensors).
    ids, pos, grp, cut = (t.to(device) for t in (ids, pos, grp, cut))
    real = grp >= 0
    q_pos, k_pos = pos[:, :, None], pos[:, None, :]
    q_grp, k_grp = grp[:, :, None], grp[:, None, :]
    visible = (k_grp == q_grp) | ((k_grp == 0) & (k_pos < cut[:, :, None]))
    allowed = visible & (k_pos <= q_pos) & real[:, None, :]
    # Padding queries attend to themselves only, so no softmax row is empty (no NaN).
    allowed |= torch.eye(width, dtype=torch.bool, device=device) & ~real[:, :, None]
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    mask = torch.zeros((len(rows), 1, width, width), dtype=dtype, device=device)
    mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, **forward_kwargs(model, keep))
    if _COLLECTOR.active:
        _COLLECTOR.add(
            forwards=1,
            slots=ids.numel(),
            tokens=real.sum(),
            attended=(allowed & real[:, :, None]).sum(),
            logits=out.logits.shape[0] * out.logits.shape[1],
        )
    logits = out.logits[:, -keep:, :]
    row_index = torch.tensor([b for b, row in enumerate(rows) for _ in row.targets])
    slot_index = torch.tensor(
        [keep - len(row.targets) + j for row in rows for j in range(len(row.targets))]
    )
    targets = torch.tensor([t for row in rows for t in row.targets], device=logits.device)
    picked = logits[row_index.to(logits.device), slot_index.to(logits.device)].float()
    token_logps = picked.gather(-1, targets[:, None]).squeeze(-1) - picked.logsumexp(-1)
    sums: dict[tuple[int, int], list[float]] = {}
    flat_owners = [(row.family, owner) for row in rows for owner in row.owners]
    for key, value in zip(flat_owners, token_logps.tolist()):
        sums.setdefault(key, []).append(value)
    for (family, member), values in sums.items():
        results[family][member] = sum(values) / len(values)
