"""Runs you can follow in a batch job (issue 24): what a log file shows, with no terminal.

Measured before: with output redirected, the evaluation printed no progress at all, a run
ended with the path of results.json alone, a sweep did not say how to report it, and every
Lightning INFO line appeared twice (Lightning's own ``INFO: ...`` handler and Hydra's).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import train_command
from tests.reliability.helpers import FAST_EVAL, RUN_TIMEOUT_S, subprocess_env
from unpact_exp.hydra_callbacks import SweepSummary, report_command, sweep_end_message
from unpact_exp.results import read_results

STEPS = 4
BATCH_RUN = [
    "method=ga",
    f"trainer.max_steps={STEPS}",
    "callbacks=default",
    "callbacks.evaluation.every_n_steps=0",  # M0, then M1 at the end only
    "callbacks.evaluation.at_start=false",
    "eval.cache_original=false",  # M0 analysed here, not read from another test's cache
    "trainer.enable_progress_bar=true",  # the tests' QUIET turns it off
    "trainer.progress_every_n_steps=2",
]
LIGHTNING_LINE = re.compile(r"^\[[^\]]+\]\[lightning[.\w]*\]\[INFO\] - (.*)$")


@pytest.fixture(scope="module")
def batch_log(tmp_path_factory, artifacts, tiny_target) -> tuple[str, Path]:
    """A ga run whose stdout and stderr go to a file, as under SLURM: (its text, run dir)."""
    tmp = tmp_path_factory.mktemp("batch")
    run_dir = tmp / "run"
    log_file = tmp / "job.out"
    with log_file.open("w") as out:
        proc = subprocess.run(
            train_command(tmp, artifacts, run_dir, *BATCH_RUN),
            cwd=tmp,
            env=subprocess_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT_S,  # a bound for a hung run only
        )
    text = log_file.read_text()
    assert proc.returncode == 0, text[-3000:]
    return text, run_dir


def _phase(text: str, scope: str, name: str) -> list[str]:
    pattern = rf"\] - eval {re.escape(scope)} / {re.escape(name)}: \d+ (prompts|sequences) in "
    return [line for line in text.splitlines() if re.search(pattern + r"\d+\.\d s$", line)]


def test_each_evaluation_phase_is_one_line_naming_model_set_and_attack(batch_log) -> None:
    text, _ = batch_log
    assert _phase(text, "M0 / forget_qa (20 items)", "generation")
    assert _phase(text, "M0 / retain_qa (40 items)", "UNPACT scoring")
    assert _phase(text, "M0 / forget_qa (20 items) / neutral asks", "generation")
    final = f"step {STEPS} / M1"
    assert _phase(text, f"{final} / forget_qa (20 items)", "generation")
    assert _phase(text, f"{final} / utility_qa (10 items)", "generation")
    forgotten = read_results(batch_log[1])["eval"][str(STEPS)]["n_forgotten"]
    assert forgotten > 0  # the attacks had questions to attack
    attacked = f"forget_qa ({int(forgotten)} items)"
    assert _phase(text, f"{final} / focus_on_key / {attacked}", "generation")
    assert _phase(text, f"{final} / probab / {attacked}", "sampling (x1)")
    assert _phase(text, f"{final} / reask / {attacked}", "generation")
    assert "M1 generation" not in text  # the old, unplaced wording


def test_training_logs_a_line_every_n_steps(batch_log) -> None:
    text, _ = batch_log
    lines = re.findall(r"\] - train step (\d+)/(\d+): forget_loss -?[\d.e-]+ \(", text)
    assert lines == [("2", str(STEPS)), (str(STEPS), str(STEPS))]
    assert f"evaluation at step {STEPS} (final) in " in text


def test_run_ends_with_the_key_rates_and_where_the_files_are(batch_log) -> None:
    text, run_dir = batch_log
    final = read_results(run_dir)["eval"][str(STEPS)]
    summary = text[text.index("] - run completed: ga on tiny/synthetic") :]
    assert summary.splitlines()[0].endswith(f"final evaluation at step {STEPS}")
    for key, label in [
        ("forget_rate", "forget_rate"),
        ("recovery_rate", "recovery_rate (FocusOnKey)"),
        ("destructive_rate", "destructive_rate"),
    ]:
        k, n = final[f"{key}_counts"]
        assert re.search(rf"\n  {re.escape(label)} +\d+\.\d%  \({k}/{n}\)  95% CI ", summary), key
    control = final["strongest_control"]
    excess = rf"\n  focus_on_key_excess +[+-]\d+\.\d points  95% CI .*against {control}"
    assert re.search(excess, summary)
    for name, path in [
        ("results.json", run_dir / "results.json"),
        ("questions.csv", run_dir / "questions.csv"),
        ("plots", run_dir / "plots"),
    ]:
        assert re.search(rf"\n  {re.escape(name)} +{re.escape(str(path))}", summary), name
    assert "] - run completed: ga" in (run_dir / "train.log").read_text()  # the log file too


def test_no_lightning_line_appears_twice(batch_log) -> None:
    text, _ = batch_log
    assert not [line for line in text.splitlines() if line.startswith("INFO: ")]
    lightning = Counter(m.group(1) for m in map(LIGHTNING_LINE.match, text.splitlines()) if m)
    assert lightning["GPU available: False, used: False"] == 1  # one Trainer in this process
    assert lightning and max(lightning.values()) == 1, lightning


def test_sweep_end_names_the_report_command(tmp_path) -> None:
    sweep = tmp_path / "multirun" / "2026-12-04" / "10-00-00"
    assert sweep_end_message(sweep, {"completed": 3, "failed": 1}, auto=False) == (
        f"sweep finished: 3 completed, 1 failed -> {sweep}\n"
        f"its report: python report.py {sweep}  (or report.auto=true next time)"
    )
    assert sweep_end_message(sweep, {"completed": 2}, auto=True).endswith(
        f"writing its report (report.auto=true): python report.py {sweep}"
    )
    assert sweep_end_message(sweep, {}, auto=False) == f"sweep finished: no jobs -> {sweep}"
    assert report_command(Path("my runs/a")) == "python report.py 'my runs/a'"


def test_sweep_end_prints_the_command_without_report_auto(tmp_path, caplog) -> None:
    sweep = tmp_path / "sweep"
    for job, status in [("0_method=ga", "completed"), ("1_method=npo", "failed")]:
        (sweep / job).mkdir(parents=True)
        (sweep / job / "results.json").write_text(json.dumps({"status": status}))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}, "report": {"auto": False}})
    with caplog.at_level(logging.INFO, logger="unpact_exp.sweep"):
        SweepSummary().on_multirun_end(config)
    assert caplog.messages == [sweep_end_message(sweep, {"completed": 1, "failed": 1}, False)]
    assert not (sweep / "report").exists()


def test_a_sweep_with_report_auto_writes_its_report(tmp_path, artifacts, tiny_target) -> None:
    sweep = tmp_path / "sweep"
    cmd = train_command(tmp_path, artifacts, tmp_path / "unused", *FAST_EVAL)
    cmd[2:2] = ["-m"]  # after train.py
    cmd += ["method=ga", "trainer.max_steps=2", "report.auto=true", f"hydra.sweep.dir={sweep}"]
    log_file = tmp_path / "sweep.out"
    with log_file.open("w") as out:
        proc = subprocess.run(
            cmd,
            cwd=tmp_path,
            env=subprocess_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT_S,
        )
    text = log_file.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert f"sweep finished: 1 completed -> {sweep}" in text
    assert f"writing its report (report.auto=true): {report_command(sweep)}" in text
    assert (sweep / "report" / "report.md").is_file()
    assert f"files to {sweep / 'report'}:" in text  # report.py's own lines, in the sweep's log


def test_report_auto_is_a_boolean_in_the_train_config(make_cfg) -> None:
    from unpact_exp.errors import UnpactConfigError
    from unpact_exp.run import main

    assert make_cfg().report.auto is False
    with pytest.raises(UnpactConfigError, match=r"report\.auto='sometimes' is not valid"):
        main(make_cfg("report.auto=sometimes"))
