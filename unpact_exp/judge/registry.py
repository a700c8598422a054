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

import inspect

from unpact_exp.config.registry import Registry
from unpact_exp.judge.base import Judge

_JUDGES: Registry[type[Judge]] = Registry(
    "judge", "unpact_exp.judge", subject=lambda name: f"eval.judge={name!r}"
)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
register = _JUDGES.register
unregister = _JUDGES.unregister
names = _JUDGES.names
get = _JUDGES.get


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
