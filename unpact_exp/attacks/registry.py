"""The one list of attacks, and how a run's attacks are built from its config.

An attack registers its class under the name users list in ``attacks.every_step`` /
``attacks.final``::

    @register("paraphrase")
    class Paraphrase(AttackBase): ...

:func:`build` binds the attack's config node (``attacks.<name>``, or the group it names,
e.g. ``focus_on_key``) to its constructor with :mod:`unpact_exp.config.binder`;
:func:`build_plan` checks the two lists (every name registered, none twice) when the run
starts, before any model is loaded. The report and the per-question table read each
attack's declarations, so a new attack is its file, its registration (the import line in
:mod:`unpact_exp.attacks`), its YAML node (if it has settings) and its test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from omegaconf import OmegaConf

from unpact_exp.config.binder import bind, hint
from unpact_exp.config.lists import checked_lists
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.schedule import Schedule

_ATTACKS: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` the attack ``name`` (sets ``cls.name``, ``cls.column``)."""

    def decorate(cls: T) -> T:
        if name in _ATTACKS and _ATTACKS[name] is not cls:
            raise ValueError(f"attack {name!r} is already registered to {_ATTACKS[name]}")
        cls.name = name  # type: ignore[attr-defined]
        if not getattr(cls, "column", ""):
            cls.column = name  # type: ignore[attr-defined]
        _ATTACKS[name] = cls
        return cls

    return decorate


def unregister(name: str) -> None:
    """Remove an attack (for tests that register a toy one)."""
    _ATTACKS.pop(name, None)


def _load_builtin() -> None:
    import unpact_exp.attacks  # noqa: F401  (importing the package registers the built-ins)


def names() -> list[str]:
    """Every registered attack, in registration order (the report's column order)."""
    _load_builtin()
    return list(_ATTACKS)


def get(name: str) -> type:
    """The class registered as ``name``.

    Raises:
        UnpactConfigError: unknown name (the message lists the attacks and the closest one).
    """
    _load_builtin()
    if name not in _ATTACKS:
        raise UnpactConfigError(
            f"attack {name!r} is not a registered attack; choose from {names()}."
            f"{hint(name, names())}"
        )
    return _ATTACKS[name]


def group_of(cls: type) -> str:
    """Where an attack's settings live in the config (``attacks.<name>`` by default)."""
    return getattr(cls, "group", "") or f"attacks.{cls.name}"  # type: ignore[attr-defined]


def build(name: str, root: Any) -> Any:
    """The attack ``name`` with its settings read from the composed config ``root``."""
    cls = get(name)
    group = group_of(cls)
    node = OmegaConf.select(root, group, default=None) if root is not None else None
    return bind(cls, node if node is not None else {}, group, owner=f"attack {name}")


def build_plan(root: Any) -> Schedule:
    """The attacks named by ``attacks.every_step`` and ``attacks.final`` of the config ``root``.

    Raises:
        UnpactConfigError: a list that is not a list of names, an unknown name (with the
            valid ones), a name listed twice (in one list or both), or a bad setting.
    """
    every, final = checked_lists(root, "attacks", names(), "attack")
    return Schedule(tuple(build(n, root) for n in every), tuple(build(n, root) for n in final))
