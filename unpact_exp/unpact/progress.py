"""A progress bar per evaluation phase (generation, sampling, UNPACT scoring, multiple choice).

On a 7B model one evaluation takes minutes to an hour, spent in a few long batched loops;
without a bar a user cannot tell a slow phase from a hung job. Each loop opens a
:func:`phase` with its label and item count and advances it batch by batch. The bar is
rich's, drawn on rich's global console, so inside a training run it nests under
Lightning's rich progress bar (rich stacks live displays on one console) and disappears
when the phase ends (``transient``).

``eval.progress`` decides whether bars are drawn: ``auto`` (default) only when the console
is an interactive terminal and not under pytest, so logs of batch jobs and test output stay
clean; ``true`` / ``false`` force it. :class:`~unpact_exp.evaluation.evaluator.Evaluator`
sets the mode around its work with :func:`progress_mode`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Advance = Callable[[int], None]

_MODE: ContextVar[str | bool] = ContextVar("unpact_progress_mode", default="auto")
_OPEN: ContextVar[bool] = ContextVar("unpact_progress_open", default=False)
_SCOPE: ContextVar[str] = ContextVar("unpact_progress_scope", default="")


@contextmanager
def progress_mode(mode: str | bool, scope: str = "") -> Iterator[None]:
    """Within the block, bars follow ``mode`` (``eval.progress``: auto | True | False).

    Args:
        mode: ``eval.progress``.
        scope: prefixed to every phase label in the block (e.g. ``"M1"``: "M1 generation").
    """
    tokens = (_MODE.set(mode), _SCOPE.set(scope))
    try:
        yield
    finally:
        _MODE.reset(tokens[0])
        _SCOPE.reset(tokens[1])


def enabled() -> bool:
    """Whether a phase opened now draws a bar (see the module docstring for ``auto``)."""
    mode = _MODE.get()
    if mode != "auto":
        return bool(mode)
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    from rich import get_console

    return get_console().is_terminal


def _noop(n: int) -> None:
    del n


@contextmanager
def phase(label: str, total: int) -> Iterator[Advance]:
    """A bar ``label  [####    ]  done/total  elapsed`` for one loop; yields ``advance(n)``.

    A phase opened inside another (a helper called from an instrumented loop) draws
    nothing: the outer bar already counts that work.

    Args:
        label: what the loop does, e.g. ``"generation"``.
        total: how many items the loop will process.
    """
    if total <= 0 or _OPEN.get() or not enabled():
        yield _noop
        return
    from rich import get_console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("[bold]eval[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    token = _OPEN.set(True)
    try:
        with Progress(*columns, console=get_console(), transient=True) as bar:
            task = bar.add_task(" ".join(filter(None, (_SCOPE.get(), label))), total=total)
            yield lambda n: bar.advance(task, n)
    finally:
        _OPEN.reset(token)
