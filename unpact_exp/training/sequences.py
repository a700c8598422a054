"""Turn texts and QA items into ``input_ids`` / ``labels`` for causal-LM losses.

Labels carry ``-100`` wherever no loss should be taken: the prompt of a QA pair
(so unlearning acts on answer tokens only: "loss only on the tokens the
config says") and padding. Raw corpora are chunked to ``max_length`` so long MUSE
articles become several training sequences instead of being truncated.

Two data knobs reproduce the WMDP RMU recipe (docs/science.md §12), whose code tokenizes each
batch with ``tokenizer(texts, padding=True, truncation=True, max_length=L)`` after setting
``padding_side = "left"`` and ``pad_token_id = eos_token_id``:

- ``data.forget_chunking``: ``all`` (default) trains on every ``max_length`` chunk of a forget
  document; ``first`` only on its first chunk, i.e. its first ``L`` tokens, BOS included (WMDP:
  ``L`` = 512 for bio, 768 for cyber, set by ``data.forget_max_length``);
- ``data.padding_side``: ``right`` (default) pads after the tokens with the tokenizer's pad
  token; ``left`` pads before them with EOS, as WMDP. The model is called with the attention
  mask only, so left-padded rows start at position ``pad count``, as in WMDP's forward.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from unpact_exp.config import checks
from unpact_exp.config.binder import coerce
from unpact_exp.data.schema import QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.models.prompt import PromptFormat, encode_parts

IGNORE = -100
PaddingSide = Literal["right", "left"]
ForgetChunking = Literal["all", "first"]
PADDING_SIDES: tuple[str, ...] = typing.get_args(PaddingSide)
FORGET_CHUNKINGS: tuple[str, ...] = typing.get_args(ForgetChunking)


def check_text_encoding(padding_side: Any, forget_chunking: Any, forget_max_length: Any) -> None:
    """Validate ``data.padding_side``, ``data.forget_chunking`` and ``data.forget_max_length``
    (types by the binder, the length's range here).

    Raises:
        UnpactConfigError: naming the key, the bad value and the choices.
    """
    coerce("data.padding_side", padding_side, PaddingSide)
    coerce("data.forget_chunking", forget_chunking, ForgetChunking)
    length = coerce("data.forget_max_length", forget_max_length, int | None)
    if length is not None:
        checks.at_least("data.forget_max_length", length, 2)


def pad_token_for(tokenizer: Any, padding_side: str) -> int:
    """The id written into padding: EOS under left padding (as WMDP), else the pad token."""
    return tokenizer.eos_token_id if padding_side == "left" else tokenizer.pad_token_id


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


def encode_texts(
    tokenizer: Any, texts: Sequence[str], max_length: int, chunking: str = "all"
) -> list[Example]:
    """Raw-corpus examples: loss on every token, documents chunked to ``max_length``.

    ``chunking="first"`` keeps only each document's first chunk (``data.forget_chunking``; the
    unlearning stage always passes the config's value, the default serves the target build).
    """
    if chunking not in FORGET_CHUNKINGS:
        raise UnpactConfigError(f"chunking={chunking!r} is not one of {list(FORGET_CHUNKINGS)}.")
    keep = 1 if chunking == "first" else None
    chunks = [c for t in texts for c in chunk_text(tokenizer, t, max_length)[:keep] if len(c) > 1]
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
    """Pad a list of :class:`Example` into tensors (a class, so ``ddp_spawn`` can pickle it).

    Args:
        pad_id: token id used for padding ``input_ids``.
        padding_side: ``right`` (padding after the tokens) or ``left`` (before them); the
            unlearning data passes ``data.padding_side``, other callers pad on the right.
    """

    def __init__(self, pad_id: int, padding_side: str = "right") -> None:
        if padding_side not in PADDING_SIDES:
            raise UnpactConfigError(
                f"padding_side={padding_side!r} is not one of {list(PADDING_SIDES)}."
            )
        self.pad_id = pad_id
        self.padding_side = padding_side

    def __call__(self, batch: Sequence[Example]) -> dict[str, Any]:
        import torch

        width = max(len(e.input_ids) for e in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, e in enumerate(batch):
            n = len(e.input_ids)
            cols = slice(width - n, width) if self.padding_side == "left" else slice(0, n)
            ids[row, cols] = torch.tensor(e.input_ids)
            labels[row, cols] = torch.tensor(e.labels)
            mask[row, cols] = 1
        index = torch.tensor([e.index for e in batch], dtype=torch.long)
        return {"input_ids": ids, "labels": labels, "attention_mask": mask, "index": index}


class AnswerSwap:
    """Forget QA pairs re-encoded with other answers, as a padded batch (IdkDPO's refusals).

    The prompt of forget example ``i`` is rendered and tokenized exactly as for training
    (:func:`encode_qa`, same format and ``max_length``) with ``answers[j]`` in place of its gold
    answer; rows keep the forget example's ``index``. A class, so ``ddp_spawn`` can pickle it.

    Args:
        tokenizer: the model's tokenizer.
        prompt_format: the model's prompt format.
        questions: the forget questions, in forget-example order.
        max_length: tokens per sequence.
        collate: the training batches' collator (padding side and pad id).
    """

    def __init__(
        self,
        tokenizer: Any,
        prompt_format: PromptFormat,
        questions: Sequence[str],
        max_length: int,
        collate: PadCollator,
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_format = prompt_format
        self.questions = list(questions)
        self.max_length = max_length
        self.collate = collate

    def __call__(self, index: Sequence[int], answers: Sequence[str]) -> dict[str, Any]:
        """The batch of forget examples ``index`` answered by ``answers`` (one per example)."""
        if len(index) != len(answers):
            raise ValueError(f"{len(answers)} answers for {len(index)} forget examples")
        items = [QAItem(self.questions[i], a) for i, a in zip(index, answers)]
        encoded = encode_qa(self.tokenizer, self.prompt_format, items, self.max_length)
        rows = [Example(e.input_ids, e.labels, i, e.truncated) for e, i in zip(encoded, index)]
        return self.collate(rows)
