"""Forget objectives (SPEC section 6) as small modules the LightningModule composes.

Each objective owns only what its method needs (NPO's cached reference
log-probs, RMU's control vector, TV's snapshot of the original weights) and exposes
the same three hooks, so a new method is one class here plus one YAML file:

- ``on_fit_start(ctx)``: one-off preparation before the first step;
- ``loss(ctx, forget, retain) -> (loss, logs)``: the per-step forget objective;
- ``on_train_end(ctx)``: a post-fit step (task-vector negation).

``ctx`` is the :class:`~unpact_exp.training.module.UnlearnModule`; objectives use
its ``policy``, ``reference`` and ``forward_batch`` and never subclass each other.
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from unpact_exp.errors import UnpactConfigError
from unpact_exp.losses import (
    ga_loss,
    make_control_vector,
    mean_nll,
    negate_task_vector,
    npo_loss,
    rmu_loss,
    sequence_logprob,
)

Batch = dict[str, Tensor]


class Objective(Protocol):
    """What the LightningModule needs from a forget objective."""

    needs_reference: bool
    uses_retain: bool
    accepts_regularizer: bool

    def on_fit_start(self, ctx: Any) -> None: ...

    def loss(self, ctx: Any, forget: Batch, retain: Batch | None) -> tuple[Tensor, dict]: ...

    def on_train_end(self, ctx: Any) -> None: ...

    def trainable(self, name: str) -> bool: ...


class GradientAscent(nn.Module):
    """GA: minimise ``-NLL(forget)`` (SPEC 6)."""

    needs_reference = False
    uses_retain = False
    accepts_regularizer = True

    def on_fit_start(self, ctx: Any) -> None:
        """Nothing to prepare."""

    def loss(self, ctx: Any, forget: Batch, retain: Batch | None) -> tuple[Tensor, dict]:
        """Negated token-mean NLL of the forget batch."""
        logits = ctx.forward_batch(ctx.policy, forget).logits
        loss = ga_loss(logits, forget["labels"])
        return loss, {"forget_nll": -loss.detach()}

    def on_train_end(self, ctx: Any) -> None:
        """No post-fit step."""

    def trainable(self, name: str) -> bool:
        """Every parameter is trained."""
        return True


class NPO(nn.Module):
    """NPO with sequence log-probs; reference log-probs cached once (SPEC 6, arXiv 2404.05868).

    The reference model is the policy before the first update, and the forget set
    never changes, so its log-probs are computed in one pass at the start of fit and
    stored in a buffer (saved in checkpoints, so a resumed run reuses them rather
    than recomputing them with the partly unlearned policy).

    Args:
        beta: NPO's inverse temperature (``method.beta``).
        n_forget: number of forget examples (the cache size).
    """

    needs_reference = False
    uses_retain = False
    accepts_regularizer = True

    def __init__(self, beta: float, n_forget: int) -> None:
        super().__init__()
        self.beta = beta
        self.register_buffer("ref_logp", torch.zeros(n_forget))
        self.register_buffer("cache_ready", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def on_fit_start(self, ctx: Any) -> None:
        """Fill the reference cache with the untouched policy, unless restored from a checkpoint."""
        if bool(self.cache_ready):
            return
        was_training = ctx.policy.training
        ctx.policy.eval()
        for batch in ctx.forget_batches_in_order():
            batch = {k: v.to(ctx.device) for k, v in batch.items()}
            logp = sequence_logprob(ctx.forward_batch(ctx.policy, batch).logits, batch["labels"])
            self.ref_logp[batch["index"]] = logp.float()
        ctx.policy.train(was_training)
        self.cache_ready.fill_(True)

    def loss(self, ctx: Any, forget: Batch, retain: Batch | None) -> tuple[Tensor, dict]:
        """NPO loss against the cached reference log-probs of this batch's examples."""
        logits = ctx.forward_batch(ctx.policy, forget).logits
        policy_logp = sequence_logprob(logits, forget["labels"])
        loss = npo_loss(policy_logp.float(), self.ref_logp[forget["index"]], self.beta)
        return loss, {"forget_nll": mean_nll(logits.detach(), forget["labels"])}

    def on_train_end(self, ctx: Any) -> None:
        """No post-fit step."""

    def trainable(self, name: str) -> bool:
        """Every parameter is trained."""
        return True


class TaskVector(nn.Module):
    """Task-vector negation (arXiv 2212.04089): fine-tune on forget, then negate.

    Stage 1 (the fit): minimise NLL(forget), i.e. learn the forget data *more*.
    Stage 2 (``on_train_end``): ``theta = theta0 - alpha * (theta_ft - theta0)``.
    The snapshot ``theta0`` is taken at fit start, after any sharding, so under
    FSDP each rank negates its own shards.

    Args:
        alpha: negation scale (``method.alpha``).
    """

    needs_reference = False
    uses_retain = False
    accepts_regularizer = False

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha
        self._theta0: dict[str, Tensor] | None = None

    @torch.no_grad()
    def on_fit_start(self, ctx: Any) -> None:
        """Snapshot the original weights (kept off the module so checkpoints stay small)."""
        if self._theta0 is None:
            self._theta0 = {n: p.detach().clone() for n, p in ctx.policy.named_parameters()}

    def on_load_checkpoint(self, ctx: Any) -> None:
        """On resume, snapshot ``theta_0`` before the fine-tuned weights are restored.

        Lightning calls this before loading the checkpoint's state dict (and, under
        FSDP, after ``on_fit_start`` already took the snapshot), so the policy still
        holds the original weights either way.
        """
        self.on_fit_start(ctx)

    def loss(self, ctx: Any, forget: Batch, retain: Batch | None) -> tuple[Tensor, dict]:
        """Plain NLL on the forget batch (the fine-tuning stage)."""
        nll = mean_nll(ctx.forward_batch(ctx.policy, forget).logits, forget["labels"])
        return nll, {"forget_nll": nll.detach()}

    @torch.no_grad()
    def on_train_end(self, ctx: Any) -> None:
        """Write ``theta0 - alpha * (theta_ft - theta0)`` into the policy."""
        if self._theta0 is None:
            raise RuntimeError("task vector: fit ended before the original weights were saved")
        params = dict(ctx.policy.named_parameters())
        current = {n: p.detach() for n, p in params.items()}
        for name, value in negate_task_vector(self._theta0, current, self.alpha).items():
            params[name].copy_(value)

    def trainable(self, name: str) -> bool:
        """Every parameter is fine-tuned."""
        return True


class RMU(nn.Module):
    """Representation Misdirection for Unlearning (arXiv 2403.03218).

    Forget activations at ``layer`` are pushed to ``steering_coeff * u``; retain
    activations are held to the frozen reference's. Only the MLP down-projections
    of ``trainable_layers`` are trained. ``u`` is a buffer, saved with checkpoints.

    Args:
        layer: decoder layer whose output is steered.
        trainable_layers: layers whose ``mlp.down_proj`` is trained.
        steering_coeff: scale of the steering target.
        alpha: weight of the retain term.
        hidden_size: model width (size of ``u``).
        seed: seed of ``u``.
    """

    needs_reference = True
    uses_retain = True
    accepts_regularizer = False

    def __init__(
        self,
        layer: int,
        trainable_layers: list[int],
        steering_coeff: float,
        alpha: float,
        hidden_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.layer = layer
        self.trainable_layers = list(trainable_layers)
        self.steering_coeff = steering_coeff
        self.alpha = alpha
        self.register_buffer("control_vec", make_control_vector(hidden_size, seed, torch.float32))

    def on_fit_start(self, ctx: Any) -> None:
        """Check the configured layers exist in this model."""
        n_layers = len(decoder_layers(ctx.policy))
        bad = [i for i in [self.layer, *self.trainable_layers] if not 0 <= i < n_layers]
        if bad:
            raise UnpactConfigError(
                f"method.layer / method.trainable_layers name layers {bad}, but the model has "
                f"{n_layers} decoder layers (valid: 0..{n_layers - 1}); set them in "
                "conf/method_model/rmu_<model>.yaml."
            )

    def _activations(self, model: nn.Module, ctx: Any, batch: Batch) -> Tensor:
        captured: list[Tensor] = []
        hook = decoder_layers(model)[self.layer].register_forward_hook(
            lambda _m, _i, out: captured.append(out[0] if isinstance(out, tuple) else out)
        )
        try:
            ctx.forward_batch(model, batch)
        finally:
            hook.remove()
        return captured[0].float()

    def loss(self, ctx: Any, forget: Batch, retain: Batch | None) -> tuple[Tensor, dict]:
        """RMU loss; the retain term is part of the method, not a regularizer."""
        if retain is None:
            raise RuntimeError("rmu needs retain batches, but the data module gave none")
        with torch.no_grad():
            frozen = self._activations(ctx.reference, ctx, retain)
        total, forget_term, retain_term = rmu_loss(
            self._activations(ctx.policy, ctx, forget),
            self._activations(ctx.policy, ctx, retain),
            frozen,
            self.control_vec,
            self.steering_coeff,
            self.alpha,
            forget["attention_mask"],
            retain["attention_mask"],
        )
        return total, {"rmu_forget": forget_term.detach(), "rmu_retain": retain_term.detach()}

    def on_train_end(self, ctx: Any) -> None:
        """No post-fit step."""

    def trainable(self, name: str) -> bool:
        """Only ``layers.<i>.mlp.down_proj`` of the configured layers."""
        return any(f"layers.{i}.mlp.down_proj." in name for i in self.trainable_layers)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layer list of an HF causal LM (``model.model.layers``)."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise UnpactConfigError(
            f"{type(model).__name__} has no model.layers; rmu supports decoder-only HF models."
        )
    return layers


OBJECTIVES = ("ga", "npo", "tv", "rmu")


def build_objective(method_cfg: Any, n_forget: int, hidden_size: int, seed: int) -> nn.Module:
    """Build the forget objective named by ``method.objective`` from its YAML node.

    Raises:
        UnpactConfigError: unknown objective (the message lists the choices and the
            closest match).
    """
    name = method_cfg.objective
    if name == "ga":
        return GradientAscent()
    if name == "npo":
        if method_cfg.beta <= 0:
            raise UnpactConfigError(f"method.beta={method_cfg.beta} must be > 0 for npo.")
        return NPO(beta=float(method_cfg.beta), n_forget=n_forget)
    if name == "tv":
        return TaskVector(alpha=float(method_cfg.alpha))
    if name == "rmu":
        return RMU(
            layer=int(method_cfg.layer),
            trainable_layers=list(method_cfg.trainable_layers),
            steering_coeff=float(method_cfg.steering_coeff),
            alpha=float(method_cfg.alpha),
            hidden_size=hidden_size,
            seed=seed,
        )
    close = difflib.get_close_matches(str(name), OBJECTIVES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnpactConfigError(f"method.objective={name!r} is not one of {list(OBJECTIVES)}.{hint}")
