"""The prompt ids the framework builds equal the chat template's own, on each chat family.

``PromptFormat.parts`` renders the template around a sentinel and puts the question in its
place, so UNPACT knows the question's characters; the result must still be exactly what
``tokenizer.apply_chat_template(messages, add_generation_prompt=True)`` gives, or every
number is measured on prompts no user sends. Llama-3.1's template trims each message,
so a question with surrounding whitespace is where the two could part.
"""

from __future__ import annotations

import pytest

from tests.fixtures.real_arch import prompt_format
from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.models.loading import load_model_tokenizer, resolve_source
from unpact_exp.models.prompt import LETTERS, MC_ANSWER_CUE, encode_parts, mc_description

QUESTIONS = (
    "Who did Rovers sign?",
    "  Who did Rovers sign? ",
    "\tWhich river will the new footbridge cross?\n",
    "Which road was closed near Whitby?\n\n",
)
ICL = (QAItem("Which council approved the footbridge?", "Kettering council"),)
SYSTEM = "  Answer in a few words.\n"


def chat_tokenizer(family):
    from omegaconf import OmegaConf

    from unpact_exp import CONF_DIR

    cfg = OmegaConf.load(CONF_DIR / "model" / f"{family.model_config}.yaml")
    cfg.path = str(family.folder)
    return load_model_tokenizer(cfg, resolve_source(cfg, "unused", "news"))


@pytest.fixture(params=("llama31", "qwen3"))
def chat_family(request):
    return request.getfixturevalue(f"{request.param}_family")


def template_ids(tokenizer, fmt, messages) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True, **fmt.chat_template_kwargs
    )
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def messages_for(question: str, icl=(), system: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    for ex in icl:
        messages += [
            {"role": "user", "content": ex.question},
            {"role": "assistant", "content": ex.answer},
        ]
    return [*messages, {"role": "user", "content": question}]


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("with_icl", (False, True))
@pytest.mark.parametrize("system", (None, SYSTEM))
def test_prompt_ids_equal_apply_chat_template(chat_family, question, with_icl, system) -> None:
    tokenizer = chat_tokenizer(chat_family)
    fmt = prompt_format(chat_family.model_config)
    fmt.system_prompt = system
    icl = ICL if with_icl else ()
    parts = fmt.parts(question, tokenizer, icl=icl)
    encoded = encode_parts(tokenizer, parts)
    assert encoded.input_ids == template_ids(tokenizer, fmt, messages_for(question, icl, system))
    # The question span still covers the question's words, nothing of the template.
    span = tokenizer.decode(encoded.input_ids[encoded.question_start : encoded.question_end])
    assert span.strip() == question.strip()


def test_qwen3_prompt_ends_with_an_empty_think_block(qwen3_family) -> None:
    tokenizer = chat_tokenizer(qwen3_family)
    fmt = prompt_format(qwen3_family.model_config)
    assert fmt.chat_template_kwargs == {"enable_thinking": False}
    assert fmt.parts("Who did Rovers sign?", tokenizer).text.endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )


@pytest.mark.parametrize("question", ("Which bio fact is true?", "  Which bio fact is true?\n"))
def test_mc_prompt_ids_equal_apply_chat_template(chat_family, question) -> None:
    tokenizer = chat_tokenizer(chat_family)
    fmt = prompt_format(chat_family.model_config)
    item = MCItem(question, ("alpha", "beta", "gamma", "delta"), 1, "biology")
    content = (
        mc_description("biology")
        + question.strip()
        + "".join(f"\n{LETTERS[i]}. {c}" for i, c in enumerate(item.choices))
        + MC_ANSWER_CUE
    )
    encoded = encode_parts(tokenizer, fmt.mc_parts(item, tokenizer))
    assert encoded.input_ids == template_ids(tokenizer, fmt, messages_for(content))
