"""When a file cannot be written: one message naming the place and the fix, not a traceback.

A run writes into its folder (``results.json``, ``checkpoints/last.ckpt``, ``unlearned/``) and
into the shared caches. Those writes fail for reasons outside the code: the disk is full, a
quota is reached, the file size limit (``ulimit -f``) is lower than a checkpoint, the folder
is read-only. Each surfaces differently -- an ``OSError`` with an errno, a ``RuntimeError``
of torch's zip writer wrapping it, a safetensors error -- and was shown as a traceback.
:func:`storage_failure` recognises them; :func:`storage_message` words the one message.

``ulimit -f`` does not even raise by default: the kernel sends ``SIGXFSZ``, whose default
action kills the process with no message and nothing recorded. :func:`write_errors_raise`
ignores that signal so the write fails with ``EFBIG`` instead, which is then reported.
"""

from __future__ import annotations

import errno
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STORAGE_ERRNOS = {
    errno.ENOSPC: "No space left on device",
    errno.EDQUOT: "Disk quota exceeded",
    errno.EFBIG: "File too large",
    errno.EROFS: "Read-only file system",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
}
"""The errors of a write that the user fixes outside the code, with their usual wording."""
WRAPPED_WORDS = ("file write failed", "StorageFull", "FileTooLarge", "ReadOnlyFilesystem")
"""How torch's zip writer and safetensors word a failed write (no errno is kept)."""
FIXES = {
    errno.ENOSPC: "free space on that disk",
    errno.EDQUOT: "free space within your quota",
    errno.EFBIG: "raise the file size limit (ulimit -f) above the size of the run's files",
    errno.EROFS: "write the run elsewhere (hydra.run.dir=DIR, paths.cache_dir=DIR)",
    errno.EACCES: "make it writable for you, or write the run elsewhere (hydra.run.dir=DIR)",
    errno.EPERM: "make it writable for you, or write the run elsewhere (hydra.run.dir=DIR)",
}


@dataclass(frozen=True)
class StorageFailure:
    """What a failed write says: the errno (None when wrapped without one) and the file."""

    errno: int | None
    filename: str | None
    reason: str


def storage_failure(err: BaseException) -> StorageFailure | None:
    """The failed write behind ``err`` (its cause chain is searched), or None if it is not one."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in STORAGE_ERRNOS:
            name = current.filename if isinstance(current.filename, str) else None
            return StorageFailure(current.errno, name, STORAGE_ERRNOS[current.errno])
        text = str(current)
        for code, words in STORAGE_ERRNOS.items():
            if words in text and code not in (errno.EACCES, errno.EPERM):
                return StorageFailure(code, None, words)
        if any(words in text for words in WRAPPED_WORDS):
            return StorageFailure(None, None, "a file write failed")
        current = current.__cause__ or current.__context__
    return None


def storage_message(failure: StorageFailure, run_dir: Path, resume: str) -> str:
    """One line: what could not be written, why, the fix, and what rerunning does.

    Only files that exist are named: a file that could not be created is named by its
    folder.

    Args:
        failure: from :func:`storage_failure`.
        run_dir: the run folder (named when the failure names no file).
        resume: what rerunning the same command does, e.g. "it resumes from ...".
    """
    where = f"into {run_dir}"
    if failure.filename:
        path = Path(failure.filename)
        if path.exists():
            where = str(path)
        else:  # the file (or its temporary folder) is gone: name the closest existing folder
            where = f"into {next((p for p in path.parents if p.exists()), run_dir)}"
    if failure.errno is None:
        fix = "free space on that disk, or raise the file size limit (ulimit -f)"
    else:
        fix = FIXES[failure.errno]
    return f"cannot write {where} ({failure.reason}): {fix}; then rerun the same command: {resume}."


def write_errors_raise() -> Any:
    """Ignore ``SIGXFSZ`` (``ulimit -f``) so an oversized write raises; returns the previous
    handler (None when not on the main thread, where signals cannot be set)."""
    if not hasattr(signal, "SIGXFSZ") or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
