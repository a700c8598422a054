"""The membership-inference suite as a metric: each attack's AUC between forget and holdout texts.

The attacks and the AUC are :mod:`unpact_exp.metrics.mia` (open-unlearning's six, in its
convention: a *non-membership* score, holdout texts the positives, so 1 means every forget text
is recognised and 0.5 means the model cannot tell them from unseen text). The texts are the
dataset's pair of members and non-members:

- MUSE's ``privleak/forget`` and ``privleak/holdout`` (the texts PrivLeak scores), encoded as
  PrivLeak encodes them: with the tokenizer's special tokens, no truncation, every token after
  the first scored. On them ``mia_min_k_auc`` is ``1 - privleak_auc`` (tested);
- otherwise TOFU's ``forget_qa`` and ``holdout_qa`` (authors never trained on), each pair
  rendered by the model's prompt format and scored on its answer tokens and EOS, exactly as the
  methods train on them (:func:`unpact_exp.training.sequences.encode_qa`), as open-unlearning
  scores TOFU's QA pairs.

Each text is scored once per model by a forward pass of its batch (the LM head applied one text
at a time, :func:`unpact_exp.metrics.privleak.row_logits`); GradNorm adds one backward pass per
text (:func:`unpact_exp.metrics.mia.text_gradnorm`). The reference attack scores the same tokens
under ``metrics.mia.reference_model`` (open-unlearning uses the retain model), read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics.mia import (
    loss_score,
    mia_auc,
    min_k_plus_plus_score,
    min_k_score,
    reference_score,
    text_gradnorm,
    token_statistics,
    zlib_score,
)
from unpact_exp.metrics.privleak import example_logits, text_examples
from unpact_exp.metrics.registry import register
from unpact_exp.stop import check_stop
from unpact_exp.training.sequences import IGNORE, Example, PadCollator, encode_qa
from unpact_exp.unpact.inference import analysis_mode, model_device
from unpact_exp.unpact.scoring import padding_id

Attack = Literal["loss", "zlib", "min_k", "min_k_plus_plus", "gradnorm"]
ATTACKS: tuple[str, ...] = ("loss", "zlib", "min_k", "min_k_plus_plus", "gradnorm", "reference")
"""Every attack, in the report's order; ``reference`` runs when a reference model is given."""


@dataclass(frozen=True)
class Scored:
    """One text's scored tokens under one model.

    Attributes:
        logprobs: ``log p(x_t | x_<t)`` of each scored token.
        min_k_plus_plus: its Min-K%++ score (it needs the full next-token distributions).
        text: the scored tokens decoded without special tokens (ZLib's text).
    """

    logprobs: list[float]
    min_k_plus_plus: float
    text: str


def member_examples(ctx: MetricContext, max_length: int) -> tuple[list[Example], list[Example]]:
    """The forget (members) and holdout (non-members) sequences of the dataset (module doc)."""
    bench, tokenizer = ctx.benchmark, ctx.tokenizer
    if bench.privleak_forget and bench.privleak_holdout:
        return text_examples(tokenizer, bench.privleak_forget), text_examples(
            tokenizer, bench.privleak_holdout
        )
    fmt = ctx.prompt_format
    return (
        encode_qa(tokenizer, fmt, bench.forget_qa, max_length),
        encode_qa(tokenizer, fmt, bench.holdout_qa, max_length),
    )


def score_tokens(
    model: torch.nn.Module, tokenizer: Any, examples: Sequence[Example], k: float, batch_size: int
) -> list[Scored]:
    """The scored tokens of each example under ``model`` (PrivLeak's batching: right-padded,
    no KV cache, the LM head one example at a time, :func:`example_logits`)."""
    out: list[Scored] = []
    with analysis_mode(model):
        for example, logits in example_logits(model, tokenizer, examples, batch_size):
            scored = torch.tensor([label != IGNORE for label in example.labels[1:]])
            targets = torch.tensor(example.input_ids[1:])[scored].to(logits.device)
            logits = logits[scored.to(logits.device)]
            logprobs = token_statistics(logits, targets, "min_k").cpu().tolist()
            out.append(
                Scored(
                    logprobs,
                    min_k_plus_plus_score(logits, targets, k),
                    tokenizer.decode(targets.tolist(), skip_special_tokens=True),
                )
            )
    return out


def gradnorms(
    model: torch.nn.Module, tokenizer: Any, examples: Sequence[Example], p: float
) -> list[float]:
    """GradNorm of each example, one backward pass each."""
    collate = PadCollator(padding_id(tokenizer))
    device = model_device(model)
    scores = []
    with analysis_mode(model):  # eval mode; text_gradnorm leaves inference mode for its backward
        for example in examples:
            check_stop()
            batch = {k: v.to(device) for k, v in collate([example]).items() if k != "index"}
            scores.append(text_gradnorm(model, batch, p))
    return scores


@register("mia")
class MembershipInference:
    """Each membership-inference attack's forget-vs-holdout AUC of M1 and M0.

    Args:
        k: the fraction of lowest-scoring tokens Min-K% and Min-K%++ average (open-unlearning
            and MUSE: 0.4).
        attacks: the attacks run without another model (any of ``loss``, ``zlib``, ``min_k``,
            ``min_k_plus_plus``, ``gradnorm``); ``gradnorm`` costs a backward pass per text.
        gradnorm_p: GradNorm's norm: 1, 2 or ``inf`` (open-unlearning: 2).
        reference_model: folder or hub id of the reference attack's model (same tokenizer; e.g.
            the retain model); None: no reference attack.
        max_length: tokens per QA sequence (prompt, answer and EOS); raw texts are not cut.
        batch_size: sequences per forward pass.
    """

    columns: ClassVar[tuple[Column, ...]] = tuple(
        Column(f"mia_{attack}_auc{suffix}", f"{label} AUC{m0} (0-1)", "auc")
        for attack, label in (
            ("loss", "LOSS"),
            ("zlib", "ZLib"),
            ("min_k", "Min-K%"),
            ("min_k_plus_plus", "Min-K%++"),
            ("gradnorm", "GradNorm"),
            ("reference", "Reference"),
        )
        for suffix, m0 in (("", ""), ("_original", ", M0"))
    )
    table: ClassVar[str | None] = "Membership inference"
    description: ClassVar[str] = (
        "ROC AUC of each attack's non-membership score with the holdout texts as positives "
        "(MUSE's privleak/forget vs privleak/holdout texts, or TOFU's forget vs holdout QA "
        "answers): 1 = every forget text recognised as seen, 0.5 = forget texts look unseen. "
        "Attacks as open-unlearning computes them (Min-K% at `metrics.mia.k`); Reference only "
        "with `metrics.mia.reference_model`. M0 = the original model."
    )

    def __init__(
        self,
        k: float,
        attacks: tuple[Attack, ...],
        gradnorm_p: Literal[1, 2, "inf"],
        reference_model: str | None,
        max_length: int,
        batch_size: int,
    ) -> None:
        from unpact_exp.config import checks

        checks.unit_interval("metrics.mia.k", k)
        checks.distinct("metrics.mia.attacks", attacks)
        checks.at_least("metrics.mia.max_length", max_length, 2)
        checks.at_least("metrics.mia.batch_size", batch_size, 1)
        if not attacks and reference_model is None:
            raise UnpactConfigError(
                "metrics.mia.attacks=[] and no metrics.mia.reference_model: the metric has "
                "nothing to run; list attacks (e.g. [loss,min_k]) or leave mia out of "
                "metrics.every_step / metrics.final."
            )
        self.k, self.attacks = k, tuple(attacks)
        self.p = float(gradnorm_p)
        self.reference_model = reference_model
        self.max_length, self.batch_size = max_length, batch_size
        self.reference: tuple[list[Scored], list[Scored]] | None = None

    def applies(self, benchmark: Benchmark) -> bool:
        """Members and non-members: MUSE's PrivLeak texts, or TOFU's forget and holdout QA."""
        texts = bool(benchmark.privleak_forget and benchmark.privleak_holdout)
        return texts or bool(benchmark.forget_qa and benchmark.holdout_qa)

    def prepare(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M0's AUCs; the reference model's token log-probs (loaded on M0's device, used once)."""
        if self.reference_model is not None:
            reference = ctx.load_beside(self.reference_model, model)
            forget, holdout = member_examples(ctx, self.max_length)
            self.reference = (
                score_tokens(reference, ctx.tokenizer, forget, self.k, self.batch_size),
                score_tokens(reference, ctx.tokenizer, holdout, self.k, self.batch_size),
            )
            del reference
        return {f"{k}_original": v for k, v in self.measure(model, ctx, answered).items()}

    def measure(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """``mia_<attack>_auc`` of each attack run."""
        forget, holdout = member_examples(ctx, self.max_length)
        scores = [
            self._scores(model, ctx, examples, side)
            for side, examples in enumerate((forget, holdout))
        ]
        return {
            f"mia_{attack}_auc": mia_auc(scores[0][attack], scores[1][attack])
            for attack in ATTACKS
            if attack in scores[0]
        }

    def _scores(
        self, model: torch.nn.Module, ctx: MetricContext, examples: list[Example], side: int
    ) -> dict[str, list[float]]:
        """Each attack's score of each example (``side``: 0 forget, 1 holdout)."""
        scored = score_tokens(model, ctx.tokenizer, examples, self.k, self.batch_size)
        every = {
            "loss": lambda: [loss_score(s.logprobs) for s in scored],
            "zlib": lambda: [zlib_score(s.logprobs, s.text) for s in scored],
            "min_k": lambda: [min_k_score(s.logprobs, self.k) for s in scored],
            "min_k_plus_plus": lambda: [s.min_k_plus_plus for s in scored],
            "gradnorm": lambda: gradnorms(model, ctx.tokenizer, examples, self.p),
        }
        scores = {attack: every[attack]() for attack in self.attacks}
        if self.reference is not None:
            theirs = self.reference[side]
            scores["reference"] = [
                reference_score(ours.logprobs, ref.logprobs)
                for ours, ref in zip(scored, theirs, strict=True)
            ]
        return scores
