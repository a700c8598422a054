"""The shared name -> class table behind every axis (methods, judges, attacks, metrics)."""

from __future__ import annotations

import pytest

from unpact_exp.config.registry import Registry
from unpact_exp.errors import UnpactConfigError


def toy(ordered: bool = False, **kwargs) -> Registry[type]:
    # ``unpact_exp.errors`` is already imported: importing it again fills nothing.
    return Registry("widget", "unpact_exp.errors", ordered=ordered, **kwargs)


def test_register_sets_the_name_and_lists_it() -> None:
    widgets = toy()

    @widgets.register("zeta")
    class Zeta:
        pass

    @widgets.register("alpha")
    class Alpha:
        pass

    assert Zeta.name == "zeta" and widgets.get("alpha") is Alpha
    assert widgets.names() == ["alpha", "zeta"]  # sorted by default


def test_ordered_registry_keeps_registration_order() -> None:
    widgets = toy(ordered=True)
    for name in ("zeta", "alpha", "mid"):
        widgets.register(name)(type(name, (), {}))
    assert widgets.names() == ["zeta", "alpha", "mid"]


def test_a_name_taken_by_another_class_is_refused() -> None:
    widgets = toy()
    first = widgets.register("x")(type("First", (), {}))
    assert widgets.register("x")(first) is first  # the same class again is harmless
    with pytest.raises(ValueError, match=r"widget 'x' is already registered"):
        widgets.register("x")(type("Second", (), {}))


def test_an_unknown_name_lists_the_valid_ones_and_the_closest() -> None:
    widgets = toy(subject=lambda name: f"grp.widget={name!r}")
    widgets.register("relearn")(type("Relearn", (), {}))
    widgets.register("reask")(type("Reask", (), {}))
    with pytest.raises(UnpactConfigError) as info:
        widgets.get("relaern")
    assert str(info.value) == (
        "grp.widget='relaern' is not a registered widget; choose one of "
        "['reask', 'relearn']. Did you mean 'relearn'?"
    )


def test_on_register_sets_extra_attributes_and_unregister_removes() -> None:
    widgets = toy(on_register=lambda cls, name: setattr(cls, "column", name.upper()))
    cls = widgets.register("w")(type("W", (), {}))
    assert cls.column == "W"
    widgets.unregister("w")
    assert widgets.names() == []


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("unpact_exp.methods.registry", "npo"),
        ("unpact_exp.judge.registry", "strict"),
        ("unpact_exp.attacks.registry", "focus_on_key"),
        ("unpact_exp.metrics.registry", "verbmem"),
    ],
)
def test_every_axis_fills_its_table_on_first_use(module: str, name: str) -> None:
    import importlib

    registry = importlib.import_module(module)
    assert name in registry.names() and registry.get(name).name == name
