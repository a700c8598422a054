"""The retrain oracle as a method: the model trained without the forget set, no unlearning steps.

Exact unlearning is retraining from scratch without the forget data; MUSE and TOFU compare
every method to such a model. On the synthetic benchmark the framework can build it: the
tiny target's recipe on everything but the forget set (``model.build.without_forget``,
:func:`unpact_exp.stages.target.ensure_oracle`). ``method=retrain`` makes that oracle the
unlearned model ``M1`` of a run, so ``setting=retrain`` sits in any grid:

- its ``forget_rate`` against the target ``M0`` is the forgetting of exact unlearning
  (high: the oracle never saw the facts; it answers only by chance or from the retain
  facts' regularities, e.g. a city that is often a birthplace);
- every attack and control run on it measures that attack's *false-positive rate*: a
  question "recovered" from a model that never learned the fact was answered from the
  prompt or by chance, not from hidden knowledge.

The method trains nothing (``fit_length`` is zero steps). The stage supplies ``oracle``, a
callable that returns the oracle's folder and builds it first when absent; it is called
when the objective is built, before the fit (a build is a training run of its own, which
must not nest inside this run's fit). The post-fit step copies the oracle's weights into
the policy, which then is evaluated and saved as every method's result is. The oracle
shares the target's tokenizer and architecture (the same build settings), so the weights
fit the policy tensor for tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register
from unpact_exp.models.lora import has_lora


@register("retrain")
class Retrain(Objective):
    """``M1`` = the retrain oracle (see the module docstring).

    Args:
        oracle: returns the oracle's folder, building it if absent (supplied by the stage;
            ``None`` when the run's model is not framework-built, which is refused).
    """

    accepts_regularizer = False
    evaluates_during_fit = False

    def __init__(self, oracle: Callable[[], str] | None) -> None:
        super().__init__()
        if oracle is None:
            raise UnpactConfigError(
                "method=retrain needs the retrain oracle, which the framework builds only for "
                "its own tiny model (model=tiny, model.build); use model=tiny."
            )
        self.oracle_dir = str(oracle())

    def fit_length(self, max_steps: int, max_epochs: int) -> tuple[int, int]:
        """No training step: ``(0, max_epochs)``."""
        return 0, max_epochs

    def on_fit_start(self, ctx: MethodContext) -> None:
        """Refuse adapters: the oracle replaces the full weights."""
        if has_lora(ctx.policy):
            raise UnpactConfigError(
                "method=retrain replaces every weight with the oracle's; use peft=none."
            )

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Never called: the fit has no step."""
        raise RuntimeError("method=retrain trains nothing; its fit has zero steps")

    @torch.no_grad()
    def on_train_end(self, ctx: MethodContext) -> None:
        """Copy the oracle's weights into the policy (same architecture and tokenizer)."""
        from transformers import AutoModelForCausalLM

        oracle = AutoModelForCausalLM.from_pretrained(self.oracle_dir, dtype=torch.float32)
        weights = oracle.state_dict()
        policy = ctx.policy.state_dict()
        if set(weights) != set(policy) or any(weights[k].shape != policy[k].shape for k in policy):
            raise RuntimeError(
                f"the oracle in {self.oracle_dir} does not match the policy's architecture; "
                "delete it so that it is rebuilt with the target's build settings."
            )
        ctx.policy.load_state_dict(weights)
