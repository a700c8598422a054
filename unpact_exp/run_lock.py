"""One live run per run folder: ``<run dir>/.run.lock``, held for the whole run.

Two commands aimed at the same folder (the same ``hydra.run.dir``, or a rerun started
while the first is still going) would interleave checkpoints and ``results.json``.
The lock is an OS advisory lock (``filelock``'s ``flock``, taken without waiting) on
``.run.lock``, which also holds the holder's PID and host: a second process fails at once
with both in the message, and the lock dies with its process, so after ``kill -9`` (or a
node crash) the next run takes it over, with a warning naming the PID that did not release
it. A run that ends normally empties the file, so only an unclean end is warned about.

Only the launching process takes it: under DDP (Lightning's subprocess launcher,
``torchrun``, ``srun``) the other ranks run the same entry point with ``RANK``,
``SLURM_PROCID`` or ``LOCAL_RANK`` set to a non-zero value and skip it, and
``ddp_spawn`` workers never reach the entry point. Each Hydra multirun job has its
own folder, hence its own lock. On a filesystem that refuses locks the run goes ahead
unguarded, with a warning.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from filelock import FileLock, Timeout

from unpact_exp.errors import UnpactConfigError

LOCK_FILE = ".run.lock"
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK")
log = logging.getLogger(__name__)


def launch_rank() -> int:
    """This process's rank as the launcher set it (0 when not launched as a rank)."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.strip().isdigit():
            return int(value)
    return 0


class RunLock:
    """The lock on one run folder; use as a context manager around the run.

    Args:
        run_dir: the run folder (created by the caller).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._lock: FileLock | None = None

    def acquire(self) -> None:
        """Take the lock, or fail naming the folder and the process that holds it.

        Raises:
            UnpactConfigError: another live process holds the lock on this folder.
        """
        # Without a fallback: a marker file would outlive a killed run and refuse the rerun.
        lock = FileLock(
            self.path, mode=0o644, blocking=False, fallback_to_soft=False, on_acquired=self._claim
        )
        try:
            lock.acquire()
        except Timeout:
            raise UnpactConfigError(
                f"run folder {str(self.run_dir)!r} is in use by another run "
                f"({_describe(self.path.read_text().strip())}). Wait for it to end, stop it, "
                "or give this run its own folder (hydra.run.dir=<another folder>)."
            ) from None
        except OSError as err:
            log.warning(
                "cannot lock run folder %s (%s): this filesystem has no flock; running "
                "without the one-run-per-folder guard.",
                self.run_dir,
                err,
            )
            return
        self._lock = lock

    def _claim(self, fd: int) -> None:
        """Once locked: warn about a holder that never released it, then write this one."""
        previous = os.pread(fd, 256, 0).decode(errors="replace").strip()
        if previous:
            log.warning(
                "run folder %s: taking over the lock of %s, which ended without releasing it "
                "(killed?); resuming is safe.",
                self.run_dir,
                _describe(previous),
            )
        _rewrite(fd, f"{os.getpid()} {socket.gethostname()}\n")

    def release(self) -> None:
        """Empty the lock file (a clean end) and release the lock."""
        if self._lock is None:
            return
        try:
            with self.path.open("r+") as handle:
                _rewrite(handle.fileno(), "")
        finally:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _rewrite(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
    os.fsync(fd)


def _describe(content: str) -> str:
    """``"PID 123 on host"`` from the lock file's ``"123 host"`` (or what is known)."""
    pid, _, host = content.partition(" ")
    if not pid:
        return "a process whose PID was not written yet"
    return f"PID {pid}" + (f" on {host}" if host else "")
