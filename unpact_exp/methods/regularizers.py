"""Retain-set regularizers composable with the ``ga`` and ``npo`` forget objectives.

References: the ``GD`` and ``KL`` retain terms of MUSE (Shi et al., https://arxiv.org/abs/2407.06460,
section 4) and TOFU (Maini et al., https://arxiv.org/abs/2401.06121).

Equations, on a retain batch ``r`` with the causal shift of
:mod:`unpact_exp.methods.token_logprobs` (logits at position ``t`` predict ``labels[:, t+1]``;
``m_{b,t} = [labels[b, t+1] != -100]``, ``N = sum m``)::

    L_GD(r) = NLL(r) = -(1 / N) * sum_{b,t} m_{b,t} * log p_theta(labels[b, t+1] | logits[b, t])

    L_KL(r) = (1 / N) * sum_{b,t} m_{b,t} * sum_v p_ref(v | b, t) * (log p_ref(v | b, t)
                                                                  - log p_theta(v | b, t))

so the KL is the *forward* KL(p_ref || p_theta), summed over the vocabulary at each position and
averaged over exactly the positions ``t`` whose next token ``labels[:, t+1]`` is a target: the same
positions, and the same count ``N``, as the NLL. The label values themselves do not enter the KL,
only which positions they mark. That is ``regularizer.positions: answer`` (the default).

``regularizer.positions: all`` averages over every non-padding position instead (``attention_mask``,
all ``T`` positions, no causal shift), as open-unlearning's ``compute_kl_divergence``
(locuslab/open-unlearning, ``src/trainer/utils.py``): it flattens the logits to
``[B*T, V]`` and calls ``kl_div(log p_theta, log p_ref, reduction="batchmean", log_target=True)``,
i.e. the same per-position KL summed over all ``B*T`` positions and divided by ``B*T``. On a batch
without padding the two are equal; open-unlearning also counts padding positions, we do not.

``regularizer.formula: muse`` is MUSE's retain KL instead (``klr`` in
``baselines/baselines/iterative.py`` of github.com/swj0419/muse_bench): ``kl_div`` applied to the
*raw logits* as if they were log-probabilities, summed over every element of ``[B, T, V]``
(padding included) and divided by the batch size ``B`` (``reduction="batchmean"``)::

    L_KL_MUSE(r) = (1 / B) * sum_{b,t,v} exp(z_ref[b,t,v]) * (z_ref[b,t,v] - z_theta[b,t,v])

It is what produced MUSE's published NPO+KL and GA+KL numbers; ``positions`` is not used by it.

The loss functions return the unweighted term; the :class:`Regularizer` classes
registered below (one per ``conf/regularizer/*.yaml``) apply ``regularizer.weight``.
Methods that carry their own retain handling (``accepts_regularizer = False``:
``tv``, ``rmu``) refuse any regularizer but ``none`` (:func:`check_combination`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from unpact_exp.config import checks
from unpact_exp.config.binder import bind, hint
from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.base import Batch, MethodContext
from unpact_exp.methods.token_logprobs import IGNORE_INDEX, _check_shapes, mean_nll


def gd_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Token-mean NLL on the retain batch (gradient *descent* keeps retain knowledge).

    Args:
        logits: ``[B, T, V]`` policy outputs on the retain batch.
        labels: ``[B, T]`` retain token ids, ``-100`` where not a target.

    Returns:
        Scalar float32 tensor ``mean_nll(logits, labels)``; the caller multiplies by
        ``reg.weight``.
    """
    return mean_nll(logits, labels)


KL_POSITIONS = ("answer", "all")
Formula = Literal["standard", "muse"]
"""``method.formula`` / ``regularizer.formula``: the paper's definition (docs/science.md §6-7)
or MUSE's code, on raw logits (docs/science.md §12)."""


def kl_loss(
    ref_logits: Tensor,
    policy_logits: Tensor,
    labels: Tensor,
    positions: str,
    attention_mask: Tensor | None,
) -> Tensor:
    """Token-level forward KL(p_ref || p_theta) on the retain batch.

    Args:
        ref_logits: ``[B, T, V]`` frozen reference-model outputs (detached here).
        policy_logits: ``[B, T, V]`` outputs of the model being unlearned.
        labels: ``[B, T]`` retain token ids; with ``positions="answer"`` only
            ``labels[:, 1:] != -100`` is used, to select the positions ``t`` (of the logits)
            that are averaged.
        positions: ``answer`` (the target positions, as the NLL) or ``all`` (every position
            where ``attention_mask`` is 1, as open-unlearning): ``regularizer.positions``.
        attention_mask: ``[B, T]``; required for ``positions="all"`` (unused by ``answer``).

    Returns:
        Scalar float32 tensor, the KL summed over the vocabulary and averaged over the selected
        positions (0 if there are none); the caller multiplies by ``reg.weight``.
    """
    _check_shapes(policy_logits, labels)
    if ref_logits.shape != policy_logits.shape:
        raise ValueError(
            f"ref_logits {tuple(ref_logits.shape)} and policy_logits "
            f"{tuple(policy_logits.shape)} must have the same shape"
        )
    if positions not in KL_POSITIONS:
        raise UnpactConfigError(
            f"regularizer.positions={positions!r} is not valid; choose one of {list(KL_POSITIONS)}."
        )
    if positions == "all":
        if attention_mask is None:
            raise ValueError("positions='all' needs the attention_mask of the batch")
        mask = attention_mask.bool()
        log_ref = F.log_softmax(ref_logits.detach().float(), dim=-1)
        log_theta = F.log_softmax(policy_logits.float(), dim=-1)
    else:
        mask = labels[:, 1:] != IGNORE_INDEX
        log_ref = F.log_softmax(ref_logits[:, :-1, :].detach().float(), dim=-1)
        log_theta = F.log_softmax(policy_logits[:, :-1, :].float(), dim=-1)
    # kl_div(input, target, log_target=True) = exp(target) * (target - input): KL(target || input).
    per_position = F.kl_div(log_theta, log_ref, reduction="none", log_target=True).sum(dim=-1)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)


def kl_muse_loss(ref_logits: Tensor, policy_logits: Tensor) -> Tensor:
    """MUSE's retain KL: ``kl_div(policy_logits, ref_logits, "batchmean", log_target=True)``.

    Args:
        ref_logits: ``[B, T, V]`` reference logits (detached here).
        policy_logits: ``[B, T, V]`` policy logits.

    Returns:
        Scalar float32 tensor: the elementwise ``exp(ref) * (ref - policy)`` summed over the
        whole tensor and divided by ``B``.
    """
    if ref_logits.shape != policy_logits.shape:
        raise ValueError(
            f"ref_logits {tuple(ref_logits.shape)} and policy_logits "
            f"{tuple(policy_logits.shape)} must have the same shape"
        )
    ref = ref_logits.detach().float()
    return F.kl_div(policy_logits.float(), ref, reduction="batchmean", log_target=True)


class Regularizer:
    """``weight * term(retain)``; subclasses define :meth:`term` and their capabilities.

    Args:
        weight: ``regularizer.weight``.
    """

    name: ClassVar[str] = ""
    needs_reference: ClassVar[bool] = False
    uses_retain: ClassVar[bool] = True
    full_vocabulary: ClassVar[bool] = False
    """Whether the term holds float32 full-vocabulary tensors (memory: unpact_exp.memory)."""

    def __init__(self, weight: float) -> None:
        checks.at_least("regularizer.weight", weight, 0)
        self.weight = weight

    def term(self, ctx: MethodContext, retain: Batch) -> Tensor:
        """The unweighted retain term."""
        raise NotImplementedError

    def loss(self, ctx: MethodContext, retain: Batch | None) -> Tensor | None:
        """The weighted retain term, or None when this regularizer reads no retain data."""
        if not self.uses_retain:
            return None
        if retain is None:
            raise RuntimeError(f"regularizer={self.name} needs retain batches, but got none")
        return self.weight * self.term(ctx, retain)


_REGULARIZERS: dict[str, type[Regularizer]] = {}
R = TypeVar("R", bound=type[Regularizer])


def register_regularizer(name: str) -> Callable[[R], R]:
    """Class decorator: make ``cls`` the regularizer ``name`` (sets ``cls.name``)."""

    def decorate(cls: R) -> R:
        cls.name = name
        _REGULARIZERS[name] = cls
        return cls

    return decorate


@register_regularizer("none")
class NoRegularizer(Regularizer):
    """No retain-set term."""

    uses_retain = False


@register_regularizer("gd")
class RetainNLL(Regularizer):
    """``gd``: gradient descent on retain, ``weight * NLL(r)`` (:func:`gd_loss`)."""

    def term(self, ctx: MethodContext, retain: Batch) -> Tensor:
        """Token-mean NLL of the retain batch."""
        return gd_loss(ctx.forward_batch(ctx.policy, retain).logits, retain["labels"])


@register_regularizer("kl")
class RetainKL(Regularizer):
    """``kl``: ``weight * KL(p_ref(r) || p_theta(r))`` to the frozen reference (:func:`kl_loss`).

    Args:
        weight: ``regularizer.weight``.
        positions: ``regularizer.positions``, ``answer`` or ``all`` (see :func:`kl_loss`).
        formula: ``regularizer.formula``, ``standard`` (:func:`kl_loss`) or ``muse``
            (:func:`kl_muse_loss`, MUSE's code on raw logits; ``positions`` unused).
    """

    needs_reference = True
    full_vocabulary = True

    def __init__(
        self, weight: float, positions: Literal["answer", "all"], formula: Formula
    ) -> None:
        super().__init__(weight)
        self.formula = formula
        self.positions = positions

    def term(self, ctx: MethodContext, retain: Batch) -> Tensor:
        """Token-level forward KL on the retain batch."""
        logits = ctx.forward_batch(ctx.policy, retain).logits
        if ctx.reference is None:
            raise RuntimeError(
                "regularizer=kl needs the frozen reference model, but none was loaded"
            )
        with torch.no_grad():
            ref_logits = ctx.forward_batch(ctx.reference, retain).logits
        if self.formula == "muse":
            return kl_muse_loss(ref_logits, logits)
        return kl_loss(
            ref_logits.float(),
            logits.float(),
            retain["labels"],
            self.positions,
            retain["attention_mask"],
        )


def regularizer_names() -> list[str]:
    """Every registered regularizer name, sorted."""
    return sorted(_REGULARIZERS)


def get_regularizer(name: str) -> type[Regularizer]:
    """The class registered as ``name``; an unknown name names the choices and the closest."""
    if name not in _REGULARIZERS:
        raise UnpactConfigError(
            f"regularizer={name!r} is not one of {regularizer_names()}."
            f"{hint(name, regularizer_names())}"
        )
    return _REGULARIZERS[name]


def build_regularizer(node: Any) -> Regularizer:
    """The regularizer of a ``regularizer`` config node.

    ``name`` picks the class; ``weight`` and every other key are bound to its constructor by
    name (``regularizer.positions`` of ``kl``) with :mod:`unpact_exp.config.binder`: a key the
    constructor does not take, an argument the node lacks or a value of the wrong type is an
    :class:`UnpactConfigError` naming it.
    """
    cls = get_regularizer(str(node["name"]))
    return bind(
        cls,
        node,
        "regularizer",
        ignore=("name",),
        owner=f"regularizer={cls.name}",
        source=f"conf/regularizer/{cls.name}.yaml",
    )


def check_forget_weight(forget_weight: float) -> None:
    """Refuse a forget-term weight that is not > 0 (``method.forget_weight``; the binder has
    checked it is a finite number).

    The weight scales the forget objective beside ``regularizer.weight`` (open-unlearning's
    ``gamma`` beside its ``alpha``): ``loss = forget_weight * forget + weight * retain``.
    """
    checks.positive("method.forget_weight", forget_weight)


def check_combination(method: Any, regularizer: str) -> None:
    """Refuse a regularizer for a method that carries its own retain handling.

    Args:
        method: the method's objective class (or instance); reads ``accepts_regularizer``.
        regularizer: the regularizer's name.
    """
    if regularizer != "none" and not method.accepts_regularizer:
        accepting = _accepting_methods()
        raise UnpactConfigError(
            f"method={method.name} carries its own retain handling and cannot be combined with "
            f"regularizer={regularizer}. Use regularizer=none with {method.name}; regularizers "
            f"{'/'.join(n for n in regularizer_names() if n != 'none')} combine with "
            f"{', '.join('method=' + n for n in accepting)}."
        )


def _accepting_methods() -> list[str]:
    from unpact_exp.methods import registry

    return [n for n in registry.names() if registry.get(n).accepts_regularizer]
