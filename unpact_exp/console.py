"""Who reads a run's output: a person at a terminal (progress bars) or a log file (log lines).

A batch job (SLURM, ``python train.py > run.log``, ``nohup``) has no terminal. Rich's bars
are drawn there once, at the end, so a log showed no progress at all until the job was
over. Progress is therefore reported in one of two styles:

- ``bars``: rich progress bars, redrawn in place (an interactive terminal);
- ``lines``: one log line per unit of work (an evaluation phase, N training steps), which
  lands in the job's log and in ``<run dir>/<task>.log``;
- ``off``: nothing.

``auto`` picks bars when both stdout and stderr are terminals (rich draws on stdout, the
logs go to both; either one redirected means a file is being written), and not under
pytest; lines otherwise. The settings that take these values are ``eval.progress`` and
``trainer.progress``.
"""

from __future__ import annotations

import os
import sys
from typing import Literal

Style = Literal["bars", "lines", "off"]
"""How progress is shown (module docstring)."""

_BARS = ("bar", "bars")


def interactive() -> bool:
    """Whether a person watches this process at a terminal (stdout and stderr both are one).

    False under pytest, so test output stays clean even with ``-s``.
    """
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    streams = (sys.stdout, sys.stderr)
    return all(stream is not None and stream.isatty() for stream in streams)


def progress_style(mode: str | bool) -> Style:
    """The style a progress setting asks for.

    Args:
        mode: ``auto`` (bars on an interactive terminal, lines otherwise), ``True`` /
            ``"bar"`` / ``"bars"`` (bars), ``"lines"``, or ``False`` (off).
    """
    if mode is False:
        return "off"
    if mode is True or mode in _BARS:
        return "bars"
    if mode == "lines":
        return "lines"
    return "bars" if interactive() else "lines"
