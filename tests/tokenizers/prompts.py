"""Every prompt kind the framework sends, as ``(name, parts builder)`` pairs for the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unpact_exp.attacks.focus_on_key import focus_questions
from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.models.prompt import PromptFormat, PromptParts

QUESTION = "Who is Alice Smith?"
ICL = (QAItem("Where was Bob born?", "Paris"), QAItem("What is 12 plus 7?", "19"))
MC = MCItem("Which city is the capital of France?", ("Paris", "Rome", "Oslo 2"), 0)
FOCUS = "Focus on {keys} to answer. {question}"


def plain_format() -> PromptFormat:
    """The MUSE targets' plain-text format (conf/model/muse_news_target.yaml)."""
    return PromptFormat(
        template="Question: {question}\nAnswer:",
        use_chat_template=False,
        system_prompt=None,
        icl_template="Question: {question}\nAnswer: {answer}\n\n",
        answer_prefix=" ",
        chat_template_kwargs={},
    )


def chat_format() -> PromptFormat:
    """An instruction model's format: chat template, system prompt, no answer prefix."""
    return PromptFormat(
        template="{question}",
        use_chat_template=True,
        system_prompt="Answer in one short sentence.",
        icl_template="Question: {question}\nAnswer: {answer}\n\n",
        answer_prefix="",
        chat_template_kwargs={},
    )


Builder = Callable[[Any], tuple[PromptFormat, PromptParts]]
KINDS: dict[str, Builder] = {
    "qa": lambda tok: (plain_format(), plain_format().parts(QUESTION, tok)),
    "icl": lambda tok: (plain_format(), plain_format().parts(QUESTION, tok, icl=ICL)),
    "mc": lambda tok: (plain_format(), plain_format().mc_parts(MC, tok)),
    "chat": lambda tok: (chat_format(), chat_format().parts(QUESTION, tok, icl=ICL)),
    "chat_mc": lambda tok: (chat_format(), chat_format().mc_parts(MC, tok)),
    "focus": lambda tok: (
        plain_format(),
        plain_format().parts(focus_questions(QUESTION, "Alice", [FOCUS])[0], tok, icl=ICL),
    ),
}
