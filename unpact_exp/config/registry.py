"""One name -> class table per axis (methods, judges, attacks, metrics), all alike.

Every axis a user extends registers its classes by the name they type in a config::

    METHODS = Registry("method", "unpact_exp.methods", subject=lambda n: f"method={n!r}")

    @METHODS.register("npo")
    class NPO(Objective): ...

The table fills when the axis's package is imported (each built-in's file registers itself
there), so :meth:`Registry.get` and :meth:`Registry.names` import it first: a caller never
sees a half-filled table. What each axis builds from its config stays in its own
``registry.py``; only the table and its error message are shared, so the four axes cannot
drift apart in how an unknown name is refused.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from unpact_exp.config.binder import hint
from unpact_exp.errors import UnpactConfigError

C = TypeVar("C", bound=type)


class Registry(Generic[C]):
    """The classes registered for one axis.

    Args:
        kind: what a class is, for messages (``method``, ``judge``, ``attack``, ``metric``).
        package: the package whose import registers the built-ins.
        subject: how an unknown name is quoted in the error (default ``kind 'name'``).
        ordered: list names in registration order (where it is a report's column order)
            rather than sorted.
        on_register: extra class attributes to set at registration (beside ``name``).
    """

    def __init__(
        self,
        kind: str,
        package: str,
        *,
        subject: Callable[[str], str] | None = None,
        ordered: bool = False,
        on_register: Callable[[type, str], None] | None = None,
    ) -> None:
        self.kind = kind
        self._package = package
        self._subject = subject or (lambda name: f"{kind} {name!r}")
        self._ordered = ordered
        self._on_register = on_register
        self._classes: dict[str, C] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: make ``cls`` the ``name`` of this axis (sets ``cls.name``).

        Raises:
            ValueError: ``name`` is already another class's.
        """

        def decorate(cls: C) -> C:
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered to {self._classes[name]}"
                )
            cls.name = name  # type: ignore[attr-defined]
            if self._on_register is not None:
                self._on_register(cls, name)
            self._classes[name] = cls
            return cls

        return decorate

    def unregister(self, name: str) -> None:
        """Remove a class (for tests that register a toy one)."""
        self._classes.pop(name, None)

    def names(self) -> list[str]:
        """Every registered name: in registration order when ``ordered``, else sorted."""
        importlib.import_module(self._package)
        return list(self._classes) if self._ordered else sorted(self._classes)

    def get(self, name: str) -> C:
        """The class registered as ``name``.

        Raises:
            UnpactConfigError: unknown name (the message lists the valid ones and the closest).
        """
        importlib.import_module(self._package)
        if name not in self._classes:
            valid = self.names()
            raise UnpactConfigError(
                f"{self._subject(name)} is not a registered {self.kind}; choose one of "
                f"{valid}.{hint(str(name), valid)}"
            )
        return self._classes[name]
