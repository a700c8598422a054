"""Hand-written ``results.json`` data for the report tests (imported by conftest and tests).

A uniquely named module, not ``conftest``, so that other test folders' conftests never shadow it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Final-step metrics, written by hand; the report must reproduce them exactly.
FINAL = {
    "ga+gd": {
        "forget_rate": 0.8,
        "recovery_rate": 0.4375,
        "probab_recovery_rate": 0.1875,
        "destructive_rate": 0.125,
        "keytoken_similarity": 0.35,
        "contribution_similarity": 0.5,
        "knowmem_forget": 12.5,
        "knowmem_retain": 61.25,
        "utility": 0.75,
        "prompt_ignorance": 0.05,
        "n_known": 20,
        "n_forgotten": 16,
    },
    "npo+kl": {
        "forget_rate": 0.6,
        "recovery_rate": 0.5,
        "probab_recovery_rate": 0.25,
        "destructive_rate": 0.3,
        "keytoken_similarity": 0.62,
        "contribution_similarity": 0.7,
        "knowmem_forget": 20.0,
        "knowmem_retain": 55.5,
        "utility": 0.7,
        "prompt_ignorance": 0.1,
        "n_known": 20,
        "n_forgotten": 12,
    },
    "rmu": {
        "forget_rate": 0.95,
        "recovery_rate": 0.1,
        "probab_recovery_rate": 0.05,
        "destructive_rate": 0.9,
        "keytoken_similarity": 0.123,
        "contribution_similarity": 0.2,
        "knowmem_forget": 1.0,
        "knowmem_retain": 9.75,
        "utility": 0.2,
        "prompt_ignorance": 0.85,
        "n_known": 20,
        "n_forgotten": 19,
    },
}
FAILED_ERROR = "CUDA out of memory. Tried to allocate 2.00 GiB"

# job dir name -> (method, regularizer); rmu first on disk, so the table must reorder it.
JOBS = {
    "0_method=rmu": ("rmu", "none"),
    "1_method=ga,regularizer=gd": ("ga", "gd"),
    "2_method=npo,regularizer=kl": ("npo", "kl"),
    "3_method=tv": ("tv", "none"),
    "4_method=npo,regularizer=gd": ("npo", "gd"),
}


def early(metrics: dict[str, float], step: int) -> dict[str, float]:
    """Metrics of an earlier eval step: different numbers, so using them would be caught."""
    return {k: v * step / 10 for k, v in metrics.items()}


def results(metrics_of: str, method: str, regularizer: str, seed: int = 0, **extra: Any) -> dict:
    """A completed ``results.json`` with the ``FINAL[metrics_of]`` metrics at step 10.

    Evals at steps 0, 5 and 10; ``extra`` overrides top-level keys (``setting``, ``status``...).
    """
    final = FINAL[metrics_of]
    data = {
        "status": "completed",
        "stage": "unlearn",
        "method": method,
        "regularizer": regularizer,
        "setting": metrics_of,
        "model": "tiny",
        "data": "synthetic",
        "seed": seed,
        "steps": 10,
        "runtime_s": 12.3,
        "overrides": [f"method={method}", f"regularizer={regularizer}"],
        "error": None,
        "final_losses": {"forget": -3.0, "reg": 1.0, "total": -2.0},
        "eval": {"0": early(final, 0), "5": early(final, 5), "10": dict(final)},
        "final_eval_step": "10",
    }
    data.update(extra)
    return data


def write_job(job: Path, method: str, regularizer: str, payload: dict | None) -> None:
    (job / ".hydra").mkdir(parents=True)
    lines = [f"- method={method}"] + ([f"- regularizer={regularizer}"] if regularizer else [])
    (job / ".hydra" / "overrides.yaml").write_text("\n".join(lines) + "\n")
    if payload is not None:
        (job / "results.json").write_text(json.dumps(payload, indent=2))


def make_sweep(root: Path) -> Path:
    """Write ``<root>/multirun.yaml`` and the five jobs of ``JOBS``; returns ``root``."""
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    for name, (method, reg) in JOBS.items():
        setting = method if reg == "none" else f"{method}+{reg}"
        if setting in FINAL:
            payload = results(setting, method, reg)
        elif setting == "tv":
            payload = results("rmu", method, reg, status="failed", error=FAILED_ERROR)
            payload.update(setting="tv", eval={})
        else:
            payload = None
        write_job(root / name, method, reg, payload)
        (root / name / "unlearned").mkdir()
    return root
