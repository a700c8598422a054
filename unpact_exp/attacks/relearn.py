"""Relearn: a few fine-tuning steps on half of the forgotten facts (docs/science.md §10).

Fine-tune M1 for ``attacks.relearn.steps`` AdamW steps on the even positions of the
forgotten list and measure recovery on the odd positions: knowledge that was hidden rather
than removed comes back from a little training on *other* forgotten facts. M1 is restored
bit for bit afterwards (weights, ``requires_grad`` flags and gradients).

Memory: every parameter is relearned (the attack is full fine-tuning, as the relearning
literature runs it), but AdamW's state lives on the host. Its two moments and its copy of
the weights would be three more model-sized tensors on the accelerator (about 45 GiB for an
8B model in bf16), at the final evaluation, where the training state is still allocated. So
each step moves the gradients to a host copy of the weights, steps AdamW there, and copies
the weights back: the same arithmetic (the same ``torch.optim.AdamW`` on the same values),
with only the gradients on the accelerator. A few steps on a big model cost a few
host-device copies of the weights each; host memory holds the copy, the two moments and the
restore snapshot (4 x the weights). Each step's batch is forwarded one sequence at a time,
its gradients accumulated: the batch's token-mean loss is the sum of each sequence's summed
NLL over the batch's target tokens, so the gradient is the batch's (up to the order of float
sums), and activations are one sequence's, not ``attacks.relearn.batch_size``'s (8 x 512
tokens of an 8B model would hold about 25 GiB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from unpact_exp.attacks.base import AttackBase
from unpact_exp.attacks.registry import register
from unpact_exp.config import checks
from unpact_exp.data.schema import QAItem
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Outcome, Target
from unpact_exp.models.prompt import PromptFormat


@register("relearn")
class Relearn(AttackBase):
    """Train on the even-position forgotten facts, ask the odd ones, restore the model.

    Args:
        steps: AdamW steps.
        lr: the learning rate (experiments on the tiny target use 1e-3).
        batch_size: forgotten facts per step.
        max_length: token cap of the relearning sequences.
    """

    rate: ClassVar[str] = "relearn_recovery_rate"
    header: ClassVar[str] = "relearn (%)"

    def __init__(self, steps: int, lr: float, batch_size: int, max_length: int) -> None:
        checks.at_least("attacks.relearn.steps", steps, 1)
        checks.positive("attacks.relearn.lr", lr)
        checks.at_least("attacks.relearn.batch_size", batch_size, 1)
        checks.at_least("attacks.relearn.max_length", max_length, 1)
        self.steps, self.lr, self.batch_size, self.max_length = steps, lr, batch_size, max_length

    def attempts(self, ctx: AttackContext) -> int:
        """One answer per measured question."""
        return 1

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """Fewer than two questions leave nothing to train on or to measure: none is attacked.

        Every rank (under several) fine-tunes its own full copy on the same facts and asks
        all the measured questions itself (``task.local()``), as one process would.
        """
        items = target.items
        if len(items) < 2:
            return AttackRun([Outcome(False) for _ in items], {})
        train = [item for i, item in enumerate(items) if i % 2 == 0]
        tested = [item for i, item in enumerate(items) if i % 2 == 1]
        task = target.task.local()
        with _restored(model):
            self._finetune(model, task.ctx.tokenizer, task.ctx.prompt_format, train)
            with torch.inference_mode():
                answers = task.ask(model, tested, [[item.question] for item in tested])
        hits = iter(task.judge(tested, answers))
        tried = iter(answers)
        outcomes = [
            Outcome(True, list(next(tried)), list(next(hits))) if i % 2 == 1 else Outcome(False)
            for i in range(len(items))
        ]
        budget = {"steps": float(self.steps), "lr": self.lr, "train_facts": float(len(train))}
        return AttackRun(outcomes, budget)

    def _finetune(
        self, model: torch.nn.Module, tokenizer: Any, fmt: PromptFormat, items: Sequence[QAItem]
    ) -> None:
        """``steps`` AdamW steps of plain NLL on ``items``, cycling through them."""
        from unpact_exp.training.sequences import PadCollator, encode_qa
        from unpact_exp.unpact.inference import model_device

        examples = encode_qa(tokenizer, fmt, list(items), self.max_length)
        collate = PadCollator(tokenizer.pad_token_id)
        device = model_device(model)
        params = [p for p in model.parameters() if p.is_floating_point()]
        for param in params:
            param.requires_grad_(True)
            param.grad = None
        host = [p.detach().to("cpu", copy=True) for p in params]  # AdamW's weights
        optimizer = torch.optim.AdamW(host, lr=self.lr, weight_decay=0.0)
        size = min(self.batch_size, len(examples))
        for step in range(self.steps):
            start = (step * size) % len(examples)
            chunk = (examples + examples)[start : start + size]
            accumulate_gradients(model, collate(chunk), device)
            host_step(optimizer, params, host)


def accumulate_gradients(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], device: Any
) -> None:
    """Add the gradients of the batch's token-mean NLL (``mean_nll``), one sequence at a time.

    ``batch`` is right-padded, so row ``i``'s tokens are its first ``n_i``: each row is forwarded
    alone, cut to them, and its summed NLL divided by the batch's number of target tokens.
    """
    from unpact_exp.methods.token_logprobs import IGNORE_INDEX, token_logprobs

    targets = (batch["labels"][:, 1:] != IGNORE_INDEX).sum().clamp(min=1).to(device)
    for row, length in enumerate(batch["attention_mask"].sum(dim=1).tolist()):
        ids, labels = (batch[k][row : row + 1, :length].to(device) for k in ("input_ids", "labels"))
        logp, _ = token_logprobs(model(input_ids=ids).logits, labels)
        (-logp.sum() / targets).backward()


def host_step(
    optimizer: torch.optim.Optimizer, params: list[torch.Tensor], host: list[torch.Tensor]
) -> None:
    """One AdamW step on the host copies ``host`` of ``params``, with ``params``' gradients;
    the accelerator's gradients are freed and its weights overwritten with the result."""
    for param, copy in zip(params, host, strict=True):
        copy.grad = None if param.grad is None else param.grad.to("cpu")
        param.grad = None
    optimizer.step()
    with torch.no_grad():
        for param, copy in zip(params, host, strict=True):
            param.copy_(copy)


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
