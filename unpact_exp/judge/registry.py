"""The one list of judges, and how a judge is built from the ``eval`` settings.

A judge registers its class under the name users type (``eval.judge=strict``)::

    @register("strict")
    class StrictJudge(Judge): ...

:func:`build` passes each class only the settings its constructor names (the ROUGE
judge takes the threshold and the stemming switch; the strict judge takes none), so a
new judge is one file, one registration and no edit here. An unknown name is an
:class:`UnpactConfigError` naming the judges and the closest one, as for methods.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import TypeVar

from unpact_exp.errors import UnpactConfigError
from unpact_exp.judge.base import Judge

_JUDGES: dict[str, type[Judge]] = {}
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
T = TypeVar("T", bound=type[Judge])


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` the judge ``name`` (sets ``cls.name``)."""

    def decorate(cls: T) -> T:
        if name in _JUDGES and _JUDGES[name] is not cls:
            raise ValueError(f"judge {name!r} is already registered to {_JUDGES[name]}")
        cls.name = name
        _JUDGES[name] = cls
        return cls

    return decorate


def unregister(name: str) -> None:
    """Remove a judge (for tests that register a toy one)."""
    _JUDGES.pop(name, None)


def names() -> list[str]:
    """Every registered judge name, sorted."""
    _load_builtin()
    return sorted(_JUDGES)


def get(name: str) -> type[Judge]:
    """The class registered as ``name``.

    Raises:
        UnpactConfigError: unknown name (the message lists the judges and the closest one).
    """
    _load_builtin()
    if name not in _JUDGES:
        close = difflib.get_close_matches(str(name), names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnpactConfigError(
            f"eval.judge={name!r} is not a registered judge; choose one of {names()}.{hint}"
        )
    return _JUDGES[name]


def build(name: str, *, correct_threshold: float, rouge_stemming: bool) -> Judge:
    """The judge ``name``, given those of the settings its constructor takes.

    Args:
        name: ``eval.judge``.
        correct_threshold: ``eval.correct_threshold`` (read by ``rouge_recall``).
        rouge_stemming: ``eval.rouge_stemming`` (read by ``rouge_recall``).
    """
    cls = get(name)
    settings = {"correct_threshold": correct_threshold, "rouge_stemming": rouge_stemming}
    params = inspect.signature(cls.__init__).parameters.values()
    taken = [p.name for p in params if p.name != "self" and p.kind not in _VARIADIC]
    unknown = [p for p in taken if p not in settings]
    if unknown:
        raise TypeError(f"judge {name!r} asks for settings {unknown}; known: {sorted(settings)}")
    return cls(**{p: settings[p] for p in taken})


def _load_builtin() -> None:
    import unpact_exp.judge  # noqa: F401  (importing the package registers the judges)
