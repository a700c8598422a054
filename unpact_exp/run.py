"""What every entry point runs: dispatch on ``stage``, always close the loggers, return metrics.

Stages: ``unlearn`` and ``target`` (``train.py``), ``eval`` (``eval.py``), ``analyze``
(``analyze.py``); each is a module of :mod:`unpact_exp.stages`.

Returning a flat dict of final metrics lets Hydra sweepers optimise over runs.
A run that raises still leaves ``results.json`` with ``status: failed`` and the
error, so a sweep report lists it instead of silently dropping it.

A run stopped from outside (SIGTERM as SLURM pre-emption sends it, Ctrl-C, a
submitit requeue) is marked ``status: interrupted`` instead, and the process exits
non-zero (143 after SIGTERM): never ``completed``. During training Lightning turns
SIGTERM into a stop at the next step boundary, after a checkpoint is written;
outside training (loading, the final evaluation and save) the handler installed
here raises :class:`Interrupted` at once. Either way it also sets the stop flag of
:mod:`unpact_exp.stop`, which every evaluation, UNPACT and generation batch loop
checks, so an evaluation running inside a training callback stops within one batch
too. Rerunning the same command resumes.

A run folder holds one live run (:mod:`unpact_exp.run_lock`): a second process aimed
at it fails at once, naming the process that holds it.

A write that fails for a reason outside the code (disk full, ``ulimit -f``, a read-only
folder; :mod:`unpact_exp.storage`) ends the run with one :class:`StorageError` naming the
place and the fix. Messages about resuming name ``checkpoints/last.ckpt`` only when it
exists. Ctrl-C is recorded as ``KeyboardInterrupt`` (exit 130), not as the ``SystemExit: 1``
Lightning turns it into.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Any, Literal

from omegaconf import DictConfig

from unpact_exp import stop
from unpact_exp.errors import USER_ERRORS, StorageError
from unpact_exp.hydra_runtime import in_multirun
from unpact_exp.results import RESULTS_FILE, read_existing, write_results
from unpact_exp.run_lock import RunLock, launch_rank
from unpact_exp.stop import Interrupted

log = logging.getLogger(__name__)
Stage = Literal["unlearn", "target", "eval", "analyze"]
"""The stages: ``unlearn`` and ``target`` (train.py), ``eval`` (eval.py), ``analyze``."""
USER_ERROR_EXIT = 2
"""Exit status of a run stopped by a user error (as argparse and Hydra use for bad arguments)."""


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
    # Lightning's own deprecation noise, and its warning about the frozen reference model,
    # which is in eval mode on purpose; neither is actionable by a user of this framework.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoAdverts())
    logging.getLogger("absl").setLevel(logging.WARNING)  # rouge-score: "Using default tokenizer."


LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
"""The loggers Lightning gives a console handler of its own when it is imported."""


def route_lightning_logs() -> None:
    """Print each of Lightning's INFO lines once, through the logging Hydra configured.

    ``import lightning`` adds a console handler to the ``lightning`` logger (``INFO: ...``)
    and, when the root logger has none yet, to ``lightning.pytorch`` and
    ``lightning.fabric`` too. Under Hydra the root logger has handlers (the console and
    ``<run dir>/<task>.log``), so every line of Lightning's appeared twice, once in each
    format, and was missing from the log file when Lightning was imported first. When the
    root logger has handlers, Lightning's own are removed and its records propagate to
    them; without any (a library caller that configured no logging), Lightning's are kept.
    """
    import lightning  # noqa: F401  (its import adds the handlers removed here)

    if not logging.getLogger().handlers:
        return
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


class _NoAdverts(logging.Filter):
    """Drop Lightning's product tips (e.g. the litlogger one) from its rank-zero log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


SIGTERM_EXIT = 128 + int(signal.SIGTERM)
SIGINT_EXIT = 128 + int(signal.SIGINT)


__all__ = ["Interrupted", "cli_main", "exit_code", "is_interruption", "main"]


def _sigterm_raises(signum: int, frame: object) -> None:
    """SIGTERM handler: request a stop; raise at once unless Lightning's handler called us.

    Inside ``trainer.fit`` Lightning's handler calls this one after its own: the run
    then stops at the next training step or at the next analysis batch, whichever
    comes first (:func:`unpact_exp.stop.check_stop`).
    """
    reason = f"received signal {signum} (SIGTERM)"
    stop.request_stop(reason)
    if signal.getsignal(signal.SIGTERM) is _sigterm_raises:
        raise Interrupted(reason)


def is_interruption(err: BaseException) -> bool:
    """Whether ``err`` means the run was stopped from outside rather than failed."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    return isinstance(err, SIGTERMException | Interrupted | KeyboardInterrupt | SystemExit)


def is_ctrl_c(err: BaseException) -> bool:
    """Ctrl-C: a ``KeyboardInterrupt``, or the ``SystemExit(1)`` Lightning raises for one."""
    return isinstance(err, KeyboardInterrupt) or (
        isinstance(err, SystemExit) and isinstance(err.__context__, KeyboardInterrupt)
    )


def exit_code(err: BaseException) -> int:
    """A non-zero exit status for an interruption (143 for SIGTERM, 130 for Ctrl-C, as a
    shell reports them)."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if isinstance(err, SIGTERMException | Interrupted):
        return SIGTERM_EXIT
    if is_ctrl_c(err):
        return SIGINT_EXIT
    code = getattr(err, "code", None)
    return code if isinstance(code, int) and code != 0 else 1


def resume_hint(run_dir: Path, stage: str) -> str:
    """What rerunning the same command does, naming ``last.ckpt`` only when it exists."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if stage != "unlearn":
        return "it runs this stage again"
    if last.exists():
        step = stop.progress().get("last_checkpoint_step")
        at = f" (step {step})" if step is not None else ""
        return f"it resumes from {last}{at}"
    return "no training step had completed, so there is no checkpoint: it starts again"


def _interruption_text(err: BaseException) -> str:
    if is_ctrl_c(err):
        return "KeyboardInterrupt (Ctrl-C)"
    return f"{type(err).__name__}: {err}".rstrip(": ")


def _mark_failed(run_dir: Path, cfg: DictConfig, err: BaseException) -> None:
    """Record a failure (or an interruption) in results.json, keeping what the run had written.

    Never raises: when even ``results.json`` cannot be written (a full disk), that is logged
    and the original error goes on.
    """
    data = read_existing(run_dir) or {"stage": cfg.stage, "eval": {}}
    if is_interruption(err):
        data.update(
            status="interrupted",
            error=f"{_interruption_text(err)}; rerun the same command (same run dir): "
            + resume_hint(run_dir, cfg.stage),
        )
        data.pop("traceback", None)
        if cfg.stage == "unlearn":
            data.update(_progress(data))
    else:
        data.update(
            status="failed",
            error=f"{type(err).__name__}: {err}",
            traceback=traceback.format_exc(limit=20),
        )
        if isinstance(err, USER_ERRORS):
            data.pop("traceback", None)  # the message is the whole story
    for key in ("method", "regularizer", "model", "data"):
        node = cfg.get(key)
        data.setdefault(key, node.get("name") if hasattr(node, "get") else node)
    data.setdefault("seed", cfg.get("seed"))
    try:
        write_results(run_dir, data)
    except OSError as write_err:
        log.error("cannot record the outcome in %s (%s)", run_dir / RESULTS_FILE, write_err)


def _progress(data: dict[str, Any]) -> dict[str, Any]:
    """``steps`` (optimizer steps done) of an interrupted run, never null in results.json.

    Read from the trainer this process followed (:func:`unpact_exp.stop.follow`; with
    ``last_checkpoint_step``, where a rerun resumes), else the latest evaluated step on
    record (``ddp_spawn``: the steps ran in worker processes), else 0.
    """
    found = stop.progress()
    if found.get("steps") is not None:
        return found
    evaluated = [int(k) for k in data.get("eval") or {} if str(k).lstrip("-").isdigit()]
    return {**found, "steps": max(evaluated, default=0)}


def _check_unlearned(cfg: DictConfig) -> None:
    """``eval.py`` needs ``unlearned=DIR``; said in one line (not OmegaConf's traceback)."""
    from omegaconf import OmegaConf

    from unpact_exp.errors import UnpactConfigError

    if OmegaConf.is_missing(cfg, "unlearned") or not cfg.get("unlearned"):
        raise UnpactConfigError(
            "eval.py needs unlearned=DIR, the model to evaluate: a run's unlearned/ folder "
            "(e.g. python eval.py unlearned=outputs/DATE/TIME/unlearned) or any "
            "save_pretrained folder; original=DIR sets the model it is compared with."
        )


def _install_sigterm_handler() -> Any:
    """Make SIGTERM raise :class:`Interrupted` outside training; return the previous handler.

    Not under submitit, which deliberately ignores SIGTERM (it requeues on its own
    signal, see :mod:`unpact_exp.callbacks.preemption`), nor outside the main thread.
    """
    from unpact_exp.callbacks.preemption import under_submitit

    if under_submitit() or threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _sigterm_raises)
    return previous


def final_metrics(results: dict[str, Any]) -> dict[str, Any]:
    """The flat metrics of the last evaluation (or the target's correct rates)."""
    step = results.get("final_eval_step")
    if step is not None:
        return dict(results["eval"][step])
    return {k: v for k, v in results.items() if k.endswith("_rate")}


def _run_stage(cfg: DictConfig, settings: Any, run_dir: Path, loggers: list[Any]) -> dict[str, Any]:
    """Call the stage module named by ``cfg.stage`` (imported late: each pulls in its own deps)."""
    if cfg.stage == "target":
        from unpact_exp.stages.target import build_target

        return build_target(cfg, settings, run_dir, loggers)
    if cfg.stage == "eval":
        from unpact_exp.stages.evaluate import evaluate_pair

        return evaluate_pair(cfg, settings, run_dir, loggers)
    from unpact_exp.stages.unlearn import run_unlearning

    return run_unlearning(cfg, settings, run_dir, loggers)


def main(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg.stage``; return its final metrics (errors propagate, for in-process callers).

    The typed settings (:func:`~unpact_exp.stages.settings.run_settings`) are bound here, once,
    before the run folder is touched: a bad value fails in milliseconds with its key.
    """
    from unpact_exp.config.binder import coerce
    from unpact_exp.stages.settings import run_settings

    quiet_libraries()
    coerce("stage", cfg.stage, Stage)
    coerce("seed", cfg.get("seed"), int)
    if cfg.get("report") is not None:
        coerce("report.auto", cfg.report.get("auto"), bool)  # read when a sweep ends
    if cfg.stage == "eval":
        _check_unlearned(cfg)
    if cfg.stage == "analyze":
        from unpact_exp.stages.explain import explain_and_print

        return explain_and_print(cfg, run_settings(cfg))
    return _run_in_folder(cfg)


def cli_main(cfg: DictConfig) -> dict[str, Any]:
    """:func:`main` for the entry points: a user error is one message and exit status 2.

    A configuration, data or model-loading error (:data:`USER_ERRORS`) in a single
    run prints ``error: <message>`` on stderr and exits with status 2, without a
    traceback (``HYDRA_FULL_ERROR=1`` shows it). Inside a sweep (``-m``) the error is
    raised as it is, so the launcher records the job as failed and runs the others.
    """
    from omegaconf.errors import InterpolationResolutionError

    try:
        return main(cfg)
    except (*USER_ERRORS, InterpolationResolutionError) as err:
        from unpact_exp.hydra_entry import user_wants_traceback

        user = _user_error(err)
        if user is None or user_wants_traceback() or in_multirun():
            raise
        print(f"error: {user}", file=sys.stderr, flush=True)
        raise SystemExit(USER_ERROR_EXIT) from None


def _user_error(err: BaseException) -> BaseException | None:
    """``err`` if it is a user error, or the user error it wraps: a config resolver's refusal
    (``${unpact_sibling:...}``) reaches the entry point inside OmegaConf's
    ``InterpolationResolutionError``, chained as its context."""
    seen: BaseException | None = err
    while seen is not None and not isinstance(seen, USER_ERRORS):
        seen = seen.__cause__ or seen.__context__
    return seen


def _run_in_folder(cfg: DictConfig) -> dict[str, Any]:
    """Run a stage that writes a run folder: results.json always says how it ended."""
    from unpact_exp.stages.settings import run_settings
    from unpact_exp.storage import storage_failure, storage_message, write_errors_raise
    from unpact_exp.tracking import build_loggers, finish_loggers

    run_dir = Path(cfg.paths.output_dir)
    route_lightning_logs()
    lock = RunLock(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if launch_rank() == 0:
            lock.acquire()  # before anything is written: a refused run leaves the folder alone
    except OSError as err:
        failure = storage_failure(err)
        if failure is None:
            raise
        raise StorageError(storage_message(failure, run_dir, "it starts the run")) from None
    loggers: list[Any] = []
    stop.reset()
    previous_sigterm = _install_sigterm_handler()
    previous_sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores it after a Ctrl-C
    previous_sigxfsz = write_errors_raise()
    try:
        settings = run_settings(cfg)
        loggers = build_loggers(cfg.logger, cfg, run_dir)
        results = _run_stage(cfg, settings, run_dir, loggers)
    except BaseException as err:
        failure = None if isinstance(err, USER_ERRORS) else storage_failure(err)
        if failure is not None:
            hint = resume_hint(run_dir, cfg.stage)
            err = StorageError(storage_message(failure, run_dir, hint))
        if _is_rank_zero():
            _mark_failed(run_dir, cfg, err)
        if is_interruption(err):
            log.error("run interrupted (%s); results: %s", _interruption_text(err), run_dir)
            raise SystemExit(exit_code(err)) from err
        if failure is not None:
            raise err from None
        raise
    finally:
        finish_loggers(loggers)
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        if previous_sigint is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous_sigint)
        if previous_sigxfsz is not None:
            signal.signal(signal.SIGXFSZ, previous_sigxfsz)
        stop.reset()
        lock.release()
    if _is_rank_zero():
        from unpact_exp.summary import run_summary

        log.info("%s", run_summary(results, run_dir))
    return final_metrics(results)
