"""What ``train.py`` runs: dispatch on ``stage``, always close the loggers, return metrics.

Returning a flat dict of final metrics lets Hydra sweepers optimise over runs.
A run that raises still leaves ``results.json`` with ``status: failed`` and the
error, so a sweep report lists it instead of silently dropping it.
"""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from unpact_exp.results import RESULTS_FILE, read_results, write_results

log = logging.getLogger(__name__)
STAGES = ("unlearn", "target", "eval")


def quiet_libraries() -> None:
    """Silence progress bars and chatter that drown the training progress bar."""
    # Environment variables, so spawned ranks (ddp_spawn) are quiet too.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


def _mark_failed(run_dir: Path, cfg: DictConfig, err: BaseException) -> None:
    """Record a failure in results.json, keeping whatever the run had written."""
    path = run_dir / RESULTS_FILE
    data = read_results(run_dir) if path.exists() else {"stage": cfg.stage, "eval": {}}
    data.update(
        status="failed",
        error=f"{type(err).__name__}: {err}",
        traceback=traceback.format_exc(limit=20),
    )
    for key in ("method", "regularizer", "model", "data"):
        node = cfg.get(key)
        data.setdefault(key, node.get("name") if hasattr(node, "get") else node)
    data.setdefault("seed", cfg.get("seed"))
    write_results(run_dir, data)


def final_metrics(results: dict[str, Any]) -> dict[str, Any]:
    """The flat metrics of the last evaluation (or the target's correct rates)."""
    step = results.get("final_eval_step")
    if step is not None:
        return dict(results["eval"][step])
    return {k: v for k, v in results.items() if k.endswith("_rate")}


def main(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg.stage`` in ``paths.output_dir``; return its final metrics."""
    from unpact_exp.errors import UnpactConfigError
    from unpact_exp.tracking import build_loggers, finish_loggers

    quiet_libraries()
    if cfg.stage not in STAGES:
        raise UnpactConfigError(f"stage={cfg.stage!r} is not one of {list(STAGES)}.")
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    loggers: list[Any] = []
    try:
        loggers = build_loggers(cfg.logger, cfg, run_dir)
        if cfg.stage == "target":
            from unpact_exp.target import build_target

            results = build_target(cfg, run_dir, loggers)
        elif cfg.stage == "eval":
            from unpact_exp.evaluate import evaluate_pair

            results = evaluate_pair(cfg, run_dir, loggers)
        else:
            from unpact_exp.unlearn import run_unlearning

            results = run_unlearning(cfg, run_dir, loggers)
    except BaseException as err:
        if _is_rank_zero():
            _mark_failed(run_dir, cfg, err)
        raise
    finally:
        finish_loggers(loggers)
    log.info("results: %s", run_dir / RESULTS_FILE)
    return final_metrics(results)
