"""Which attacks or metrics run at an evaluation step: every step, or only the final one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Schedule:
    """Things run at every evaluation step, and things run only at the final one.

    Attributes:
        every_step: run at every evaluation step.
        final: run only at the final evaluation (and by ``eval.py``).
    """

    every_step: tuple[Any, ...] = ()
    final: tuple[Any, ...] = ()

    def due(self, final: bool) -> tuple[Any, ...]:
        """What one evaluation runs (``final``: also the final-only ones)."""
        return self.every_step + (self.final if final else ())

    def all(self) -> tuple[Any, ...]:
        """Everything scheduled."""
        return self.every_step + self.final

    def only(self, keep: Callable[[Any], bool]) -> Schedule:
        """The schedule without what ``keep`` rejects."""
        return Schedule(
            tuple(x for x in self.every_step if keep(x)), tuple(x for x in self.final if keep(x))
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The names of everything scheduled."""
        return tuple(x.name for x in self.all())
