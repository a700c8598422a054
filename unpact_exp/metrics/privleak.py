"""MUSE's PrivLeak: can a membership-inference attack tell forget texts from held-out ones?

MUSE (arXiv 2407.06460, ``metrics/privleak.py`` of github.com/swj0419/muse_bench) scores every
text of ``privleak/forget`` and ``privleak/holdout`` with Min-K% Prob (Shi et al., arXiv
2310.16789) at k = 40% and reports the ROC AUC of that score between the two sets, relative to
a model retrained without the forget set::

    score(x)  = mean of the floor(k * n) lowest log p(x_t | x_<t), t = 2..n   (BOS not scored)
    AUC       = P(score(holdout text) > score(forget text))  (+ half the ties)
    privleak  = (AUC_unlearned - AUC_retrain) / AUC_retrain * 100

(MUSE stores ``-score`` as ``Min-40%`` and passes ``-(-score)`` to ``roc_curve`` with the
holdout texts labelled 1, which is the AUC above.) A model that still knows the forget texts
gives them higher scores, so its AUC is near 0 and privleak near -100; a perfectly unlearned
model matches the retrain model (0); an over-unlearned one makes forget texts look *less*
likely than unseen ones (positive).

Min-K%++ (Zhang et al., arXiv 2404.02936) standardises each token's log-prob by the mean and
standard deviation of the log-probs under the model's own next-token distribution,
``(log p(x_t) - mu_t) / sigma_t`` with ``mu_t = E_z[log p(z)]`` and
``sigma_t^2 = E_z[log p(z)^2] - mu_t^2``, then averages the lowest k%; it is offered as
``metrics.privleak.score: min_k_plus_plus``. MUSE itself uses plain Min-K%.

The token statistics, the lowest-k mean, the AUC and the relative score are the
membership-inference suite's (:mod:`unpact_exp.metrics.mia`), so PrivLeak and the ``mia``
metric compute them once, the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics.mia import lowest_k_mean, mia_auc, relative_privleak, token_statistics
from unpact_exp.metrics.registry import register
from unpact_exp.stop import check_stop
from unpact_exp.training.sequences import IGNORE, Example, PadCollator
from unpact_exp.unpact.inference import analysis_mode, model_device
from unpact_exp.unpact.scoring import padding_id


def rank_auc(negatives: Sequence[float], positives: Sequence[float]) -> float:
    """ROC AUC of scores separating ``positives`` (label 1) from ``negatives`` (label 0).

    ``P(pos > neg) + 0.5 * P(pos == neg)`` over all pairs, which is
    ``sklearn.metrics.auc(*roc_curve(y, s)[:2])`` (MUSE's computation), ties included: the
    suite's :func:`~unpact_exp.metrics.mia.mia_auc` with the negatives as the forget texts.
    NaN when either side is empty.
    """
    return mia_auc(negatives, positives)


def text_scores(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    k: float,
    score: str,
    batch_size: int,
) -> list[float]:
    """Min-K% (or Min-K%++) score of each text under ``model``, batched.

    Each text is encoded as MUSE does (:func:`text_examples`); every token after the first is
    scored from its prefix, padding never is (:func:`example_logits`).
    """
    scores: list[float] = []
    with analysis_mode(model):
        examples = text_examples(tokenizer, texts)
        for example, logits in example_logits(model, tokenizer, examples, batch_size):
            targets = torch.tensor(example.input_ids[1:], device=logits.device)
            stats = token_statistics(logits, targets, score)
            scores.append(lowest_k_mean(stats.cpu().tolist(), k))
    return scores


def text_examples(tokenizer: Any, texts: Sequence[str]) -> list[Example]:
    """Raw texts as MUSE's PrivLeak encodes them (``tokenizer.encode(text)``): special tokens
    added, every token after the first scored, no truncation."""
    out = []
    for i, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=True).input_ids
        out.append(Example(list(ids), [IGNORE, *ids[1:]], i))
    return out


def example_logits(
    model: torch.nn.Module, tokenizer: Any, examples: Sequence[Example], batch_size: int
) -> Iterator[tuple[Example, torch.Tensor]]:
    """Each example with the ``[n - 1, V]`` next-token logits of its ``n`` tokens' prefixes.

    Right-padded batches of ``batch_size`` (the caller sets the model's analysis mode).
    Memory: the batch runs through the decoder without a KV cache (nothing is generated) and
    the LM head is applied one example at a time (:func:`row_logits`), so the full-vocabulary
    logits of the whole batch never exist: MUSE's texts are about 2k tokens, and for
    Llama-3.1 (128k vocabulary) a batch of 32 held about 14 GiB of logits and 7 GiB of cache.
    """
    collate = PadCollator(padding_id(tokenizer))
    device = model_device(model)
    for start in range(0, len(examples), batch_size):
        check_stop()
        chunk = examples[start : start + batch_size]
        batch = collate(chunk)
        lengths = [len(e.input_ids) - 1 for e in chunk]
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        yield from zip(chunk, row_logits(model, ids, mask, lengths), strict=True)


def row_logits(
    model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, lengths: Sequence[int]
) -> Iterator[torch.Tensor]:
    """The ``[n, V]`` next-token logits of each row's first ``n`` positions, one row at a time.

    The decoder runs once over the batch (``use_cache=False``); the output embeddings (the LM
    head) are applied to one row's hidden states at a time, exactly as the model's own forward
    applies them to all of them. Models whose head does more than that (a final logit
    soft-cap) or that do not expose their decoder get a full forward, still without a cache.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(inner, "get_decoder", lambda: None)()
    if decoder is None:  # transformers < 5 answers None for a causal LM: its base model
        decoder = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
    head = getattr(inner, "get_output_embeddings", lambda: None)()
    softcap = getattr(getattr(inner, "config", None), "final_logit_softcapping", None)
    if decoder is None or head is None or softcap:
        logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
        yield from (logits[row, :n] for row, n in enumerate(lengths))
        return
    hidden = decoder(input_ids=input_ids, attention_mask=mask, use_cache=False).last_hidden_state
    for row, n in enumerate(lengths):
        yield head(hidden[row, :n])


def privleak_auc(
    model: torch.nn.Module,
    tokenizer: Any,
    forget: Sequence[str],
    holdout: Sequence[str],
    k: float,
    score: str,
    batch_size: int,
) -> float:
    """MUSE's ``forget_holdout_Min-K%`` AUC of ``model``: holdout texts are the positives."""
    negatives = text_scores(model, tokenizer, forget, k, score, batch_size)
    positives = text_scores(model, tokenizer, holdout, k, score, batch_size)
    return rank_auc(negatives, positives)


@register("privleak")
class PrivLeak:
    """``privleak_auc`` (and MUSE's relative ``privleak`` against a retrain model) of M1 and M0.

    Args:
        k: fraction of lowest-scoring tokens averaged by Min-K% (MUSE: 0.4).
        score: ``min_k`` (MUSE) or ``min_k_plus_plus``.
        retrain_model: folder or hub id of a model retrained without the forget set (same
            tokenizer as M0); None: report the raw AUC only, so a raw AUC is never mistaken
            for MUSE's relative number.
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column("privleak_auc", "PrivLeak AUC (0-1)", "auc"),
        Column("privleak_auc_original", "PrivLeak AUC, M0 (0-1)", "auc"),
        Column("privleak", "PrivLeak vs retrain (%)", "relative"),
        Column("privleak_original", "PrivLeak vs retrain, M0 (%)", "relative"),
    )
    table: ClassVar[str | None] = "MUSE metrics"
    description: ClassVar[str] = (
        "PrivLeak AUC = ROC AUC of the Min-K% score (`metrics.privleak.k`, MUSE 40%) separating "
        "privleak/holdout texts from privleak/forget texts: near 0 while the model still knows "
        "the forget texts, near the retrain model's when they are unlearned. PrivLeak vs "
        "retrain = (AUC - AUC_retrain) / AUC_retrain x 100, MUSE's reported number, only for "
        "runs given `metrics.privleak.retrain_model`."
    )

    def __init__(
        self, k: float, score: Literal["min_k", "min_k_plus_plus"], retrain_model: str | None
    ) -> None:
        from unpact_exp.config import checks

        checks.unit_interval("metrics.privleak.k", k)
        self.k, self.score, self.retrain_model = k, score, retrain_model
        self.retrain_auc: float | None = None

    def applies(self, benchmark: Benchmark) -> bool:
        """The dataset needs MUSE's ``privleak/forget`` and ``privleak/holdout`` splits."""
        return bool(benchmark.privleak_forget and benchmark.privleak_holdout)

    def prepare(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M0's values, and the retrain model's AUC (loaded on M0's device, used once)."""
        if self.retrain_model is not None:
            retrain = ctx.load_beside(self.retrain_model, model)
            self.retrain_auc = self._auc(retrain, ctx)
            del retrain
        values = {f"{k}_original": v for k, v in self.measure(model, ctx, answered).items()}
        if self.retrain_auc is not None:
            values["privleak_auc_retrain"] = self.retrain_auc
        return values

    def measure(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """``privleak_auc`` and, with a retrain model, ``privleak``."""
        auc = self._auc(model, ctx)
        values = {"privleak_auc": auc}
        if self.retrain_auc is not None:
            values["privleak"] = relative_privleak(auc, self.retrain_auc)
        return values

    def _auc(self, model: torch.nn.Module, ctx: MetricContext) -> float:
        bench = ctx.benchmark
        return privleak_auc(
            model,
            ctx.tokenizer,
            list(bench.privleak_forget),
            list(bench.privleak_holdout),
            self.k,
            self.score,
            ctx.eval.generation_batch_size,
        )
