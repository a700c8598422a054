"""``python threshold_grid.py RUN_DIR --alpha A,.. --beta B,..``: tune the KeyToken thresholds.

Reads a finished run's config (``.hydra/config.yaml``), its final ``questions.csv`` (the
forgotten questions with M0's and M1's UNPACT contributions) and its ``unlearned/`` model,
then runs :func:`unpact_exp.evaluation.threshold_grid.threshold_grid`: only FocusOnKey is
re-generated, once per distinct rewritten question. Writes ``threshold_grid.csv`` and
``threshold_grid.png`` (the run's own alpha/beta outlined) into ``--out`` (default the run dir).

Exit codes: 0 written; 2 a bad command line, run directory or threshold value.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unpact_exp.errors import DataError, ModelLoadError, UnpactConfigError

EXIT_USAGE = 2


def load_run_config(run_dir: Path) -> Any:
    """The config a train.py run was composed with, its ``${hydra:...}`` paths resolvable.

    ``.hydra/config.yaml`` keeps the interpolations ``paths.root_dir:
    ${oc.env:UNPACT_ROOT,${hydra:runtime.cwd}}`` and ``paths.output_dir:
    ${hydra:runtime.output_dir}``, which only resolve inside a Hydra run. ``root_dir`` becomes
    ``$UNPACT_ROOT`` if set, else the run's working directory (from ``.hydra/hydra.yaml``),
    and ``output_dir`` the folder given (the run may have been moved since).

    Raises:
        DataError: ``run_dir`` holds no ``.hydra/config.yaml`` or ``.hydra/hydra.yaml``.
    """
    import os

    from omegaconf import OmegaConf, open_dict

    import unpact_exp.resolvers  # noqa: F401  (config resolvers)

    saved, hydra = run_dir / ".hydra" / "config.yaml", run_dir / ".hydra" / "hydra.yaml"
    for path in (saved, hydra):
        if not path.is_file():
            raise DataError(
                f"{path} does not exist; {run_dir} is not a train.py run directory (give the "
                "folder of one job, e.g. multirun/DATE/TIME/0)."
            )
    cwd = OmegaConf.load(hydra).hydra.runtime.cwd
    cfg = OmegaConf.load(saved)
    with open_dict(cfg):
        cfg.paths.root_dir = os.environ.get("UNPACT_ROOT", cwd)
        cfg.paths.output_dir = str(run_dir)
    return cfg


def _answer_fn(cfg: Any, run_dir: Path) -> Any:
    """M1's greedy answers to rewritten questions, rendered as the run's evaluation renders them."""
    from unpact_exp.callbacks.finalize import UNLEARNED_DIR
    from unpact_exp.data.prepare import get_benchmark
    from unpact_exp.models.loading import (
        evaluation_device_map,
        is_hf_folder,
        load_model,
        load_model_tokenizer,
        resolve_source,
    )
    from unpact_exp.models.lora import is_adapter_folder
    from unpact_exp.models.prompt import PromptFormat
    from unpact_exp.unpact.config import EvalConfig
    from unpact_exp.unpact.generation import eval_answers

    unlearned = run_dir / UNLEARNED_DIR
    if not is_hf_folder(unlearned) and not is_adapter_folder(unlearned):
        raise ModelLoadError(
            f"{unlearned} holds no model; the grid re-asks the run's final model, so point at a "
            "run directory whose training finished (it writes unlearned/)."
        )
    original = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    tokenizer = load_model_tokenizer(cfg.model, str(original))
    fmt = PromptFormat.from_config(cfg.model.prompt)
    icl = tuple(get_benchmark(cfg.data, cfg.paths.data_dir).icl)
    model = load_model(
        str(unlearned), cfg.model.dtype, cfg.model.trust_remote_code, evaluation_device_map()
    ).eval()
    ev = EvalConfig.from_config(cfg.eval)

    def answer(questions: list[str]) -> list[str]:
        prompts = [fmt.parts(q, tokenizer, icl=icl) for q in questions]
        return eval_answers(model, tokenizer, prompts, ev)

    return answer


def run_grid(
    run_dir: Path, alphas: Sequence[float], betas: Sequence[float], out: Path, cfg: Any = None
) -> tuple[list[Any], list[Path], int]:
    """Run the grid for ``run_dir``; returns the cells, the files written, the generations.

    Args:
        run_dir: a train.py run directory (``questions.csv``, ``unlearned/``).
        alphas: values of ``unpact.alpha``.
        betas: values of ``unpact.beta``.
        out: output folder.
        cfg: the run's config; default :func:`load_run_config` of ``run_dir``.
    """
    from unpact_exp.evaluation.question_table import QUESTIONS_CSV
    from unpact_exp.evaluation.threshold_grid import (
        GRID_CSV,
        GRID_PNG,
        AnswerCache,
        grid_csv_text,
        plot_grid,
        read_grid_questions,
        threshold_grid,
    )
    from unpact_exp.results import atomic_write_text
    from unpact_exp.unpact.config import EvalConfig, FocusOnKeyConfig, UnpactConfig

    if cfg is None:
        cfg = load_run_config(run_dir)
    unpact = UnpactConfig.from_config(cfg.unpact)
    focus = FocusOnKeyConfig.from_config(cfg.focus_on_key)
    ev = EvalConfig.from_config(cfg.eval)
    questions = read_grid_questions(run_dir / QUESTIONS_CSV, focus.keytokens_from)
    cache = AnswerCache(_answer_fn(cfg, run_dir) if questions else (lambda qs: []))
    cells = threshold_grid(
        questions,
        alphas,
        betas,
        unpact.normalize,
        focus.templates,
        cache,
        ev.correct_threshold,
        stemming=ev.rouge_stemming,
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / GRID_CSV, grid_csv_text(cells))
    png = plot_grid(cells, alphas, betas, out / GRID_PNG, mark=(unpact.alpha, unpact.beta))
    return cells, [out / GRID_CSV, png], cache.generated


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (see the module docstring)."""
    from unpact_exp.evaluation.threshold_grid import parse_grid

    parser = argparse.ArgumentParser(
        prog="threshold_grid.py",
        description="KeyToken count and FocusOnKey recovery over an alpha x beta grid.",
    )
    parser.add_argument("run_dir", type=Path, help="a finished train.py run directory")
    parser.add_argument("--alpha", required=True, help="comma-separated alphas, e.g. 0.1,0.22,0.4")
    parser.add_argument("--beta", required=True, help="comma-separated betas, e.g. 0.12,0.24,0.4")
    parser.add_argument("--out", type=Path, default=None, help="output dir (default RUN_DIR)")
    args = parser.parse_args(argv)
    try:
        alphas, betas = parse_grid(args.alpha, "alpha"), parse_grid(args.beta, "beta")
        cells, files, generated = run_grid(args.run_dir, alphas, betas, args.out or args.run_dir)
    except (UnpactConfigError, DataError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    n = cells[0].n_questions if cells else 0
    print(f"{len(cells)} cells over {n} forgotten questions; {generated} prompts generated.")
    for file in files:
        print(f"  {file}")
    return 0
