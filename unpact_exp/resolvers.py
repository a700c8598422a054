"""OmegaConf resolvers used by the configs; registered when this module is imported.

``unpact_dirname`` keeps sweep job folder names readable and legal: Hydra's
``override_dirname`` grows with every override and a long command line would
exceed the 255-character file name limit, so long names are cut and suffixed
with a short hash of the full string (still unique per job).
"""

from __future__ import annotations

import hashlib

from omegaconf import OmegaConf

MAX_DIRNAME = 120


def short_dirname(name: str) -> str:
    """``name`` if short enough, else its first part plus an 8-character hash of it all."""
    name = name.replace("/", "|")
    if len(name) <= MAX_DIRNAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_DIRNAME - 9]}~{digest}"


def register() -> None:
    """Register the project's resolvers (idempotent)."""
    if not OmegaConf.has_resolver("unpact_dirname"):
        OmegaConf.register_new_resolver("unpact_dirname", short_dirname)


register()
