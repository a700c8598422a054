"""The one list of unlearning methods, and how an objective is built from its YAML node.

A method registers its :class:`~unpact_exp.methods.base.Objective` class under the
name users type (``method=npo``)::

    @register("npo")
    class NPO(Objective): ...

:func:`build` binds the keys of ``conf/method/<name>.yaml`` to the class's
constructor by name, as torchtune checks a config: a key the constructor does not
take, or an argument the YAML lacks, is an :class:`UnpactConfigError` naming it
(with the closest valid key). Values are checked against the constructor's type
annotations by :mod:`unpact_exp.config.binder`, so ``method.beta=abc`` is refused by its
key, before any model is loaded.
:func:`check` does all of that without constructing the objective.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from unpact_exp.config.binder import bind_kwargs, hint
from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.base import RUNTIME_ARGS, TRAINING_KEYS, Objective

_METHODS: dict[str, type[Objective]] = {}
T = TypeVar("T", bound=type[Objective])


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` the method ``name`` (sets ``cls.name``)."""

    def decorate(cls: T) -> T:
        if name in _METHODS and _METHODS[name] is not cls:
            raise ValueError(f"method {name!r} is already registered to {_METHODS[name]}")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return decorate


def unregister(name: str) -> None:
    """Remove a method (for tests that register a toy one)."""
    _METHODS.pop(name, None)


def names() -> list[str]:
    """Every registered method name, sorted."""
    _load_builtin()
    return sorted(_METHODS)


def get(name: str) -> type[Objective]:
    """The class registered as ``name``.

    Raises:
        UnpactConfigError: unknown name (the message lists the methods and the closest one).
    """
    _load_builtin()
    if name not in _METHODS:
        raise UnpactConfigError(
            f"method={name!r} is not a registered method; choose one of {names()}."
            f"{hint(name, names())}"
        )
    return _METHODS[name]


def check(method_cfg: Any) -> type[Objective]:
    """Validate a method's YAML node against its class without building it; return the class."""
    cls = get(str(method_cfg["name"]))
    _bind(cls, method_cfg, runtime=None)
    return cls


def build(method_cfg: Any, runtime: Mapping[str, Any]) -> Objective:
    """Build the objective named by ``method.name`` from its YAML node.

    Args:
        method_cfg: the ``method`` config node (a DictConfig or dict).
        runtime: values of the :data:`~unpact_exp.methods.base.RUNTIME_ARGS` the
            constructor takes (``n_forget``, ``hidden_size``, ``seed``).
    """
    cls = get(str(method_cfg["name"]))
    return cls(**_bind(cls, method_cfg, runtime=runtime))


def _load_builtin() -> None:
    import unpact_exp.methods  # noqa: F401  (importing the package registers ga, npo, tv, rmu)


def _bind(cls: type[Objective], node: Any, runtime: Mapping[str, Any] | None) -> dict[str, Any]:
    return bind_kwargs(
        cls,
        node,
        "method",
        runtime=runtime,
        runtime_names=RUNTIME_ARGS,
        ignore=TRAINING_KEYS,
        owner=f"method={cls.name}",
        source=f"conf/method/{cls.name}.yaml",
    )
