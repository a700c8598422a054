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

from typing import Any

from omegaconf import OmegaConf

from unpact_exp.config.binder import bind
from unpact_exp.config.lists import checked_lists
from unpact_exp.config.registry import Registry
from unpact_exp.evaluation.schedule import Schedule


def _set_column(cls: type, name: str) -> None:
    """An attack's report column defaults to its name."""
    if not getattr(cls, "column", ""):
        cls.column = name  # type: ignore[attr-defined]


# Registration order is the report's attack-column order.
_ATTACKS: Registry[type] = Registry(
    "attack", "unpact_exp.attacks", ordered=True, on_register=_set_column
)
register = _ATTACKS.register
unregister = _ATTACKS.unregister
names = _ATTACKS.names
get = _ATTACKS.get


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
