"""Progress of each evaluation phase (generation, sampling, UNPACT scoring, multiple choice).

On a 7B model one evaluation takes minutes to an hour, spent in a few long batched loops;
without progress a user cannot tell a slow phase from a hung job. Each loop opens a
:func:`phase` with its name and count and advances it batch by batch. What the phase is
working for is named by the enclosing :func:`scope` blocks: the model (``M0``/``M1``), the
item set (``forget_qa (20 items)``), the attack or metric, so a phase reads
``M1 / focus_on_key / forget_qa (9 items) / generation``.

How it is shown follows ``eval.progress`` (:mod:`unpact_exp.console`): on an interactive
terminal (``auto``, or ``true``) a rich bar, drawn on rich's global console, so inside a
training run it nests under Lightning's rich progress bar (rich stacks live displays on
one console) and disappears when the phase ends (``transient``); in a batch job (``auto``
without a terminal, or ``lines``) one log line when the phase ends, with its count and
seconds; ``false``: nothing. :class:`~unpact_exp.evaluation.evaluator.Evaluator` sets the
mode around its work with :func:`progress_mode`. Under several ranks only rank 0 writes
lines (every rank runs the same phases on its shard).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from unpact_exp.console import Style, progress_style

Advance = Callable[[int], None]
SEPARATOR = " / "
log = logging.getLogger("unpact_exp.progress")

_MODE: ContextVar[str | bool] = ContextVar("unpact_progress_mode", default="auto")
_OPEN: ContextVar[bool] = ContextVar("unpact_progress_open", default=False)
_SCOPE: ContextVar[tuple[str, ...]] = ContextVar("unpact_progress_scope", default=())


@contextmanager
def progress_mode(mode: str | bool, scope_name: str = "") -> Iterator[None]:
    """Within the block, progress follows ``mode`` (``eval.progress``: auto | true | false |
    lines).

    Args:
        mode: ``eval.progress``.
        scope_name: the model measured in the block, prefixed to every phase (``"M1"``).
    """
    token = _MODE.set(mode)
    try:
        with scope(scope_name):
            yield
    finally:
        _MODE.reset(token)


@contextmanager
def scope(name: str, items: int | None = None) -> Iterator[None]:
    """Within the block, every phase is named as working for ``name`` (after the enclosing
    scopes): a model, an item set, an attack, a metric, an evaluation step.

    Args:
        name: what the work is for; empty adds nothing.
        items: how many items the set holds, shown as ``name (N items)``.
    """
    if not name:
        yield
        return
    part = name if items is None else f"{name} ({items} items)"
    token = _SCOPE.set((*_SCOPE.get(), part))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def label(name: str) -> str:
    """``name`` after the enclosing scopes: ``M1 / forget_qa (20 items) / generation``."""
    return SEPARATOR.join((*_SCOPE.get(), name))


def style() -> Style:
    """How a phase opened now is shown (``bars``, ``lines`` or ``off``)."""
    return progress_style(_MODE.get())


def enabled() -> bool:
    """Whether a phase opened now draws a bar (see the module docstring)."""
    return style() == "bars"


def _noop(n: int) -> None:
    del n


def _other_rank() -> bool:
    """Whether this process is a rank other than 0 of an initialised process group."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_rank() != 0


@contextmanager
def phase(name: str, total: int, unit: str = "items") -> Iterator[Advance]:
    """One loop's progress: a bar ``eval <label> [####    ] done/total elapsed``, or one
    line ``eval <label>: <total> <unit> in <seconds> s`` when it ends; yields ``advance(n)``.

    A phase opened inside another (a helper called from an instrumented loop) shows
    nothing: the outer phase already counts that work.

    Args:
        name: what the loop does, e.g. ``"generation"``.
        total: how many things the loop will process.
        unit: what it counts (``prompts``, ``sequences``).
    """
    shown = "off" if total <= 0 or _OPEN.get() else style()
    if shown == "lines" and _other_rank():
        shown = "off"
    if shown == "off":
        yield _noop
        return
    token = _OPEN.set(True)
    try:
        if shown == "lines":
            start = time.perf_counter()
            yield _noop
            seconds = time.perf_counter() - start
            log.info("eval %s: %d %s in %.1f s", label(name), total, unit, seconds)
        else:
            with _bar(label(name), total) as advance:
                yield advance
    finally:
        _OPEN.reset(token)


@contextmanager
def _bar(description: str, total: int) -> Iterator[Advance]:
    """A transient rich bar on rich's global console."""
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
    with Progress(*columns, console=get_console(), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
