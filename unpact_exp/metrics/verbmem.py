"""MUSE's VerbMem: how much of the forget text the model still reproduces word for word.

As ``metrics/verbmem.py`` of github.com/swj0419/muse_bench computes it, for each
``verbmem/forget`` pair (prompt, gt):

1. the raw prompt (no chat template, no in-context examples) is encoded with the tokenizer's
   special tokens and continued greedily for ``eval.verbmem_max_new_tokens`` tokens (MUSE:
   128); the new tokens are decoded with special tokens skipped (so everything after EOS,
   which is padding, drops out) and no stop strings are applied;
2. the reference is shortened to the same budget: ``gt`` is encoded *with* special tokens,
   its first ``max_new_tokens`` ids kept (the BOS counts among them, as in MUSE) and decoded
   with special tokens skipped;
3. the score is the ROUGE-L F1 of the shortened reference against the continuation
   (``rouge_score``, no stemming unless ``eval.rouge_stemming``), averaged and x 100.

Prompts are generated in left-padded batches (``eval.batch_size``); HF causal LMs take
position ids from the attention mask, so a continuation does not depend on its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unpact_exp.evaluation.correctness import knowmem_score
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
