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

from collections.abc import Mapping
from typing import Any

from unpact_exp.config.binder import bind_kwargs
from unpact_exp.config.registry import Registry
from unpact_exp.methods.base import RUNTIME_ARGS, TRAINING_KEYS, Objective

_METHODS: Registry[type[Objective]] = Registry(
    "method", "unpact_exp.methods", subject=lambda name: f"method={name!r}"
)
register = _METHODS.register
unregister = _METHODS.unregister
names = _METHODS.names
get = _METHODS.get


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
