"""``python report.py DIR [DIR ...] [--out OUTDIR] [--wandb]``: tabulate and plot sweeps.

``--wandb`` also uploads the report's tables and plots to a ``job_type=report`` W&B run in the
sweep's group (:mod:`unpact_exp.report.wandb_upload`; ``--group``, ``--project``, ``--entity``
and ``--wandb-mode`` override what the runs recorded).

Writes ``report.md``, ``index.html`` (the same tables, the plots and a browser of every run's
questions; :mod:`unpact_exp.report.html`), ``report.csv``, ``runs.csv`` and the PNGs.

Exit codes: 0 when a report was written, even if some jobs failed (they are listed in
``report.md`` and named in a one-line warning on stderr); 2 for a bad command line, a path that
is not a directory, no run directory found at all, two runs of one experiment with the
same seed (the folders are named; see :mod:`unpact_exp.report.table`), or ``--wandb`` without a
group to upload to (nothing is written then).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unpact_exp.errors import DataError
from unpact_exp.report.collect import SweepJob, collect_runs
from unpact_exp.report.html import INDEX_HTML, render_html
from unpact_exp.report.markdown import not_completed, render_markdown
from unpact_exp.report.plots import write_plots
from unpact_exp.report.table import Row, build_rows, markdown_table, write_csv, write_runs_csv
from unpact_exp.results import atomic_write_text

EXIT_USAGE = 2
_WARN_NAMES = 8


@dataclass
class Report:
    """What :func:`write_report` produced.

    Attributes:
        records: every job found, any state.
        rows: the table rows (completed runs, grouped and averaged).
        files: the files written, ``report.md`` first.
    """

    records: list[SweepJob]
    rows: list[Row]
    files: list[Path]


def write_report(paths: Sequence[Path | str], out_dir: Path | str | None = None) -> Report:
    """Collect the jobs under ``paths`` and write ``report.md``, ``index.html``, the CSVs and
    the plots.

    Args:
        paths: sweep dirs and/or run dirs.
        out_dir: output dir; default ``<first path>/report``. Created if needed, never searched.

    Raises:
        NotADirectoryError: a path is not a directory.
        FileNotFoundError: no run directory was found under ``paths``.
        DataError: two runs are the same experiment with the same seed (nothing is written).
    """
    sources = [Path(p) for p in paths]
    out = Path(out_dir) if out_dir is not None else sources[0] / "report"
    records = collect_runs(sources, exclude=[out])
    if not records:
        raise FileNotFoundError(
            "no run directories found under "
            + ", ".join(str(s) for s in sources)
            + " (a run directory holds results.json or .hydra/; a sweep dir holds run dirs)"
        )
    rows = build_rows(records)  # before anything is written: a refused pooling writes nothing
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "report.csv")
    write_runs_csv(records, out / "runs.csv")
    plots = write_plots(rows, out)
    md = out / "report.md"
    atomic_write_text(md, render_markdown(records, rows, sources, plots))
    page = out / INDEX_HTML
    atomic_write_text(page, render_html(records, rows, sources, plots, out))
    return Report(records, rows, [md, page, out / "report.csv", out / "runs.csv", *plots])


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="report.py",
        description=(
            "Tabulate and plot unlearning runs: report.md, index.html, report.csv, runs.csv, PNGs."
        ),
    )
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="sweep or run dirs")
    parser.add_argument("--out", type=Path, default=None, help="output dir (default DIR/report)")
    upload = parser.add_argument_group("W&B upload")
    upload.add_argument(
        "--wandb",
        action="store_true",
        help="also log the tables and plots to a job_type=report W&B run in the sweep's group",
    )
    upload.add_argument("--group", default=None, help="W&B group (default: the runs' group)")
    upload.add_argument("--project", default=None, help="W&B project (default: the runs')")
    upload.add_argument("--entity", default=None, help="W&B entity (default: the runs')")
    upload.add_argument(
        "--wandb-mode",
        choices=("online", "offline"),
        default="online",
        help="online (default; offline when WANDB_MODE says so or the server is unreachable)",
    )
    args = parser.parse_args(argv)
    try:
        where = _destination(args) if args.wandb else None
        report = write_report(args.dirs, args.out)
    except (NotADirectoryError, FileNotFoundError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(markdown_table(report.rows) if report.rows else "No completed runs to tabulate.")
    print()
    print(f"wrote {len(report.files)} files to {report.files[0].parent}:")
    for file in report.files:
        print(f"  {file}")
    if where is not None:
        from unpact_exp.report.wandb_upload import upload_report

        folder = upload_report(report.records, report.files, where, args.wandb_mode)
        print(f"logged to W&B group {where.group!r} (project {where.project}): {folder}")
    bad = not_completed(report.records)
    if bad:
        names = ", ".join(f"{r.label} ({r.state})" for r in bad[:_WARN_NAMES])
        more = f" and {len(bad) - _WARN_NAMES} more" if len(bad) > _WARN_NAMES else ""
        print(
            f"warning: {len(bad)} of {len(report.records)} jobs did not complete: "
            f"{names}{more}; reasons in {report.files[0]}",
            file=sys.stderr,
        )
    return 0


def _destination(args: argparse.Namespace) -> Any:
    """Where ``--wandb`` uploads, decided before anything is written (a missing group fails
    first)."""
    from unpact_exp.report.wandb_upload import destination

    out = args.out if args.out is not None else Path(args.dirs[0]) / "report"
    records = collect_runs(args.dirs, exclude=[out])
    if not records:
        return None  # write_report says so
    return destination(records, args.project, args.entity, args.group)
