"""Turn texts and QA items into ``input_ids`` / ``labels`` for causal-LM losses.

Labels carry ``-100`` wherever no loss should be taken: the prompt of a QA pair
(so unlearning acts on answer tokens only: "loss only on the tokens the
config says") and padding. Raw corpora are chunked to ``max_length`` so long MUSE
articles become several training sequences instead of being truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unpact_exp.data.schema import QAItem
from unpact_exp.models.prompt import PromptFormat, encode_parts

IGNORE = -100


@dataclass(frozen=True)
class Example:
    """One training sequence.

    Attributes:
        input_ids: token ids.
        labels: same length; ``-100`` where no loss is taken.
        index: position in its dataset, used to look up cached per-example values
            (NPO's reference log-probs).
        truncated: the QA pair did not fit in ``max_length`` and was cut (see
            :func:`encode_qa` for the rule).
    """

    input_ids: list[int]
    labels: list[int]
    index: int
    truncated: bool = False


def chunk_text(tokenizer: Any, text: str, max_length: int) -> list[list[int]]:
    """Tokenize ``text`` (with BOS) and cut it into chunks of at most ``max_length`` tokens.

    Every chunk after the first gets its own BOS, so each is a well-formed sequence.
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    step = max_length - len(bos)
    return [bos + ids[i : i + step] for i in range(0, max(len(ids), 1), step)]


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[Example]:
    """Raw-corpus examples: loss on every token, documents chunked to ``max_length``."""
    chunks = [c for t in texts for c in chunk_text(tokenizer, t, max_length) if len(c) > 1]
    return [Example(c, list(c), i) for i, c in enumerate(chunks)]


def encode_qa(
    tokenizer: Any,
    prompt_format: PromptFormat,
    items: Sequence[QAItem],
    max_length: int,
) -> list[Example]:
    """QA examples: the prompt rendered by ``prompt_format``, loss on the answer and EOS.

    Prompt and ``answer_prefix + answer`` are tokenized together, as one string (see
    :func:`~unpact_exp.models.prompt.encode_parts`); the labels are masked by character
    offsets: every token holding an answer character carries a label, the prompt's do not.

    Truncation rule, when prompt + answer + EOS exceed ``max_length`` tokens (the
    smaller of ``data.max_length`` and ``model.max_length``): the prompt is cut from
    the *left* (its first tokens go: the start of the template, in-context examples,
    the beginning of a long question), so the answer and EOS, which the loss is
    about, are kept whole. If the answer alone does not fit, the last prompt token is
    kept and the answer is cut on the right. Such examples carry ``truncated=True``;
    the caller warns once per run with the count.
    """
    out = []
    for i, item in enumerate(items):
        parts = prompt_format.parts(item.question, tokenizer)
        encoded = encode_parts(tokenizer, parts, prompt_format.answer_prefix + item.answer)
        prompt = encoded.input_ids
        answer_ids = encoded.answer_ids + [tokenizer.eos_token_id]
        truncated = len(prompt) + len(answer_ids) > max_length
        prompt = prompt[-max(1, max_length - len(answer_ids)) :]
        ids = (prompt + answer_ids)[:max_length]
        labels = ([IGNORE] * len(prompt) + answer_ids)[:max_length]
        out.append(Example(ids, labels, i, truncated))
    return out


class PadCollator:
    """Right-pad a list of :class:`Example` into tensors (a class, so ``ddp_spawn`` can pickle it).

    Args:
        pad_id: token id used for padding ``input_ids``.
    """

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[Example]) -> dict[str, Any]:
        import torch

        width = max(len(e.input_ids) for e in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, e in enumerate(batch):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            labels[row, :n] = torch.tensor(e.labels)
            mask[row, :n] = 1
        index = torch.tensor([e.index for e in batch], dtype=torch.long)
        return {"input_ids": ids, "labels": labels, "attention_mask": mask, "index": index}
