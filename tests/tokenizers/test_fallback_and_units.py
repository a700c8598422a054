"""What the old piecewise tokenization got wrong, the no-offsets fallback, and word units."""

from __future__ import annotations

import pytest

from tests.tokenizers.prompts import KINDS, QUESTION
from unpact_exp.errors import UnpactConfigError
from unpact_exp.models.prompt import PromptParts, adds_bos, encode_parts
from unpact_exp.unpact.units import units_of


def piecewise(tokenizer, parts: PromptParts) -> list[int]:
    """The ids the framework used before issue 13: prefix, question, suffix tokenized alone."""
    ids = list(
        tokenizer(parts.prefix, add_special_tokens=adds_bos(tokenizer, parts.prefix))["input_ids"]
    )
    for piece in (parts.question, parts.suffix):
        ids += tokenizer(piece, add_special_tokens=False)["input_ids"] if piece else []
    return ids


def test_llama2_suffix_alone_gets_a_stray_dummy_prefix(llama2):
    alone = llama2.convert_ids_to_tokens(llama2("\nAnswer:", add_special_tokens=False)["input_ids"])
    whole = llama2.convert_ids_to_tokens(llama2("Who?\nAnswer:")["input_ids"])
    assert alone[:2] == ["▁", "<0x0A>"]
    assert "<0x0A>" in whole and whole[whole.index("<0x0A>") - 1] != "▁"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_llama2_piecewise_ids_differed_from_the_whole_text(llama2, kind):
    _, parts = KINDS[kind](llama2)
    old = piecewise(llama2, parts)
    new = encode_parts(llama2, parts).input_ids
    assert new == llama2(parts.text, add_special_tokens=adds_bos(llama2, parts.text))["input_ids"]
    assert old != new
    assert len(old) > len(new)  # the stray "▁" pieces at the boundaries


def test_llama2_answer_alone_differed_from_the_answer_after_its_prompt(llama2):
    """A chat answer follows "\n\n" directly: alone it would start with a dummy "▁"."""
    fmt, parts = KINDS["chat"](llama2)
    alone = llama2(fmt.answer_prefix + "Paris", add_special_tokens=False)["input_ids"]
    joint = encode_parts(llama2, parts, fmt.answer_prefix + "Paris").answer_ids
    assert llama2.convert_ids_to_tokens(alone)[0] == "▁"
    assert alone[1:] == joint


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_slow_fallback_finds_the_same_spans_as_offsets(llama2, llama2_slow, kind):
    """Same SentencePiece model, with and without offsets: same question and answer split."""
    fmt, parts = KINDS[kind](llama2)
    fast = encode_parts(llama2, parts, fmt.answer_prefix + "Paris")
    slow = encode_parts(llama2_slow, parts, fmt.answer_prefix + "Paris")
    assert slow.offsets is None and fast.offsets is not None
    fast_ids = fast.input_ids + fast.answer_ids
    slow_ids = slow.input_ids + slow.answer_ids
    shift = len(fast_ids) - len(slow_ids)  # the slow backend adds no BOS
    assert fast_ids[shift:] == slow_ids
    assert (slow.question_start + shift, slow.question_end + shift) == (
        fast.question_start,
        fast.question_end,
    )
    assert len(slow.answer_ids) == len(fast.answer_ids)


class CharTokenizer:
    """A slow tokenizer with merges across boundaries: "ab" is one token, else one per char.

    With prefix "xa", question "bc" and suffix "d", the "ab" token straddles the
    prefix/question boundary and must count as a question token (it holds "b").
    """

    is_fast = False
    bos_token = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids, i = [], 0
        while i < len(text):
            if text.startswith("ab", i):
                ids.append(1000)
                i += 2
            else:
                ids.append(ord(text[i]))
                i += 1
        return {"input_ids": ids}


def test_fallback_puts_a_straddling_token_in_the_question_and_answer():
    tok = CharTokenizer()
    enc = encode_parts(tok, PromptParts(prefix="xa", question="bc", suffix="d"), "a")
    assert enc.input_ids + enc.answer_ids == [ord("x"), 1000, ord("c"), ord("d"), ord("a")]
    assert (enc.question_start, enc.question_end) == (1, 3)
    assert enc.answer_ids == [ord("a")]
    merged = encode_parts(tok, PromptParts(prefix="x", question="c", suffix="a"), "b")
    assert merged.input_ids == [ord("x"), ord("c")] and merged.answer_ids == [1000]
    assert (merged.question_start, merged.question_end) == (1, 2)


def test_word_units_come_from_the_whole_prompt_offsets(llama2, bytelevel):
    for tok in (llama2, bytelevel):
        _, parts = KINDS["icl"](tok)
        units = units_of(tok, encode_parts(tok, parts), parts.question, "word")
        assert units.units == tuple(QUESTION.split())
        ids = units.input_ids
        assert [tok.decode(ids[s:e]).strip() for s, e in units.spans] == list(units.units)


def test_word_units_need_offsets(llama2_slow):
    _, parts = KINDS["qa"](llama2_slow)
    with pytest.raises(UnpactConfigError, match="granularity='token'"):
        units_of(llama2_slow, encode_parts(llama2_slow, parts), parts.question, "word")
