"""Saving a model as a plain Hugging Face folder, atomically."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch


def save_hf_folder(model: Any, tokenizer: Any, out: Path) -> Path:
    """``save_pretrained`` model and tokenizer into ``out`` via a temporary sibling folder.

    A crash while saving leaves only the temporary folder, never a half-written
    ``out`` that later runs would take for a finished model; a failed write (a full disk)
    removes the temporary folder too, so the space is given back.
    """
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with torch.no_grad():
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
