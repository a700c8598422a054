"""Per-token weights of the forget loss: KeyToken-weighted GA and NPO (docs/science.md §11).

Catastrophic forgetting comes from penalising every token of the forget text, common words
included. These weights concentrate the penalty on the answer tokens that depend on the
knowledge-carrying words of the question. For a forget pair ``(x, y)``, with ``K`` a set of
question units of ``x`` and ``x \\ K`` the prompt with all of them removed::

    d_k = log p0(y_k | x, y_<k) - log p0(y_k | x \\ K, y_<k)
    w_k = max(d_k, 0)                 normalised to mean 1 over the batch's answer tokens

``p0`` is the original model M0 (the policy before the first update); weights are computed
once, at the start of fit, for the forget examples the fit trains on, and cached in a buffer
(checkpointed: a resumed run never recomputes them with a partly unlearned policy; see
:mod:`unpact_exp.methods.reference_cache`). ``method.token_weighting`` chooses ``K``:

- ``uniform``: no weights, plain GA/NPO (every answer token weighs 1);
- ``keytoken``: ``K`` = M0's KeyTokens of ``x`` for ``y`` (UNPACT contributions of the question
  units for the trained answer, thresholded by ``unpact.alpha``/``beta``/``normalize``);
- ``question``: ``K`` = every question unit. The control for ``keytoken``: is it the KeyTokens
  that matter, or only how much a token depends on the question at all?

If every raw weight of a batch is 0 (no answer token depends on ``K``) the batch falls back to
uniform weights, so a step never silently does nothing.

Raw-text forget corpora (``data.train_on=text``) have no question; the QA definition applies
window by window (docs/science.md §11). A chunk's target tokens (positions 1..L-1) are cut into
consecutive windows of ``method.keytoken_window`` tokens; for window ``j >= 1`` the prompt ``x``
is the chunk's first token (BOS) followed by window ``j - 1``, ``y`` is window ``j``, and the
units of ``x`` are the tokens of window ``j - 1`` (always token units: raw text has no question
segment to split into words). The first window has no previous one: its tokens get the mean raw
weight of every later-window token of the forget set (the average dependence), so they are
neither singled out nor dropped.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from unpact_exp.config import checks
from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.base import MethodContext
from unpact_exp.methods.reference_cache import check_covered, fill_missing_mask, guard_known
from unpact_exp.methods.token_logprobs import IGNORE_INDEX, token_logprobs
from unpact_exp.unpact.config import UnpactConfig
from unpact_exp.unpact.contributions import ablate, contribution_vectors, resolve_filler_id
from unpact_exp.unpact.inference import analysis_mode, forward_kwargs, model_device
from unpact_exp.unpact.keytokens import select_keytokens
from unpact_exp.unpact.scoring import left_pad, padding_id
from unpact_exp.unpact.units import PromptUnits, split_units

Weighting = Literal["uniform", "keytoken", "question"]
"""``method.token_weighting``: plain loss, KeyToken weights, or question weights."""
WEIGHTINGS: tuple[str, ...] = typing.get_args(Weighting)
Span = tuple[int, int]


@dataclass(frozen=True)
class ForgetPrompts:
    """Where the question units lie in each forget training example.

    Attributes:
        spans: per example (by ``index``), the ``(start, end)`` token spans of its question units
            in the example's own ``input_ids`` (after any left truncation); ``None`` for raw-text
            chunks, which are weighted window by window.
        filler_id: the id ``unpact.removal=replace`` writes over a unit.
        pad_id: a padding id for the scoring batches (never attended to).
    """

    spans: tuple[tuple[Span, ...], ...] | None
    filler_id: int
    pad_id: int


def question_units(
    tokenizer: Any,
    prompt_format: Any,
    questions: Sequence[str],
    prompt_lengths: Sequence[int],
    granularity: str,
    filler: str | None,
    removal: str,
) -> ForgetPrompts:
    """Unit spans of the forget questions, aligned with the encoded training examples.

    Args:
        tokenizer: the model's tokenizer.
        prompt_format: the :class:`~unpact_exp.models.prompt.PromptFormat` of training.
        questions: the forget questions, in example order.
        prompt_lengths: prompt tokens kept in each encoded example (``encode_qa`` cuts long
            prompts from the left; spans are shifted by what was cut, cut units dropped).
        granularity: ``unpact.granularity``.
        filler: ``unpact.filler``.
        removal: ``unpact.removal``.
    """
    spans = []
    for question, kept in zip(questions, prompt_lengths, strict=True):
        units = split_units(tokenizer, prompt_format.parts(question, tokenizer), granularity)
        cut = len(units.input_ids) - kept
        spans.append(tuple((s - cut, e - cut) for s, e in units.spans if s - cut >= 0))
    filler_id = resolve_filler_id(tokenizer, filler) if removal == "replace" else 0
    return ForgetPrompts(tuple(spans), filler_id, padding_id(tokenizer))


def text_units(tokenizer: Any, granularity: str, filler: str | None, removal: str) -> ForgetPrompts:
    """The :class:`ForgetPrompts` of raw-text forget chunks (units come from the windows)."""
    filler_id = resolve_filler_id(tokenizer, filler) if removal == "replace" else 0
    return ForgetPrompts(None, filler_id, padding_id(tokenizer))


def text_windows(
    ids: Sequence[int], window: int
) -> list[tuple[list[int], list[int], tuple[Span, ...], int]]:
    """``(x, y, unit spans of x, position of y_1)`` for windows 1, 2, ... of a raw-text chunk.

    Window ``j`` holds positions ``[1 + j * window, 1 + (j + 1) * window)``; ``x`` is ``ids[0]``
    followed by window ``j - 1``, each of whose tokens is a unit.
    """
    starts = list(range(1, len(ids), window))
    out = []
    for prev, start in zip(starts, starts[1:]):
        prompt = [ids[0], *ids[prev:start]]
        spans = tuple((1 + i, 2 + i) for i in range(start - prev))
        out.append((prompt, list(ids[start : start + window]), spans, start))
    return out


def check_weighting(token_weighting: str, forget_prompts: object | None) -> None:
    """Refuse a non-uniform weighting without the forget examples' units (the binder has
    already refused an unknown one).

    Raises:
        UnpactConfigError: naming the bad value and the supported choices.
    """
    if token_weighting != "uniform" and forget_prompts is None:
        raise UnpactConfigError(
            f"method.token_weighting={token_weighting} needs the units of the forget examples "
            "(the unlearn stage supplies them as forget_prompts); this objective was built "
            "without them, so only method.token_weighting=uniform is possible here."
        )


def make_token_weights(
    token_weighting: str,
    unpact: UnpactConfig,
    keytoken_window: int,
    n_forget: int,
    forget_prompts: object | None,
) -> TokenWeights | None:
    """The weights cache of a forget objective, or None for ``uniform`` (plain GA / NPO).

    Checks the weighting first (:func:`check_weighting`), so GA and NPO refuse a bad
    ``method.token_weighting`` with the same message.
    """
    check_weighting(token_weighting, forget_prompts)
    if token_weighting == "uniform":
        return None
    return TokenWeights(token_weighting, unpact, keytoken_window, n_forget)


def normalize_weights(raw: Tensor, mask: Tensor) -> Tensor:
    """Scale non-negative raw weights to mean 1 over the masked (answer) tokens of the batch.

    Args:
        raw: ``[B, T-1]`` raw weights ``max(d_k, 0)`` in shifted coordinates.
        mask: ``[B, T-1]`` bool, the target positions (``labels[:, 1:] != -100``).

    Returns:
        ``[B, T-1]`` float32 weights, 0 off the mask, summing to ``mask.sum()``. When every raw
        weight on the mask is 0 the weights are uniform (1 on the mask).
    """
    mask = mask.to(torch.float32)
    masked = raw.to(torch.float32).clamp(min=0) * mask
    total = masked.sum()
    if float(total) <= 0.0:
        return mask
    return masked * (mask.sum() / total)


def keytoken_deltas(full: Sequence[float], ablated: Sequence[float]) -> list[float]:
    """``max(d_k, 0)`` with ``d_k = log p0(y_k | x) - log p0(y_k | x \\ K)``, token by token."""
    if len(full) != len(ablated):
        raise ValueError(f"{len(full)} full and {len(ablated)} ablated token scores.")
    return [max(f - a, 0.0) for f, a in zip(full, ablated)]


def remove_units(
    ids: Sequence[int], spans: Sequence[Span], removal: str, filler_id: int
) -> list[int]:
    """``x \\ K``: every span removed (right to left, so earlier spans keep their indices)."""
    out = list(ids)
    for span in sorted(set(spans), reverse=True):
        out = ablate(out, span, removal, filler_id)
    return out


def target_token_logprobs(
    model: nn.Module,
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    batch_size: int,
    pad_token_id: int,
) -> list[list[float]]:
    """``log p(y_k | x, y_<k)`` for every target token of every (prompt, target) pair.

    The per-token sibling of :func:`unpact_exp.unpact.scoring.mean_target_logprobs`: the
    same left padding with explicit position ids (a row's scores do not depend on its batch),
    ``batch_size`` pairs per forward pass.
    """
    results: list[list[float]] = []
    device = model_device(model)
    with analysis_mode(model):
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            ids, attn, pos = left_pad([list(p) + list(t) for p, t in chunk], pad_token_id, device)
            width = max(len(t) for _, t in chunk)
            out = model(
                input_ids=ids,
                attention_mask=attn,
                position_ids=pos,
                **forward_kwargs(model, width + 1),
            )
            logits = out.logits[:, -(width + 1) : -1, :].float()
            logp = logits.log_softmax(-1)
            for row, (_, target) in enumerate(chunk):
                n = len(target)
                index = torch.tensor(list(target), device=logp.device)
                picked = logp[row, width - n :].gather(-1, index[:, None]).squeeze(-1)
                results.append(picked.tolist())
    return results


def raw_weights(
    model: nn.Module,
    examples: Sequence[tuple[Sequence[int], Sequence[int], Sequence[Span]]],
    token_weighting: str,
    unpact: UnpactConfig,
    filler_id: int,
    pad_id: int,
) -> list[list[float]]:
    """Raw weights ``max(d_k, 0)`` of every answer token of every (prompt, answer, spans).

    ``keytoken``: ``K`` from UNPACT contributions of the units for the answer (all variants
    of all prompts batched by :func:`contribution_vectors`); ``question``: every unit. Then
    the full and the reduced prompts are scored token by token in one batched pass.
    """
    if token_weighting == "keytoken":
        prompts = [PromptUnits(tuple(p), (), tuple(s)) for p, _, s in examples]
        scored = contribution_vectors(
            model,
            prompts,
            [list(a) for _, a, _ in examples],
            unpact.removal,
            filler_id,
            unpact.batch_size,
            pad_id,
        )
        keys = [select_keytokens(c, unpact) for _, c in scored]
        chosen = [[s[i] for i in k] for (_, _, s), k in zip(examples, keys)]
    else:
        chosen = [list(s) for _, _, s in examples]
    pairs = [(list(p), list(a)) for p, a, _ in examples]
    pairs += [
        (remove_units(p, k, unpact.removal, filler_id), list(a))
        for (p, a, _), k in zip(examples, chosen)
    ]
    scores = target_token_logprobs(model, pairs, unpact.batch_size, pad_id)
    n = len(examples)
    return [keytoken_deltas(scores[i], scores[n + i]) for i in range(n)]


class TokenWeights(nn.Module):
    """Cached raw weights and M0's token log-probs of the forget set, one row per example.

    Rows are in the shifted coordinates of :func:`token_logprobs` (entry ``t`` belongs to
    ``labels[:, t + 1]``). The width is the longest forget example minus one, known only at
    fit start, so the buffers start empty and a checkpoint restores them at its own width.

    Args:
        token_weighting: ``keytoken`` or ``question``.
        unpact: how KeyTokens are found (the ``unpact`` group).
        window: window length of raw-text chunks (``method.keytoken_window``).
        n_forget: number of forget examples.
    """

    def __init__(
        self, token_weighting: str, unpact: UnpactConfig, window: int, n_forget: int
    ) -> None:
        super().__init__()
        checks.at_least("method.keytoken_window", window, 1)
        self.token_weighting = token_weighting
        self.unpact = unpact
        self.window = window
        self.register_buffer("raw", torch.zeros(n_forget, 0))
        self.register_buffer("ref_logp", torch.zeros(n_forget, 0))
        self.register_buffer("known", torch.zeros(n_forget, dtype=torch.bool))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fill(
        self,
        model: nn.Module,
        batches: Iterable[dict[str, Tensor]],
        forward: Callable[[nn.Module, dict[str, Tensor]], Any],
        prompts: ForgetPrompts,
    ) -> None:
        """Compute the weights with ``model`` (M0), unless restored from a checkpoint."""
        if bool(self.ready):
            return
        items: list[tuple[int, list[int], list[int], tuple[Span, ...], int]] = []
        lengths: dict[int, int] = {}
        ref: dict[int, Tensor] = {}
        was_training = model.training
        model.eval()
        for batch in batches:
            batch = {k: v.to(model_device(model)) for k, v in batch.items()}
            logp, _ = token_logprobs(forward(model, batch).logits, batch["labels"])
            for b, index in enumerate(batch["index"].tolist()):
                length = int(batch["attention_mask"][b].sum())
                ids = batch["input_ids"][b, :length].tolist()
                lengths[index] = length
                ref[index] = logp[b, : length - 1].float()
                if prompts.spans is None:
                    items += [(index, *w) for w in text_windows(ids, self.window)]
                    continue
                labels = batch["labels"][b, :length].tolist()
                first = next(t for t, v in enumerate(labels) if v != IGNORE_INDEX)
                items.append((index, ids[:first], ids[first:], prompts.spans[index], first))
        model.train(was_training)
        deltas = raw_weights(
            model,
            [(x, y, spans) for _, x, y, spans, _ in items],
            self.token_weighting,
            self.unpact,
            prompts.filler_id,
            prompts.pad_id,
        )
        width = max(lengths.values()) - 1
        raw = torch.zeros(len(self.raw), width, device=self.raw.device)
        ref_logp = torch.zeros(len(self.raw), width, device=self.raw.device)
        for (i, _, _, _, start), d in zip(items, deltas):
            raw[i, start - 1 : start - 1 + len(d)] = torch.tensor(
                d
            )  # position start-1 predicts y_1
        for i, values in ref.items():
            ref_logp[i, : len(values)] = values
        if prompts.spans is None:  # first windows: the mean weight of every later window
            later = [v for d in deltas for v in d]
            mean = sum(later) / len(later) if later else 1.0
            for i, length in lengths.items():
                raw[i, : min(self.window, length - 1)] = mean
        self.raw, self.ref_logp = raw, ref_logp
        self.known[list(lengths)] = True
        self.ready.fill_(True)

    def batch(self, index: Tensor, mask: Tensor) -> Tensor:
        """Normalised weights ``[B, T-1]`` of a forget batch (its ``index`` and target mask)."""
        guard_known(self.known, index, "The token weights")
        return normalize_weights(self.rows(self.raw, index, mask.shape[1]), mask)

    def reference(self, index: Tensor, width: int) -> Tensor:
        """M0's cached token log-probs ``[B, width]`` of a forget batch."""
        return self.rows(self.ref_logp, index, width)

    @staticmethod
    def rows(buffer: Tensor, index: Tensor, width: int) -> Tensor:
        """``buffer[index]`` cut or zero-padded to ``width`` columns."""
        picked = buffer[index.to(buffer.device)]
        if picked.shape[1] >= width:
            return picked[:, :width]
        return torch.nn.functional.pad(picked, (0, width - picked.shape[1]))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        fill_missing_mask(state_dict, prefix, "known", "ready", "raw")
        # The buffers' width is that of the checkpointed run: take it before copying.
        for name in ("raw", "ref_logp"):
            saved = state_dict.get(prefix + name)
            if saved is not None:
                setattr(self, name, torch.zeros(saved.shape, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args)


def weight_logs(weights: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """What a step logs about its weights: the largest, and the share of answer tokens at 0."""
    on = weights[mask.bool()]
    if on.numel() == 0:
        zero = torch.zeros((), device=weights.device)
        return {"token_weight_max": zero, "token_weight_zero_frac": zero}
    return {
        "token_weight_max": on.max().detach(),
        "token_weight_zero_frac": (on == 0).float().mean().detach(),
    }


def fill_weights(
    weights: TokenWeights, ctx: MethodContext, forget_prompts: Callable[..., ForgetPrompts] | None
) -> None:
    """Fill ``weights`` with the policy before its first update (M0), unless restored.

    For the forget examples the fit trains on, M0's token log-probs under the training
    precision (as NPO's reference, :mod:`unpact_exp.methods.reference_cache`); a restored
    cache is checked to cover this fit.
    """
    if forget_prompts is None:
        return
    batches = ctx.forget_batches_to_train()
    if bool(weights.ready):
        check_covered(weights.known, batches, "The token weights")
        return

    def forward(model: nn.Module, batch: dict[str, Tensor]) -> Any:
        with ctx.reference_context():
            return ctx.forward_batch(model, batch)

    unpact = weights.unpact
    prompts = forget_prompts(unpact.granularity, unpact.filler, unpact.removal)
    weights.fill(ctx.policy, batches, forward, prompts)
