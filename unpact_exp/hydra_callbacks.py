"""Hydra callbacks: tell the user, job by job, which sweep jobs failed and where.

Hydra's basic launcher runs every job of a batch even when one raises, then
re-raises the first error (so the sweep exits non-zero). This callback adds the
missing piece: one line per failed job, as it fails, naming its overrides, its
error and its folder, and a summary at the end of a sweep whose jobs all returned.

The summary ends with the next step: the command that writes the sweep's report
(``python report.py <sweep dir>``), or, with ``report.auto=true``, the report itself,
written in this process (a report that fails is logged with the command to retry; the
jobs' results are untouched).
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

log = logging.getLogger("unpact_exp.sweep")


class SweepSummary(Callback):
    """Log each failed job immediately; summarise the sweep when it ends."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.completed = 0

    def on_job_end(self, config: Any, job_return: JobReturn, **kwargs: Any) -> None:
        """Record the job's outcome; log a failure with its overrides and folder."""
        if job_return.status == JobStatus.COMPLETED:
            self.completed += 1
            return
        err = job_return._return_value  # the exception the job raised
        where = config.hydra.runtime.output_dir
        num = OmegaConf.select(config, "hydra.job.num", default=None, throw_on_missing=False)
        label = "run" if num is None else f"job {num}"
        line = f"{label} FAILED ({', '.join(job_return.overrides or [])}): "
        line += f"{type(err).__name__}: {err} -> {where}"
        self.failed.append(line)
        log.error(line)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        """Count the jobs' results.json statuses (works for in-process and submitit jobs),
        then print the report command or, with ``report.auto=true``, write the report."""
        from unpact_exp.results import RESULTS_FILE, read_results

        sweep_dir = Path(config.hydra.sweep.dir)
        counts: dict[str, int] = {}
        for path in sorted(sweep_dir.glob(f"*/{RESULTS_FILE}")):
            status = read_results(path.parent).get("status", "unknown")
            counts[status] = counts.get(status, 0) + 1
        auto = bool(OmegaConf.select(config, "report.auto", default=False))
        log.info("%s", sweep_end_message(sweep_dir, counts, auto and bool(counts)))
        if auto and counts:
            write_sweep_report(sweep_dir)


def report_command(sweep_dir: str | Path) -> str:
    """``python report.py <sweep dir>`` (the path quoted for a shell when it needs it)."""
    return f"python report.py {shlex.quote(str(sweep_dir))}"


def sweep_end_message(sweep_dir: str | Path, counts: dict[str, int], auto: bool) -> str:
    """The line a sweep ends with: its jobs by status, its folder, and the report's command
    (``auto``: that the report is being written now).

    Args:
        sweep_dir: the sweep's folder.
        counts: jobs per ``results.json`` status.
        auto: ``report.auto=true`` and there are jobs to report.
    """
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no jobs"
    line = f"sweep finished: {summary} -> {sweep_dir}"
    if not counts:
        return line
    if auto:
        return f"{line}\nwriting its report (report.auto=true): {report_command(sweep_dir)}"
    return f"{line}\nits report: {report_command(sweep_dir)}  (or report.auto=true next time)"


def write_sweep_report(sweep_dir: Path) -> int:
    """Write the report of ``sweep_dir`` as ``report.py`` would; returns its exit status.

    A failure is logged with the command to retry, never raised: the sweep's jobs are done.
    """
    from unpact_exp.report import main as report_main

    try:
        code = report_main([str(sweep_dir)])
    except Exception as err:  # the jobs are done; a broken report must not fail the sweep
        log.error(
            "the report failed (%s: %s); retry: %s",
            type(err).__name__,
            err,
            report_command(sweep_dir),
        )
        return 1
    if code != 0:
        retry = report_command(sweep_dir)
        log.error("the report was not written (exit %d); retry: %s", code, retry)
    return code
