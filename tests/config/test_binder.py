"""The binder: the one place a config value's type is checked, with the key as typed first.

Hand-made targets cover each annotation the framework uses; every message must start with
the key (so the user sees what to fix) and say what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest
from omegaconf import OmegaConf

from unpact_exp.config.binder import bind, bind_kwargs, coerce
from unpact_exp.errors import UnpactConfigError


@dataclass(frozen=True)
class Inner:
    size: int


@dataclass(frozen=True)
class Settings:
    rate: float
    steps: int
    flag: bool
    mode: Literal["a", "b"]
    names: tuple[str, ...]
    cap: int | None
    inner: Inner
    label: str = "x"


GOOD = {
    "rate": 1,
    "steps": 3,
    "flag": True,
    "mode": "b",
    "names": ["p", "q"],
    "cap": None,
    "inner": {"size": 2},
}


def test_a_good_node_binds_and_converts() -> None:
    settings = bind(Settings, OmegaConf.create(GOOD), "grp")
    assert settings == Settings(1.0, 3, True, "b", ("p", "q"), None, Inner(2))
    assert isinstance(settings.rate, float) and settings.label == "x"  # the default kept


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("rate", "abc", r"^grp\.rate='abc' is not valid; it must be a number\.$"),
        ("rate", True, r"^grp\.rate=True is not valid; it must be a number"),
        ("rate", float("nan"), r"^grp\.rate=nan is not valid; it must be a finite number"),
        ("steps", 2.5, r"^grp\.steps=2\.5 is not valid; it must be an integer"),
        ("steps", True, r"^grp\.steps=True is not valid; it must be an integer"),
        ("flag", "yes", r"^grp\.flag='yes' is not valid; it must be true or false"),
        ("mode", "c", r"^grp\.mode='c' is not valid; choose one of \['a', 'b'\]"),
        ("names", "p", r"^grp\.names='p' is not valid; it must be a list"),
        ("names", ["p", 3], r"^grp\.names\[1\]=3 is not valid; it must be a string"),
        ("cap", "none", r"^grp\.cap='none' is not valid; it must be an integer"),
        ("inner", {"size": "big"}, r"^grp\.inner\.size='big' is not valid"),
    ],
)
def test_a_wrong_value_is_named_by_its_key(key: str, value: object, message: str) -> None:
    node = {**GOOD, key: value}
    with pytest.raises(UnpactConfigError, match=message):
        bind(Settings, node, "grp")


def test_unknown_and_missing_keys_are_named_with_a_suggestion() -> None:
    with pytest.raises(
        UnpactConfigError, match=r"grp\.stepz is not a setting.*Did you mean 'steps'"
    ):
        bind(Settings, {**GOOD, "stepz": 1}, "grp")
    partial = {k: v for k, v in GOOD.items() if k != "steps"}
    with pytest.raises(UnpactConfigError, match=r"^grp\.steps is missing"):
        bind(Settings, partial, "grp")
    with pytest.raises(UnpactConfigError, match=r"^grp\.steps is missing"):
        bind(Settings, {**GOOD, "steps": "???"}, "grp")


def test_runtime_arguments_and_ignored_keys() -> None:
    def build(alpha: float, n: int, unused: str = "") -> None: ...

    kwargs = bind_kwargs(
        build, {"alpha": 2, "name": "x"}, "m", runtime={"n": 5}, runtime_names=("n",),
        ignore=("name",),
    )  # fmt: skip
    assert kwargs == {"alpha": 2.0, "n": 5}
    assert bind_kwargs(build, {"alpha": 2}, "m", runtime=None, runtime_names=("n",)) == {
        "alpha": 2.0
    }


def test_unions_list_every_accepted_form() -> None:
    with pytest.raises(UnpactConfigError, match=r"true or false or one of \['auto'\]"):
        coerce("eval.progress", "sometimes", bool | Literal["auto"])
    assert coerce("eval.progress", "auto", bool | Literal["auto"]) == "auto"
    assert coerce("eval.progress", False, bool | Literal["auto"]) is False
