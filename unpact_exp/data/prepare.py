"""Resolve a ``data`` config node to a :class:`Benchmark`, generating synthetic data on demand.

The synthetic benchmark is written once under ``paths.data_dir`` in a folder named
after a hash of its generator settings, then read back through the same
``datasets``-based loader as MUSE, so the offline path exercises the real one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from unpact_exp.data.loaders import load_benchmark
from unpact_exp.data.schema import Benchmark
from unpact_exp.data.synthetic import generate, write_benchmark

GENERATOR_KEYS = ("seed", "n_forget", "n_retain", "n_holdout", "n_general_lands", "n_icl")
# Bumped when the generator writes new splits or fields, so a folder written before them is not
# reused (2: MUSE's privleak/ splits; 3: ``distractors`` on every QA row). The rows' questions
# and answers are unchanged.
LAYOUT_VERSION = 3


def synthetic_dir(data_cfg: Any, data_dir: str | Path) -> Path:
    """Folder of the synthetic benchmark for these generator settings."""
    settings = {k: data_cfg[k] for k in GENERATOR_KEYS} | {"layout": LAYOUT_VERSION}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return Path(data_dir) / f"synthetic-{digest}"


def ensure_synthetic(data_cfg: Any, data_dir: str | Path) -> Path:
    """Generate and write the synthetic benchmark unless it is already on disk."""
    out = synthetic_dir(data_cfg, data_dir)
    if not (out / "DONE").exists():
        splits = generate(**{k: int(data_cfg[k]) for k in GENERATOR_KEYS})
        write_benchmark(splits, out)
    return out


def get_benchmark(data_cfg: Any, data_dir: str | Path) -> Benchmark:
    """Load the dataset a ``data`` config names (synthetic, worldfacts: written first)."""
    if data_cfg.source == "worldfacts":
        from unpact_exp.data.worldfacts import muse_config

        return load_benchmark(muse_config(data_cfg, data_dir))
    if data_cfg.source != "synthetic":
        return load_benchmark(data_cfg)
    path = ensure_synthetic(data_cfg, data_dir)
    cfg = OmegaConf.to_container(data_cfg, resolve=True)
    for key in GENERATOR_KEYS:
        cfg.pop(key)
    cfg.update(source="muse", path=str(path))
    return load_benchmark(OmegaConf.create(cfg))
