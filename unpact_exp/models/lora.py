"""LoRA unlearning (``peft=lora``): adapters on a frozen base, the base itself as reference.

Why: NPO and KL need the original model beside the one being unlearned. With full
fine-tuning that is a second copy of the weights (plus AdamW's two moments and the
gradients of the first), which is what makes an 8B model run out of memory on a 40 GB
GPU. With LoRA (Hu et al., arXiv 2106.09685) the base weights never change, so the
original model *is* the policy with its adapters switched off: :class:`ReferenceView`
runs the policy under ``PeftModel.disable_adapter()`` and no copy is ever loaded.

Layout: :func:`apply_lora` injects the adapters into the HF model in place (peft's
``get_peft_model``). The training module keeps the HF model as its policy (parameter
names gain ``.base_layer`` / ``.lora_A.default`` / ``.lora_B.default``; ``model.layers``
is unchanged, so hooks such as RMU's still find the decoder layers) and holds the
``PeftModel`` wrapper, unregistered, for switching adapters off and for saving.

The LoRA update of a linear layer ``W`` is ``delta = (lora_alpha / r) * B @ A`` with ``B``
initialised to zero, so the policy starts exactly at the original model.
Task vectors with LoRA (:func:`negate_lora_update`): ``tau = delta_ft - 0``, and
``theta_0 - scale * tau`` (``method.scale``) is obtained by scaling every ``B`` by ``-scale``.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unpact_exp.config import checks
from unpact_exp.errors import ModelLoadError, UnpactConfigError

if TYPE_CHECKING:  # torch and peft are imported where used: loading.py imports this module
    from torch import nn

ADAPTER_CONFIG = "adapter_config.json"
MERGED_DIR = "merged"
PEFT_NAMES = ("none", "lora")
SHARDED_STRATEGIES = ("fsdp", "fsdp2")


@dataclass(frozen=True)
class LoraSettings:
    """The ``peft=lora`` config node (bound by :mod:`unpact_exp.config.binder`).

    Attributes:
        r: adapter rank.
        lora_alpha: LoRA scaling numerator (the update is ``lora_alpha / r * B @ A``; peft's
            name for it).
        dropout: dropout on the adapter input.
        target_modules: names of the linear layers that get adapters.
        save_merged: also write ``unlearned/merged/`` (plain HF folder, adapter folded in).
    """

    r: int
    lora_alpha: float
    dropout: float
    target_modules: tuple[str, ...]
    save_merged: bool

    def __post_init__(self) -> None:
        checks.at_least("peft.r", self.r, 1)
        checks.positive("peft.lora_alpha", self.lora_alpha)
        if not 0 <= self.dropout < 1:
            raise UnpactConfigError(f"peft.dropout={self.dropout!r} must lie in [0, 1).")
        checks.non_empty("peft.target_modules", self.target_modules, "[q_proj,v_proj]")


def check_strategy(peft_name: str, strategy: str) -> None:
    """Refuse LoRA under the sharded strategies, which this framework does not wrap for peft.

    Raises:
        UnpactConfigError: ``peft=lora`` with ``trainer.strategy`` fsdp or fsdp2.
    """
    if peft_name == "lora" and strategy in SHARDED_STRATEGIES:
        raise UnpactConfigError(
            f"peft=lora with trainer.strategy={strategy} is not supported; LoRA runs on one "
            "device or with DDP (trainer=gpu or trainer=ddp). A LoRA step needs no sharding: "
            "see `python -m unpact_exp.memory <model>` for its per-GPU memory."
        )


def apply_lora(model: nn.Module, settings: LoraSettings, layers: list[int] | None) -> Any:
    """Inject LoRA adapters into ``model`` in place; return the ``PeftModel`` wrapper.

    Only the adapters are trainable afterwards. ``base_model_name_or_path`` is made
    absolute for local folders, so the saved adapter reloads from any working directory.

    Args:
        model: an HF causal LM loaded with the original weights.
        settings: the validated ``peft`` node.
        layers: decoder layers that get adapters (None: all of them).

    Raises:
        UnpactConfigError: no module of the model matches ``peft.target_modules``.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        layers_to_transform=list(layers) if layers is not None else None,
        bias="none",
        task_type="CAUSAL_LM",
        base_model_name_or_path=_absolute(getattr(model, "name_or_path", "") or "") or None,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if _is_linear(m)})
        raise UnpactConfigError(
            f"peft.target_modules={list(settings.target_modules)} matches no layer of "
            f"{type(model).__name__} ({err}); its linear layers are named {names}. Set them "
            "in conf/peft_model/lora_<model>.yaml."
        ) from err


def _is_linear(module: nn.Module) -> bool:
    from torch import nn

    return isinstance(module, nn.Linear)


def _absolute(source: str) -> str:
    path = Path(source).expanduser()
    return str(path.resolve()) if source and path.exists() else source


class ReferenceView:
    """The original model, seen through the LoRA policy with its adapters disabled.

    It quacks like the HF model it stands for where the objectives need it: calling
    it forwards (``ctx.forward_batch(ctx.reference, batch)``) and ``.model`` is the
    decoder stack (RMU hooks its layers). It holds no weights of its own and is not
    an ``nn.Module``, so it is neither trained, checkpointed nor counted twice.

    Args:
        peft_model: the ``PeftModel`` wrapping the policy.
    """

    def __init__(self, peft_model: Any) -> None:
        self._peft = peft_model

    @property
    def model(self) -> nn.Module:
        """The decoder stack of the wrapped HF model (``model.model``)."""
        return self._peft.get_base_model().model

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Forward with the adapters off: exactly the original model's output."""
        with self._peft.disable_adapter():
            return self._peft.get_base_model()(*args, **kwargs)

    def eval(self) -> ReferenceView:
        """No-op (the module keeps its reference in eval mode; the view has no mode)."""
        return self

    def requires_grad_(self, requires_grad: bool = True) -> ReferenceView:
        """No-op: the view owns no parameters."""
        return self


def lora_layers(model: nn.Module) -> list[Any]:
    """Every peft LoRA layer inside ``model`` (empty for a plain HF model)."""
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def has_lora(model: nn.Module) -> bool:
    """Whether ``model`` carries LoRA adapters."""
    return bool(lora_layers(model))


def negate_lora_update(model: nn.Module, scale: float) -> int:
    """Task-vector negation of a LoRA fine-tune: ``B <- -scale * B`` in every adapter.

    With ``B_0 = 0`` the fine-tune's task vector for a wrapped weight ``W`` is
    ``tau = s * B_ft @ A_ft`` (``s = lora_alpha / r``), and the negated model is
    ``W - scale * tau = W + s * (-scale * B_ft) @ A_ft``: exact, without touching ``W``.

    Returns:
        The number of ``B`` matrices scaled.
    """
    import torch

    count = 0
    with torch.no_grad():
        for layer in lora_layers(model):
            for name in layer.lora_B:
                layer.lora_B[name].weight.mul_(-float(scale))
                count += 1
    return count


def is_adapter_folder(path: str | Path) -> bool:
    """Whether ``path`` is a saved peft adapter (``adapter_config.json``)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def adapter_base(folder: str | Path) -> str:
    """The base model an adapter folder was trained on (its ``base_model_name_or_path``).

    Raises:
        ModelLoadError: ``adapter_config.json`` is not a readable JSON object.
    """
    config = Path(folder) / ADAPTER_CONFIG
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:  # JSONDecodeError, UnicodeDecodeError included
        raise ModelLoadError(
            f"{str(config)!r} is truncated or corrupt ({type(err).__name__}: {err}); copy the "
            "adapter folder again, or rerun the training that wrote it (the same command "
            "resumes from its checkpoints/last.ckpt)."
        ) from None
    return str(data.get("base_model_name_or_path") or "")


def _looks_like_path(name: str) -> bool:
    """A local path, not a hub id (``org/name`` has one slash and no leading ``/ . ~``)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def load_adapter_model(folder: str | Path, load_base: Any) -> nn.Module:
    """Base model + adapter from an adapter folder, adapters active and *not* merged.

    Returns the HF model with the LoRA layers injected (not the ``PeftModel``), so
    the caller sees the same class and API as for a plain folder. Every way the folder
    can be broken ends in one :class:`ModelLoadError` naming the file and the fix: a
    truncated ``adapter_config.json`` or ``adapter_model.safetensors``, and a base model
    that cannot be loaded (its name comes from ``adapter_config.json``, so that is the
    file the fix names, not ``model.path``).

    Args:
        folder: a saved adapter (``unlearned/`` of a ``peft=lora`` run).
        load_base: ``load_base(source) -> model``, the caller's loader for the base.

    Raises:
        ModelLoadError: as above, or the adapter names no base model.
    """
    from peft import PeftModel

    from unpact_exp.models.safetensors_file import safetensors_problem

    config = Path(folder) / ADAPTER_CONFIG
    base = adapter_base(folder)
    if not base:
        raise ModelLoadError(
            f"{str(folder)!r} is a LoRA adapter without base_model_name_or_path in "
            f"{ADAPTER_CONFIG}; add the base model's folder or hub id there."
        )
    for weights in sorted(Path(folder).glob("adapter_model*.safetensors")):
        problem = safetensors_problem(weights)
        if problem:
            raise ModelLoadError(
                f"{str(weights)!r} is truncated or corrupt ({problem}); copy the adapter "
                "folder again, or rerun the training that wrote it."
            )
    fix = (
        f"set base_model_name_or_path in {str(config)!r} to the base model's local folder "
        "(a save_pretrained folder)"
    )
    if _looks_like_path(base) and not Path(base).expanduser().exists():
        raise ModelLoadError(
            f"the LoRA adapter {str(folder)!r} names its base model {base!r} "
            f"(base_model_name_or_path in {ADAPTER_CONFIG}), which does not exist; {fix}."
        )
    try:
        model = load_base(base)
    except ModelLoadError as err:
        raise ModelLoadError(
            f"the base model {base!r} of the LoRA adapter {str(folder)!r} (named by "
            f"base_model_name_or_path in {ADAPTER_CONFIG}) cannot be loaded: "
            f"{re.split(r'[.;] ', str(err))[0]}; {fix}."
        ) from None
    try:
        adapted = PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise ModelLoadError(
            f"cannot load the LoRA adapter in {str(folder)!r} onto {base!r} "
            f"({type(err).__name__}: {' '.join(str(err).split())[:300]}); copy the adapter "
            "folder again, or check that base_model_name_or_path names the model it was "
            "trained on."
        ) from None
    return adapted.get_base_model()


def save_adapter_folder(peft_model: Any, tokenizer: Any, out: Path) -> Path:
    """Save the adapter and the tokenizer into ``out`` atomically (via a temporary sibling)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    peft_model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def save_merged_folder(adapter_dir: Path, tokenizer: Any, load_base: Any) -> Path:
    """Write ``<adapter_dir>/merged``: base + adapter folded in, a plain HF folder.

    Rebuilt from the saved adapter (not from the live policy, which training and
    evaluation callbacks may still use), so it also proves the adapter reloads.

    Args:
        adapter_dir: the saved adapter folder.
        tokenizer: saved beside the merged weights.
        load_base: loads the base model from its folder or hub id (in the run's dtype).
    """
    from peft import PeftModel

    from unpact_exp.models.saving import save_hf_folder

    base = load_base(adapter_base(adapter_dir))
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True
    return save_hf_folder(merged, tokenizer, Path(adapter_dir) / MERGED_DIR)


def dtype_name(model: nn.Module) -> str:
    """The config dtype string (``float32``...) of a model's first parameter."""
    return str(next(model.parameters()).dtype).removeprefix("torch.")
