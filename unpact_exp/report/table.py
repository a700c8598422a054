"""The sweep table: one row per experiment, metrics from the final eval step.

Rows follow the paper's grid (docs/science.md §6): GA+GD, GA+KL, NPO+GD, NPO+KL, TV, RMU, then the
ablations GA and NPO, then any other setting alphabetically. Runs that are the same experiment
-- same model, data and setting, same overrides except ``seed``, same step budget (see
:mod:`unpact_exp.report.collect`) -- are seeds of one row and are averaged; ``n`` says how
many, and the seed table gives the standard deviation over them (docs/science.md §10). Two
runs of one experiment with the same seed are the same run twice (a copied folder, a sweep
passed twice): an error naming both folders, never a doubled ``n``. Rows of one setting that
differ in overrides or budget are labelled with what differs.

Uncertainty (docs/science.md §10): a rate whose runs stored their counts is shown as
``mean [low, high] (k/n)``: k and n are the counts summed over the row's runs and
``[low, high]`` their 95% Wilson interval. FocusOnKey vs PROBAB is the exact McNemar test on
the discordant pairs summed over the runs, shown as ``p (b/c)``: b questions only FocusOnKey
recovered, c only PROBAB. Runs written before counts were stored show the mean alone.

Number formats (the same in every markdown output of the report):

- rates (forget, FocusOnKey recovery, PROBAB recovery, destructive, utility) are stored as
  fractions in [0, 1] and shown as percentages with one decimal (``0.4567`` -> ``45.7``);
- knowmem forget/retain are stored as MUSE scores, mean ROUGE-L F1 x 100 (docs/science.md §4), and
  shown as stored with one decimal, so they read on the same 0-100 scale as the rates;
- keytoken similarity is a cosine in [0, 1] (docs/science.md §3), shown with three decimals, also
  split into the known questions M1 forgot and those it still answers (docs/science.md §3);
- ``report.csv`` holds the unrounded, unscaled stored values (metric keys as column names).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unpact_exp.attacks import registry as attacks
from unpact_exp.errors import DataError
from unpact_exp.evaluation.columns import CORE_COLUMNS, Column
from unpact_exp.evaluation.statistics import mcnemar_exact_p, wilson_interval
from unpact_exp.metrics import registry as metrics
from unpact_exp.report.collect import COMPLETED, DISCORDANT, SweepJob
from unpact_exp.results import atomic_path

PAPER_ORDER = ("ga+gd", "ga+kl", "npo+gd", "npo+kl", "tv", "rmu")
ABLATIONS = ("ga", "npo")


def declared_columns() -> dict[str, Column]:
    """Every quantity the evaluation, the registered attacks and metrics declare, by key."""
    columns = {c.key: c for c in CORE_COLUMNS}
    for name in attacks.names():
        cls = attacks.get(name)
        columns[cls.rate] = Column(cls.rate, cls.header, "rate")
    for name in metrics.names():
        columns |= {c.key: c for c in metrics.get(name).columns}
    return columns


MAIN_TABLE = (
    "forget_rate",
    "recovery_rate",
    "probab_recovery_rate",
    "destructive_rate",
    "keytoken_similarity",
    "knowmem_forget",
    "knowmem_retain",
    "utility",
    "keytoken_similarity_forgotten",
    "keytoken_similarity_retained",
)
"""Which declared quantities the main table shows, in order (a presentation choice; the
headers and kinds are the declarations'). ``n forgotten`` follows the first eight."""
COLUMNS = tuple(declared_columns()[key] for key in MAIN_TABLE)
EXTRA_KEYS = tuple(c.key for c in CORE_COLUMNS if c.key not in MAIN_TABLE)
"""Averaged and written to the CSVs, not shown in the markdown table (plotted instead)."""
_RANGES = {"rate": (0.0, 1.0), "similarity": (0.0, 1.0), "score": (0.0, 100.0)}
MCNEMAR_HEADER = "FocusOnKey vs PROBAB: McNemar p (b/c)"


def attack_columns() -> tuple[Column, ...]:
    """Every registered attack's rate column, in registration order (read at call time, so an
    attack registered by a plugin is reported too)."""
    return tuple(
        Column(attacks.get(n).rate, attacks.get(n).header, "rate") for n in attacks.names()
    )


def attack_keys() -> tuple[str, ...]:
    """The attack rates not already in the main table."""
    return tuple(c.key for c in attack_columns() if c.key not in MAIN_TABLE)


def metric_table_specs() -> dict[str, tuple[tuple[Column, ...], str]]:
    """Report table title -> (its columns, its paragraph), from the metrics' declarations."""
    specs: dict[str, tuple[tuple[Column, ...], str]] = {}
    for name in metrics.names():
        cls = metrics.get(name)
        if cls.table is not None:
            columns, text = specs.get(cls.table, ((), ""))
            specs[cls.table] = (
                columns + cls.columns,
                " ".join(p for p in (text, cls.description) if p),
            )
    return specs


def mean_keys() -> tuple[str, ...]:
    """Every key averaged over a row's runs and written to the CSVs."""
    metric_keys = tuple(c.key for cols, _ in metric_table_specs().values() for c in cols)
    return MAIN_TABLE + EXTRA_KEYS + attack_keys() + metric_keys


def rate_keys() -> tuple[str, ...]:
    """The averaged keys that are rates (they carry counts and intervals)."""
    declared = declared_columns()
    return tuple(k for k in mean_keys() if k in declared and declared[k].kind == "rate")


def csv_fields() -> tuple[str, ...]:
    """The columns of ``report.csv``."""
    keys = mean_keys()
    fields = ("model", "data", "setting", "n", "seeds", "final_eval_step")
    fields += keys + tuple(f"{key}_std" for key in keys)
    fields += tuple(f"{k}_{part}" for k in rate_keys() for part in ("k", "n", "ci_low", "ci_high"))
    return fields + (
        "focus_only",
        "probab_only",
        "focus_vs_probab_mcnemar_p",
        "overrides",
        "budget",
    )


MISSING = "—"
PARTIAL = "†"


@dataclass
class Row:
    """One table row: the completed runs of one (model, data, setting), averaged.

    Attributes:
        model, data, setting: the group key, with ``identity`` and ``budget``.
        runs: the completed runs averaged in this row.
        means: metric key -> mean over the runs that report it (absent when none does).
        counts: metric key -> how many runs report it (``< n`` is flagged in the table).
        stds: metric key -> sample standard deviation over those runs (when two or more).
        pooled: rate key -> ``(k, n)`` summed over the runs, when every run reporting the
            rate stored its counts; also ``(b, c)`` under ``focus_vs_probab_discordant``.
    """

    model: str
    data: str
    setting: str
    runs: list[SweepJob]
    means: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)
    pooled: dict[str, tuple[int, int]] = field(default_factory=dict)
    identity: tuple[str, ...] = ()
    budget: str = ""

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

    def value(self, key: str) -> float | None:
        """The row's value of ``key``: a rate with pooled counts is ``k/n`` (the centre of its
        interval); anything else, and a rate some run stored without counts, the mean."""
        k_n = self.pooled.get(key)
        if k_n is not None and k_n[1] > 0:
            return k_n[0] / k_n[1]
        return self.means.get(key)

    def interval(self, key: str) -> tuple[float, float] | None:
        """The 95% Wilson interval of the pooled counts of rate ``key`` (None without them)."""
        if key not in self.pooled:
            return None
        return wilson_interval(*self.pooled[key])

    @property
    def mcnemar_p(self) -> float | None:
        """Exact McNemar p of FocusOnKey vs PROBAB on the pooled discordant pairs, or None."""
        pair = self.pooled.get(DISCORDANT)
        return None if pair is None else mcnemar_exact_p(*pair)


def setting_order(setting: str) -> tuple[int, str]:
    """Sort key: the paper's grid, then the ablations, then anything else by name."""
    order = PAPER_ORDER + ABLATIONS
    return (order.index(setting), "") if setting in order else (len(order), setting)


def build_rows(records: Sequence[SweepJob]) -> list[Row]:
    """Group the completed runs by experiment (module docstring) and average each metric.

    Raises:
        DataError: two runs of one experiment have the same seed (naming both folders).
    """
    groups: dict[tuple[str, str, str, tuple[str, ...], str], list[SweepJob]] = {}
    for record in records:
        if record.state == COMPLETED:
            key = (record.model, record.data, record.setting, record.identity, record.budget)
            groups.setdefault(key, []).append(record)
    rows = []
    for (model, data, setting, identity, budget), runs in groups.items():
        check_distinct_seeds(runs)
        row = Row(model, data, setting, runs, identity=identity, budget=budget)
        for key in mean_keys():
            values = [r.final_metrics[key] for r in runs if key in r.final_metrics]
            if values:
                row.means[key] = math.fsum(values) / len(values)
                row.counts[key] = len(values)
            if len(values) > 1:
                row.stds[key] = sample_std(values)
        for key in rate_keys():
            reporting = [r for r in runs if key in r.final_metrics]
            if reporting and all(key in r.final_counts for r in reporting):
                row.pooled[key] = _sum_pairs([r.final_counts[key] for r in reporting])
        if all(DISCORDANT in r.final_counts for r in runs):
            row.pooled[DISCORDANT] = _sum_pairs([r.final_counts[DISCORDANT] for r in runs])
        rows.append(row)
    return sorted(rows, key=lambda r: (setting_order(r.setting), r.model, r.data))


def check_distinct_seeds(runs: Sequence[SweepJob]) -> None:
    """Refuse two runs of one experiment with the same (known) seed, naming their folders.

    Raises:
        DataError: the first such pair.
    """
    first: dict[str, SweepJob] = {}
    for run in runs:
        if run.seed is None:
            continue
        other = first.setdefault(str(run.seed), run)
        if other is not run:
            raise DataError(
                f"{other.path} and {run.path} are the same experiment ({run.setting} on "
                f"{run.model}/{run.data}, overrides {list(run.identity)}) with the same seed "
                f"{run.seed}: the same run twice (a copied folder, or a sweep given twice), "
                "which the table would count as two seeds. Give each run once, or rerun one "
                "with another seed."
            )


def sample_std(values: Sequence[float]) -> float:
    """Standard deviation with the n - 1 denominator (the seeds are a sample of seeds)."""
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _sum_pairs(pairs: Sequence[tuple[int, int]]) -> tuple[int, int]:
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def row_label(row: Row, rows: Sequence[Row]) -> str:
    """The setting, plus ``[model/data]`` when the table mixes several models or datasets, plus
    ``(what differs)`` when other rows share its setting, model and data."""
    label = row.setting
    if len({(r.model, r.data) for r in rows}) > 1:
        label = f"{row.setting} [{row.model}/{row.data}]"
    twins = [r for r in rows if (r.model, r.data, r.setting) == (row.model, row.data, row.setting)]
    if len(twins) > 1:
        common = set.intersection(*(set(_variant_parts(r)) for r in twins))
        own = [part for part in _variant_parts(row) if part not in common]
        label += f" ({', '.join(own) or 'defaults'})"
    return label


def _variant_parts(row: Row) -> list[str]:
    return [*row.identity, *row.budget.split()]


def format_value(value: float | None, kind: str) -> str:
    """Format one stored value for markdown according to its column ``kind``."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    if kind == "rate":
        return f"{100 * value:.1f}"
    if kind in ("similarity", "auc", "unit"):
        return f"{value:.3f}"
    if kind == "pvalue":
        return f"{value:.3g}"
    if kind == "difference":
        return f"{100 * value:+.1f}"
    return f"{value:.1f}"


def format_interval(row: Row, key: str) -> str:
    """`` [low, high] (k/n)`` in percent for a rate with pooled counts, else ``""``."""
    interval = row.interval(key)
    if key not in row.pooled:
        return ""
    k, n = row.pooled[key]
    if interval is None:
        return f" ({k}/{n})"
    return f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}] ({k}/{n})"


def format_p(p: float) -> str:
    """A p-value with three decimals, ``<0.001`` below that."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def mcnemar_cell(row: Row) -> str:
    """``p (b/c)`` of the pooled discordant pairs, or ``MISSING`` for runs without them."""
    p = row.mcnemar_p
    if p is None:
        return MISSING
    b, c = row.pooled[DISCORDANT]
    return f"{format_p(p)} ({b}/{c})"


def markdown_table(rows: Sequence[Row]) -> str:
    """The results table as GitHub markdown (``PARTIAL`` marks a mean over fewer than n runs)."""
    header = ["setting", "model", "data", "n", "step"] + [c.header for c in COLUMNS[:8]]
    header += ["n forgotten"] + [c.header for c in COLUMNS[8:]] + [MCNEMAR_HEADER]
    lines = [_md_line(header), _md_line(["---"] * 5 + ["---:"] * (len(COLUMNS) + 2))]
    for row in rows:
        cells = [row_label(row, rows), row.model, row.data, str(row.n), row.steps]
        metric_cells = [metric_cell(row, col) for col in COLUMNS]
        n_forgotten = row.means.get("n_forgotten")
        cells += metric_cells[:8] + [MISSING if n_forgotten is None else f"{n_forgotten:g}"]
        cells += metric_cells[8:] + [mcnemar_cell(row)]
        lines.append(_md_line(cells))
    return "\n".join(lines)


def metric_cell(row: Row, col: Column) -> str:
    """One table cell: the mean, ``PARTIAL`` when fewer runs than the row's reported it, and
    for a rate with pooled counts its interval and ``(k/n)``.

    A rate with pooled counts shows the pooled ``k/n`` as its value, not the mean of the
    per-run rates: with seeds of different denominators that mean can fall outside the
    interval printed beside it (the seed means are in :func:`seed_table`).
    """
    cell = format_value(row.value(col.key), col.kind)
    if col.key in row.counts and row.counts[col.key] < row.n:
        cell += PARTIAL
    return cell + format_interval(row, col.key)


def _side_table(
    rows: Sequence[Row], columns: Sequence[Column], only_stored: bool = True
) -> str | None:
    """A per-setting table of the ``columns`` (with ``only_stored``, those some run stored), or
    None when no run stored any of them."""
    if not any(c.key in row.means for row in rows for c in columns):
        return None
    present = (
        [c for c in columns if any(c.key in row.means for row in rows)] if only_stored else columns
    )
    header = ["setting"] + [c.header for c in present]
    lines = [_md_line(header), _md_line(["---"] + ["---:"] * len(present))]
    for row in rows:
        lines.append(_md_line([row_label(row, rows)] + [metric_cell(row, c) for c in present]))
    return "\n".join(lines)


def attack_table(rows: Sequence[Row]) -> str | None:
    """FocusOnKey, PROBAB and the other recovery attacks side by side, or None when no run
    stored an attack. Each cell is ``mean [low, high] (k/n)`` like the main table."""
    if not any(key in row.means for row in rows for key in attack_keys()):
        return None
    return _side_table(rows, attack_columns(), only_stored=False)  # a missing attack shows as such


def metric_tables(rows: Sequence[Row]) -> list[tuple[str, str, str]]:
    """``(title, table, paragraph)`` per metric table some run stored a value of; only the
    columns some run stored are shown (a task lm-eval did not measure has none)."""
    found = []
    for title, (columns, text) in metric_table_specs().items():
        table = _side_table(rows, columns)
        if table is not None:
            found.append((title, table, text))
    return found


def seed_table(rows: Sequence[Row]) -> str:
    """Mean ± sample std over the seeds of every row with two or more runs, per column.

    ``(n=k)`` follows a cell averaged over fewer runs than the row has (a metric some runs
    lack), as ``PARTIAL`` does in the main table.
    """
    spread = [r for r in rows if r.n > 1]
    if not spread:
        return "Every setting has a single completed run: no spread over seeds to show."
    header = ["setting", "n", "seeds"] + [c.header for c in COLUMNS]
    lines = [_md_line(header), _md_line(["---"] * 3 + ["---:"] * len(COLUMNS))]
    for row in spread:
        cells = [row_label(row, rows), str(row.n), ", ".join(row.seeds)]
        for col in COLUMNS:
            mean = format_value(row.means.get(col.key), col.kind)
            std = row.stds.get(col.key)
            scale = 100 if col.kind == "rate" else 1
            digits = 3 if col.kind == "similarity" else 1
            cell = mean if std is None else f"{mean} ± {scale * std:.{digits}f}"
            count = row.counts.get(col.key, row.n)
            cells.append(f"{cell} (n={count})" if count < row.n else cell)
        lines.append(_md_line(cells))
    return "\n".join(lines)


def _md_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_md_escape(c) for c in cells) + " |"


def _md_escape(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def table_notes(rows: Sequence[Row]) -> list[str]:
    """Warnings about the table's numbers: partial means, values outside their column's range."""
    # A column no run reports (e.g. the split similarities in runs older than them): one note.
    absent = [c.key for c in COLUMNS if not any(c.key in r.counts for r in rows)]
    notes = [f"{key}: missing from every run (not stored by these runs)" for key in absent]
    for row in rows:
        label = row_label(row, rows)
        for col in COLUMNS:
            count = row.counts.get(col.key, 0)
            if 0 < count < row.n:
                notes.append(f"{label}: {col.key} is the mean of {count} of {row.n} runs")
            elif count == 0 and col.key not in absent:
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
            "ROUGE-L x 100 (docs/science.md §4), read those columns on a 0-1 scale"
        )
    return notes


def _csv_values(row: Row) -> dict[str, object]:
    """The statistics of one row by CSV column (absent ones become empty cells)."""
    values: dict[str, object] = dict(row.means)
    values |= {f"{key}_std": std for key, std in row.stds.items()}
    for key in rate_keys():
        if key in row.pooled:
            values[f"{key}_k"], values[f"{key}_n"] = row.pooled[key]
            interval = row.interval(key)
            if interval is not None:
                values[f"{key}_ci_low"], values[f"{key}_ci_high"] = interval
    if DISCORDANT in row.pooled:
        values["focus_only"], values["probab_only"] = row.pooled[DISCORDANT]
        values["focus_vs_probab_mcnemar_p"] = row.mcnemar_p
    values["overrides"], values["budget"] = " ".join(row.identity), row.budget
    return values


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """Write the table with unrounded stored values; missing metrics are empty cells."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        fields = csv_fields()
        writer.writerow(fields)
        for row in rows:
            stats = _csv_values(row)
            values = [stats.get(key, "") for key in fields[6:]]
            meta = [row.model, row.data, row.setting, row.n, ";".join(row.seeds), row.steps]
            writer.writerow([repr(v) if isinstance(v, float) else v for v in meta + values])


RUN_META = ("job", "state", "reason", "model", "data", "setting", "seed", "final_eval_step")


def write_runs_csv(records: Sequence[SweepJob], path: Path) -> None:
    """Write one line per job (any state), so per-seed values survive the averaging."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        keys = mean_keys() + ("focus_vs_probab_mcnemar_p",)
        writer.writerow(RUN_META + keys + ("path",))
        for r in records:
            meta = [r.label, r.state, r.reason, r.model, r.data, r.setting, r.seed, r.final_step]
            values = [r.final_metrics.get(key, "") for key in keys]
            cells = meta + values + [str(r.path)]
            writer.writerow(
                ["" if v is None else repr(v) if isinstance(v, float) else v for v in cells]
            )
