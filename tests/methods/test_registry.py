"""The method registry is the only list of methods, and YAML keys bind to constructors by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods import registry
from unpact_exp.methods.regularizers import (
    build_regularizer,
    check_combination,
    get_regularizer,
    regularizer_names,
)

CONF = Path(__file__).resolve().parents[2] / "unpact_exp" / "conf"


def _yaml_names(group: str) -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted((CONF / group).glob("*.yaml"))}


def test_every_method_yaml_has_a_class_and_every_class_a_yaml() -> None:
    files = _yaml_names("method")
    assert set(files) == set(registry.names())
    for stem, node in files.items():
        assert node["name"] == stem  # the file name is the name users type
        registry.check(node)  # every key binds to the constructor


def test_every_regularizer_yaml_has_a_class_and_every_class_a_yaml() -> None:
    files = _yaml_names("regularizer")
    assert set(files) == set(regularizer_names())
    for stem, node in files.items():
        assert node["name"] == stem
        assert build_regularizer(node).name == stem


def test_capabilities_are_class_attributes() -> None:
    accepting = {n for n in registry.names() if registry.get(n).accepts_regularizer}
    assert accepting == {"ga", "npo", "simnpo", "idkdpo", "undial"}
    assert registry.get("rmu").needs_reference and registry.get("rmu").uses_retain
    assert not registry.get("tv").evaluates_during_fit
    assert registry.get("idkdpo").needs_reference and registry.get("undial").needs_reference
    assert not registry.get("simnpo").needs_reference
    assert get_regularizer("kl").needs_reference and not get_regularizer("gd").needs_reference


def test_unknown_method_names_the_closest() -> None:
    with pytest.raises(UnpactConfigError, match=r"method='npx'.*Did you mean 'npo'"):
        registry.get("npx")


def test_unknown_key_names_the_closest_valid_key() -> None:
    node = {**_yaml_names("method")["npo"], "betta": 0.2}
    with pytest.raises(UnpactConfigError, match=r"method\.betta .*Did you mean 'beta'"):
        registry.check(node)


def test_missing_key_is_named() -> None:
    node = dict(_yaml_names("method")["rmu"])
    del node["steering_coeff"]
    with pytest.raises(UnpactConfigError, match=r"method\.steering_coeff is missing: method=rmu"):
        registry.check(node)


@pytest.mark.parametrize(
    ("method", "key", "value"),
    [("npo", "beta", "abc"), ("rmu", "layer", 1.5), ("rmu", "trainable_layers", [1, "x"])],
)
def test_wrong_type_is_refused_by_its_key(method: str, key: str, value: object) -> None:
    node = {**_yaml_names("method")[method], key: value}
    with pytest.raises(UnpactConfigError, match=rf"^method\.{key}(\[\d\])?=.* is not valid"):
        registry.check(node)


def test_build_supplies_runtime_arguments() -> None:
    runtime = {"n_forget": 7, "hidden_size": 4, "seed": 0, "forget_prompts": None, "unpact": None}
    npo = registry.build(_yaml_names("method")["npo"], runtime)
    assert npo.ref_logp.shape == (7,) and npo.beta == 0.1


def test_combination_rule_reads_the_class() -> None:
    check_combination(registry.get("ga"), "kl")
    message = r"method=tv .*regularizer=gd.*method=ga, method=idkdpo, method=npo"
    with pytest.raises(UnpactConfigError, match=message):
        check_combination(registry.get("tv"), "gd")


def test_no_module_compares_method_names() -> None:
    """Capabilities are asked of the class: no ``== "tv"``-style test outside the registry."""
    package = Path(registry.__file__).resolve().parents[1]
    offenders = []
    for path in package.rglob("*.py"):
        text = path.read_text()
        for name in registry.names():
            for pattern in (f'== "{name}"', f'!= "{name}"', f"== '{name}'"):
                if pattern in text:
                    offenders.append(f"{path.name}: {pattern}")
    assert offenders == []
