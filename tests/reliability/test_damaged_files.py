"""No silent loss (issue 26 item 2): damaged files are refused or set aside, never swallowed,
and the files the report and the grid write are replaced whole or not at all.

- A truncated ``results.json`` of an interrupted run was swallowed on resume: the earlier
  evaluations were lost with exit 0 and no warning.
- ``report.py --out D`` killed while writing left a 0-byte ``recovery_vs_step.png`` in place
  of the old plot.
- A ``questions.csv`` cut in half gave ``threshold_grid.py`` a smaller result with exit 0;
  random bytes gave a ``UnicodeDecodeError`` traceback.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import QUIET, SMALL_WORLD, compose_cfg
from tests.reliability.helpers import FAST_EVAL
from unpact_exp.errors import UnpactConfigError
from unpact_exp.results import RESULTS_FILE, read_results
from unpact_exp.run import main
from unpact_exp.stages.threshold_grid import main as grid_main
from unpact_exp.training.module import UnlearnModule

RUN = [
    "method=npo",
    "trainer.max_steps=6",
    "trainer.checkpoint_every_n_steps=1",
    *FAST_EVAL,
    "callbacks.evaluation.every_n_steps=2",
]


class Crash(RuntimeError):
    """Stands in for a kill after a step's checkpoint."""


def _cut_after_step_2(path: Path) -> bytes:
    """Cut ``results.json`` inside its step-2 evaluation (as a full disk would)."""
    text = path.read_bytes()
    cut = text[: text.index(b'"2": {') + 40]
    path.write_bytes(cut)
    return cut


def _damaged(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob(f"{RESULTS_FILE}.damaged-*"))


def test_truncated_results_json_is_set_aside_on_resume_with_a_warning(
    tmp_path, artifacts, tiny_target, monkeypatch, caplog
) -> None:
    run_dir = tmp_path / "run"

    def crash(self, *args):
        if self.trainer.global_step == 3:
            raise Crash("killed after step 3")

    with monkeypatch.context() as patch:
        patch.setattr(UnlearnModule, "on_train_batch_end", crash, raising=False)
        with pytest.raises(Crash):
            main(compose_cfg([*SMALL_WORLD, *QUIET, *RUN], run_dir, artifacts))
    assert sorted(read_results(run_dir)["eval"], key=int) == ["0", "2"]
    cut = _cut_after_step_2(run_dir / RESULTS_FILE)

    with caplog.at_level(logging.WARNING, logger="unpact_exp.results"):
        main(compose_cfg([*SMALL_WORLD, *QUIET, *RUN], run_dir, artifacts))  # resumes
    (aside,) = _damaged(run_dir)
    assert aside.read_bytes() == cut  # kept as it was, for inspection
    assert f"{run_dir / RESULTS_FILE} is damaged (JSONDecodeError" in caplog.text
    assert f"moved aside to {aside}" in caplog.text
    assert "the evaluations of steps [0, 2] it shows are not carried over" in caplog.text
    results = read_results(run_dir)
    assert results["status"] == "completed" and results["resumed_from"]
    assert sorted(results["eval"], key=int) == ["4", "6"]  # what the resumed run evaluated


def test_a_failing_run_never_overwrites_a_damaged_results_json(make_cfg, caplog) -> None:
    """Before: the failure handler itself died on the damaged file (JSONDecodeError)."""
    cfg = make_cfg("method.lr=0")
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True)
    (run_dir / RESULTS_FILE).write_bytes(os.urandom(64))
    with caplog.at_level(logging.WARNING, logger="unpact_exp.results"):
        with pytest.raises(UnpactConfigError, match=r"method\.lr=0"):
            main(cfg)
    assert len(_damaged(run_dir)) == 1 and "no evaluation could be read" in caplog.text
    assert read_results(run_dir)["status"] == "failed"


# ---------------------------------------------------------------- atomic report and grid files


def test_report_killed_while_writing_leaves_every_old_file_whole(
    finished_run, tmp_path, monkeypatch
) -> None:
    from matplotlib.figure import Figure

    from unpact_exp.report import write_report

    out = tmp_path / "report"
    files = write_report([finished_run], out).files
    before = {f.name: f.read_bytes() for f in files}
    assert "recovery_vs_step.png" in before and all(before.values())
    original = Figure.savefig

    def killed_midway(self, path, *args, **kwargs):
        if Path(path).suffix == ".png" and "recovery" in Path(path).name:
            Path(path).write_bytes(b"")  # what the kill left (the 0-byte plot of the issue)
            raise KeyboardInterrupt
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        write_report([finished_run], out)
    assert {f.name: f.read_bytes() for f in files} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no temporary file left


def _grid_copy(finished_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    return run


def _grid(run: Path, artifacts: Path, capsys) -> tuple[int, str]:
    code = grid_main(
        [str(run), "--alpha", "0.22", "--beta", "0.24", f"paths.root_dir={artifacts.parent}"]
    )
    return code, capsys.readouterr().err


def test_questions_csv_cut_in_half_is_refused_naming_the_row(
    finished_run, artifacts, tmp_path, capsys
) -> None:
    run = _grid_copy(finished_run, tmp_path)
    table = run / "questions.csv"
    text = table.read_bytes()
    table.write_bytes(text[: len(text) // 2])
    code, err = _grid(run, artifacts, capsys)
    assert code == 2 and not (run / "threshold_grid.csv").exists()
    # Mid-row (the usual cut): the row is named; at a row boundary the counts catch it.
    assert f"error: {table} is damaged at row " in err or "the file was cut or edited" in err
    assert "re-run eval.py on the run's unlearned/ folder" in err and "Traceback" not in err


def test_questions_csv_cut_at_a_row_boundary_is_refused_by_its_counts(
    finished_run, artifacts, tmp_path, capsys
) -> None:
    run = _grid_copy(finished_run, tmp_path)
    table = run / "questions.csv"
    lines = table.read_text(encoding="utf-8").splitlines(keepends=True)
    table.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    code, err = _grid(run, artifacts, capsys)
    final = read_results(run)["eval"]["6"]
    assert code == 2
    assert f"where results.json records {int(final['n_forget_questions'])} (" in err
    assert "for evaluation 6: the file was cut or edited" in err


def test_questions_csv_of_random_bytes_is_one_message(
    finished_run, artifacts, tmp_path, capsys
) -> None:
    run = _grid_copy(finished_run, tmp_path)
    table = run / "questions.csv"
    table.write_bytes(b"step,kind\n" + bytes(range(128, 256)))
    code, err = _grid(run, artifacts, capsys)
    assert code == 2 and "Traceback" not in err
    assert f"error: {table} is damaged: byte 10 is not UTF-8 text" in err


def test_grid_killed_while_writing_keeps_the_old_files(
    finished_run, artifacts, tmp_path, capsys, monkeypatch
) -> None:
    from matplotlib.figure import Figure

    run = _grid_copy(finished_run, tmp_path)
    assert _grid(run, artifacts, capsys)[0] == 0
    files = [run / "threshold_grid.csv", run / "threshold_grid.png"]
    before = [f.read_bytes() for f in files]

    def killed_midway(self, path, *args, **kwargs):
        Path(path).write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        _grid(run, artifacts, capsys)
    assert [f.read_bytes() for f in files] == before
    assert not list(run.glob(".threshold_grid*"))
