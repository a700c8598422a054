"""Splitting a prompt's question into UNPACT units (SPEC section 2, ``unpact.granularity``).

A unit is what one contribution C_i is measured for: a single question token
(``token``) or a whitespace-delimited word (``word``), the latter being the
contiguous span of question tokens that covers its characters. Spans index into the
*full* prompt ids produced by :func:`unpact_exp.models.prompt.encode_parts`, so only
question tokens can ever be removed (``unpact.scope: question``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from unpact_exp.analysis.config import GRANULARITIES, check_choice
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
    """Tokenize ``parts`` and split its question into units.

    ``token``: one unit per question token; its text is ``tokenizer.decode([id])``
    stripped of surrounding whitespace (so a SentencePiece "▁Paris" reads "Paris").

    ``word``: one unit per ``\\S+`` run of the question text; a token belongs to every
    word its character offsets overlap, and the word's span runs from its first to its
    last token. Tokens made only of whitespace belong to no word and are never removed.
    A token crossing a space (rare merges) is shared by both words' spans. Offsets come
    from the tokenizer's ``return_offsets_mapping`` on the question segment alone, which
    needs a fast tokenizer.

    Args:
        tokenizer: the model's tokenizer.
        parts: the rendered prompt.
        granularity: ``token`` or ``word``.

    Raises:
        UnpactConfigError: unknown granularity, or ``word`` with a tokenizer that gives no
            offsets.
    """
    check_choice("unpact.granularity", granularity, GRANULARITIES)
    encoded = encode_parts(tokenizer, parts)
    ids = tuple(encoded.input_ids)
    if granularity == "token":
        spans = tuple((i, i + 1) for i in range(encoded.question_start, encoded.question_end))
        units = tuple(tokenizer.decode([ids[s]]).strip() for s, _ in spans)
        return PromptUnits(input_ids=ids, units=units, spans=spans)
    return _word_units(tokenizer, parts.question, encoded)


def _word_units(tokenizer: Any, question: str, encoded: EncodedPrompt) -> PromptUnits:
    ids = tuple(encoded.input_ids)
    if encoded.question_end == encoded.question_start:
        return PromptUnits(input_ids=ids, units=(), spans=())
    if not getattr(tokenizer, "is_fast", False):
        raise UnpactConfigError(
            f"unpact.granularity='word' needs a fast tokenizer with offset mapping; "
            f"{type(tokenizer).__name__} has none. Use unpact.granularity='token' or load the "
            "fast tokenizer (use_fast=True)."
        )
    enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    if list(enc["input_ids"]) != list(ids[encoded.question_start : encoded.question_end]):
        raise UnpactConfigError(
            "tokenizing the question with offsets gave different ids than encode_parts; "
            "use unpact.granularity='token' for this tokenizer."
        )
    units: list[str] = []
    spans: list[tuple[int, int]] = []
    for match in re.finditer(r"\S+", question):
        covering = [k for k, (s, e) in enumerate(offsets) if s < match.end() and e > match.start()]
        if not covering:
            continue  # a word the tokenizer dropped entirely has nothing to remove
        units.append(match.group())
        spans.append(
            (encoded.question_start + covering[0], encoded.question_start + covering[-1] + 1)
        )
    return PromptUnits(input_ids=ids, units=tuple(units), spans=tuple(spans))
