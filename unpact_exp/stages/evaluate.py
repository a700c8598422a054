"""``eval.py``: evaluate a saved unlearned model against an original one, offline.

The same :class:`Evaluator` the training callback uses, on models loaded from
disk, so ``eval.py`` on a run's ``unlearned/`` folder reproduces the callback's
final numbers. Results go to ``<run dir>/results.json`` under ``eval.final``,
per-question rows to ``questions.jsonl`` and, for reading, ``questions.csv``,
and a heatmap to ``plots/``.

``unlearned`` may be a plain HF folder or a ``peft=lora`` run's adapter folder
(``adapter_config.json``), loaded as its base model plus the adapter.
"""

from __future__ import annotations

import json
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
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.results import RunRecord, atomic_write_text


def evaluate_pair(cfg: Any, run_dir: Path, loggers: list[Any]) -> dict[str, Any]:
    """Evaluate ``cfg.unlearned`` against ``cfg.original`` (or the model config's source)."""
    from unpact_exp.evaluation.evaluator import Evaluator
    from unpact_exp.evaluation.question_table import write_question_csv
    from unpact_exp.report.heatmap import plot_heatmaps
    from unpact_exp.unpact.prompt_bounds import PromptLimits, check_benchmark_prompts

    unlearned = str(Path(cfg.unlearned).expanduser())
    if not is_hf_folder(unlearned) and not is_adapter_folder(unlearned):
        raise ModelLoadError(
            f"unlearned={unlearned!r} is not a Hugging Face model folder (no config.json) nor a "
            "LoRA adapter (no adapter_config.json); pass a run's unlearned/ folder or any "
            "save_pretrained output."
        )
    original = cfg.original or resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    tokenizer = load_model_tokenizer(cfg.model, str(original))
    fmt = PromptFormat.from_config(cfg.model.prompt)
    check_benchmark_prompts(bench, tokenizer, fmt, PromptLimits.from_config(cfg))
    # Both models get the same placement (GPUs via device_map="auto" when CUDA is present),
    # so M0 sits where M1 will; M0 is dropped before M1 is loaded.
    placement = evaluation_device_map()
    m0 = load_model(str(original), cfg.model.dtype, cfg.model.trust_remote_code, placement).eval()
    analysis = Evaluator.from_config(m0, tokenizer, fmt, bench, cfg)
    del m0
    m1 = load_model(unlearned, cfg.model.dtype, cfg.model.trust_remote_code, placement).eval()
    result = analysis.evaluate(m1, analysis.attack_names(final=True))
    record = RunRecord(
        run_dir,
        {
            "stage": "eval",
            "original": str(original),
            "unlearned": unlearned,
            "model": cfg.model.name,
            "data": cfg.data.name,
            "seed": cfg.seed,
            "eval_world_size": 1,  # eval.py evaluates in one process (the callback may not)
        },
    )
    record.add_eval("final", result.metrics)
    record.update(status="completed")
    rows = "".join(json.dumps(row, default=str) + "\n" for row in result.rows)
    atomic_write_text(run_dir / "questions.jsonl", rows)
    write_question_csv(run_dir, result.rows, "final")
    maps = analysis.contribution_matrix(result, int(cfg.heatmap_questions))
    if maps:
        plot_heatmaps(maps, run_dir / "plots" / "contributions.png", f"UNPACT: {unlearned}")
    for logger in loggers:
        logger.log_metrics({f"eval/{k}": v for k, v in result.scalars().items()}, step=0)
    return record.data
