"""``report.py --wandb``: the report's tables and plots, uploaded to W&B beside the sweep's runs.

One run with ``job_type=report`` in the sweep's group (the group its jobs recorded in
``results.json`` under ``wandb``, or ``--group``): every table of ``report.md`` as a
``wandb.Table`` under ``report/<section>`` (cells as the report prints them, e.g.
``45.0 [30.1, 60.2] (12/26)``), ``report.csv`` under ``report/csv`` (its unrounded numbers, with
the counts and intervals), and each plot as an image under ``report/plots/<name>``.

The mode is ``online`` unless the environment restricts it (``WANDB_MODE=offline`` or
``disabled``, :func:`unpact_exp.wandb_mode.effective_mode`) or ``--wandb-mode offline`` asks;
without a reachable server the upload is written offline at once, with one warning, under
``<report dir>/wandb/`` (``wandb sync`` uploads it later). The project, entity and probe timeout
default to those the runs recorded, else to the packaged ``conf/logger/wandb.yaml``.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unpact_exp.errors import DataError
from unpact_exp.report.collect import SweepJob
from unpact_exp.wandb_mode import effective_mode, reachable

LOGGER_DEFAULTS = Path(__file__).resolve().parents[1] / "conf" / "logger" / "wandb.yaml"
_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class Destination:
    """Where the report goes: a W&B project (and entity) and the sweep's group."""

    project: str
    entity: str | None
    group: str


@dataclass(frozen=True)
class MarkdownTable:
    """One table of ``report.md``: its section title, header and rows (cells as text)."""

    title: str
    columns: list[str]
    rows: list[list[str]]


def logger_defaults() -> dict[str, Any]:
    """The packaged ``conf/logger/wandb.yaml`` (project, entity, init_timeout)."""
    from omegaconf import OmegaConf

    return dict(OmegaConf.to_container(OmegaConf.load(LOGGER_DEFAULTS)))  # type: ignore[arg-type]


def destination(
    records: Sequence[SweepJob],
    project: str | None = None,
    entity: str | None = None,
    group: str | None = None,
) -> Destination:
    """The project, entity and group of the report: those given, else those the jobs recorded.

    Raises:
        DataError: no group given and the jobs recorded none, or several (they are named).
    """
    recorded = [r.results.get("wandb") for r in records]
    recorded = [w for w in recorded if isinstance(w, dict)]
    if group is None:
        groups = sorted({str(w["group"]) for w in recorded if w.get("group")})
        if len(groups) != 1:
            found = (
                f"the runs are in {len(groups)} W&B groups ({', '.join(groups)})"
                if groups
                else "no run recorded a W&B group (run with logger=wandb in a sweep, or set "
                "logger.group)"
            )
            raise DataError(f"{found}; pass --group GROUP to name the report's group.")
        group = groups[0]
    defaults = logger_defaults()
    project = project or _most_common(w.get("project") for w in recorded) or defaults["project"]
    entity = entity or _most_common(w.get("entity") for w in recorded) or defaults["entity"]
    return Destination(str(project), entity, group)


def _most_common(values: Any) -> Any:
    counts = Counter(v for v in values if v)
    return counts.most_common(1)[0][0] if counts else None


def markdown_tables(text: str) -> list[MarkdownTable]:
    """Every pipe table of a markdown text, with the ``## `` title above it."""
    tables: list[MarkdownTable] = []
    title, block = "", []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            rows = [_cells(row) for row in block[2:]]
            tables.append(MarkdownTable(title, _cells(block[0]), rows))
        block = []
        if line.startswith("## "):
            title = line[3:].strip()
    return tables


def _cells(line: str) -> list[str]:
    parts = _UNESCAPED_BAR.split(line.strip())[1:-1]
    return [p.strip().replace("\\|", "|") for p in parts]


def table_key(title: str, taken: set[str]) -> str:
    """``report/<section>``: ``Results (final eval step)`` -> ``report/results``; a second
    table under the same title gets ``_2``."""
    base = re.sub(r"\s*\(.*?\)", "", title).strip().lower()
    base = re.sub(r"[^a-z0-9]+", "_", base).strip("_") or "table"
    key, n = f"report/{base}", 1
    while key in taken:
        n += 1
        key = f"report/{base}_{n}"
    taken.add(key)
    return key


def _csv_table(path: Path) -> tuple[list[str], list[list[Any]]]:
    """``report.csv`` as columns and rows, numbers as numbers and empty cells as None."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return [], []
    return rows[0], [[_value(cell) for cell in row] for row in rows[1:]]


def _value(cell: str) -> Any:
    if cell == "":
        return None
    try:
        return float(cell)
    except ValueError:
        return cell


def upload_report(
    records: Sequence[SweepJob],
    files: Sequence[Path],
    where: Destination,
    mode: str = "online",
) -> Path:
    """Log the report (``files``: ``report.md`` first, then the CSVs and the plots) to a new
    ``job_type=report`` run in ``where.group``; returns the run's local folder."""
    import wandb

    out = Path(files[0]).parent
    timeout = float(logger_defaults()["init_timeout"])
    mode = effective_mode(mode)
    settings = wandb.Settings(init_timeout=timeout, silent=True)
    if mode == "online" and not reachable(settings.base_url, timeout):
        warnings.warn(
            f"W&B upload: {settings.base_url} is not reachable within {timeout:g} s; the report "
            f"run is written offline to {out}/wandb instead (upload it later with `wandb sync`).",
            UserWarning,
            stacklevel=2,
        )
        mode = "offline"
    done = [r for r in records if r.state == "completed"]
    config = {
        "stage": "report",
        "setting": sorted({r.setting for r in done}),
        "model": sorted({r.model for r in done}),
        "data": sorted({r.data for r in done}),
        "jobs": len(records),
        "completed": len(done),
    }
    tags = ["report", *config["model"], *config["data"]]
    run = wandb.init(
        project=where.project,
        entity=where.entity,
        group=where.group,
        job_type="report",
        name=f"report {where.group}",
        tags=list(dict.fromkeys(t[:64] for t in tags)),
        config=config,
        dir=str(out),
        mode=mode,  # type: ignore[arg-type]
        settings=settings,
    )
    try:
        logged: dict[str, Any] = {}
        taken: set[str] = set()
        for table in markdown_tables(Path(files[0]).read_text(encoding="utf-8")):
            logged[table_key(table.title, taken)] = wandb.Table(
                columns=table.columns, data=table.rows, allow_mixed_types=True
            )
        for path in files[1:]:
            if path.name == "report.csv":
                columns, rows = _csv_table(path)
                logged["report/csv"] = wandb.Table(
                    columns=columns, data=rows, allow_mixed_types=True
                )
            elif path.suffix == ".png":
                logged[f"report/plots/{path.stem}"] = wandb.Image(str(path), caption=path.stem)
        run.log(logged)
        return Path(run.dir).parent
    finally:
        run.finish()
