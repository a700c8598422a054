"""Retain-set regularizers (SPEC 6): ``none``, ``gd`` (NLL on retain), ``kl`` (to the reference).

A regularizer returns ``weight * term`` for a retain batch; the LightningModule adds
it to the forget objective. ``tv`` and ``rmu`` handle retain data themselves, so
combining them with a regularizer is rejected by :func:`check_combination`.
"""

from __future__ import annotations

import difflib
from typing import Any

import torch
from torch import Tensor

from unpact_exp.errors import UnpactConfigError
from unpact_exp.losses import gd_loss, kl_loss

REGULARIZERS = ("none", "gd", "kl")


class Regularizer:
    """``weight * term(retain)``; ``term`` is NLL (gd) or KL(p_ref || p_theta) (kl).

    Args:
        name: one of ``none``, ``gd``, ``kl``.
        weight: ``regularizer.weight``.
    """

    def __init__(self, name: str, weight: float) -> None:
        if name not in REGULARIZERS:
            close = difflib.get_close_matches(name, REGULARIZERS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnpactConfigError(
                f"regularizer={name!r} is not one of {list(REGULARIZERS)}.{hint}"
            )
        self.name = name
        self.weight = weight
        self.needs_reference = name == "kl"
        self.uses_retain = name != "none"

    def loss(self, ctx: Any, retain: dict[str, Tensor] | None) -> Tensor | None:
        """The weighted retain term, or None for ``none``."""
        if not self.uses_retain:
            return None
        if retain is None:
            raise RuntimeError(f"regularizer={self.name} needs retain batches, but got none")
        logits = ctx.forward_batch(ctx.policy, retain).logits
        if self.name == "gd":
            return self.weight * gd_loss(logits, retain["labels"])
        with torch.no_grad():
            ref_logits = ctx.forward_batch(ctx.reference, retain).logits
        return self.weight * kl_loss(ref_logits.float(), logits.float(), retain["labels"])


def check_combination(method: str, objective: Any, regularizer: str) -> None:
    """Reject ``tv``/``rmu`` with a regularizer, naming the valid combinations (SPEC 6)."""
    if regularizer != "none" and not objective.accepts_regularizer:
        raise UnpactConfigError(
            f"method={method} carries its own retain handling and cannot be combined with "
            f"regularizer={regularizer}. Use regularizer=none with {method}; regularizers "
            "gd/kl combine with method=ga or method=npo (the paper's grid: ga+gd, ga+kl, "
            "npo+gd, npo+kl, tv, rmu)."
        )
