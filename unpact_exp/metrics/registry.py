"""The one list of metrics, and how a metric is built from its config node.

A metric registers its class under the name users list in ``metrics.every_step``::

    @register("verbmem")
    class VerbMem: ...

:func:`build` binds ``metrics.<name>`` (its YAML node; absent for a metric without
settings) to the class's constructor with :mod:`unpact_exp.config.binder`. The report reads
every registered metric's declared columns, so a new metric is its file, its registration
(the import line in :mod:`unpact_exp.metrics`), its YAML node (if it has settings) and its
test: nothing else to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from omegaconf import OmegaConf

from unpact_exp.config.binder import bind, hint
from unpact_exp.config.lists import checked_lists
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.schedule import Schedule

_METRICS: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` the metric ``name`` (sets ``cls.name``)."""

    def decorate(cls: T) -> T:
        if name in _METRICS and _METRICS[name] is not cls:
            raise ValueError(f"metric {name!r} is already registered to {_METRICS[name]}")
        cls.name = name  # type: ignore[attr-defined]
        _METRICS[name] = cls
        return cls

    return decorate


def unregister(name: str) -> None:
    """Remove a metric (for tests that register a toy one)."""
    _METRICS.pop(name, None)


def _load_builtin() -> None:
    import unpact_exp.metrics  # noqa: F401  (importing the package registers the built-ins)


def names() -> list[str]:
    """Every registered metric, in registration order (the report's table order)."""
    _load_builtin()
    return list(_METRICS)


def get(name: str) -> type:
    """The class registered as ``name``.

    Raises:
        UnpactConfigError: unknown name (the message lists the metrics and the closest one).
    """
    _load_builtin()
    if name not in _METRICS:
        raise UnpactConfigError(
            f"metric {name!r} is not a registered metric; choose from {names()}."
            f"{hint(name, names())}"
        )
    return _METRICS[name]


def build(name: str, root: Any) -> Any:
    """The metric ``name`` with its settings (``metrics.<name>`` of the config ``root``)."""
    cls = get(name)
    node = OmegaConf.select(root, f"metrics.{name}", default=None) if root is not None else None
    return bind(cls, node if node is not None else {}, f"metrics.{name}", owner=f"metric {name}")


def build_plan(root: Any) -> Schedule:
    """The metrics named by ``metrics.every_step`` and ``metrics.final`` of the config ``root``.

    Raises:
        UnpactConfigError: an unknown name (with the valid ones), a name listed twice, or a
            bad setting.
    """
    every, final = checked_lists(root, "metrics", names(), "metric")
    return Schedule(tuple(build(n, root) for n in every), tuple(build(n, root) for n in final))
