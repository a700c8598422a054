"""The ``every_step`` / ``final`` lists of a registry-backed group (attacks, metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf

from unpact_exp.config import checks
from unpact_exp.config.binder import coerce, hint
from unpact_exp.errors import UnpactConfigError


def checked_lists(
    root: Any, group: str, valid: Sequence[str], what: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``<group>.every_step`` and ``<group>.final`` of the config ``root``, checked.

    Raises:
        UnpactConfigError: not a list of names, an unknown name (with the valid ones), or a
            name listed twice (in one list or in both).
    """
    lists = []
    for part in ("every_step", "final"):
        key = f"{group}.{part}"
        listed = coerce(key, OmegaConf.select(root, key), tuple[str, ...])
        checks.distinct(key, listed)
        for name in listed:
            if name not in valid:
                raise UnpactConfigError(
                    f"{key}={list(listed)!r} names {name!r}, which is not a registered {what}; "
                    f"choose from {list(valid)}.{hint(name, valid)}"
                )
        lists.append(listed)
    every, final = lists
    both = sorted(set(every) & set(final))
    if both:
        raise UnpactConfigError(
            f"{group}.every_step and {group}.final both list {both}; what is in every_step "
            "already runs at the final evaluation: list it once."
        )
    return every, final
