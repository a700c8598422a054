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

from typing import Any

from omegaconf import OmegaConf

from unpact_exp.config.binder import bind
from unpact_exp.config.lists import checked_lists
from unpact_exp.config.registry import Registry
from unpact_exp.evaluation.schedule import Schedule

# Registration order is the report's metric-table order.
_METRICS: Registry[type] = Registry("metric", "unpact_exp.metrics", ordered=True)
register = _METRICS.register
unregister = _METRICS.unregister
names = _METRICS.names
get = _METRICS.get


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
