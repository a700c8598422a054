"""Hydra callbacks: tell the user, job by job, which sweep jobs failed and where.

Hydra's basic launcher runs every job of a batch even when one raises, then
re-raises the first error (so the sweep exits non-zero). This callback adds the
missing piece: one line per failed job, as it fails, naming its overrides, its
error and its folder, and a summary at the end of a sweep whose jobs all returned.
"""

from __future__ import annotations

import logging
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
        """Count the jobs' results.json statuses (works for in-process and submitit jobs)."""
        from pathlib import Path

        from unpact_exp.results import RESULTS_FILE, read_results

        counts: dict[str, int] = {}
        for path in sorted(Path(config.hydra.sweep.dir).glob(f"*/{RESULTS_FILE}")):
            status = read_results(path.parent).get("status", "unknown")
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no jobs"
        log.info("sweep finished: %s -> %s", summary, config.hydra.sweep.dir)
