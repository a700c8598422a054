"""Batched answer generation: greedy (correctness, FocusOnKey) and sampled (PROBAB).

Prompts are encoded with :func:`~unpact_exp.models.prompt.encode_parts` (the same ids
training and UNPACT see), left-padded and generated in batches of ``batch_size``
with an attention mask; HF causal LMs derive position ids from the mask, so a
prompt's greedy answer does not depend on its batch. Answers are cut at the first
EOS and at the first stop string (docs/science.md §4: ``eval.stop_strings``), then stripped.

``generate`` runs under :func:`~unpact_exp.models.generation_config.measurement_generation`:
the model's own ``generation_config.json`` (a chat model's temperature, top-p, top-k,
repetition penalty) never reaches a measurement; only its stop ids do, all of them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import torch

from unpact_exp.models.generation_config import measurement_generation, stop_ids
from unpact_exp.models.prompt import PromptParts, encode_parts
from unpact_exp.stop import check_stop
from unpact_exp.unpact.inference import analysis_mode, model_device
from unpact_exp.unpact.progress import phase
from unpact_exp.unpact.scoring import left_pad, padding_id


def cut_answer(text: str, stop_strings: Sequence[str]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string, then strip whitespace."""
    end = len(text)
    for stop in stop_strings:
        found = text.find(stop)
        if found != -1:
            end = min(end, found)
    return text[:end].strip()


def decode_answer(
    tokenizer: Any, new_ids: Sequence[int], eos_ids: Collection[int], stop_strings: Sequence[str]
) -> str:
    """Decode generated ids up to the first EOS id, then cut at the first stop string."""
    stops = set(eos_ids)
    kept: list[int] = []
    for token in new_ids:
        if token in stops:
            break
        kept.append(int(token))
    return cut_answer(tokenizer.decode(kept, skip_special_tokens=True), stop_strings)


def _generate(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: Sequence[PromptParts],
    batch_size: int,
    num_return_sequences: int,
    stop_strings: Sequence[str],
    generate_kwargs: dict[str, Any],
    label: str,
) -> list[list[str]]:
    """Generate ``num_return_sequences`` answers per prompt, returned in prompt order.

    ``label`` names the progress bar of this phase (:mod:`unpact_exp.unpact.progress`).
    """
    encoded = [encode_parts(tokenizer, parts).input_ids for parts in prompts]
    pad_id = padding_id(tokenizer)
    eos_ids = stop_ids(model, tokenizer)
    device = model_device(model)
    answers: list[list[str]] = []
    with (
        analysis_mode(model),
        measurement_generation(model, eos_ids, pad_id),
        phase(label, len(encoded), "prompts") as advance,
    ):
        for start in range(0, len(encoded), batch_size):
            check_stop()  # SIGTERM: stop between batches (unpact_exp.stop)
            chunk = encoded[start : start + batch_size]
            input_ids, attention_mask, _ = left_pad(chunk, pad_id, device)
            out = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                num_return_sequences=num_return_sequences,
                **generate_kwargs,
            )
            new = out[:, input_ids.shape[1] :].tolist()
            for row in range(len(chunk)):
                rows = new[row * num_return_sequences : (row + 1) * num_return_sequences]
                answers.append(
                    [decode_answer(tokenizer, ids, eos_ids, stop_strings) for ids in rows]
                )
            advance(len(chunk))
    return answers


def greedy_answers(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: Sequence[PromptParts],
    max_new_tokens: int,
    stop_strings: Sequence[str],
    batch_size: int,
) -> list[str]:
    """The model's greedy answer to each prompt (docs/science.md §4).

    Args:
        model: a HF causal LM (anything with ``generate``).
        tokenizer: its tokenizer (padding is done here, on the left, whatever its setting).
        prompts: rendered prompts.
        max_new_tokens: answer length limit (``eval.max_new_tokens``).
        stop_strings: the answer is cut at the first of these (``eval.stop_strings``).
        batch_size: prompts per ``generate`` call (``eval.generation_batch_size``).
    """
    kwargs = {"do_sample": False, "num_beams": 1, "max_new_tokens": max_new_tokens}
    return [
        rows[0]
        for rows in _generate(
            model, tokenizer, prompts, batch_size, 1, stop_strings, kwargs, "generation"
        )
    ]


def sampled_answers(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: Sequence[PromptParts],
    num_samples: int,
    temperature: float,
    top_p: float,
    seed: int,
    max_new_tokens: int,
    stop_strings: Sequence[str],
    batch_size: int,
) -> list[list[str]]:
    """``num_samples`` multinomial samples per prompt, reproducible from ``seed``.

    Sampling is plain multinomial at ``temperature`` with nucleus ``top_p`` (1.0 = off),
    the ``probab.*`` settings and nothing from the model's generation config; top-k is
    disabled explicitly because HF would otherwise default to 50. The global
    RNG is seeded inside :func:`torch.random.fork_rng`, so the same call gives the same
    samples and the caller's random state (e.g. a training run's) is left untouched.

    Returns:
        For each prompt, its list of ``num_samples`` answers.
    """
    kwargs = {
        "do_sample": True,
        "num_beams": 1,
        "temperature": temperature,
        "top_p": top_p,
        "top_k": 0,
        "max_new_tokens": max_new_tokens,
        # A model whose weights are finite but whose logits overflow (the last finite step of
        # a diverged run) samples garbage instead of crashing torch.multinomial on NaN.
        "remove_invalid_values": True,
    }
    device = model_device(model)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return _generate(
            model,
            tokenizer,
            prompts,
            batch_size,
            num_samples,
            stop_strings,
            kwargs,
            f"sampling (x{num_samples})",
        )
