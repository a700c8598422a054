"""The ``eval.lm_eval`` node: which lm-evaluation-harness accuracies a run reports.

Kept beside :mod:`unpact_exp.metrics.lm_eval` rather than in ``EvalConfig``: the
node is optional (a run without it, or with ``tasks: []``, reports none), and validating it
needs no lm-eval import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unpact_exp.errors import UnpactConfigError
from unpact_exp.metrics.lm_eval import check_tasks
from unpact_exp.unpact.config import _get, _optional_cap, check_positive_int

GROUP = "eval.lm_eval"


@dataclass(frozen=True)
class LmEvalConfig:
    """lm-eval accuracies at every evaluation step (docs/science.md §4).

    Attributes:
        tasks: lm-eval task names (``wmdp_bio``, ``wmdp_cyber``, ``mmlu``); empty: none.
        limit: items per lm-eval task (per subject for MMLU), ``None`` for all.
        batch_size: lm-eval's batch size.
        data_files: task -> local file in the hub's schema; a task without one reads
            lm-eval's hub dataset.
    """

    tasks: tuple[str, ...]
    limit: int | None
    batch_size: int
    data_files: Mapping[str, str | None]

    def __post_init__(self) -> None:
        _optional_cap(f"{GROUP}.limit", self.limit)
        if self.limit == 0:
            raise UnpactConfigError(
                f"{GROUP}.limit=0 would score nothing; use null (all items) or an integer >= 1."
            )
        check_positive_int(f"{GROUP}.batch_size", self.batch_size)
        check_tasks(self.tasks, self.data_files)

    @classmethod
    def from_config(cls, cfg: Any) -> LmEvalConfig | None:
        """Build from the ``eval.lm_eval`` node; None when it is absent or has no tasks."""
        if cfg is None:
            return None
        tasks = _get(cfg, GROUP, "tasks")
        if isinstance(tasks, str) or not all(isinstance(t, str) for t in tasks or ()):
            raise UnpactConfigError(
                f"{GROUP}.tasks={tasks!r} must be a list of task names, e.g. [wmdp_bio, mmlu]."
            )
        files = _get(cfg, GROUP, "data_files") or {}
        config = cls(
            tasks=tuple(tasks or ()),
            limit=_get(cfg, GROUP, "limit"),
            batch_size=_get(cfg, GROUP, "batch_size"),
            data_files={str(k): None if v is None else str(v) for k, v in files.items()},
        )
        return config if config.tasks else None
