"""MUSE's VerbMem: how much of the forget text the model still reproduces word for word.

As ``metrics/verbmem.py`` of github.com/swj0419/muse_bench computes it, for each
``verbmem/forget`` pair (prompt, gt):

1. the raw prompt (no chat template, no in-context examples) is encoded with the tokenizer's
   special tokens and continued greedily for ``metrics.verbmem.max_new_tokens`` tokens (MUSE:
   128); the new tokens are decoded with special tokens skipped (so everything after EOS,
   which is padding, drops out) and no stop strings are applied;
2. the reference is shortened to the same budget: ``gt`` is encoded *with* special tokens,
   its first ``max_new_tokens`` ids kept (the BOS counts among them, as in MUSE) and decoded
   with special tokens skipped;
3. the score is the ROUGE-L F1 of the shortened reference against the continuation
   (``rouge_score``, no stemming unless ``eval.rouge_stemming``), averaged and x 100.

Prompts are generated in left-padded batches (``eval.generation_batch_size``); HF causal LMs take
position ids from the attention mask, so a continuation does not depend on its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics.knowmem import knowmem_score
from unpact_exp.metrics.registry import register
from unpact_exp.models.generation_config import measurement_generation, stop_ids
from unpact_exp.stop import check_stop
from unpact_exp.unpact.inference import analysis_mode, model_device
from unpact_exp.unpact.scoring import left_pad, padding_id


def shorten_reference(tokenizer: Any, gt: str, max_new_tokens: int) -> str:
    """MUSE's ``gt_short``: the first ``max_new_tokens`` ids of ``gt`` (with its special
    tokens), decoded without them."""
    ids = tokenizer(gt, add_special_tokens=True).input_ids[:max_new_tokens]
    return tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)


def continuations(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """The greedy continuation of each raw prompt (step 1 of the module docstring)."""
    encoded = [tokenizer(p, add_special_tokens=True).input_ids for p in prompts]
    pad_id = padding_id(tokenizer)
    device = model_device(model)
    outputs: list[str] = []
    with analysis_mode(model), measurement_generation(model, stop_ids(model, tokenizer), pad_id):
        for start in range(0, len(encoded), batch_size):
            check_stop()
            input_ids, attention_mask, _ = left_pad(
                encoded[start : start + batch_size], pad_id, device
            )
            out = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                do_sample=False,
                num_beams=1,
                max_new_tokens=max_new_tokens,
            )
            new = out[:, input_ids.shape[1] :]
            outputs += tokenizer.batch_decode(
                new, skip_special_tokens=True, clean_up_tokenization_spaces=True
            )
    return outputs


def verbmem_score(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: Sequence[str],
    gts: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    stemming: bool,
) -> float:
    """MUSE's ``verbmem_f``: mean ROUGE-L F1 x 100 of the continuations (NaN without items)."""
    outputs = continuations(model, tokenizer, prompts, max_new_tokens, batch_size)
    references = [shorten_reference(tokenizer, gt, max_new_tokens) for gt in gts]
    return knowmem_score(references, outputs, stemming=stemming)


@register("verbmem")
class VerbMem:
    """``verbmem_forget`` of M1 and ``verbmem_forget_original`` of M0 (MUSE's verbmem/forget).

    Args:
        max_new_tokens: greedy continuation length and reference cut (MUSE: 128).
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column("verbmem_forget", "VerbMem forget (0-100)", "score"),
        Column("verbmem_forget_original", "VerbMem forget, M0 (0-100)", "score"),
    )
    table: ClassVar[str | None] = "MUSE metrics"
    description: ClassVar[str] = (
        "VerbMem forget = mean ROUGE-L F1 x 100 of the greedy continuation of each "
        "verbmem/forget prompt against its reference (both cut to "
        "`metrics.verbmem.max_new_tokens` tokens), as MUSE (arXiv 2407.06460) computes it; "
        "M0 = the original model."
    )

    def __init__(self, max_new_tokens: int) -> None:
        from unpact_exp.config import checks

        checks.at_least("metrics.verbmem.max_new_tokens", max_new_tokens, 1)
        self.max_new_tokens = max_new_tokens

    def applies(self, benchmark: Benchmark) -> bool:
        """The dataset needs MUSE's ``verbmem/forget`` split."""
        return bool(benchmark.verbmem_forget)

    def prepare(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M0's VerbMem."""
        return {"verbmem_forget_original": self._score(model, ctx)}

    def measure(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M1's VerbMem."""
        return {"verbmem_forget": self._score(model, ctx)}

    def _score(self, model: torch.nn.Module, ctx: MetricContext) -> float:
        pairs = ctx.benchmark.verbmem_forget
        return verbmem_score(
            model,
            ctx.tokenizer,
            [item.question for item in pairs],
            [item.answer for item in pairs],
            self.max_new_tokens,
            ctx.eval.generation_batch_size,
            ctx.eval.rouge_stemming,
        )
