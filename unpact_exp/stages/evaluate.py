"""``eval.py``: evaluate a saved unlearned model against an original one, offline.

The same :class:`~unpact_exp.evaluation.evaluator.Evaluator` the training callback uses,
on models loaded from disk, so ``eval.py`` on a run's ``unlearned/`` folder reproduces the
callback's final numbers. Results go to ``<run dir>/results.json`` under ``eval.final``,
per-question rows to ``questions.jsonl`` and ``questions.csv``, and a heatmap to
``plots/`` (:func:`~unpact_exp.evaluation.writing.write_evaluation`, as the callback).

``unlearned`` may be a plain HF folder or a ``peft=lora`` run's adapter folder
(``adapter_config.json``), loaded as its base model plus the adapter.

Model, tokenizer, data, ``trust_remote_code`` and paths come from the command and the
defaults only: when ``unlearned`` is a run's ``unlearned/``, that run's recorded
``.hydra/config.yaml`` is never read for them; a value it records differently (e.g.
``model.trust_remote_code: true``) is printed as a warning, and ignored
(:mod:`unpact_exp.run_folder`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from unpact_exp.data.prepare import get_benchmark
from unpact_exp.errors import ModelLoadError
from unpact_exp.models.loading import (
    evaluation_device_map,
    is_hf_folder,
    load_model,
    load_model_tokenizer,
    resolve_source,
)
from unpact_exp.models.lora import is_adapter_folder
from unpact_exp.results import RunRecord
from unpact_exp.run_folder import ignored_by_eval
from unpact_exp.stages.evaluator_build import build_evaluator
from unpact_exp.stages.settings import RunSettings
from unpact_exp.tracking import wandb_record

log = logging.getLogger(__name__)


def evaluate_pair(
    cfg: Any, settings: RunSettings, run_dir: Path, loggers: list[Any]
) -> dict[str, Any]:
    """Evaluate ``cfg.unlearned`` against ``cfg.original`` (or the model config's source)."""
    from unpact_exp.evaluation.writing import write_evaluation
    from unpact_exp.unpact.prompt_bounds import check_benchmark_prompts

    unlearned = str(Path(cfg.unlearned).expanduser())
    if not is_hf_folder(unlearned) and not is_adapter_folder(unlearned):
        raise ModelLoadError(
            f"unlearned={unlearned!r} is not a Hugging Face model folder (no config.json) nor a "
            "LoRA adapter (no adapter_config.json); pass a run's unlearned/ folder or any "
            "save_pretrained output."
        )
    for line in ignored_by_eval(unlearned, cfg):  # the run folder is data, never code
        log.warning("%s", line)
    original = cfg.original or resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    tokenizer = load_model_tokenizer(cfg.model, str(original))
    check_benchmark_prompts(bench, tokenizer, settings.prompt, settings.limits)
    # Both models get the same placement (GPUs via device_map="auto" when CUDA is present),
    # so M0 sits where M1 will; M0 is dropped before M1 is loaded.
    placement = evaluation_device_map()
    dtype, trust = cfg.model.dtype, cfg.model.trust_remote_code
    m0 = load_model(str(original), dtype, trust, placement).eval()
    evaluator = build_evaluator(
        m0,
        None,
        tokenizer=tokenizer,
        benchmark=bench,
        settings=settings,
        dtype=dtype,
        trust_remote_code=trust,
    )
    del m0
    m1 = load_model(unlearned, dtype, trust, placement).eval()
    result = evaluator.evaluate(m1, final=True)
    record = RunRecord(
        run_dir,
        {
            "stage": "eval",
            "original": str(original),
            "unlearned": unlearned,
            "model": cfg.model.name,
            "data": cfg.data.name,
            "seed": settings.seed,
            "eval_world_size": 1,  # eval.py evaluates in one process (the callback may not)
            "wandb": wandb_record(loggers),
        },
    )
    title = f"UNPACT: {unlearned}"
    write_evaluation(
        run_dir, record, "final", result, loggers, settings.eval.heatmap_questions, title
    )
    record.update(status="completed")
    return record.data
