"""Find the run directories of a sweep, load their ``results.json`` and sort them by outcome.

A sweep is judged by what its jobs left on disk, and jobs die in many ways: killed by the
scheduler before writing anything, crashed with a traceback, diverged, still running. Every one
of those must show up in the report with a reason instead of silently shrinking the table, so
this module never raises on a malformed job: it records what is wrong and moves on.

Discovery rules (:func:`find_run_dirs`):

- a path that is itself a job dir (it holds ``results.json`` or ``.hydra/``) is used as is;
- any other path is searched recursively; a dir holding ``results.json`` or ``.hydra/`` is a job
  dir and is not descended into (so ``unlearned/`` checkpoints are never walked);
- in a Hydra multirun dir (it holds ``multirun.yaml``) every sub-dir named ``N`` or ``N_...`` is
  a job dir even when empty: a job that never started is still a job of the sweep;
- hidden dirs (``.submitit``, ``.hydra``) and the excluded dirs (the report's own output) are
  skipped;
- a folder reached by two paths (a sweep and one of its jobs, a relative and an absolute
  spelling) is one job.

Identity (which runs the table may pool as seeds of one setting): each job's *identity
overrides* are its command-line overrides minus ``seed`` (what pooling varies), minus the
group choices the row key already holds (``method``, ``regularizer``, ``setting``, ``model``,
``data``) and minus the knobs that cannot change a number (``logger*``,
``trainer.enable_progress_bar``, ``trainer.progress*``, ``eval.progress``, ``report.auto``,
``ckpt_path``); its *budget* is the step
and epoch limit it trained under (``max_steps``/``max_epochs`` in ``results.json``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unpact_exp.results import RESULTS_FILE, is_number, normalize_setting, setting_name

COMPLETED = "completed"
FAILED = "failed"
UNFINISHED = "unfinished"

_FAILED_STATUSES = ("failed", "diverged")
_JOB_NAME = re.compile(r"^(\d+)(?:_|$)")
_TRACEBACK = "Traceback (most recent call last)"
_LOG_TAIL_CHARS = 200_000
_REASON_CHARS = 300
NOT_IDENTITY = (
    "seed",
    "ckpt_path",
    "trainer.enable_progress_bar",
    "trainer.progress",
    "trainer.progress_every_n_steps",
    "eval.progress",
    "report.auto",
)
NOT_IDENTITY_PREFIXES = ("logger", "hydra.")
ROW_KEY_CHOICES = ("method", "regularizer", "setting", "model", "data")


@dataclass
class SweepJob:
    """One job of a sweep, whatever its outcome.

    Attributes:
        path: the job (run) directory.
        label: short name for tables and warnings: the path relative to the searched dir.
        state: ``completed``, ``failed`` or ``unfinished``.
        reason: why the job is not completed (empty when it is).
        results: the parsed ``results.json`` (empty when missing or unreadable).
        setting: method setting, ``ga+gd`` style; ``unknown`` when nothing names it.
        model: model id, ``?`` when unknown.
        data: dataset id, ``?`` when unknown.
        seed: the run's seed, ``None`` when unknown.
        final_step: the eval step whose metrics are reported, ``None`` when there is no eval.
        final_metrics: metrics at ``final_step`` (numbers only; non-numbers are dropped).
        final_counts: at ``final_step``, ``(k, n)`` per rate that stored ``<rate>_counts``,
            and ``(FocusOnKey only, PROBAB only)`` under ``focus_vs_probab_discordant``;
            empty for runs written before counts were stored.
        curve: every eval step's metrics, keyed by integer global step.
        step_counts: every eval step's ``(k, n)`` per rate, as ``final_counts`` is for the
            final step (the plots pool them over seeds).
        notes: non-fatal problems found while loading (missing keys, odd values).
        identity: the job's identity overrides, sorted (see the module docstring).
        budget: ``max_steps=N max_epochs=M`` it trained under ("" when not recorded).
    """

    path: Path
    label: str
    state: str
    reason: str = ""
    results: dict[str, Any] = field(default_factory=dict)
    setting: str = "unknown"
    model: str = "?"
    data: str = "?"
    seed: int | str | None = None
    final_step: int | None = None
    final_metrics: dict[str, float] = field(default_factory=dict)
    final_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    curve: dict[int, dict[str, float]] = field(default_factory=dict)
    step_counts: dict[int, dict[str, tuple[int, int]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    identity: tuple[str, ...] = ()
    budget: str = ""


def identity_overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """The overrides that make two runs different experiments, sorted (module docstring).

    ``["seed=1", "method=ga", "method.lr=1e-4", "+trainer.max_steps=5", "logger=none"]`` ->
    ``("method.lr=0.0001", "trainer.max_steps=5")`` (values as Hydra reads them, so ``1e-4``
    and ``0.0001`` are one experiment).
    """
    kept = set()
    for key, value in _split_overrides(overrides):
        if key in NOT_IDENTITY or key in ROW_KEY_CHOICES or key.startswith(NOT_IDENTITY_PREFIXES):
            continue
        kept.add(f"{key}={value}")
    return tuple(sorted(kept))


def _split_overrides(overrides: Sequence[str]) -> list[tuple[str, str]]:
    """``(key, value)`` of each recorded override, read by Hydra's own override grammar (so
    ``+``/``~`` prefixes, quoting and ``=`` inside a value mean what they meant on the command
    line); a deletion (``~key``) has no value and an override Hydra cannot parse is skipped."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    pairs = []
    for item in overrides:
        try:
            (override,) = parser.parse_overrides([str(item)])
        except OverrideParseException:
            continue
        if override.is_delete() or override.value() is None:
            continue
        value = override.value()
        text = value if isinstance(value, str) else override.get_value_element_as_str()
        pairs.append((override.key_or_group, text))
    return pairs


def _budget(results: dict[str, Any]) -> str:
    parts = [f"{k}={results[k]}" for k in ("max_steps", "max_epochs") if k in results]
    return " ".join(parts)


def find_run_dirs(paths: Iterable[Path | str], exclude: Iterable[Path | str] = ()) -> list[Path]:
    """Return the job dirs under ``paths`` (see the module docstring for the rules).

    Args:
        paths: run dirs and/or sweep dirs, in the order given.
        exclude: dirs never searched (e.g. the report's output dir).

    Raises:
        NotADirectoryError: a path does not exist or is not a directory.
    """
    excluded = {Path(p).resolve() for p in exclude}
    found: dict[Path, None] = {}
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            raise NotADirectoryError(f"not a directory: {path}")
        for job in _search(path, excluded):
            if job.resolve() not in seen:
                seen.add(job.resolve())
                found.setdefault(job, None)
    return list(found)


def _is_job_dir(path: Path) -> bool:
    return (path / RESULTS_FILE).is_file() or (path / ".hydra").is_dir()


def _natural_key(path: Path) -> list[Any]:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", path.name)]


def _search(root: Path, excluded: set[Path]) -> list[Path]:
    if _is_job_dir(root):
        return [root]
    try:
        children = [c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".")]
    except OSError:
        return []
    is_sweep = (root / "multirun.yaml").is_file()
    jobs: list[Path] = []
    for child in sorted(children, key=_natural_key):
        if child.resolve() in excluded or child.is_symlink():
            continue
        if is_sweep and _JOB_NAME.match(child.name):
            jobs.append(child)
        else:
            jobs.extend(_search(child, excluded))
    return jobs


def collect_runs(paths: Sequence[Path | str], exclude: Iterable[Path | str] = ()) -> list[SweepJob]:
    """Find and load every job under ``paths``; see :func:`find_run_dirs` and :func:`load_run`."""
    records = []
    roots = [Path(p) for p in paths]
    for job in find_run_dirs(roots, exclude):
        records.append(load_run(job, label=_label(job, roots)))
    return records


def _label(job: Path, roots: Sequence[Path]) -> str:
    for root in roots:
        try:
            rel = job.relative_to(root)
        except ValueError:
            continue
        return str(rel) if str(rel) != "." else (job.resolve().name or str(job))
    return str(job)


def load_run(path: Path, label: str | None = None) -> SweepJob:
    """Load one job dir and classify it; never raises on malformed content.

    Classification:

    - ``completed``: ``results.json`` says ``status: completed``;
    - ``failed``: status ``failed``/``diverged``, an unreadable ``results.json``, or no final
      results but a Python traceback in the job's logs (``*.log``/``*.err`` in the job dir, its
      ``.submitit/``, or the sweep's ``.submitit/<array>_<N>/`` for job ``N``);
    - ``unfinished``: no ``results.json`` (and no traceback), status ``running`` or
      ``interrupted`` (checkpointed, resumable), or no/unknown status.
    """
    path = Path(path)
    record = SweepJob(path=path, label=label or path.name, state=UNFINISHED)
    overrides = _read_overrides(path)
    results_file = path / RESULTS_FILE
    if not results_file.is_file():
        _identify(record, {}, overrides)
        crash = _find_crash(path)
        if crash:
            record.state, record.reason = FAILED, f"crashed, no results.json: {crash}"
        elif not (path / ".hydra").is_dir():
            record.reason = "never started: no results.json and no .hydra/"
        else:
            record.reason = "missing results.json"
        return record
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _identify(record, {}, overrides)
        record.state, record.reason = FAILED, _one_line(f"unreadable results.json: {exc}")
        return record
    if not isinstance(results, dict):
        _identify(record, {}, overrides)
        record.state, record.reason = FAILED, "results.json is not a JSON object"
        return record
    record.results = results
    if isinstance(results.get("overrides"), list):
        overrides = [str(o) for o in results["overrides"]]
    _identify(record, results, overrides)
    record.identity, record.budget = identity_overrides(overrides), _budget(results)
    _classify(record, results)
    _read_eval(record, results)
    return record


def _classify(record: SweepJob, results: dict[str, Any]) -> None:
    status, error = results.get("status"), results.get("error")
    suffix = f": {error}" if error else ""
    if status == COMPLETED:
        record.state = COMPLETED
        if error:
            record.notes.append(_one_line(f"status is completed but error is set: {error}"))
        return
    if status in _FAILED_STATUSES:
        record.state = FAILED
        record.reason = _one_line(f"status={status}{suffix or ' (no error message)'}")
        return
    crash = _find_crash(record.path)
    if crash:
        record.state, record.reason = FAILED, _one_line(f"crashed (status={status}): {crash}")
    elif status == "running":
        record.reason = _one_line(f"status=running (still running, or killed){suffix}")
    elif status == "interrupted":
        record.reason = _one_line(
            f"status=interrupted (SIGTERM/pre-emption; the same command resumes it){suffix}"
        )
    elif status is None:
        record.reason = _one_line(f"results.json has no 'status'{suffix}")
    else:
        record.reason = _one_line(f"unknown status {status!r}{suffix}")


def _read_eval(record: SweepJob, results: dict[str, Any]) -> None:
    evals = results.get("eval")
    if not isinstance(evals, dict) or not evals:
        if record.state == COMPLETED:
            record.notes.append("no 'eval' in results.json: no metrics to report")
        return
    for key, metrics in evals.items():
        try:
            step = int(key)
        except (TypeError, ValueError):
            record.notes.append(f"eval key {key!r} is not a step number; ignored")
            continue
        if isinstance(metrics, dict):
            numbers = {k: _number(v) for k, v in metrics.items()}
            record.curve[step] = {k: v for k, v in numbers.items() if v is not None}
            record.step_counts[step] = _counts(metrics)
    if not record.curve:
        return
    last = max(record.curve)
    wanted = results.get("final_eval_step")
    try:
        step = int(wanted) if wanted is not None else None
    except (TypeError, ValueError):
        step = None
    if step is None or step not in record.curve:
        if record.state == COMPLETED:
            what = (
                "no final_eval_step"
                if wanted is None
                else f"final_eval_step {wanted!r} not in eval"
            )
            record.notes.append(f"{what}; using the last eval step {last}")
        step = last
    record.final_step = step
    record.final_metrics = record.curve[step]
    final = evals.get(str(step))
    if isinstance(final, dict):
        record.final_counts = _counts(final)


DISCORDANT = "focus_vs_probab_discordant"


def _counts(metrics: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """``{rate: (k, n)}`` from the ``<rate>_counts`` entries, plus the discordant pairs.

    Malformed entries (not two non-negative integers, ``k > n``) are left out: the rate is
    then shown without an interval rather than with a wrong one.
    """
    found = {}
    for key, value in metrics.items():
        if key.endswith("_counts"):
            name = key.removesuffix("_counts")
        elif key == DISCORDANT:
            name = key
        else:
            continue
        pair = _int_pair(value)
        if pair is not None and (name == DISCORDANT or pair[0] <= pair[1]):
            found[name] = pair
    return found


def _int_pair(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    numbers = [_number(v) for v in value]
    if any(v is None or not math.isfinite(v) or v < 0 or v != int(v) for v in numbers):
        return None
    return int(numbers[0]), int(numbers[1])


def _number(value: Any) -> float | None:
    """A stored JSON number as a float (``true``/``false`` are not numbers); else None."""
    return float(value) if is_number(value) else None


def _identify(record: SweepJob, results: dict[str, Any], overrides: list[str]) -> None:
    ov = _parse_overrides(overrides)
    method = results.get("method") or ov.get("method")
    regularizer = results.get("regularizer") or ov.get("regularizer")
    setting = results.get("setting") or setting_name(method, regularizer)
    record.setting = normalize_setting(str(setting)) if setting else "unknown"
    record.model = str(results.get("model") or ov.get("model") or "?")
    record.data = str(results.get("data") or ov.get("data") or "?")
    seed = results.get("seed", ov.get("seed"))
    if isinstance(seed, str) and seed.lstrip("-").isdigit():
        seed = int(seed)
    record.seed = seed if is_number(seed) or isinstance(seed, str) else None


def _read_overrides(path: Path) -> list[str]:
    file = path / ".hydra" / "overrides.yaml"
    if not file.is_file():
        return []
    try:
        import yaml

        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except Exception:  # a corrupt overrides file must not hide the job
        return []
    return [str(o) for o in data] if isinstance(data, list) else []


def _parse_overrides(overrides: list[str]) -> dict[str, str]:
    """``["+method=ga", "trainer.seed=1"]`` -> ``{"method": "ga", "seed": "1"}`` (last key part)."""
    return {key.split(".")[-1].split("/")[-1]: value for key, value in _split_overrides(overrides)}


def _find_crash(job: Path) -> str | None:
    """Return ``"<exception line> (see <log>)"`` from the first log holding a traceback."""
    logs = sorted(job.glob("*.log")) + sorted(job.glob("*.err"))
    logs += sorted((job / ".submitit").glob("**/*_log.err"))
    match = _JOB_NAME.match(job.name)
    if match and (job.parent / ".submitit").is_dir():
        logs += sorted((job.parent / ".submitit").glob(f"*_{match.group(1)}/*_log.err"))
    for log in logs:
        try:
            with log.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(max(0, log.stat().st_size - _LOG_TAIL_CHARS))
                text = handle.read()
        except OSError:
            continue
        line = exception_line(text)
        if line:
            return _one_line(f"{line} (see {log})")
    return None


def exception_line(text: str) -> str | None:
    """The final exception of the last traceback in ``text`` (``"ValueError: bad"``), or None.

    Traceback frames are indented, so the first non-indented line after the last
    ``Traceback (most recent call last):`` header is the exception itself.
    """
    start = text.rfind(_TRACEBACK)
    if start < 0:
        return None
    for line in text[start:].splitlines()[1:]:
        if line.strip() and not line[0].isspace():
            return line.strip()
    return "Traceback with no exception line"


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"
