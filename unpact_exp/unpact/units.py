"""Splitting a prompt's question into UNPACT units (docs/science.md §2, ``unpact.granularity``).

A unit is what one contribution C_i is measured for: a single question token
(``token``) or a whitespace-delimited word (``word``), the latter being the
contiguous span of question tokens that covers its characters. Spans index into the
*full* prompt ids produced by :func:`unpact_exp.models.prompt.encode_parts` (the prompt
tokenized as one string), so only question tokens can ever be removed
(``unpact.scope: question``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from unpact_exp.errors import UnpactConfigError
from unpact_exp.models.prompt import EncodedPrompt, PromptParts, encode_parts


@dataclass(frozen=True)
class PromptUnits:
    """A tokenized prompt and its question units.

    Attributes:
        input_ids: all prompt token ids (prefix, question, suffix).
        units: the text of each unit, in question order.
        spans: ``(start, end)`` token indices into ``input_ids`` (end exclusive), one per unit.
    """

    input_ids: tuple[int, ...]
    units: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


def split_units(tokenizer: Any, parts: PromptParts, granularity: str) -> PromptUnits:
    """Tokenize ``parts`` (see :func:`encode_parts`) and split its question into units."""
    return units_of(tokenizer, encode_parts(tokenizer, parts), parts.question, granularity)


def units_of(
    tokenizer: Any, encoded: EncodedPrompt, question: str, granularity: str
) -> PromptUnits:
    """Split the question of an encoded prompt into units.

    ``token``: one unit per question token; its text is ``tokenizer.decode([id])``
    stripped of surrounding whitespace (so a SentencePiece "▁Paris" reads "Paris").

    ``word``: one unit per ``\\S+`` run of the question text; a token belongs to every
    word its character offsets overlap, and the word's span runs from its first to its
    last token. Tokens made only of whitespace belong to no word and are never removed.
    A token crossing a space (rare merges) is shared by both words' spans. Offsets are
    those of the whole prompt's tokenization, so they exist only for fast tokenizers.

    Args:
        tokenizer: the model's tokenizer.
        encoded: the prompt, tokenized as one string.
        question: the question text (``parts.question``).
        granularity: ``token`` or ``word``.

    Raises:
        UnpactConfigError: ``word`` with a tokenizer that gives no offsets.
    """
    ids = tuple(encoded.input_ids)
    if granularity == "token":
        spans = tuple((i, i + 1) for i in range(encoded.question_start, encoded.question_end))
        units = tuple(tokenizer.decode([ids[s]]).strip() for s, _ in spans)
        return PromptUnits(input_ids=ids, units=units, spans=spans)
    return _word_units(tokenizer, question, encoded)


def _word_units(tokenizer: Any, question: str, encoded: EncodedPrompt) -> PromptUnits:
    ids = tuple(encoded.input_ids)
    if encoded.question_end == encoded.question_start:
        return PromptUnits(input_ids=ids, units=(), spans=())
    if encoded.offsets is None:
        raise UnpactConfigError(
            f"unpact.granularity='word' needs a fast tokenizer with offset mapping; "
            f"{type(tokenizer).__name__} has none. Use unpact.granularity='token' or load the "
            "fast tokenizer (use_fast=True)."
        )
    q0 = encoded.question_chars[0]
    first, last = encoded.question_start, encoded.question_end
    units: list[str] = []
    spans: list[tuple[int, int]] = []
    for match in re.finditer(r"\S+", question):
        lo, hi = q0 + match.start(), q0 + match.end()
        offsets = encoded.offsets
        covering = [k for k in range(first, last) if offsets[k][0] < hi and offsets[k][1] > lo]
        if not covering:
            continue  # a word the tokenizer dropped entirely has nothing to remove
        units.append(match.group())
        spans.append((covering[0], covering[-1] + 1))
    return PromptUnits(input_ids=ids, units=tuple(units), spans=tuple(spans))
