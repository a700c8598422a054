"""Which ids stop and pad generation, and a ``generate`` that ignores the model's sampling defaults.

Real checkpoints ship a ``generation_config.json`` written for chat use, not for measurement:
Llama-3.1-8B-Instruct's has ``do_sample: true, temperature: 0.6, top_p: 0.9`` and three stop
ids ``[128001, 128008, 128009]``; Qwen3's adds ``top_k: 20``; some models add a
``repetition_penalty``. transformers fills every setting a ``generate`` call leaves unset from
that file (even when a ``GenerationConfig`` is passed), so a "greedy" answer would be
repetition-penalised and a PROBAB sample would be drawn at the model's temperature and top-k
instead of ``probab.*``. :func:`measurement_generation` therefore swaps the model's config for
one that holds only the ids (stop, pad, BOS) for the duration of the call: every other setting
is what the caller passes, or transformers' neutral global default.

Stop ids stay a *list* (any of them ends an answer: Llama-3.1 ends a turn with ``<|eot_id|>``
but may emit ``<|eom_id|>`` or ``<|end_of_text|>``). Padding takes one id: transformers 5
rejects a list ``pad_token_id`` in ``generate`` (and in a saved ``generation_config.json``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def as_id_list(value: Any) -> list[int]:
    """An id setting (``None``, one int, or a list of ints) as a list, order kept."""
    if value is None:
        return []
    if isinstance(value, int):
        return [int(value)]
    return [int(v) for v in value]


def stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every id that ends an answer: the generation config's EOS ids, then the tokenizer's.

    The model's list comes first, in its order; the tokenizer's EOS (the chat turn end,
    e.g. ``<|eot_id|>`` / ``<|im_end|>``) is added when the config lacks it.
    """
    config = getattr(model, "generation_config", None)
    ids = as_id_list(getattr(config, "eos_token_id", None))
    if not ids:
        ids = as_id_list(getattr(getattr(model, "config", None), "eos_token_id", None))
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is not None and int(eos) not in ids:
        ids.append(int(eos))
    return ids


def fix_pad_id(generation_config: Any, model_config: Any) -> None:
    """Give a loaded model's generation config one integer pad id.

    Kept when it is already one id; a list (a folder saved by another tool) keeps its
    first id; none falls back to the first EOS id (generation config, else model config),
    the usual choice for models without a pad token (Llama-3.1). Leaves it ``None`` when
    the model names no EOS at all (callers then pass the tokenizer's pad).
    """
    pad = as_id_list(generation_config.pad_token_id)
    if not pad:
        pad = as_id_list(generation_config.eos_token_id) or as_id_list(
            getattr(model_config, "eos_token_id", None)
        )
    generation_config.pad_token_id = pad[0] if pad else None


def _holders(model: Any) -> list[Any]:
    """The modules that own a ``generation_config`` (a wrapper forwards to its inner model)."""
    return [m for m in model.modules() if "generation_config" in vars(m)]


@contextlib.contextmanager
def measurement_generation(model: Any, stop: list[int], pad_id: int) -> Iterator[None]:
    """Within the block, ``model.generate`` sees only ``stop``, ``pad_id`` and the BOS id.

    Args:
        model: a HF causal LM, possibly wrapped (PEFT): every module owning a
            ``generation_config`` gets the plain one and its own back afterwards.
        stop: the ids that end generation (:func:`stop_ids`), kept as a list.
        pad_id: the id written after a sequence has stopped (the tokenizer's pad).
    """
    from transformers import GenerationConfig

    holders = _holders(model)
    saved = [m.generation_config for m in holders]
    try:
        for module, original in zip(holders, saved):
            module.generation_config = GenerationConfig(
                bos_token_id=getattr(original, "bos_token_id", None),
                eos_token_id=list(stop),
                pad_token_id=int(pad_id),
            )
        yield
    finally:
        for module, original in zip(holders, saved):
            module.generation_config = original
