"""One live run per run folder (issue 17 case 6: two identical commands shared a folder).

The holder is a real second process; a stale lock is one whose process is gone (kill -9).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.helpers import never_loads_a_model, subprocess_env
from unpact_exp.errors import UnpactConfigError
from unpact_exp.results import RESULTS_FILE
from unpact_exp.run import main
from unpact_exp.run_lock import LOCK_FILE, RunLock, launch_rank

HOLD = (
    "import sys, time; from unpact_exp.run_lock import RunLock; "
    "lock = RunLock(sys.argv[1]); lock.acquire(); print('held', flush=True); time.sleep(1e6)"
)


def _hold(folder: Path) -> subprocess.Popen:
    """A process that takes the lock on ``folder`` and keeps it until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_in_a_held_folder_fails_at_once_naming_folder_and_pid(
    make_cfg, monkeypatch
) -> None:
    cfg = make_cfg()
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True)
    holder = _hold(run_dir)
    never_loads_a_model(monkeypatch)  # refused at once, before anything is read
    try:
        with pytest.raises(UnpactConfigError) as err:
            main(cfg)
    finally:
        holder.kill()
        holder.wait()
    message = str(err.value)
    assert f"run folder '{run_dir}' is in use by another run (PID {holder.pid} on " in message
    assert "hydra.run.dir=" in message
    assert not (run_dir / RESULTS_FILE).exists()  # the running run's folder is left alone


def test_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path, caplog) -> None:
    holder = _hold(tmp_path)
    holder.kill()  # kill -9: the lock file still names it, but the OS lock died with it
    holder.wait()
    assert str(holder.pid) in (tmp_path / LOCK_FILE).read_text()
    with caplog.at_level(logging.WARNING, logger="unpact_exp.run_lock"):
        with RunLock(tmp_path):
            assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    assert f"taking over the lock of PID {holder.pid}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unpact_exp.run_lock"), RunLock(tmp_path):
        pass  # released cleanly last time: no warning
    assert caplog.text == ""


def test_same_process_runs_one_after_another_in_one_folder(tmp_path) -> None:
    """A Hydra multirun (basic launcher) runs its jobs in turn in one process."""
    for _ in range(2):
        with RunLock(tmp_path):
            with pytest.raises(UnpactConfigError, match="in use by another run"):
                RunLock(tmp_path).acquire()  # a second lock, even from this process


@pytest.mark.parametrize(
    ("env", "rank"),
    [({}, 0), ({"LOCAL_RANK": "1"}, 1), ({"RANK": "0", "LOCAL_RANK": "0"}, 0),
     ({"SLURM_PROCID": "3"}, 3), ({"RANK": "2", "SLURM_PROCID": "0"}, 2)],
)  # fmt: skip
def test_only_the_launching_process_takes_the_lock(env, rank, monkeypatch) -> None:
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert launch_rank() == rank


def test_filesystem_without_flock_runs_unguarded_with_a_warning(tmp_path, monkeypatch, caplog):
    import errno
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with caplog.at_level(logging.WARNING, logger="unpact_exp.run_lock"), RunLock(tmp_path):
        pass
    assert "this filesystem has no flock" in caplog.text
