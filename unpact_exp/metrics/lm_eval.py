"""WMDP and MMLU accuracy through lm-evaluation-harness, on the model in memory.

Published WMDP/MMLU numbers come from ``lm-eval``'s ``wmdp_bio``, ``wmdp_cyber`` and
``mmlu`` tasks, so the framework reports exactly those: :func:`lm_eval_counts` runs
``lm_eval.simple_evaluate`` on an ``HFLM`` wrapping the already-loaded model (no reload,
no copy) with lm-eval's own task definitions: the same description line, ``doc_to_text``
("{question}\\nA. ..\\nB. ..\\nAnswer:"), choices ``A``-``D`` and ``acc`` (the argmax over
the summed log-likelihoods of the continuations " A", " B", ...; lm-eval's default
``target_delimiter`` is a space).

Offline: a task whose local file is given (``metrics.lm_eval.data_files``) is re-declared
from the *installed* task YAML (read at run time, ``include`` resolved, so the template
cannot drift from the installed lm-eval), with only ``dataset_path`` /
``dataset_kwargs`` swapped to the local file, under the name ``unpact_local_<task>``.
MMLU's local file is one table in the hub's ``all`` schema (``question``, ``choices``,
``answer``, ``subject``); it is split by subject into lm-eval's per-subject tasks
(``mmlu_<subject>``, each with its own description line), and MMLU's accuracy is, as
lm-eval's group score (``weight_by_size``), correct answers over all items. A task
without a local file uses lm-eval's task as installed (its hub dataset).

lm-eval's ``limit`` is per task: for MMLU it caps every subject, so ``limit: 10`` scores
at most 570 items.
"""

from __future__ import annotations

import contextlib
import json
import random
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml

from unpact_exp.config import checks
from unpact_exp.data.schema import Benchmark
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.evaluation import statistics
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics.registry import register
from unpact_exp.unpact.inference import analysis_mode

# lm-eval task name -> its YAML under lm_eval/tasks/ (MMLU: one YAML per subject).
TASK_YAMLS = {
    "wmdp_bio": "wmdp/wmdp_bio.yaml",
    "wmdp_cyber": "wmdp/wmdp_cyber.yaml",
    "mmlu": "mmlu/default",
}
LOCAL_PREFIX = "unpact_local_"
N_CHOICES = 4  # MMLU's doc_to_choice (A-D), as WMDP's
# Keys dropped from a local copy: hub names and tags (the copy must not join lm-eval's own
# groups) and the few-shot splits (zero-shot: the local file has the test split only).
_NOT_LOCAL = ("tag", "task_alias", "dataset_name", "fewshot_split", "fewshot_config")


def _tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def installed_task_config(relative: str) -> dict[str, Any]:
    """An installed lm-eval task YAML as a dict, its ``include`` chain merged in.

    Args:
        relative: path under ``lm_eval/tasks/`` (e.g. ``wmdp/wmdp_bio.yaml``).
    """
    path = _tasks_dir() / relative
    config = yaml.safe_load(path.read_text())
    base = config.pop("include", None)
    if base is None:
        return config
    return {**installed_task_config(str(Path(relative).parent / base)), **config}


def _local_task(name: str, config: Mapping[str, Any], data_file: Path) -> dict[str, Any]:
    """``config`` re-declared as task ``name`` over one local JSON-lines or parquet file."""
    local = {k: v for k, v in config.items() if k not in _NOT_LOCAL}
    builder = "parquet" if data_file.suffix == ".parquet" else "json"
    local.update(
        task=name,
        dataset_path=builder,
        dataset_kwargs={"data_files": {config["test_split"]: str(data_file)}},
    )
    return local


def _read_rows(data_file: Path) -> list[dict[str, Any]]:
    """Rows of a local hub-schema file (JSON lines or parquet)."""
    import datasets

    builder = "parquet" if data_file.suffix == ".parquet" else "json"
    try:
        return list(datasets.load_dataset(builder, data_files=str(data_file), split="train"))
    except (FileNotFoundError, ValueError) as err:
        raise DataError(f"cannot read lm-eval data file {data_file}: {err}") from err


def _checked_rows(data_file: Path, n_choices: int) -> list[dict[str, Any]]:
    """The rows of ``data_file``, each with the fields and choice count lm-eval's template uses.

    lm-eval's WMDP/MMLU ``doc_to_text`` writes exactly four lettered choices: a row with
    fewer fails inside its template, one with more is scored on its first four only.
    """
    rows = _read_rows(data_file)
    for index, row in enumerate(rows):
        missing = [k for k in ("question", "choices", "answer") if k not in row]
        if missing:
            raise DataError(f"row {index} of {data_file} lacks {missing}; the hub schema has them.")
        if len(row["choices"]) != n_choices:
            raise DataError(
                f"row {index} of {data_file} has {len(row['choices'])} choices; lm-eval's "
                f"template writes exactly {n_choices}. Remove or fix that row."
            )
    return rows


def _mmlu_tasks(data_file: Path, out_dir: Path) -> list[str]:
    """One local task per MMLU subject present in ``data_file`` (hub ``all`` schema)."""
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for row in _checked_rows(data_file, N_CHOICES):
        if "subject" not in row:
            raise DataError(
                f"MMLU file {data_file} has no 'subject' field; give the hub's 'all' split "
                "(question, choices, answer, subject), e.g. all/test-00000-of-00001.parquet."
            )
        by_subject.setdefault(str(row["subject"]), []).append(row)
    names = []
    for subject, rows in sorted(by_subject.items()):
        relative = f"{TASK_YAMLS['mmlu']}/mmlu_{subject}.yaml"
        if not (_tasks_dir() / relative).is_file():
            raise DataError(
                f"MMLU file {data_file} has subject {subject!r}, which is not an lm-eval MMLU "
                "subject (lm_eval/tasks/mmlu/default/mmlu_<subject>.yaml)."
            )
        rows_file = out_dir / f"mmlu_{subject}.jsonl"
        rows_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
        name = f"{LOCAL_PREFIX}mmlu_{subject}"
        config = _local_task(name, installed_task_config(relative), rows_file)
        (out_dir / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        names.append(name)
    return names


def _declare(task: str, data_file: str | None, out_dir: Path) -> list[str]:
    """lm-eval task names that together make ``task`` (local copies when a file is given)."""
    if data_file is None:
        return [task]
    path = Path(data_file)
    if not path.is_file():
        raise DataError(
            f"metrics.lm_eval.data_files.{task}={data_file!r} is not a file; give a local "
            "JSON-lines or parquet file in the hub's schema (question, choices, answer), or "
            "null to use lm-eval's hub dataset."
        )
    if task == "mmlu":
        return _mmlu_tasks(path, out_dir)
    name = f"{LOCAL_PREFIX}{task}"
    installed = installed_task_config(TASK_YAMLS[task])
    _checked_rows(path, len(installed["doc_to_choice"]))
    config = _local_task(name, installed, path)
    (out_dir / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return [name]


def check_tasks(tasks: Sequence[str], data_files: Mapping[str, str | None]) -> None:
    """Refuse unknown task names before any model work.

    Raises:
        UnpactConfigError: a task (or a ``data_files`` key) is not one of :data:`TASK_YAMLS`.
    """
    for where, names in (("tasks", tasks), ("data_files", list(data_files))):
        for task in names:
            if task not in TASK_YAMLS:
                raise UnpactConfigError(
                    f"metrics.lm_eval.{where} names {task!r}; choose from {sorted(TASK_YAMLS)}."
                )


@contextlib.contextmanager
def kept_rng_state() -> Iterator[None]:
    """Restore the Python, NumPy and torch (CPU and CUDA) generators after the block.

    ``simple_evaluate`` seeds all three globally (its ``random_seed`` & co.), which inside
    training would reset the data order and dropout of every step after an evaluation.
    """
    import numpy as np

    python, numpy = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)


def lm_eval_counts(
    model: torch.nn.Module,
    tokenizer: Any,
    tasks: Sequence[str],
    data_files: Mapping[str, str | None],
    limit: int | None,
    batch_size: int,
) -> dict[str, tuple[int, int]]:
    """``(correct, scored)`` per task (see :func:`lm_eval_correct` for the arguments)."""
    correct = lm_eval_correct(model, tokenizer, tasks, data_files, limit, batch_size)
    return {task: (sum(flags), len(flags)) for task, flags in correct.items()}


def lm_eval_correct(
    model: torch.nn.Module,
    tokenizer: Any,
    tasks: Sequence[str],
    data_files: Mapping[str, str | None],
    limit: int | None,
    batch_size: int,
) -> dict[str, list[bool]]:
    """Per task, lm-eval's zero-shot ``acc`` of every scored item, from ``simple_evaluate``.

    Items are in document order (MMLU: subjects in alphabetical order, then document order).

    Args:
        model: the causal LM, used in place (eval mode and no autograd while scoring).
        tokenizer: its tokenizer.
        tasks: lm-eval task names among :data:`TASK_YAMLS`.
        data_files: task -> local file in the hub's schema; a missing or null entry uses
            lm-eval's installed task (and its hub dataset).
        limit: items per lm-eval task (per subject for MMLU), null for all.
        batch_size: lm-eval's batch size.

    Raises:
        UnpactConfigError: an unknown task name.
        DataError: a local file is missing, unreadable, or has an unknown MMLU subject.
    """
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    check_tasks(tasks, data_files)
    with tempfile.TemporaryDirectory(prefix="unpact_lm_eval_") as tmp:
        parts = {task: _declare(task, data_files.get(task), Path(tmp)) for task in tasks}
        names = [name for group in parts.values() for name in group]
        # lm-eval's own index only when a task reads the hub (indexing it takes seconds).
        hub = any(data_files.get(task) is None for task in tasks)
        manager = TaskManager(include_path=tmp, include_defaults=hub)
        with analysis_mode(model), kept_rng_state():
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
            out = simple_evaluate(
                model=lm,
                tasks=names,
                task_manager=manager,
                num_fewshot=0,
                limit=limit,
                log_samples=True,
                bootstrap_iters=0,
            )
    samples = out["samples"]
    return {
        task: [
            float(s["acc"]) == 1.0
            for name in group
            for s in sorted(samples[name], key=lambda s: s["doc_id"])
        ]
        for task, group in parts.items()
    }


def lm_eval_metrics(
    model: torch.nn.Module,
    tokenizer: Any,
    tasks: Sequence[str],
    data_files: Mapping[str, str | None],
    limit: int | None,
    batch_size: int,
    suffix: str,
) -> dict[str, Any]:
    """``lm_eval_<task>_acc<suffix>`` with ``_counts`` ``[k, n]`` and ``_ci`` (95% Wilson).

    Args:
        model: the model scored (M1, or M0 with ``suffix="_original"``).
        tokenizer: its tokenizer.
        tasks, data_files, limit, batch_size: see :func:`lm_eval_correct`.
        suffix: appended to every key.
    """
    counts = lm_eval_counts(model, tokenizer, tasks, data_files, limit, batch_size)
    metrics: dict[str, Any] = {}
    for task, (k, n) in counts.items():
        metrics |= statistics.rate_entry(f"lm_eval_{task}_acc{suffix}", k, n)
    return metrics


_LABELS = (("wmdp_bio", "WMDP-Bio"), ("wmdp_cyber", "WMDP-Cyber"), ("mmlu", "MMLU"))


@register("lm_eval")
class LmEval:
    """lm-eval's WMDP/MMLU accuracies of M1 and M0 at every evaluation step (docs/science.md §4).

    Args:
        tasks: lm-eval task names (``wmdp_bio``, ``wmdp_cyber``, ``mmlu``); empty: none.
        limit: items per lm-eval task (per subject for MMLU), ``None`` for all.
        batch_size: lm-eval's batch size.
        data_files: task -> local file in the hub's schema (question, choices, answer); a
            task without one reads lm-eval's hub dataset.
    """

    columns: ClassVar[tuple[Column, ...]] = tuple(
        Column(f"lm_eval_{task}_acc{suffix}", f"{label}{who} (%)", "rate")
        for task, label in _LABELS
        for suffix, who in (("", ""), ("_original", " original"))
    )
    table: ClassVar[str | None] = "WMDP and MMLU (lm-evaluation-harness)"
    description: ClassVar[str] = (
        "Zero-shot accuracy by lm-evaluation-harness's own tasks (`metrics.lm_eval`), as "
        "published WMDP/MMLU numbers are measured; `original` = the model before unlearning. "
        "MMLU pools its subjects (correct / all items, lm-eval's group score). `(k/n)`: "
        "correct / scored, summed over runs, with the 95% Wilson interval."
    )

    def __init__(
        self,
        tasks: tuple[str, ...],
        limit: int | None,
        batch_size: int,
        data_files: dict[str, str | None],
    ) -> None:
        if limit is not None:
            checks.at_least("metrics.lm_eval.limit", limit, 1)
        checks.at_least("metrics.lm_eval.batch_size", batch_size, 1)
        check_tasks(tasks, data_files)
        self.tasks, self.limit, self.batch_size = tasks, limit, batch_size
        self.data_files = dict(data_files)

    def applies(self, benchmark: Benchmark) -> bool:
        """Whenever tasks are asked for (lm-eval reads its own data, not the benchmark)."""
        return bool(self.tasks)

    def prepare(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M0's accuracies (``lm_eval_<task>_acc_original``)."""
        return self._scores(model, ctx, "_original")

    def measure(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M1's accuracies."""
        return self._scores(model, ctx, "")

    def _scores(self, model: torch.nn.Module, ctx: MetricContext, suffix: str) -> dict[str, Any]:
        return lm_eval_metrics(
            model, ctx.tokenizer, self.tasks, self.data_files, self.limit, self.batch_size, suffix
        )
