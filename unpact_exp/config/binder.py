"""Bind a config node to a typed constructor: the one place config values are type-checked.

torchtune checks a config by binding its keys to a component's constructor signature; the
method registry did that for methods. This module does it for every typed settings object
(dataclasses such as :class:`~unpact_exp.unpact.config.UnpactConfig`, objectives, attacks,
metrics, judges): every key of the node must be a parameter, every parameter without a
default must be in the node, and each value is checked against the parameter's annotation.

Annotations understood: ``int``, ``float`` (finite: ``inf``/``nan`` are refused), ``bool``,
``str``, ``Literal[...]`` (the valid choices), ``tuple[X, ...]`` / ``list[X]`` (a YAML list,
never a lone string), ``dict[str, X]`` / ``Mapping``, ``X | None``, nested dataclasses
(bound recursively under ``group.key``) and ``Any``. An ``int`` is accepted where a
``float`` is asked for; ``true`` is never an integer.

Every error is an :class:`~unpact_exp.errors.UnpactConfigError` whose message starts with the
key as the user types it (``unpact.alpha='abc' is not valid; it must be a number``), names
the valid choices, and suggests the closest key for a misspelt one. Range checks (``alpha``
in (0, 1]) stay with the settings they constrain, in ``__post_init__``, using
:mod:`unpact_exp.config.checks`.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, TypeVar

from unpact_exp.errors import UnpactConfigError

T = TypeVar("T")
MISSING_VALUE = "???"


def plain(node: Any) -> Any:
    """An OmegaConf node as plain Python containers (interpolations resolved), else ``node``."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
    return node


def hint(name: str, choices: Collection[str]) -> str:
    """`` Did you mean 'x'?`` for the closest of ``choices``, else ``""``."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def parameters(target: Any) -> dict[str, inspect.Parameter]:
    """The keyword parameters of a class's constructor or of a function."""
    signature = inspect.signature(target)
    return {
        name: p
        for name, p in signature.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def annotations(target: Any) -> dict[str, Any]:
    """Resolved type hints of ``target``'s parameters (dataclass fields or ``__init__``)."""
    if dataclasses.is_dataclass(target):
        return typing.get_type_hints(target)
    init = target.__init__ if isinstance(target, type) else target
    return typing.get_type_hints(init)


def bind_kwargs(
    target: Any,
    node: Any,
    group: str,
    *,
    runtime: Mapping[str, Any] | None = None,
    runtime_names: Collection[str] = (),
    ignore: Collection[str] = (),
    owner: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments that build ``target`` from the config ``node``.

    Args:
        target: a class (its constructor) or a function.
        node: the config node (DictConfig or mapping); its keys are the arguments.
        group: how the node's keys are written on the command line (``unpact``,
            ``method``, ``attacks.relearn``): the prefix of every message.
        runtime: values for ``runtime_names`` parameters (supplied by the code, never by
            YAML); None checks the node without them (validation before any model is loaded).
        runtime_names: parameters that are not configuration.
        ignore: keys of the node that belong to someone else (read elsewhere).
        owner: how the target is named in messages (``method=npo``); default the group.
        source: the YAML file that should set a missing key (default ``conf/<group>``).

    Raises:
        UnpactConfigError: an unknown key, a missing key or a value of the wrong type.
    """
    values = plain(node)
    if not isinstance(values, Mapping):
        raise UnpactConfigError(f"{group}={values!r} is not valid; it must be a group of keys.")
    params = parameters(target)
    hints = annotations(target)
    configurable = [n for n in params if n not in runtime_names]
    who = owner or group
    unknown = [k for k in values if k not in ignore and k not in configurable]
    if unknown:
        valid = sorted([*configurable, *ignore])
        key = unknown[0]
        raise UnpactConfigError(
            f"{group}.{key} is not a setting of {who} (its settings: {valid}).{hint(key, valid)}"
        )
    kwargs: dict[str, Any] = {}
    for name, param in params.items():
        if name in runtime_names:
            if runtime is not None:
                kwargs[name] = runtime[name]
            continue
        if name in values and values[name] != MISSING_VALUE:
            kwargs[name] = coerce(f"{group}.{name}", values[name], hints.get(name, Any))
        elif param.default is inspect.Parameter.empty:
            where = source or f"conf/{group.split('.')[0]}/"
            raise UnpactConfigError(
                f"{group}.{name} is missing: {who} needs it; set it in {where} or pass "
                f"{group}.{name}=VALUE."
            )
    return kwargs


def bind(target: type[T], node: Any, group: str, **options: Any) -> T:
    """``target(**bind_kwargs(target, node, group, ...))``: a typed, checked settings object."""
    return target(**bind_kwargs(target, node, group, **options))


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """``value`` checked against ``annotation`` (and converted: lists to tuples, int to float).

    Args:
        key: the key as typed (``unpact.alpha``), the start of any error message.
        value: a plain value (no OmegaConf nodes).
        annotation: the parameter's type hint.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors: list[str] = []
        for option in options:
            try:
                return coerce(key, value, option)
            except UnpactConfigError as err:
                errors.append(str(err))
        if len(options) == 1:
            raise UnpactConfigError(errors[0])
        allowed = " or ".join(_describe(o) for o in options)
        none = " or null" if type(None) in args else ""
        raise UnpactConfigError(f"{key}={value!r} is not valid; it must be {allowed}{none}.")
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise UnpactConfigError(f"{key}={value!r} is not valid; choose one of {list(args)}.")
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return bind(annotation, value, key)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise UnpactConfigError(f"{key}={value!r} is not valid; it must be true or false.")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UnpactConfigError(f"{key}={value!r} is not valid; it must be an integer.")
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise UnpactConfigError(
                    f"{key}={value!r} is not valid; it must be a finite number."
                )
            return float(value)
        raise UnpactConfigError(f"{key}={value!r} is not valid; it must be a number.")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise UnpactConfigError(f"{key}={value!r} is not valid; it must be a string.")
    if origin in (tuple, list, Sequence) or annotation in (tuple, list):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise UnpactConfigError(
                f"{key}={value!r} is not valid; it must be a list (e.g. {key}=[a,b])."
            )
        inner = args[0] if args else Any
        items = [coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
        return list(items) if origin is list or annotation is list else tuple(items)
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise UnpactConfigError(f"{key}={value!r} is not valid; it must be a group of keys.")
        inner = args[1] if len(args) == 2 else Any
        return {str(k): coerce(f"{key}.{k}", v, inner) for k, v in value.items()}
    return value


def _describe(annotation: Any) -> str:
    """How a type reads in a message (``a number``, ``a list``)."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if annotation in names:
        return names[annotation]
    if typing.get_origin(annotation) is Literal:
        return "one of " + str(list(typing.get_args(annotation)))
    if typing.get_origin(annotation) in (tuple, list, Sequence):
        return "a list"
    return getattr(annotation, "__name__", str(annotation))
