"""Prompt rendering that keeps the user's question separate from the template.

UNPACT (SPEC section 2, knob ``unpact.scope: question``) perturbs only the words of
the user's question, never the chat template, special tokens or in-context
examples. Every prompt is therefore built as ``prefix + question + suffix`` and
tokenized segment by segment, so the token span of the question is exact rather
than recovered afterwards from character offsets. Training, generation and
analysis all go through :func:`encode_parts`, so they see identical token ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.errors import UnpactConfigError

_SENTINEL = "\u2063UNPACT_QUESTION\u2063"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class PromptParts:
    """A rendered prompt split around the question.

    Attributes:
        prefix: template text before the question (system prompt, ICL examples, "Question: ").
        question: the user's question, the only part UNPACT perturbs.
        suffix: template text after the question (choices of an MC item, "\\nAnswer:").
    """

    prefix: str
    question: str
    suffix: str

    @property
    def text(self) -> str:
        """The full prompt string."""
        return self.prefix + self.question + self.suffix


@dataclass(frozen=True)
class EncodedPrompt:
    """Token ids of a prompt and where the question lies in them.

    Attributes:
        input_ids: all prompt token ids (prefix, question, suffix).
        question_start: index of the first question token in ``input_ids``.
        question_end: index one past the last question token (exclusive).
    """

    input_ids: list[int]
    question_start: int
    question_end: int


class PromptFormat:
    """How a model wants its questions asked.

    Args:
        template: plain-text template with a ``{question}`` placeholder, used when
            ``use_chat_template`` is false (base models, the tiny target).
        use_chat_template: render through the tokenizer's chat template instead
            (instruction-tuned models); the question becomes the last user turn.
        system_prompt: optional system message for chat templates.
        icl_template: how one in-context example is rendered before the question in
            plain-text mode; it needs ``{question}`` and ``{answer}``.
        answer_prefix: text put between the prompt and a gold answer when training or
            scoring a target (e.g. a space after "Answer:").
    """

    def __init__(
        self,
        template: str,
        use_chat_template: bool,
        system_prompt: str | None,
        icl_template: str,
        answer_prefix: str,
    ) -> None:
        if not use_chat_template and "{question}" not in template:
            raise UnpactConfigError(
                f"model.prompt.template={template!r} has no '{{question}}' placeholder; "
                "add one, e.g. 'Question: {question}\\nAnswer:'."
            )
        self.template = template
        self.use_chat_template = use_chat_template
        self.system_prompt = system_prompt
        self.icl_template = icl_template
        self.answer_prefix = answer_prefix

    @classmethod
    def from_config(cls, cfg: Any) -> PromptFormat:
        """Build from a ``model.prompt`` config node (all keys required, no Python defaults)."""
        return cls(
            template=cfg.template,
            use_chat_template=bool(cfg.use_chat_template),
            system_prompt=cfg.get("system_prompt"),
            icl_template=cfg.icl_template,
            answer_prefix=cfg.answer_prefix,
        )

    def _render(self, body: str, tokenizer: Any, icl: Sequence[QAItem]) -> str:
        if self.use_chat_template:
            messages: list[dict[str, str]] = []
            if self.system_prompt:
                messages.append({"role": "system", "content": self.system_prompt})
            for ex in icl:
                messages.append({"role": "user", "content": ex.question})
                messages.append({"role": "assistant", "content": ex.answer})
            messages.append({"role": "user", "content": body})
            return tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        shots = "".join(
            self.icl_template.format(question=ex.question, answer=ex.answer) for ex in icl
        )
        return shots + self.template.replace("{question}", body)

    def parts(
        self,
        question: str,
        tokenizer: Any = None,
        icl: Sequence[QAItem] = (),
        extra_after_question: str = "",
    ) -> PromptParts:
        """Render ``question`` and split the result into prefix / question / suffix.

        Args:
            question: the user's question text.
            tokenizer: needed only for chat templates.
            icl: in-context examples, rendered into the prefix.
            extra_after_question: text that belongs to the user turn but is not
                perturbed (the lettered choices of an MC item).
        """
        rendered = self._render(_SENTINEL + extra_after_question, tokenizer, icl)
        prefix, _, rest = rendered.partition(_SENTINEL)
        return PromptParts(prefix=prefix, question=question, suffix=rest)

    def mc_parts(self, item: MCItem, tokenizer: Any = None) -> PromptParts:
        """Render a multiple-choice item: lettered choices after the question, zero-shot."""
        choices = "".join(f"\n{LETTERS[i]}. {c}" for i, c in enumerate(item.choices))
        return self.parts(item.question, tokenizer, extra_after_question=choices)


def encode_parts(tokenizer: Any, parts: PromptParts) -> EncodedPrompt:
    """Tokenize prefix, question and suffix separately and concatenate.

    The tokenizer's special start tokens (BOS) are added once, at the start of the
    prefix (unless a chat template already wrote it); the question and suffix are
    tokenized without special tokens. Empty segments contribute no tokens.
    """
    bos = getattr(tokenizer, "bos_token", None)
    # Chat templates already write BOS as text; adding it again would double it.
    add_special = not (bos and parts.prefix.startswith(bos))
    prefix_ids = tokenizer(parts.prefix, add_special_tokens=add_special)["input_ids"]
    question_ids = (
        tokenizer(parts.question, add_special_tokens=False)["input_ids"] if parts.question else []
    )
    suffix_ids = (
        tokenizer(parts.suffix, add_special_tokens=False)["input_ids"] if parts.suffix else []
    )
    start = len(prefix_ids)
    return EncodedPrompt(
        input_ids=list(prefix_ids) + list(question_ids) + list(suffix_ids),
        question_start=start,
        question_end=start + len(question_ids),
    )
