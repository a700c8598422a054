"""Real tokenizer families, built offline in a few seconds.

The trainers are shared with the real-architecture model fixtures
(:mod:`tests.fixtures.tokenizer_builders`); this file sets up each family from them.

- ``llama2``: a SentencePiece model trained here with Llama-2's settings (BPE, byte
  fallback, dummy prefix, split digits, identity normalisation, unk/bos/eos = 0/1/2, no
  pad) saved as ``tokenizer.model`` beside a ``tokenizer_config.json`` like
  Llama-2-7b-hf's, and loaded as the MUSE targets ship it:
  ``LlamaTokenizer.from_pretrained(folder, legacy=True)``. transformers 5 converts it to
  a fast (``tokenizers``) tokenizer with offsets.
- ``llama2_slow``: the same ``tokenizer.model`` through transformers' SentencePiece
  backend, which has no offset mapping (exercises the fallback of ``encode_parts``).
- ``bytelevel``: a byte-level BPE (Llama-3 family) built with ``tokenizers``, with
  Llama-3's BOS post-processor and a Llama-3-shaped chat template.
- ``bytelevel_nobos``: the same BPE adding no BOS, with a ChatML (Qwen3-shaped) template,
  as GPT-2, SmolLM2 and Qwen ship theirs.

Each vocabulary is small (300 pieces), so words split into many tokens: boundary
effects show up on short prompts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.tokenizer_builders import (
    corpus,
    train_bytelevel_bpe,
    train_llama2_sentencepiece,
)

LLAMA3_CHAT = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
    "\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
# Qwen3's template, reduced to what matters here: with enable_thinking false it writes an
# empty think block after the assistant header, otherwise the model opens one itself.
QWEN3_CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


@pytest.fixture(scope="session")
def llama2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a Llama-2-style ``tokenizer.model`` and ``tokenizer_config.json``."""
    return train_llama2_sentencepiece(
        tmp_path_factory.mktemp("llama2_tokenizer"), corpus(), vocab_size=300
    )


@pytest.fixture(scope="session")
def llama2(llama2_folder: Path) -> Any:
    """The Llama-2-style tokenizer as the MUSE targets load it (fast, with offsets)."""
    from transformers import LlamaTokenizer

    tokenizer = LlamaTokenizer.from_pretrained(str(llama2_folder), legacy=True)
    tokenizer.chat_template = LLAMA3_CHAT
    return tokenizer


@pytest.fixture(scope="session")
def llama2_slow(llama2_folder: Path) -> Any:
    """The same model through the SentencePiece backend: no offset mapping."""
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

    tokenizer = SentencePieceBackend(
        vocab_file=str(llama2_folder / "tokenizer.model"),
        legacy=True,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = LLAMA3_CHAT
    assert not tokenizer.is_fast
    return tokenizer


def build_bytelevel(with_bos: bool) -> Any:
    """A byte-level BPE trained on :func:`corpus`, with Llama-3's special tokens.

    Args:
        with_bos: add ``<|begin_of_text|>`` to every encoding (Llama-3); without it the
            tokenizer adds nothing, as GPT-2, SmolLM2 and Qwen do.
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    specials = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    ]
    tok = train_bytelevel_bpe(corpus(), vocab_size=300, leading_specials=specials)
    steps: list[Any] = [processors.ByteLevel(trim_offsets=False)]
    if with_bos:
        bos = tok.token_to_id("<|begin_of_text|>")
        steps.append(
            processors.TemplateProcessing(
                single="<|begin_of_text|> $A",
                pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                special_tokens=[("<|begin_of_text|>", bos)],
            )
        )
    tok.post_processor = processors.Sequence(steps)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>" if with_bos else None,
        eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>",
    )
    tokenizer.chat_template = LLAMA3_CHAT if with_bos else QWEN3_CHAT
    return tokenizer


@pytest.fixture(scope="session")
def bytelevel() -> Any:
    """Llama-3 family: byte-level BPE, BOS added, Llama-3-shaped chat template."""
    return build_bytelevel(with_bos=True)


@pytest.fixture(scope="session")
def bytelevel_nobos() -> Any:
    """GPT-2 / SmolLM2 / Qwen family: byte-level BPE, no BOS, ChatML-shaped template."""
    return build_bytelevel(with_bos=False)


FAMILIES = ("llama2", "llama2_slow", "bytelevel", "bytelevel_nobos")


@pytest.fixture(params=FAMILIES)
def family(request: pytest.FixtureRequest) -> Any:
    """Each tokenizer family in turn."""
    return request.getfixturevalue(request.param)
