"""Recovery attacks beyond FocusOnKey, each with its budget (docs/science.md §9).

FocusOnKey asks whether emphasising the KeyTokens brings a forgotten answer back.
These attacks ask the same of other cheap interventions, so FocusOnKey's number can
be read against them:

- ``paraphrase``: the forgotten question rephrased. Data that carries paraphrases
  (the synthetic and world-facts benchmarks) uses them; other data gets the
  ``attacks.paraphrase_templates`` rewordings. Up to ``attacks.max_paraphrases``
  greedy answers per question; recovered when any is correct.
- ``icl``: ``attacks.icl_k`` retain questions that M0 answers correctly, with their
  gold answers, as demonstrations before the question (one greedy answer).
- ``relearn``: fine-tune M1 for ``attacks.relearn_steps`` AdamW steps on the even
  positions of the forgotten list and measure recovery on the odd positions. M1 is
  restored bit for bit afterwards (weights, ``requires_grad`` flags and gradients).
- ``focus_on_key_control``: FocusOnKey (M0's KeyTokens, the same templates) on forget
  questions that M0 never answered correctly. Whatever it recovers came from the
  prompt, not from retained knowledge, so it qualifies ``recovery_rate``.

Only free-form items are attacked (the paper's knowmem setting); on a benchmark
without free-form forget questions the attack rates are null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unpact_exp.data.schema import QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.correctness import any_correct
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.unpact.config import EvalConfig, check_positive_int
from unpact_exp.unpact.generation import eval_answers

ATTACK_RATES = {
    "paraphrase": "paraphrase_recovery_rate",
    "icl": "icl_recovery_rate",
    "relearn": "relearn_recovery_rate",
    "focus_on_key_control": "focus_on_key_control_rate",
}
"""The ``results.json`` name of each attack's rate (docs/science.md §9)."""
ATTACKS = tuple(ATTACK_RATES)


@dataclass(frozen=True)
class AttackConfig:
    """The ``attacks`` group.

    Attributes:
        every_step: attacks run at every evaluation step.
        final: attacks run only at the final evaluation (and by ``eval.py``).
        paraphrase_templates: rewordings (``{question}``) for data without paraphrases.
        max_paraphrases: paraphrases tried per question (the paraphrase budget).
        icl_k: demonstrations before the question.
        relearn_steps: AdamW steps of the relearning attack.
        relearn_lr: its learning rate.
        relearn_batch_size: forgotten facts per relearning step.
        max_length: token length cap of the relearning sequences.
    """

    every_step: tuple[str, ...]
    final: tuple[str, ...]
    paraphrase_templates: tuple[str, ...]
    max_paraphrases: int
    icl_k: int
    relearn_steps: int
    relearn_lr: float
    relearn_batch_size: int
    max_length: int

    def __post_init__(self) -> None:
        for key in ("every_step", "final"):
            unknown = [a for a in getattr(self, key) if a not in ATTACKS]
            if unknown:
                raise UnpactConfigError(
                    f"attacks.{key}={list(getattr(self, key))!r} names {unknown}; "
                    f"the attacks are {list(ATTACKS)}."
                )
        for template in self.paraphrase_templates:
            if "{question}" not in template:
                raise UnpactConfigError(
                    f"attacks.paraphrase_templates entry {template!r} has no {{question}}."
                )
        for key in ("max_paraphrases", "icl_k", "relearn_steps", "relearn_batch_size"):
            check_positive_int(f"attacks.{key}", getattr(self, key))
        check_positive_int("attacks.max_length", self.max_length)
        if isinstance(self.relearn_lr, bool) or not self.relearn_lr > 0:
            raise UnpactConfigError(f"attacks.relearn_lr={self.relearn_lr!r} must be > 0.")

    @classmethod
    def from_config(cls, cfg: Any) -> AttackConfig:
        """Build from the ``attacks`` node; every key is required."""
        return cls(
            every_step=tuple(str(a) for a in cfg["every_step"]),
            final=tuple(str(a) for a in cfg["final"]),
            paraphrase_templates=tuple(str(t) for t in cfg["paraphrase_templates"]),
            max_paraphrases=cfg["max_paraphrases"],
            icl_k=cfg["icl_k"],
            relearn_steps=cfg["relearn_steps"],
            relearn_lr=float(cfg["relearn_lr"]),
            relearn_batch_size=cfg["relearn_batch_size"],
            max_length=cfg["max_length"],
        )


@dataclass(frozen=True)
class AttackResult:
    """One attack on a list of questions.

    Attributes:
        attacked: per question, whether it was attacked (relearn: the measured half).
        recovered: per question, whether the attack got a correct answer (False where
            not attacked).
        answers: per question, every answer the attack produced.
        budget: what the attack spent (prompts per question, demonstrations, steps).
    """

    attacked: list[bool]
    recovered: list[bool]
    answers: list[list[str]]
    budget: dict[str, float]

    @property
    def counts(self) -> tuple[int, int]:
        """``(recovered, attacked)``: the numerator and denominator of the attack's rate."""
        return sum(self.recovered), sum(self.attacked)


def paraphrases(item: QAItem, templates: Sequence[str], limit: int) -> list[str]:
    """The item's own paraphrases if it has any, else the template rewordings; at most ``limit``."""
    own = [p for p in item.paraphrases if p and p != item.question]
    chosen = own if own else [t.format(question=item.question) for t in templates]
    return chosen[:limit]


def _ask(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    questions: Sequence[Sequence[str]],
    icl: Sequence[QAItem],
    eval_cfg: EvalConfig,
) -> list[list[str]]:
    """Greedy answers to several questions per item, in one batched run."""
    prompts = [fmt.parts(q, tokenizer, icl=icl) for qs in questions for q in qs]
    outputs = iter(eval_answers(model, tokenizer, prompts, eval_cfg))
    return [[next(outputs) for _ in qs] for qs in questions]


def _judge(
    items: Sequence[QAItem], answers: Sequence[Sequence[str]], eval_cfg: EvalConfig
) -> list[bool]:
    """Per item: whether any of its answers is correct (as every other rate judges it)."""
    golds = [item.answer for item in items]
    return any_correct(golds, answers, eval_cfg.correct_threshold, stemming=eval_cfg.rouge_stemming)


def paraphrase_attack(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    items: Sequence[QAItem],
    icl: Sequence[QAItem],
    cfg: AttackConfig,
    eval_cfg: EvalConfig,
) -> AttackResult:
    """Ask each question in its rephrasings (with the benchmark's usual ICL examples)."""
    questions = [paraphrases(item, cfg.paraphrase_templates, cfg.max_paraphrases) for item in items]
    answers = _ask(model, tokenizer, fmt, questions, icl, eval_cfg)
    own = sum(1 for item in items if item.paraphrases)
    return AttackResult(
        attacked=[True] * len(items),
        recovered=_judge(items, answers, eval_cfg),
        answers=answers,
        budget={
            "prompts_per_question": float(max((len(q) for q in questions), default=0)),
            "with_data_paraphrases": float(own),
        },
    )


def icl_attack(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    items: Sequence[QAItem],
    demonstrations: Sequence[QAItem],
    eval_cfg: EvalConfig,
) -> AttackResult:
    """Ask each question once, after the known retain pairs ``demonstrations``."""
    answers = _ask(model, tokenizer, fmt, [[i.question] for i in items], demonstrations, eval_cfg)
    return AttackResult(
        attacked=[True] * len(items),
        recovered=_judge(items, answers, eval_cfg),
        answers=answers,
        budget={"demonstrations": float(len(demonstrations)), "prompts_per_question": 1.0},
    )


def relearn_attack(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    items: Sequence[QAItem],
    icl: Sequence[QAItem],
    cfg: AttackConfig,
    eval_cfg: EvalConfig,
) -> AttackResult:
    """Fine-tune on the even-position items, measure the odd ones, restore the model exactly.

    Fewer than two items leave nothing to train on or to measure: nothing is attacked.
    """
    train = [item for i, item in enumerate(items) if i % 2 == 0]
    measured = [i % 2 == 1 for i in range(len(items))]
    if len(items) < 2:
        return AttackResult([False] * len(items), [False] * len(items), [[] for _ in items], {})
    with _restored(model):
        _finetune(model, tokenizer, fmt, train, cfg)
        tested = [item for item, m in zip(items, measured) if m]
        with torch.inference_mode():
            got = _ask(model, tokenizer, fmt, [[i.question] for i in tested], icl, eval_cfg)
    hits = iter(_judge(tested, got, eval_cfg))
    answers = iter(got)
    return AttackResult(
        attacked=measured,
        recovered=[next(hits) if m else False for m in measured],
        answers=[next(answers) if m else [] for m in measured],
        budget={
            "steps": float(cfg.relearn_steps),
            "lr": cfg.relearn_lr,
            "train_facts": float(len(train)),
        },
    )


class _restored:
    """Context manager: every parameter's value, ``requires_grad`` and ``grad`` come back.

    The snapshot is kept on the CPU, so relearning a big model costs host memory, not
    accelerator memory. Autograd is switched back on inside (the analysis runs under
    ``torch.inference_mode``); the train/eval flags are not touched (analysis set eval).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self._inference = torch.inference_mode(False)
        self._grad = torch.enable_grad()
        self._inference.__enter__()
        self._grad.__enter__()
        params = list(self.model.named_parameters())
        self.values = {n: p.detach().to("cpu", copy=True) for n, p in params}
        self.flags = {n: p.requires_grad for n, p in params}
        self.grads = {n: p.grad for n, p in params}

    def __exit__(self, *exc: object) -> None:
        try:
            with torch.no_grad():
                for name, param in self.model.named_parameters():
                    param.copy_(self.values[name].to(param.device))
                    param.requires_grad_(self.flags[name])
                    param.grad = self.grads[name]
        finally:
            self._grad.__exit__(*exc)
            self._inference.__exit__(*exc)


def _finetune(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    items: Sequence[QAItem],
    cfg: AttackConfig,
) -> None:
    """``relearn_steps`` AdamW steps of plain NLL on ``items``, cycling through them."""
    from unpact_exp.methods.token_logprobs import mean_nll
    from unpact_exp.training.sequences import PadCollator, encode_qa
    from unpact_exp.unpact.inference import model_device

    examples = encode_qa(tokenizer, fmt, list(items), cfg.max_length)
    collate = PadCollator(tokenizer.pad_token_id)
    device = model_device(model)
    params = [p for p in model.parameters() if p.is_floating_point()]
    for param in params:
        param.requires_grad_(True)
        param.grad = None
    optimizer = torch.optim.AdamW(params, lr=cfg.relearn_lr, weight_decay=0.0)
    size = min(cfg.relearn_batch_size, len(examples))
    for step in range(cfg.relearn_steps):
        start = (step * size) % len(examples)
        chunk = (examples + examples)[start : start + size]
        batch = {k: v.to(device) for k, v in collate(chunk).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = mean_nll(logits, batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
