"""Classes named in a config: only from an allow-list of packages, so a config cannot run code.

A dotted class name in a config (``model.decoder_layer_cls``, the FSDP wrap unit) is
imported to be used. Importing a module runs it, so a config (a file anyone can hand over,
or a run folder's recorded ``.hydra/config.yaml``) naming ``this.Nothing`` or ``mymodule.X``
would execute that module. Names are therefore restricted to the packages whose classes a
config legitimately needs (:data:`ALLOWED_PACKAGES`), checked *before* anything is imported.
"""

from __future__ import annotations

from typing import Any

from unpact_exp.errors import UnpactConfigError

ALLOWED_PACKAGES = ("transformers", "torch", "unpact_exp")
"""Top-level packages a config may name classes from."""


def check_class_name(key: str, name: Any) -> None:
    """Refuse a class name outside :data:`ALLOWED_PACKAGES` without importing anything.

    Args:
        key: the config key, as the user types it (``model.decoder_layer_cls``).
        name: its value, a dotted path such as
            ``transformers.models.llama.modeling_llama.LlamaDecoderLayer``.

    Raises:
        UnpactConfigError: naming the key, the value, the allowed packages and an example.
    """
    text = str(name)
    package = text.split(".", 1)[0]
    if isinstance(name, str) and "." in text and package in ALLOWED_PACKAGES:
        return
    raise UnpactConfigError(
        f"{key}={name!r} is not a class of the allowed packages {list(ALLOWED_PACKAGES)}: a "
        "config may only name classes there, so that no config can import other code. Give "
        "the full dotted path, e.g. "
        f"{key}=transformers.models.llama.modeling_llama.LlamaDecoderLayer."
    )


def config_class(key: str, name: Any) -> type | None:
    """The class a config names (None stays None), after :func:`check_class_name`.

    Raises:
        UnpactConfigError: the name is outside the allow-list, cannot be imported, or is
            not a class.
    """
    if name is None:
        return None
    check_class_name(key, name)
    found = _locate(str(name))
    if not isinstance(found, type):
        raise UnpactConfigError(
            f"{key}={name!r} cannot be imported as a class; check the module path and the class "
            "name (e.g. transformers.models.llama.modeling_llama.LlamaDecoderLayer)."
        )
    return found


def _locate(path: str) -> Any:
    """The object at dotted ``path``: the longest importable module prefix, then attributes."""
    import importlib

    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            found = getattr(found, attr, None)
        return found
    return None
