"""A process-wide "stop requested" flag, so SIGTERM ends a run between any two batches.

Outside training, the SIGTERM handler of :mod:`unpact_exp.run` raises
:class:`Interrupted` wherever Python happens to be. Inside ``trainer.fit`` Lightning
owns SIGTERM: it notes the signal and stops at the next *training* step boundary,
which may be many minutes away when a callback is evaluating (generation, UNPACT,
multiple-choice scoring all run inside ``on_train_batch_end``). The handler therefore
also sets this flag, and every batch loop of the analysis calls :func:`check_stop`
before its next forward pass: a run stops within one batch wherever it spends its
time, and the evaluation it was in the middle of is simply not recorded (the last
``last.ckpt`` is kept, so a rerun redoes that step and its evaluation).

The module also holds where to read the run's progress (:func:`follow`), so an
interrupted run's ``results.json`` can say how far it got whichever hook it stopped in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Interrupted(BaseException):
    """SIGTERM arrived; the run stops (a ``BaseException``, as KeyboardInterrupt)."""


class _State:
    """The flag and the progress, in one object so tests can reset them together."""

    requested: str | None = None
    progress: Callable[[], dict[str, Any]] | None = None


_STATE = _State()


def request_stop(reason: str) -> None:
    """Ask every batch loop to stop at its next batch (called by the SIGTERM handler)."""
    _STATE.requested = reason


def stop_requested() -> bool:
    """Whether a stop has been requested since the run started."""
    return _STATE.requested is not None


def check_stop() -> None:
    """Raise :class:`Interrupted` if a stop was requested (call between batches).

    Raises:
        Interrupted: SIGTERM arrived since the run started.
    """
    if _STATE.requested is not None:
        raise Interrupted(_STATE.requested)


def follow(progress: Callable[[], dict[str, Any]]) -> None:
    """Read the run's progress from ``progress`` when it is interrupted (see :func:`progress`)."""
    _STATE.progress = progress


def progress() -> dict[str, Any]:
    """The progress fields of the followed run (``steps``, ...), or {} when none is followed."""
    return {} if _STATE.progress is None else dict(_STATE.progress())


def reset() -> None:
    """Clear the flag and the progress (at the start and end of every run in this process)."""
    _STATE.requested = None
    _STATE.progress = None
