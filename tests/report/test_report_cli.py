"""``report.py`` end to end in a subprocess: exit codes, printed table, warning, PNG files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from unpact_exp.report import main

ROOT = Path(__file__).resolve().parents[2]
PLOTS = ("dilemma.png", "keytoken_similarity.png", "recovery_vs_step.png")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "report.py"), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_report_py_on_sweep(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run(sweep, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "| ga+gd | tiny | synthetic | 1 | 10 | 80.0 |" in proc.stdout
    assert str(out / "report.md") in proc.stdout
    warning = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert "2 of 5 jobs did not complete: 3_method=tv (failed)" in warning[0]
    assert "4_method=npo,regularizer=gd (unfinished)" in warning[0]
    for name in ("report.md", "report.csv", "runs.csv", *PLOTS):
        assert (out / name).stat().st_size > 0, name
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_out_dir_and_rerun(sweep: Path) -> None:
    assert main([str(sweep)]) == 0
    assert (sweep / "report" / "dilemma.png").stat().st_size > 0
    assert main([str(sweep)]) == 0  # the report dir is not mistaken for a job
    assert "Jobs: 5 found" in (sweep / "report" / "report.md").read_text()


def test_no_dirs_given() -> None:
    proc = run()
    assert proc.returncode != 0
    assert "the following arguments are required: DIR" in proc.stderr


def test_no_run_dirs_found(tmp_path: Path) -> None:
    proc = run(tmp_path)
    assert proc.returncode != 0
    assert "error: no run directories found under" in proc.stderr
    assert not (tmp_path / "report").exists()


def test_missing_dir(tmp_path: Path) -> None:
    proc = run(tmp_path / "missing")
    assert proc.returncode != 0
    assert "error: not a directory:" in proc.stderr


def test_import_is_cheap() -> None:
    code = "import sys, unpact_exp.report; assert 'matplotlib' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0
