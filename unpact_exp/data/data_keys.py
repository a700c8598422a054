"""The ``data`` group's shared key checks, used by every loader (MUSE, WMDP, TOFU, ...).

Kept apart from :mod:`unpact_exp.data.loaders` so a loader in its own module can use them
without importing the module that dispatches to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unpact_exp.config import checks
from unpact_exp.config.binder import coerce
from unpact_exp.errors import UnpactConfigError

CONFIG_NODE = "data"


def required_key(cfg: Mapping[str, Any], key: str) -> Any:
    """``cfg[key]``, or an error naming the missing key (every data key is required)."""
    if key not in cfg:
        raise UnpactConfigError(
            f"{CONFIG_NODE} config {cfg.get('name', '?')!r} has no key {key!r}; every key is "
            f"required (see conf/data/news.yaml or conf/data/wmdp_bio.yaml)."
        )
    return cfg[key]


def parse_ref(ref: Any, key: str) -> tuple[str | None, str]:
    """Split a reference ``"subset/split"`` (or ``"split"``) into ``(subset, split)``."""
    parts = ref.split("/") if isinstance(ref, str) else []
    if not 1 <= len(parts) <= 2 or not all(p.strip() for p in parts):
        raise UnpactConfigError(
            f"{CONFIG_NODE}.{key}={ref!r} is not a split reference; use '<subset>/<split>' "
            f"(e.g. 'knowmem/forget_qa'), '<split>' (e.g. 'train') or null."
        )
    return (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def check_max_retain(value: Any) -> None:
    """``data.max_retain_examples``: an int >= 1, or null for every retain example.

    Raises:
        UnpactConfigError: naming the key and the bad value.
    """
    key = f"{CONFIG_NODE}.max_retain_examples"
    value = coerce(key, value, int | None)
    if value is not None:
        checks.at_least(key, value, 1)
