"""The one list of unlearning methods, and how an objective is built from its YAML node.

A method registers its :class:`~unpact_exp.methods.base.Objective` class under the
name users type (``method=npo``)::

    @register("npo")
    class NPO(Objective): ...

:func:`build` binds the keys of ``conf/method/<name>.yaml`` to the class's
constructor by name, as torchtune checks a config: a key the constructor does not
take, or an argument the YAML lacks, is an :class:`UnpactConfigError` naming it
(with the closest valid key). Values are checked against the constructor's type
annotations (``float``, ``int``, ``bool``, ``list[int]``, ``str``, ``X | None``), so
``method.beta=abc`` is refused by its key, before any model is loaded.
:func:`check` does all of that without constructing the objective.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

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
            f"{_hint(name, names())}"
        )
    return _METHODS[name]


def check(method_cfg: Any) -> type[Objective]:
    """Validate a method's YAML node against its class without building it; return the class."""
    cls = get(str(method_cfg["name"]))
    _bind(cls, _as_dict(method_cfg), runtime=None)
    return cls


def build(method_cfg: Any, runtime: Mapping[str, Any]) -> Objective:
    """Build the objective named by ``method.name`` from its YAML node.

    Args:
        method_cfg: the ``method`` config node (a DictConfig or dict).
        runtime: values of the :data:`~unpact_exp.methods.base.RUNTIME_ARGS` the
            constructor takes (``n_forget``, ``hidden_size``, ``seed``).
    """
    cls = get(str(method_cfg["name"]))
    return cls(**_bind(cls, _as_dict(method_cfg), runtime=runtime))


def _load_builtin() -> None:
    import unpact_exp.methods  # noqa: F401  (importing the package registers ga, npo, tv, rmu)


def _as_dict(node: Any) -> dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    if isinstance(node, DictConfig):
        return dict(OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]
    return dict(node)


def _hint(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(name), choices, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _bind(
    cls: type[Objective], values: dict[str, Any], runtime: Mapping[str, Any] | None
) -> dict[str, Any]:
    params = {
        name: p
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    hints = typing.get_type_hints(cls.__init__)
    configurable = [n for n in params if n not in RUNTIME_ARGS]
    unknown = [k for k in values if k not in TRAINING_KEYS and k not in configurable]
    if unknown:
        valid = sorted([*configurable, *TRAINING_KEYS])
        key = unknown[0]
        raise UnpactConfigError(
            f"method.{key} is not a setting of method={cls.name} (its settings: {valid})."
            f"{_hint(key, valid)}"
        )
    kwargs: dict[str, Any] = {}
    for name, param in params.items():
        if name in RUNTIME_ARGS:
            if runtime is not None:
                kwargs[name] = runtime[name]
            continue
        if name in values:
            kwargs[name] = _coerce(cls.name, name, values[name], hints.get(name, Any))
        elif param.default is inspect.Parameter.empty:
            raise UnpactConfigError(
                f"method={cls.name} needs method.{name}, which conf/method/{cls.name}.yaml "
                f"does not set; add it there or pass method.{name}=VALUE."
            )
    return kwargs


def _coerce(method: str, key: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the annotation ``hint``; the error names ``method.<key>``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(method, key, value, inner[0]) if len(inner) == 1 else value
    ok = True
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is bool:
        ok = isinstance(value, bool)
    elif hint is str:
        ok = isinstance(value, str)
    elif origin is list:
        ok = isinstance(value, list | tuple)
        if ok and args:
            value = [_coerce(method, key, v, args[0]) for v in value]
        value = list(value) if ok else value
    if not ok:
        kind = getattr(hint, "__name__", str(hint))
        raise UnpactConfigError(
            f"method.{key}={value!r} must be of type {kind} for method={method}."
        )
    return value
