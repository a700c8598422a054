"""``model.prompt.chat_template_kwargs`` reaches the chat template (Qwen3's enable_thinking)."""

from __future__ import annotations

import pytest

from tests.tokenizers.conftest import QWEN3_CHAT
from tests.tokenizers.prompts import QUESTION
from unpact_exp.config.binder import bind
from unpact_exp.models.prompt import PromptFormat, encode_parts


def qwen3_format(kwargs: dict) -> PromptFormat:
    return PromptFormat(
        template="{question}",
        use_chat_template=True,
        system_prompt=None,
        icl_template="Question: {question}\nAnswer: {answer}\n\n",
        answer_prefix="",
        chat_template_kwargs=kwargs,
    )


@pytest.fixture
def qwen3_like(bytelevel):
    """The byte-level tokenizer with a template that branches on enable_thinking as Qwen3's."""
    tokenizer = bytelevel
    saved = tokenizer.chat_template
    tokenizer.chat_template = QWEN3_CHAT
    yield tokenizer
    tokenizer.chat_template = saved


def test_enable_thinking_false_closes_the_think_block(qwen3_like):
    parts = qwen3_format({"enable_thinking": False}).parts(QUESTION, qwen3_like)
    assert parts.suffix.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    encoded = encode_parts(qwen3_like, parts)
    assert encoded.input_ids == qwen3_like(parts.text)["input_ids"]
    span = encoded.input_ids[encoded.question_start : encoded.question_end]
    assert qwen3_like.decode(span).strip() == QUESTION


def test_without_kwargs_the_model_would_think(qwen3_like):
    parts = qwen3_format({}).parts(QUESTION, qwen3_like)
    assert parts.suffix.endswith("<|im_start|>assistant\n") and "<think>" not in parts.text


def test_config_knob_defaults_and_qwen3(make_cfg):
    tiny = bind(PromptFormat, make_cfg().model.prompt, "model.prompt")
    assert tiny.chat_template_kwargs == {}
    qwen = make_cfg("model=qwen3_14b").model.prompt
    assert bind(PromptFormat, qwen, "model.prompt").chat_template_kwargs == {
        "enable_thinking": False
    }
    for name in ("tiny", "smollm2_135m", "llama31_8b_instruct", "muse_news_target"):
        assert make_cfg(f"model={name}").model.prompt.chat_template_kwargs == {}
    override = make_cfg("model=qwen3_14b", "model.prompt.chat_template_kwargs.enable_thinking=true")
    assert bind(PromptFormat, override.model.prompt, "model.prompt").chat_template_kwargs == {
        "enable_thinking": True
    }
