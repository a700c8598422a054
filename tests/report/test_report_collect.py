"""Finding and classifying run dirs: completed, failed (status, crash log), unfinished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.report.report_fixtures import FAILED_ERROR, FINAL, results, write_job
from unpact_exp.report.collect import (
    COMPLETED,
    FAILED,
    UNFINISHED,
    collect_runs,
    exception_line,
    find_run_dirs,
    load_run,
    normalize_setting,
)


def test_sweep_jobs_found_in_order_and_classified(sweep: Path) -> None:
    records = collect_runs([sweep])
    assert [r.label for r in records] == [p.name for p in sorted(sweep.iterdir()) if p.is_dir()]
    by_setting = {r.setting: r for r in records}
    assert {s: by_setting[s].state for s in FINAL} == dict.fromkeys(FINAL, COMPLETED)
    assert by_setting["tv"].state == FAILED
    assert by_setting["tv"].reason == f"status=failed: {FAILED_ERROR}"
    assert by_setting["npo+gd"].state == UNFINISHED
    assert by_setting["npo+gd"].reason == "missing results.json"
    ga = by_setting["ga+gd"]
    assert (ga.model, ga.data, ga.seed, ga.final_step) == ("tiny", "synthetic", 0, 10)
    assert ga.final_metrics == {k: float(v) for k, v in FINAL["ga+gd"].items()}
    assert sorted(ga.curve) == [0, 5, 10]


def test_search_from_above_and_run_dir_given_directly(sweep: Path) -> None:
    assert len(find_run_dirs([sweep.parent.parent])) == 5
    job = sweep / "1_method=ga,regularizer=gd"
    assert find_run_dirs([job]) == [job]  # used as is, unlearned/ not walked
    assert find_run_dirs([sweep, job]) == find_run_dirs([sweep])  # no duplicates
    assert find_run_dirs([sweep], exclude=[job]) != find_run_dirs([sweep])


def test_never_started_job_in_multirun_dir(sweep: Path) -> None:
    (sweep / "5_method=ga").mkdir()
    (sweep / "report").mkdir()  # not a job name: ignored
    record = collect_runs([sweep])[-1]
    assert (record.label, record.state) == ("5_method=ga", UNFINISHED)
    assert "never started" in record.reason


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="nope"):
        find_run_dirs([tmp_path / "nope"])


def test_malformed_results_never_raise(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text("{not json")
    assert load_run(bad).state == FAILED
    assert "unreadable results.json" in load_run(bad).reason

    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "results.json").write_text(json.dumps({"status": "completed"}))
    record = load_run(bare)
    assert (record.state, record.setting, record.model, record.final_metrics) == (
        COMPLETED,
        "unknown",
        "?",
        {},
    )
    assert any("no 'eval'" in n for n in record.notes)

    (bare / "results.json").write_text(json.dumps({"eval": {"3": {"forget_rate": 0.5}}}))
    record = load_run(bare)
    assert record.state == UNFINISHED and "no 'status'" in record.reason

    (bare / "results.json").write_text(json.dumps([1, 2]))
    assert load_run(bare).state == FAILED


def test_identity_from_hydra_overrides_and_final_step_fallback(tmp_path: Path) -> None:
    job = tmp_path / "7_x"
    payload = results("ga+gd", "ga", "gd", final_eval_step="99")
    for key in ("setting", "method", "regularizer", "model", "overrides"):
        del payload[key]
    write_job(job, "npo", "kl", payload)
    record = load_run(job)
    assert record.setting == "npo+kl"  # from .hydra/overrides.yaml
    assert record.final_step == 10
    assert any("final_eval_step '99' not in eval" in n for n in record.notes)


def test_status_running_and_diverged(tmp_path: Path) -> None:
    job = tmp_path / "0"
    write_job(job, "ga", "", results("ga+gd", "ga", "gd", status="running"))
    assert load_run(job).state == UNFINISHED
    assert load_run(job).reason.startswith("status=running")
    (job / "results.json").write_text(json.dumps({"status": "diverged", "error": None}))
    assert load_run(job).reason == "status=diverged (no error message)"


def test_interrupted_job_is_listed_as_unfinished_and_resumable(tmp_path: Path) -> None:
    """A SIGTERM'd (pre-empted) job has a checkpoint: unfinished, not failed, not unknown."""
    job = tmp_path / "0"
    write_job(job, "ga", "", results("ga+gd", "ga", "gd", status="interrupted"))
    record = load_run(job)
    assert record.state == UNFINISHED
    assert record.reason.startswith("status=interrupted") and "resumes" in record.reason


CRASH_LOG = """\
some log line
Traceback (most recent call last):
  File "train.py", line 3, in <module>
    main()
ValueError: first
During handling of the above exception, another exception occurred:
Traceback (most recent call last):
  File "train.py", line 9, in <module>
    raise RuntimeError("boom")
RuntimeError: boom | really
srun: error: task 0 exited
"""


def test_exception_line() -> None:
    assert exception_line(CRASH_LOG) == "RuntimeError: boom | really"
    assert exception_line("all fine\nUserWarning: meh\n") is None


def test_crash_found_in_sweep_submitit_logs(sweep: Path) -> None:
    log_dir = sweep / ".submitit" / "4242_4"
    log_dir.mkdir(parents=True)
    (log_dir / "4242_4_0_log.err").write_text(CRASH_LOG)
    record = load_run(sweep / "4_method=npo,regularizer=gd")
    assert record.state == FAILED
    assert record.reason.startswith("crashed, no results.json: RuntimeError: boom | really")
    assert load_run(sweep / "1_method=ga,regularizer=gd").state == COMPLETED


def test_crash_found_in_hydra_job_log(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_job(job, "ga", "", results("ga+gd", "ga", "gd", status="running"))
    (job / "train.log").write_text(CRASH_LOG)
    assert load_run(job).state == FAILED
    assert "RuntimeError: boom" in load_run(job).reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("GA + GD", "ga+gd"), ("npo+none", "npo"), ("rmu", "rmu"), ("", "unknown")],
)
def test_normalize_setting(raw: str, expected: str) -> None:
    assert normalize_setting(raw) == expected


def test_recorded_overrides_are_read_by_hydras_grammar() -> None:
    from unpact_exp.report.collect import _parse_overrides, identity_overrides

    one = identity_overrides(["seed=1", "method=ga", "method.lr=1e-4", "+trainer.max_steps=5"])
    two = identity_overrides(["seed=2", "+method=npo", "method.lr=0.0001", "trainer.max_steps=5"])
    assert one == two == ("method.lr=0.0001", "trainer.max_steps=5")
    assert identity_overrides(["~trainer.max_steps", "unparsable=[", "logger=none"]) == ()
    parsed = _parse_overrides(["+method=ga", "trainer.seed=1", "setting=npo+kl", "q='x=y'"])
    assert parsed == {"method": "ga", "seed": "1", "setting": "npo+kl", "q": "x=y"}
