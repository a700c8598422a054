"""Sweep reports: find unlearning runs, tabulate their final metrics, plot the dilemma.

Entry point: ``python report.py DIR [DIR ...] [--out OUTDIR]`` (see :mod:`.cli`).
matplotlib is only imported when plots are drawn.
"""

from unpact_exp.report.cli import Report, main, write_report
from unpact_exp.report.collect import SweepJob, collect_runs, find_run_dirs, load_run
from unpact_exp.report.table import COLUMNS, Row, build_rows

__all__ = [
    "COLUMNS",
    "Report",
    "Row",
    "SweepJob",
    "build_rows",
    "collect_runs",
    "find_run_dirs",
    "load_run",
    "main",
    "write_report",
]
