"""The sweep table: one row per (model, data, setting), metrics from the final eval step.

Rows follow the paper's grid (SPEC section 6): GA+GD, GA+KL, NPO+GD, NPO+KL, TV, RMU, then the
ablations GA and NPO, then any other setting alphabetically. Runs that share a (model, data,
setting) -- typically different seeds -- are averaged; ``n`` says how many.

Number formats (the same in every markdown output of the report):

- rates (forget, FocusOnKey recovery, PROBAB recovery, destructive, utility) are stored as
  fractions in [0, 1] and shown as percentages with one decimal (``0.4567`` -> ``45.7``);
- knowmem forget/retain are stored as MUSE scores, mean ROUGE-L F1 x 100 (SPEC section 4), and
  shown as stored with one decimal, so they read on the same 0-100 scale as the rates;
- keytoken similarity is a cosine in [0, 1] (SPEC section 3), shown with three decimals;
- ``report.csv`` holds the unrounded, unscaled stored values (metric keys as column names).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unpact_exp.report.collect import COMPLETED, RunRecord

PAPER_ORDER = ("ga+gd", "ga+kl", "npo+gd", "npo+kl", "tv", "rmu")
ABLATIONS = ("ga", "npo")


@dataclass(frozen=True)
class Column:
    """A metric column.

    Attributes:
        key: the metric key in ``results.json`` (and the CSV column name).
        header: the markdown header, with its unit.
        kind: ``rate`` (fraction, shown x100), ``score`` (0-100, shown as is) or ``similarity``
            (0-1, shown as is with three decimals).
    """

    key: str
    header: str
    kind: str


COLUMNS = (
    Column("forget_rate", "forget rate (%)", "rate"),
    Column("recovery_rate", "FocusOnKey recovery (%)", "rate"),
    Column("probab_recovery_rate", "PROBAB recovery (%)", "rate"),
    Column("destructive_rate", "destructive rate (%)", "rate"),
    Column("keytoken_similarity", "keytoken similarity (0-1)", "similarity"),
    Column("knowmem_forget", "knowmem forget (0-100)", "score"),
    Column("knowmem_retain", "knowmem retain (0-100)", "score"),
    Column("utility", "utility (%)", "rate"),
)
_RANGES = {"rate": (0.0, 1.0), "similarity": (0.0, 1.0), "score": (0.0, 100.0)}
CSV_FIELDS = ("model", "data", "setting", "n", "seeds", "final_eval_step")
CSV_FIELDS += tuple(c.key for c in COLUMNS) + ("n_forgotten",)
MISSING = "—"
PARTIAL = "†"


@dataclass
class Row:
    """One table row: the completed runs of one (model, data, setting), averaged.

    Attributes:
        model, data, setting: the group key.
        runs: the completed runs averaged in this row.
        means: metric key -> mean over the runs that report it (absent when none does).
        counts: metric key -> how many runs report it (``< n`` is flagged in the table).
    """

    model: str
    data: str
    setting: str
    runs: list[RunRecord]
    means: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of completed runs averaged."""
        return len(self.runs)

    @property
    def seeds(self) -> list[str]:
        """The runs' seeds as strings (``?`` when unknown)."""
        return ["?" if r.seed is None else str(r.seed) for r in self.runs]

    @property
    def steps(self) -> str:
        """The final eval step(s) of the runs: ``10``, or ``5/10`` when they differ."""
        steps = sorted({r.final_step for r in self.runs if r.final_step is not None})
        return "/".join(str(s) for s in steps) or MISSING


def setting_order(setting: str) -> tuple[int, str]:
    """Sort key: the paper's grid, then the ablations, then anything else by name."""
    order = PAPER_ORDER + ABLATIONS
    return (order.index(setting), "") if setting in order else (len(order), setting)


def build_rows(records: Sequence[RunRecord]) -> list[Row]:
    """Group the completed runs by (model, data, setting) and average each metric."""
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for record in records:
        if record.state == COMPLETED:
            groups.setdefault((record.model, record.data, record.setting), []).append(record)
    rows = []
    for (model, data, setting), runs in groups.items():
        row = Row(model, data, setting, runs)
        for key in [c.key for c in COLUMNS] + ["n_forgotten"]:
            values = [r.final_metrics[key] for r in runs if key in r.final_metrics]
            if values:
                row.means[key] = math.fsum(values) / len(values)
                row.counts[key] = len(values)
        rows.append(row)
    return sorted(rows, key=lambda r: (setting_order(r.setting), r.model, r.data))


def row_label(row: Row, rows: Sequence[Row]) -> str:
    """The setting, plus ``[model/data]`` when the table mixes several models or datasets."""
    if len({(r.model, r.data) for r in rows}) > 1:
        return f"{row.setting} [{row.model}/{row.data}]"
    return row.setting


def format_value(value: float | None, kind: str) -> str:
    """Format one stored value for markdown according to its column ``kind``."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    if kind == "rate":
        return f"{100 * value:.1f}"
    if kind == "similarity":
        return f"{value:.3f}"
    return f"{value:.1f}"


def markdown_table(rows: Sequence[Row]) -> str:
    """The results table as GitHub markdown (``PARTIAL`` marks a mean over fewer than n runs)."""
    header = (
        ["setting", "model", "data", "n", "step"] + [c.header for c in COLUMNS] + ["n forgotten"]
    )
    lines = [_md_line(header), _md_line(["---"] * 5 + ["---:"] * (len(COLUMNS) + 1))]
    for row in rows:
        cells = [row_label(row, rows), row.model, row.data, str(row.n), row.steps]
        for col in COLUMNS:
            cell = format_value(row.means.get(col.key), col.kind)
            partial = col.key in row.counts and row.counts[col.key] < row.n
            cells.append(cell + PARTIAL if partial else cell)
        n_forgotten = row.means.get("n_forgotten")
        cells.append(MISSING if n_forgotten is None else f"{n_forgotten:g}")
        lines.append(_md_line(cells))
    return "\n".join(lines)


def _md_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_md_escape(c) for c in cells) + " |"


def _md_escape(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def table_notes(rows: Sequence[Row]) -> list[str]:
    """Warnings about the table's numbers: partial means, values outside their column's range."""
    notes = []
    for row in rows:
        label = row_label(row, rows)
        for col in COLUMNS:
            count = row.counts.get(col.key, 0)
            if 0 < count < row.n:
                notes.append(f"{label}: {col.key} is the mean of {count} of {row.n} runs")
            elif count == 0:
                notes.append(f"{label}: {col.key} missing from every run")
            low, high = _RANGES[col.kind]
            for run in row.runs:
                value = run.final_metrics.get(col.key)
                if value is not None and not low <= value <= high:
                    notes.append(
                        f"{run.label}: {col.key}={value!r} is outside [{low:g}, {high:g}]; "
                        "check the scale it was stored in"
                    )
    scores = [
        r.means[c.key] for r in rows for c in COLUMNS if c.kind == "score" and c.key in r.means
    ]
    if scores and max(scores) <= 1.0 and max(scores) > 0:
        notes.append(
            "every knowmem value is <= 1: if they were stored as fractions rather than "
            "ROUGE-L x 100 (SPEC section 4), read those columns on a 0-1 scale"
        )
    return notes


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """Write the table with unrounded stored values; missing metrics are empty cells."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for row in rows:
            values = [row.means.get(key, "") for key in CSV_FIELDS[6:]]
            meta = [row.model, row.data, row.setting, row.n, ";".join(row.seeds), row.steps]
            writer.writerow([repr(v) if isinstance(v, float) else v for v in meta + values])


RUN_FIELDS = ("job", "state", "reason", "model", "data", "setting", "seed", "final_eval_step")
RUN_FIELDS += tuple(c.key for c in COLUMNS) + ("n_forgotten", "path")


def write_runs_csv(records: Sequence[RunRecord], path: Path) -> None:
    """Write one line per job (any state), so per-seed values survive the averaging."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RUN_FIELDS)
        for r in records:
            meta = [r.label, r.state, r.reason, r.model, r.data, r.setting, r.seed, r.final_step]
            values = [r.final_metrics.get(key, "") for key in RUN_FIELDS[8:-1]]
            cells = meta + values + [str(r.path)]
            writer.writerow(
                ["" if v is None else repr(v) if isinstance(v, float) else v for v in cells]
            )
