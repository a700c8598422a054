"""Running a model for analysis without disturbing it.

The evaluator is called from inside training (a Lightning callback) as well as from
scripts. Every analysis call must therefore leave the model exactly as it found it:
same train/eval flag on every submodule, no autograd graph, no gradients. The
helpers here do that once so each analysis function can simply wrap its body.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import torch


@contextlib.contextmanager
def analysis_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put ``model`` in eval mode under ``torch.inference_mode`` and restore it afterwards.

    Why per submodule: ``model.train(flag)`` would set every submodule to ``flag``, so a
    model whose frozen parts were deliberately kept in eval mode during training would
    come back changed. We record each submodule's flag and put each one back.

    Yields:
        The same model, in eval mode, with autograd disabled.
    """
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        for module, flag in flags:
            module.training = flag


def model_device(model: torch.nn.Module) -> torch.device:
    """The device inputs must be put on: the model's ``device`` or its first parameter's."""
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def forward_kwargs(model: torch.nn.Module, logits_to_keep: int) -> dict[str, Any]:
    """Optional forward arguments that ``model`` explicitly accepts.

    HF causal LMs accept ``use_cache`` (we never need the KV cache when scoring) and
    ``logits_to_keep`` (compute the LM head only on the last positions, which saves
    ``batch x length x vocab`` memory on large vocabularies). Hand-made test models
    need not accept either, so only explicitly named parameters are passed.

    Args:
        model: the model about to be called.
        logits_to_keep: how many trailing positions' logits are needed.
    """
    params = inspect.signature(model.forward).parameters
    kwargs: dict[str, Any] = {}
    if "use_cache" in params:
        kwargs["use_cache"] = False
    if "logits_to_keep" in params:
        kwargs["logits_to_keep"] = logits_to_keep
    return kwargs
