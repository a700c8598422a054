"""Config values of the wrong type are refused naming the key the user typed; endless runs too.

Issue 17 cases 2 and 3: ``trainer.max_steps=-1 trainer.max_epochs=-1`` trained forever,
``method.lr=abc`` ended in a ``TypeError`` and ``seed=abc`` was reported as ``probab.seed``.
All are refused in milliseconds, before any data or model is loaded.
"""

from __future__ import annotations

import re

import pytest

from tests.reliability.helpers import never_loads_a_model
from unpact_exp.errors import UnpactConfigError
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.stages.unlearn import validate

# (overrides, the message; the key as typed must come first)
CASES = [
    (["method.lr=abc"], r"^method\.lr='abc' is not valid; it must be a number"),
    (["seed=abc"], r"^seed='abc' is not valid; it must be an integer"),
    (["method.forget_nll_stop=abc"],
     r"^method\.forget_nll_stop='abc' is not valid; it must be a number"),
    (["unpact.alpha=abc"], r"^unpact\.alpha='abc' is not valid; it must be a number"),
    (["unpact.ignore_eps=abc"], r"^unpact\.ignore_eps='abc' is not valid"),
    (["probab.temperature=abc"], r"^probab\.temperature='abc' is not valid"),
    (["probab.top_p=[1]"], r"^probab\.top_p=\[1\] is not valid"),
    (["eval.correct_threshold=true"], r"^eval\.correct_threshold=True is not valid"),
    (["trainer.max_steps=abc"], r"^trainer\.max_steps='abc' is not valid; it must be an integer"),
    (["trainer.max_epochs=2.5"], r"^trainer\.max_epochs=2\.5 is not valid; it must be an integer"),
    (["trainer.max_steps=-1", "trainer.max_epochs=-1"],
     r"^trainer\.max_steps=-1 with trainer\.max_epochs=-1 never ends; .*"
     r"trainer\.allow_endless=true"),
    (["trainer.allow_endless=maybe"],
     r"^trainer\.allow_endless='maybe' is not valid; it must be true or false"),
    (["eval.stop_strings=abc"], r"^eval\.stop_strings='abc' is not valid; it must be a list"),
    (["focus_on_key.templates=x"], r"^focus_on_key\.templates='x' is not valid; it must be a list"),
    (["callbacks.evaluation.at_start=abc"],
     r"^callbacks\.evaluation\.at_start='abc' is not valid; it must be true or false"),
    (["callbacks.evaluation.every_n_steps=abc"],
     r"^callbacks\.evaluation\.every_n_steps='abc' is not valid; it must be an integer"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "pattern"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_wrong_type_names_the_key_as_typed(overrides, pattern, make_cfg, monkeypatch) -> None:
    cfg = make_cfg(*overrides)
    never_loads_a_model(monkeypatch)  # refused before any model is read
    with pytest.raises(UnpactConfigError) as err:
        main(cfg)
    assert re.search(pattern, str(err.value)), str(err.value)
    assert "probab.seed" not in str(err.value)
    if "seed=abc" not in overrides:  # seed is checked before the run folder is touched
        assert read_results(cfg.paths.output_dir)["status"] == "failed"


def test_allow_endless_is_a_composed_knob_that_lets_an_endless_run_through(make_cfg) -> None:
    for trainer in ("cpu", "ddp", "fsdp2", "gpu"):
        assert make_cfg(f"trainer={trainer}").trainer.allow_endless is False
    validate(make_cfg("trainer.max_steps=-1", "trainer.allow_endless=true"))  # no error
    validate(make_cfg("trainer.max_steps=-1", "trainer.max_epochs=3"))  # epochs bound it
    with pytest.raises(UnpactConfigError, match="never ends"):
        validate(make_cfg("trainer.max_steps=-1"))  # max_epochs is -1 by default
