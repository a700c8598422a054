"""Prompt rendering that keeps the user's question separate from the template.

UNPACT (docs/science.md §2, knob ``unpact.scope: question``) perturbs only the words of
the user's question, never the chat template, special tokens or in-context
examples. Every prompt is therefore built as ``prefix + question + suffix`` (so the
question's characters are known exactly) and tokenized *as one string*, the way a
user or the benchmark's own evaluation would send it; the question's token span and,
for scored or trained sequences, the start of the answer come from the offset
mapping (see :func:`encode_parts`). Training, generation and analysis all go through
:func:`encode_parts`, so they see identical token ids.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.errors import UnpactConfigError

_SENTINEL = "\u2063UNPACT_QUESTION\u2063"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# lm-evaluation-harness's WMDP/MMLU format (lm_eval/tasks/{wmdp,mmlu/default}): the cue after
# the lettered choices, and the text between the prompt and a scored letter (its default
# ``target_delimiter``). tests/metrics/test_lm_eval_accuracy.py checks both against the
# installed lm-eval.
MC_ANSWER_CUE = "\nAnswer:"
MC_TARGET_DELIMITER = " "


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
    """Token ids of a prompt (and optionally its answer) and where the question lies in them.

    Attributes:
        input_ids: the prompt's token ids (BOS, template, question, ...), as they appear at the
            start of ``tokenizer(prompt + answer)``.
        question_start: index of the first question token in ``input_ids``.
        question_end: index one past the last question token (exclusive).
        answer_ids: the ids that follow ``input_ids`` in the joint tokenization: the tokens
            holding the answer's characters (empty when no answer was given).
        offsets: character span of each id of ``input_ids`` in the prompt text, or ``None``
            for tokenizers without an offset mapping (see :func:`encode_parts`).
        question_chars: ``(start, end)`` of the question in the prompt text.
    """

    input_ids: list[int]
    question_start: int
    question_end: int
    answer_ids: list[int]
    offsets: tuple[tuple[int, int], ...] | None
    question_chars: tuple[int, int]


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
        chat_template_kwargs: extra variables for ``apply_chat_template`` (Qwen3 needs
            ``enable_thinking: false``, or its short answer budget is spent in ``<think>``).
    """

    def __init__(
        self,
        template: str,
        use_chat_template: bool,
        system_prompt: str | None,
        icl_template: str,
        answer_prefix: str,
        chat_template_kwargs: dict[str, Any],
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
        self.chat_template_kwargs = dict(chat_template_kwargs)

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
                messages, tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs
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
        if self.use_chat_template:
            question = self._as_templated(
                question, extra_after_question, tokenizer, icl, prefix, rest
            )
        return PromptParts(prefix=prefix, question=question, suffix=rest)

    def _as_templated(
        self,
        question: str,
        extra_after_question: str,
        tokenizer: Any,
        icl: Sequence[QAItem],
        prefix: str,
        suffix: str,
    ) -> str:
        """The question as the chat template writes it into the prompt.

        A template may rewrite a message's content: Llama-3.1's trims it (``content | trim``),
        so ``"  Who is X? "`` is sent as ``"Who is X?"``. The prompt is rendered once more
        with the real question; between the sentinel rendering's prefix and suffix lies the
        question as sent, and that is what the prompt holds and UNPACT perturbs. A template
        that changes more than the question's own characters (it matches neither prefix nor
        suffix) keeps the question as given, with a warning: its prompts then differ from
        ``apply_chat_template``'s.
        """
        full = self._render(question + extra_after_question, tokenizer, icl)
        end = len(full) - len(suffix)
        if full.startswith(prefix) and full.endswith(suffix) and end >= len(prefix):
            return full[len(prefix) : end]
        warnings.warn(
            f"the chat template rewrites the question {question!r} beyond trimming it; the "
            "framework's prompt keeps the question as given, which differs from "
            "apply_chat_template's rendering.",
            UserWarning,
            stacklevel=3,
        )
        return question

    def mc_parts(self, item: MCItem, tokenizer: Any = None) -> PromptParts:
        """Render a multiple-choice item as lm-eval's WMDP/MMLU prompt, zero-shot.

        The text is lm-eval's ``description + doc_to_text`` (see :func:`mc_description`
        and :data:`MC_ANSWER_CUE`), so the framework's accuracy equals lm-eval's: in
        plain-text mode it *is* the whole prompt (the model's ``template`` is not used);
        with a chat template it is the user turn. The question span is the stripped
        question, as lm-eval's ``{{question.strip()}}``.
        """
        choices = "".join(f"\n{LETTERS[i]}. {c}" for i, c in enumerate(item.choices))
        question = item.question.strip()
        description = mc_description(item.subject)
        if self.use_chat_template:
            rendered = self._render(
                description + _SENTINEL + choices + MC_ANSWER_CUE, tokenizer, ()
            )
            prefix, _, suffix = rendered.partition(_SENTINEL)
            return PromptParts(prefix=prefix, question=question, suffix=suffix)
        return PromptParts(prefix=description, question=question, suffix=choices + MC_ANSWER_CUE)

    @property
    def mc_answer_prefix(self) -> str:
        """Text between an MC prompt and the letter scored after it.

        In plain-text mode lm-eval's ``target_delimiter`` (a space: the continuations are
        " A", " B", ...); with a chat template ``answer_prefix`` (the assistant turn
        starts with the letter).
        """
        return self.answer_prefix if self.use_chat_template else MC_TARGET_DELIMITER


def mc_description(subject: str) -> str:
    """lm-eval's description line for ``subject`` (WMDP and MMLU); empty without a subject."""
    if not subject:
        return ""
    return f"The following are multiple choice questions (with answers) about {subject}.\n\n"


def adds_bos(tokenizer: Any, text: str) -> bool:
    """Whether ``text`` should be tokenized with the tokenizer's special tokens.

    The tokenizer's own ``add_special_tokens`` behaviour decides whether a BOS goes
    first (Llama adds one, GPT-2 does not), except when the text already starts with
    the BOS written as text by a chat template: adding it again would double it.
    """
    bos = getattr(tokenizer, "bos_token", None)
    return not (bos and text.startswith(bos))


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _split_by_offsets(
    offsets: Sequence[tuple[int, int]], prompt_len: int, q0: int, q1: int
) -> tuple[int, int, int]:
    """``(answer_start, question_start, question_end)`` token indices from character offsets.

    A token belongs to the answer when it holds any character past the prompt, and to the
    question when it holds any question character (so a token merged across a boundary
    counts on the question's and answer's side: it is what UNPACT must remove, what the
    loss must cover). Zero-width tokens (special tokens) belong to neither.
    """
    cut = next((k for k, (_, e) in enumerate(offsets) if e > prompt_len), len(offsets))
    inside = [k for k, (s, e) in enumerate(offsets[:cut]) if e > s and s < q1 and e > q0]
    if inside:
        return cut, inside[0], inside[-1] + 1
    start = next((k for k, (s, e) in enumerate(offsets[:cut]) if e > s and s >= q0), cut)
    return cut, start, start


def _split_by_ids(
    tokenizer: Any, ids: Sequence[int], parts: PromptParts, special: bool, has_answer: bool
) -> tuple[int, int, int]:
    """The same split for tokenizers without offsets (slow / Python tokenizers).

    Fallback: the prefix, prefix + question and prompt are tokenized alone, and each
    boundary is where that tokenization stops agreeing with the joint one. A token that
    straddles a boundary (a merge across it) differs from both sides, so it lands after
    the boundary: in the question for the prefix/question boundary, in the answer for the
    prompt/answer boundary, as with offsets. At the question's end, a straddling token is
    kept in the question likewise.
    """

    def agree(text: str) -> tuple[int, int]:
        alone = tokenizer(text, add_special_tokens=special)["input_ids"] if text else []
        return common_prefix(alone, ids), len(alone)

    cut = agree(parts.text)[0] if has_answer else len(ids)
    start = min(agree(parts.prefix)[0], cut)
    agreed, alone = agree(parts.prefix + parts.question)
    end = agreed + 1 if parts.question and agreed < alone else agreed
    return cut, start, max(start, min(end, cut))


def encode_parts(tokenizer: Any, parts: PromptParts, answer: str = "") -> EncodedPrompt:
    """Tokenize the whole prompt (and ``answer`` after it) as one string; locate the question.

    Tokenizing prefix, question and suffix separately gives ids no user would send:
    SentencePiece (Llama-2) starts every separately tokenized piece with a "▁", so
    ``"\\nAnswer:"`` alone is ``['▁', '<0x0A>', 'Answer', ':']`` but inside the prompt
    ``['<0x0A>', 'Answer', ':']``. So the text is tokenized once, exactly as
    ``tokenizer(prompt + answer)`` with the tokenizer's own BOS behaviour (see
    :func:`adds_bos`), and the question's token span and the prompt/answer boundary come
    from the offset mapping (:func:`_split_by_offsets`). Tokenizers without offsets
    (``is_fast`` false) use :func:`_split_by_ids`, which agrees with the offsets wherever
    no token crosses a boundary.

    Args:
        tokenizer: the model's tokenizer.
        parts: the rendered prompt.
        answer: text scored or trained on after the prompt (``answer_prefix + answer``);
            empty for a prompt that is only generated from.
    """
    prompt = parts.text
    q0 = len(parts.prefix)
    q1 = q0 + len(parts.question)
    special = adds_bos(tokenizer, prompt)
    text = prompt + answer
    offsets: tuple[tuple[int, int], ...] | None = None
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        all_offsets = [(int(s), int(e)) for s, e in enc["offset_mapping"]]
        cut, start, end = _split_by_offsets(all_offsets, len(prompt), q0, q1)
        offsets = tuple(all_offsets[:cut])
    else:
        ids = list(tokenizer(text, add_special_tokens=special)["input_ids"])
        cut, start, end = _split_by_ids(tokenizer, ids, parts, special, bool(answer))
    return EncodedPrompt(
        input_ids=ids[:cut],
        question_start=start,
        question_end=end,
        answer_ids=ids[cut:],
        offsets=offsets,
        question_chars=(q0, q1),
    )
