"""The attack lists are checked when the run starts, before any model is read (issue 26).

``attacks.final=[relearnn]`` used to train every step and only then fail, and
``attacks.every_step=[paraphrase,paraphrase,relearn]`` ran paraphrase twice.
"""

from __future__ import annotations

import pytest

from tests.reliability.helpers import never_loads_a_model
from unpact_exp.errors import UnpactConfigError
from unpact_exp.run import main

CASES = [
    (
        ["attacks.final=[relearnn]"],
        r"attacks\.final=.*'relearnn', which is not a registered attack.*Did you mean 'relearn'",
    ),
    (["attacks.every_step=[paraphrase,paraphrase,relearn]", "attacks.final=[]"], r"paraphrase"),
    (["attacks.every_step=[icl]", "attacks.final=[icl]"], r"icl"),
]


@pytest.mark.parametrize(("overrides", "pattern"), CASES, ids=["typo", "twice", "both-lists"])
def test_bad_attack_lists_are_refused_before_training(
    overrides, pattern, make_cfg, monkeypatch
) -> None:
    cfg = make_cfg(*overrides)
    never_loads_a_model(monkeypatch)
    with pytest.raises(UnpactConfigError, match=pattern):
        main(cfg)
