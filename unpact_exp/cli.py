"""The ``unpact`` command: one family for every entry point.

::

    unpact train  [hydra overrides]      # = python train.py ...     (stage=unlearn / target)
    unpact eval   unlearned=DIR [...]    # = python eval.py ...
    unpact explain question="..." [...]  # = python analyze.py ...
    unpact report RUN_DIR [...]          # = python report.py ...
    unpact grid   RUN_DIR --alpha .. --beta ..  # = python threshold_grid.py ...
    unpact memory MODEL [...]            # the memory estimator
    unpact workspace ENTITY/PROJECT --group G   # the W&B workspace of a sweep group

``train``, ``eval`` and ``explain`` compose ``unpact_exp/conf`` (package data) with Hydra,
so every override, ``-m`` sweep and launcher works as with the scripts; the others take
their own arguments. The repository's top-level scripts are thin aliases of these commands,
so README commands keep working. ``python -m unpact_exp ...`` is the same command.

The command word is hidden from Hydra while it parses the overrides and put back before the
run starts: a Lightning DDP launch re-runs ``sys.argv`` for the other ranks, and they must
run the same command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import hydra
from omegaconf import DictConfig

import unpact_exp.resolvers  # noqa: F401  (config resolvers)

USAGE = """usage: unpact COMMAND [ARGS]

commands:
  train    unlearning run (Hydra overrides; -m for a sweep)
  eval     evaluate a saved unlearned model against the original (unlearned=DIR)
  explain  UNPACT contributions of one prompt (question="...")
  report   tables and plots of finished runs (RUN_DIR ...)
  grid     KeyToken threshold grid of a finished run (RUN_DIR --alpha A,.. --beta B,..)
  memory   memory estimate of a model and setting (MODEL)
  workspace  W&B workspace of a sweep group (ENTITY/PROJECT --group G [--dry-run])
"""
_ARGV: list[str] = []


def _restore_argv() -> None:
    if _ARGV:
        sys.argv[:] = _ARGV


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def train(cfg: DictConfig) -> dict:
    """``unpact train``: an unlearning run (or ``stage=target``)."""
    from unpact_exp.run import cli_main

    _restore_argv()
    return cli_main(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def evaluate(cfg: DictConfig) -> dict:
    """``unpact eval``: evaluate ``unlearned=`` against ``original=`` (or the model's source)."""
    from unpact_exp.run import cli_main

    _restore_argv()
    return cli_main(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="analyze")
def explain(cfg: DictConfig) -> dict:
    """``unpact explain``: UNPACT on one prompt."""
    from unpact_exp.run import cli_main

    _restore_argv()
    return cli_main(cfg)


def _report(argv: Sequence[str]) -> int:
    from unpact_exp.report import main

    return main(list(argv))


def _grid(argv: Sequence[str]) -> int:
    from unpact_exp.stages.threshold_grid import main

    return main(list(argv))


def _workspace(argv: Sequence[str]) -> int:
    from unpact_exp.report.workspace import main

    return main(list(argv))


def _memory(argv: Sequence[str]) -> int:
    from unpact_exp.memory import main

    return main(list(argv))


HYDRA_COMMANDS: dict[str, Callable[[], Any]] = {
    "train": train,
    "eval": evaluate,
    "explain": explain,
}
OTHER_COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "report": _report,
    "grid": _grid,
    "memory": _memory,
    "workspace": _workspace,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``unpact COMMAND ...``; returns the exit status (2 for a bad command)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command in OTHER_COMMANDS:
        return OTHER_COMMANDS[command](rest)
    if command not in HYDRA_COMMANDS:
        from unpact_exp.config.binder import hint

        commands = [*HYDRA_COMMANDS, *OTHER_COMMANDS]
        print(f"error: unknown command {command!r}.{hint(command, commands)}\n", file=sys.stderr)
        print(USAGE, end="", file=sys.stderr)
        return 2
    _ARGV[:] = sys.argv  # what a DDP launch re-runs for the other ranks
    sys.argv[:] = [sys.argv[0], *rest]  # Hydra parses the overrides only
    from unpact_exp.hydra_entry import run_hydra_app

    try:
        run_hydra_app(HYDRA_COMMANDS[command])  # Hydra's own errors: one line, exit 2
    finally:
        _restore_argv()
    return 0


def script(command: str) -> None:
    """A top-level script (``train.py``): run ``command`` with the script's arguments."""
    raise SystemExit(main([command, *sys.argv[1:]]))
