"""OmegaConf resolvers used by the configs; registered when this module is imported.

``unpact_dirname`` keeps sweep job folder names readable and legal: Hydra's
``override_dirname`` grows with every override and a long command line would
exceed the 255-character file name limit, so long names are cut and suffixed
with a short hash of the full string (still unique per job).

``unpact_sibling`` names a model's sibling on the hub from its own id, so one experiment
serves a family of sizes: ``${unpact_sibling:${model.hub_id},_full,_retain90}`` is the
retain model of whichever TOFU target was chosen (``..._Llama-3.1-8B-Instruct_full`` ->
``..._Llama-3.1-8B-Instruct_retain90``), never another size's.
"""

from __future__ import annotations

import hashlib

from omegaconf import OmegaConf

from unpact_exp.errors import UnpactConfigError

MAX_DIRNAME = 120


def short_dirname(name: str) -> str:
    """``name`` if short enough, else its first part plus an 8-character hash of it all."""
    name = name.replace("/", "|")
    if len(name) <= MAX_DIRNAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_DIRNAME - 9]}~{digest}"


def sibling(hub_id: str | None, suffix: str, replacement: str) -> str:
    """``hub_id`` with its ending ``suffix`` replaced by ``replacement``.

    Raises:
        UnpactConfigError: ``hub_id`` does not end in ``suffix`` (a model that is not of the
            family the experiment expects), naming the key to set instead.
    """
    if not hub_id or not str(hub_id).endswith(suffix):
        raise UnpactConfigError(
            f"model.hub_id={hub_id!r} does not end in {suffix!r}, so the experiment cannot "
            f"name its {replacement.lstrip('_')} model: choose one of the experiment's models, "
            "or set the key that reads it (e.g. metrics.tofu.retain_model=<hub id or folder>)."
        )
    return str(hub_id)[: -len(suffix)] + replacement


def register() -> None:
    """Register the project's resolvers (idempotent)."""
    if not OmegaConf.has_resolver("unpact_dirname"):
        OmegaConf.register_new_resolver("unpact_dirname", short_dirname)
    if not OmegaConf.has_resolver("unpact_sibling"):
        OmegaConf.register_new_resolver("unpact_sibling", sibling)


register()
