"""``python threshold_grid.py RUN_DIR --alpha A,.. --beta B,.. [OVERRIDES]``: tune KeyTokens.

Reads a finished run's config (``.hydra/config.yaml``), its final ``questions.csv`` (the
forgotten questions with M0's and M1's UNPACT contributions) and its ``unlearned/`` model,
then runs :func:`unpact_exp.attacks.focus_on_key_grid.threshold_grid`: only FocusOnKey is
re-generated, once per distinct rewritten question. Writes ``threshold_grid.csv`` and
``threshold_grid.png`` (the run's own alpha/beta outlined) into ``--out`` (default the run dir),
each atomically.

The run folder is data, never code (:mod:`unpact_exp.run_folder`): model, tokenizer and
data locations, ``model.trust_remote_code`` and ``paths`` come from the command's
``OVERRIDES`` (``key=value`` as for ``train.py``, e.g. ``paths.root_dir=DIR``) and the
defaults, never from the recording; a recorded value that differs is printed as a warning
and ignored. ``questions.csv`` is checked row by row against the run's ``results.json``:
a damaged or cut file is refused, naming the row.

Exit codes: 0 written; 2 a bad command line, run directory, file or threshold value.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unpact_exp.errors import DataError, ModelLoadError, UnpactConfigError

EXIT_USAGE = 2
log = logging.getLogger(__name__)


def load_run_config(run_dir: Path, overrides: Sequence[str] = ()) -> tuple[Any, list[str]]:
    """The config to re-run the grid with, and the recorded values it ignored.

    A run folder is data, never code (:mod:`unpact_exp.run_folder`): where the model, the
    tokenizer and the data are loaded from, ``trust_remote_code`` and every ``paths`` entry
    come from ``overrides`` (the command line) and the packaged defaults, with ``paths``
    resolved from ``$UNPACT_ROOT`` or the current directory as for ``train.py`` run here.
    The thresholds, templates and evaluation settings come from the run's
    ``.hydra/config.yaml``. ``paths.output_dir`` is ``run_dir``.

    Raises:
        DataError: ``run_dir`` holds no readable ``.hydra/config.yaml`` or ``hydra.yaml``.
        UnpactConfigError: an override does not compose.
    """
    from unpact_exp.run_folder import config_for_run

    return config_for_run(run_dir, overrides)


def _answer_fn(cfg: Any, run_dir: Path) -> Any:
    """M1's greedy answers to rewritten questions, rendered as the run's evaluation renders them."""
    from unpact_exp.callbacks.finalize import UNLEARNED_DIR
    from unpact_exp.config.binder import bind
    from unpact_exp.data.prepare import get_benchmark
    from unpact_exp.evaluation.config import EvalConfig
    from unpact_exp.evaluation.tasks import eval_answers
    from unpact_exp.models.loading import (
        evaluation_device_map,
        is_hf_folder,
        load_model,
        load_model_tokenizer,
        resolve_source,
    )
    from unpact_exp.models.lora import is_adapter_folder
    from unpact_exp.models.prompt import PromptFormat

    unlearned = run_dir / UNLEARNED_DIR
    if not is_hf_folder(unlearned) and not is_adapter_folder(unlearned):
        raise ModelLoadError(
            f"{unlearned} holds no model; the grid re-asks the run's final model, so point at a "
            "run directory whose training finished (it writes unlearned/)."
        )
    original = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    tokenizer = load_model_tokenizer(cfg.model, str(original))
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    icl = tuple(get_benchmark(cfg.data, cfg.paths.data_dir).icl)
    model = load_model(
        str(unlearned), cfg.model.dtype, cfg.model.trust_remote_code, evaluation_device_map()
    ).eval()
    ev = bind(EvalConfig, cfg.eval, "eval")

    def answer(questions: list[str]) -> list[str]:
        prompts = [fmt.parts(q, tokenizer, icl=icl) for q in questions]
        return eval_answers(model, tokenizer, prompts, ev)

    return answer


def run_grid(
    run_dir: Path,
    alphas: Sequence[float],
    betas: Sequence[float],
    out: Path,
    cfg: Any = None,
    overrides: Sequence[str] = (),
) -> tuple[list[Any], list[Path], int]:
    """Run the grid for ``run_dir``; returns the cells, the files written, the generations.

    Args:
        run_dir: a train.py run directory (``questions.csv``, ``unlearned/``).
        alphas: values of ``unpact.alpha``.
        betas: values of ``unpact.beta``.
        out: output folder.
        cfg: the config; default :func:`load_run_config` of ``run_dir`` and ``overrides``
            (its ignored recorded values are logged as warnings).
        overrides: the command line's config overrides (used when ``cfg`` is None).
    """
    from unpact_exp.attacks import registry
    from unpact_exp.attacks.focus_on_key_grid import (
        GRID_CSV,
        GRID_PNG,
        AnswerCache,
        grid_csv_text,
        plot_grid,
        read_grid_questions,
        threshold_grid,
    )
    from unpact_exp.config.binder import bind
    from unpact_exp.evaluation.config import EvalConfig
    from unpact_exp.evaluation.question_table import QUESTIONS_CSV
    from unpact_exp.results import atomic_write_text
    from unpact_exp.unpact.config import UnpactConfig

    if cfg is None:
        cfg, ignored = load_run_config(run_dir, overrides)
        for line in ignored:
            log.warning("%s", line)
    unpact = bind(UnpactConfig, cfg.unpact, "unpact")
    focus = registry.build("focus_on_key", cfg)
    ev = bind(EvalConfig, cfg.eval, "eval")
    questions = read_grid_questions(
        run_dir / QUESTIONS_CSV, focus.keytokens_from, _recorded_evals(run_dir)
    )
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


def _recorded_evals(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``results.json`` evaluations, to check ``questions.csv`` against (None when
    unreadable: the file's own rows are still checked)."""
    from unpact_exp.results import read_results

    try:
        evals = read_results(run_dir).get("eval")
    except (OSError, ValueError, AttributeError):
        return None
    return evals if isinstance(evals, dict) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (see the module docstring)."""
    from unpact_exp.attacks.focus_on_key_grid import parse_grid

    parser = argparse.ArgumentParser(
        prog="threshold_grid.py",
        description="KeyToken count and FocusOnKey recovery over an alpha x beta grid.",
    )
    parser.add_argument("run_dir", type=Path, help="a finished train.py run directory")
    parser.add_argument("--alpha", required=True, help="comma-separated alphas, e.g. 0.1,0.22,0.4")
    parser.add_argument("--beta", required=True, help="comma-separated betas, e.g. 0.12,0.24,0.4")
    parser.add_argument("--out", type=Path, default=None, help="output dir (default RUN_DIR)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides (model.path=..., paths.root_dir=..., model.trust_remote_code=...)"
        "; where models and data are loaded from is never taken from the run folder",
    )
    args = parser.parse_intermixed_args(argv)  # overrides may follow the options
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        alphas, betas = parse_grid(args.alpha, "alpha"), parse_grid(args.beta, "beta")
        out = args.out or args.run_dir
        cells, files, generated = run_grid(
            args.run_dir, alphas, betas, out, overrides=args.overrides
        )
    except (UnpactConfigError, DataError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    n = cells[0].n_questions if cells else 0
    print(f"{len(cells)} cells over {n} forgotten questions; {generated} prompts generated.")
    for file in files:
        print(f"  {file}")
    return 0
