"""Range checks for typed settings, called from their ``__post_init__``.

Types are checked once, by :mod:`unpact_exp.config.binder`; what is left for the
settings themselves is the range a value must lie in. Each check names the key as the
user types it, so the message reads like the binder's.
"""

from __future__ import annotations

from unpact_exp.errors import UnpactConfigError


def unit_interval(key: str, value: float) -> None:
    """``0 < value <= 1`` (docs/science.md §3 allows alpha and beta there)."""
    if not 0.0 < value <= 1.0:
        raise UnpactConfigError(f"{key}={value!r} is out of range; it must lie in (0, 1].")


def at_least(key: str, value: float, minimum: float) -> None:
    """``value >= minimum``."""
    if value < minimum:
        raise UnpactConfigError(f"{key}={value!r} is out of range; it must be >= {minimum:g}.")


def positive(key: str, value: float) -> None:
    """``value > 0``."""
    if not value > 0:
        raise UnpactConfigError(f"{key}={value!r} is out of range; it must be > 0.")


def non_empty(key: str, values: tuple[object, ...] | list[object], example: str) -> None:
    """At least one entry; ``example`` shows a valid value."""
    if not values:
        raise UnpactConfigError(f"{key} is empty; give at least one entry, e.g. {example}.")


def distinct(key: str, values: tuple[str, ...] | list[str]) -> None:
    """No entry twice (``attacks.every_step=[icl,icl]`` would run it twice)."""
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise UnpactConfigError(
            f"{key}={list(values)!r} names {sorted(set(seen))} more than once; list each once."
        )
