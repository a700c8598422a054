"""``results.json``: the one file per run that reports, sweeps and humans read.

Written atomically (temp file + rename) so a crash never leaves a file that looks
complete, and rewritten as a run progresses (status ``running`` until the end).

A ``results.json`` that cannot be read when a run restarts in its folder (cut by a full
disk, edited by hand, another format) is never silently replaced: it is moved aside to
``results.json.damaged-<time>`` with a warning naming the evaluations it held, as far as
its text shows (:func:`read_existing`).
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"
DAMAGED_SUFFIX = ".damaged-"
log = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    """Make tensors/numpy scalars JSON-able; non-finite floats become None (JSON has no NaN)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def is_number(value: Any) -> bool:
    """Whether a stored value is a number (``true``/``false`` are not, NumPy floats are)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix), renamed onto it if the block succeeds.

    Whatever writes to the yielded path (``savefig``, a CSV writer) either replaces ``path``
    whole, or -- killed, interrupted or failing midway -- leaves the previous file untouched
    and no temporary file behind (the rename is atomic within one folder).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # the previous file, if any, is untouched
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and an atomic rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_results(run_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write ``results`` to ``<run_dir>/results.json`` atomically and return the path."""
    path = Path(run_dir) / RESULTS_FILE
    atomic_write_text(path, json.dumps(_clean(results), indent=2, sort_keys=False) + "\n")
    return path


def read_results(run_dir: str | Path) -> dict[str, Any]:
    """Read ``<run_dir>/results.json``."""
    return json.loads((Path(run_dir) / RESULTS_FILE).read_text())


def read_existing(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's own ``results.json`` when it is to be continued; None when there is none.

    A file that is not a readable JSON object with an ``eval`` mapping is moved aside to
    ``results.json.damaged-<time>`` (kept for inspection, never overwritten) and a warning
    names it and the evaluation steps its text still shows, which the continued run's
    ``results.json`` will not hold; None is returned, as for no file.
    """
    path = Path(run_dir) / RESULTS_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("eval", {}), dict):
            raise ValueError("not a JSON object with an 'eval' mapping")
        return data
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError included
        problem = " ".join(f"{type(err).__name__}: {err}".split())
    from unpact_exp.run_lock import launch_rank

    if launch_rank() != 0:  # the launching process alone moves it (other ranks start fresh)
        return None
    aside = path.with_name(f"{RESULTS_FILE}{DAMAGED_SUFFIX}{time.strftime('%Y%m%d-%H%M%S')}")
    text = path.read_bytes().decode("utf-8", errors="replace")
    os.replace(path, aside)
    steps = sorted({int(s) for s in re.findall(r'"(-?\d+)"\s*:\s*\{', text)})
    lost = (
        f"the evaluations of steps {steps} it shows are not carried over (they stay readable there)"
        if steps
        else "no evaluation could be read from it"
    )
    log.warning(
        "%s is damaged (%s); moved aside to %s: %s. The run goes on with a new results.json.",
        path,
        problem,
        aside,
        lost,
    )
    return None


class RunRecord:
    """The results of one run, kept in memory and re-written to disk on every change.

    Callbacks on rank 0 add to it (evaluations keyed by step, the final status), so
    a run that dies midway still leaves a truthful ``results.json`` with status
    ``running`` and every evaluation done so far.

    Args:
        run_dir: where ``results.json`` lives.
        fields: the initial content (method, model, data, seed, ...).
        evals: evaluations to start from (a resumed run keeps its history).
    """

    def __init__(
        self,
        run_dir: str | Path,
        fields: dict[str, Any],
        evals: dict[str, Any] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.data: dict[str, Any] = {"status": "running", **fields, "eval": dict(evals or {})}
        self._set_final_step()

    @classmethod
    def resume(cls, run_dir: str | Path, fields: dict[str, Any]) -> RunRecord:
        """A record that keeps the ``eval`` history of the ``results.json`` already in ``run_dir``.

        Used when a run resumes from a checkpoint: the record is rebuilt (fields may
        have changed, status is ``running`` again) but the evaluations survive.
        """
        existing = read_existing(run_dir)  # a damaged file is moved aside, with a warning
        evals = dict((existing or {}).get("eval") or {})
        return cls(run_dir, fields, evals)

    def _set_final_step(self) -> None:
        """``final_eval_step``: the latest evaluation kept (steps in order, other keys last)."""
        steps = sorted(self.data["eval"], key=_step_order)
        if steps:
            self.data["final_eval_step"] = steps[-1]
        else:
            self.data.pop("final_eval_step", None)

    def update(self, **fields: Any) -> None:
        """Set top-level fields and save."""
        self.data.update(fields)
        self.save()

    def add_eval(self, step: int, metrics: dict[str, Any]) -> None:
        """Record the evaluation metrics of ``step`` and save."""
        self.data["eval"][str(step)] = metrics
        self.data["final_eval_step"] = str(step)
        self.save()

    def drop_evals_after(self, step: int) -> None:
        """Forget evaluations after ``step`` (a resumed run recomputes them) and save."""
        self.data["eval"] = {
            k: v for k, v in self.data["eval"].items() if _step_order(k) <= (0, step)
        }
        self._set_final_step()
        self.save()

    def save(self) -> Path:
        """Write ``results.json`` atomically."""
        return write_results(self.run_dir, self.data)


def _step_order(key: str) -> tuple[int, int]:
    """Sort key of an ``eval`` entry: integer steps in order, then named ones (``final``)."""
    return (0, int(key)) if key.lstrip("-").isdigit() else (1, 0)


def method_label(name: Any, token_weighting: Any = None) -> str:
    """The method's name in a setting, with a non-uniform token weighting: ``ga@keytoken``.

    So the report (and W&B) keep weighted and plain runs of the same method apart.
    """
    if token_weighting in (None, "uniform"):
        return str(name)
    return f"{name}@{token_weighting}"


def setting_name(method: Any, regularizer: Any) -> str | None:
    """``ga`` + ``gd`` -> ``ga+gd``; no or ``none`` regularizer -> the method alone."""
    if not method:
        return None
    return normalize_setting(f"{method}+{regularizer}" if regularizer else str(method))


def normalize_setting(setting: str) -> str:
    """Lower-case, strip spaces, drop a ``+none`` regularizer (``GA + none`` -> ``ga``)."""
    parts = [p.strip().lower() for p in setting.split("+")]
    parts = [p for p in parts if p and p not in ("none", "null")]
    return "+".join(parts) or "unknown"
