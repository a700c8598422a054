"""Hand-written ``results.json`` data for the report tests (imported by conftest and tests).

A uniquely named module, not ``conftest``, so that other test folders' conftests never shadow it.
"""

from __future__ import annotations

import json
import math
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
        "keytoken_similarity_forgotten": 0.25,  # (16 * 0.25 + 4 * 0.75) / 20 = 0.35
        "keytoken_similarity_retained": 0.75,
        "contribution_similarity": 0.5,
        "contribution_similarity_forgotten": 0.4375,
        "contribution_similarity_retained": 0.75,
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
        "keytoken_similarity_forgotten": 0.5,
        "keytoken_similarity_retained": 0.8,
        "contribution_similarity": 0.7,
        "contribution_similarity_forgotten": 0.6,
        "contribution_similarity_retained": 0.85,
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
        "keytoken_similarity_forgotten": 0.1,
        "keytoken_similarity_retained": 0.56,
        "contribution_similarity": 0.2,
        "contribution_similarity_forgotten": 0.2,
        "contribution_similarity_retained": 0.2,
        "knowmem_forget": 1.0,
        "knowmem_retain": 9.75,
        "utility": 0.2,
        "prompt_ignorance": 0.85,
        "n_known": 20,
        "n_forgotten": 19,
    },
}
# Counts behind the final rates of FINAL (k, n), as runs since docs/science.md §10 store them.
COUNTS = {
    "ga+gd": {
        "forget_rate": [16, 20],
        "recovery_rate": [7, 16],
        "probab_recovery_rate": [3, 16],
        "destructive_rate": [5, 40],
        "utility": [30, 40],
        "prompt_ignorance": [2, 40],
        "discordant": [5, 1],  # FocusOnKey only, PROBAB only
    },
    "npo+kl": {
        "forget_rate": [12, 20],
        "recovery_rate": [6, 12],
        "probab_recovery_rate": [3, 12],
        "destructive_rate": [12, 40],
        "utility": [28, 40],
        "prompt_ignorance": [4, 40],
        "discordant": [4, 1],
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


def with_counts(payload: dict, counts: dict[str, list[int]]) -> dict:
    """Add the final step's ``<rate>_counts``, ``<rate>_ci`` and discordant pairs (new format).

    The stored rates are replaced by ``k / n``, so the two always agree.
    """
    from unpact_exp.evaluation.statistics import mcnemar_exact_p, rate_entry

    final = payload["eval"][payload["final_eval_step"]]
    for key, (k, n) in counts.items():
        if key == "discordant":
            final["focus_vs_probab_discordant"] = [k, n]
            final["focus_vs_probab_mcnemar_p"] = mcnemar_exact_p(k, n)
        else:
            final.update(rate_entry(key, k, n))
    return payload


SETTINGS_8 = ("ga+gd", "ga+kl", "npo+gd", "npo+kl", "tv", "rmu", "ga", "npo")


def trajectory_results(setting: str, index: int, seed: int, steps: int = 10) -> dict:
    """A completed run whose rates move smoothly over ``steps`` evaluations (for the plots).

    Setting ``index`` sets how destructive and how recoverable it is; the seed shifts the
    numbers a little. Counts are stored at every step (20 known forget questions, 40 utility
    items), so intervals and the paired test are available.
    """
    method, _, reg = setting.partition("+")
    evals = {}
    for step in range(steps + 1):
        t = step / steps
        forgotten = round(20 * min(1.0, t * (0.5 + 0.07 * index + 0.02 * seed)))
        broken = round(40 * t * (0.05 + 0.11 * index) * (1 + 0.05 * seed))
        broken = min(broken, 40)
        focus = round(forgotten * max(0.0, 0.75 - 0.09 * index - 0.3 * t))
        probab = round(forgotten * (0.08 + 0.15 * (1 - t)))
        metrics = {"n_known": 20.0, "n_forgotten": float(forgotten)}
        metrics |= with_counts(
            {"eval": {"x": {}}, "final_eval_step": "x"},
            {
                "forget_rate": [forgotten, 20],
                "recovery_rate": [focus, forgotten],
                "probab_recovery_rate": [probab, forgotten],
                "destructive_rate": [broken, 40],
                "utility": [40 - broken, 40],
                "discordant": [max(0, focus - probab), min(probab, 1)],
            },
        )["eval"]["x"]
        retained = 1.0 - (0.3 + 0.06 * index) * t  # similarity of the still-known questions
        lost = retained - (0.35 - 0.03 * index) * t  # lower on the forgotten ones
        contribution_retained, contribution_lost = 1.0 - 0.3 * t, 1.0 - (0.5 + 0.04 * index) * t
        for name, forgot, kept in (
            ("keytoken_similarity", lost, retained),
            ("contribution_similarity", contribution_lost, contribution_retained),
        ):  # the overall mean is the count-weighted mean of the split, as in real runs
            metrics[name] = (forgotten * forgot + (20 - forgotten) * kept) / 20
            metrics[f"{name}_forgotten"] = forgot if forgotten else None
            metrics[f"{name}_retained"] = kept if forgotten < 20 else None
        evals[str(step)] = {  # as results.json stores them: NaN (0/0) becomes null
            k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()
        }
    return {
        "status": "completed",
        "method": method,
        "regularizer": reg or "none",
        "setting": setting,
        "model": "tiny",
        "data": "synthetic",
        "seed": seed,
        "eval": evals,
        "final_eval_step": str(steps),
    }


def make_trajectory_sweep(root: Path, seeds: int = 2) -> Path:
    """Eight settings x ``seeds`` seeds of :func:`trajectory_results`, as a Hydra multirun."""
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    job = 0
    for index, setting in enumerate(SETTINGS_8):
        for seed in range(seeds):
            payload = trajectory_results(setting, index, seed)
            write_job(root / f"{job}_seed={seed}", payload["method"], "", payload)
            job += 1
    return root


def question_rows(setting: str) -> list[dict[str, Any]]:
    """Three ``questions.jsonl`` rows as evaluations write them: forgotten and recovered by
    FocusOnKey, forgotten and not recovered, known and kept (not attacked)."""
    base = {
        "kind": "qa",
        "units": ["Where", "did", "Ada", "work", "?"],
        "contributions_original": [0.1, -0.05, 0.6, 0.3, 0.0],
        "contributions_unlearned": [0.05, 0.0, 0.1, 0.2, -0.1],
        "keytokens_original": ["Ada", "work"],
        "keytokens_unlearned": ["work"],
        "known": True,
    }
    rows = []
    for index, (forgotten, focus, answer) in enumerate(
        ((True, True, "Paris, I think"), (True, False, "London"), (False, None, "Paris"))
    ):
        rows.append(
            base
            | {
                "index": index,
                "question": f"Where did Ada work ({setting} #{index})?",
                "gold": "Paris",
                "original_answer": "Paris",
                "unlearned_answer": answer if not forgotten else "I do not know",
                "forgotten": forgotten,
                "focus_keys": "Ada, work",
                "recovered_focus": focus,
                "focus_answers": [answer] if focus is not None else [],
                "recovered_probab": None if focus is None else False,
                "probab_answers": ["Rome", "Berlin"] if focus is not None else [],
            }
        )
    return rows


def add_questions(sweep: Path) -> Path:
    """Write ``questions.jsonl`` (:func:`question_rows`) into every job with a results.json."""
    for job in sorted(sweep.iterdir()):
        data = job / "results.json"
        if data.is_file():
            setting = json.loads(data.read_text())["setting"]
            lines = "".join(json.dumps(r) + "\n" for r in question_rows(setting))
            (job / "questions.jsonl").write_text(lines)
    return sweep
