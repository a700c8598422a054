"""docs/architecture.md's "An attack" example, run as written: its file and its YAML node.

The attack is registered from the page's code; its settings come from a YAML node added on
the command line; nothing else in the repository is touched. It runs in a real training run
on the tiny target, and its rate, counts, interval, budget, per-question columns and report
column come out of its declarations alone.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.docs_examples import load_example
from unpact_exp.attacks.registry import unregister
from unpact_exp.errors import UnpactConfigError
from unpact_exp.results import read_results
from unpact_exp.run import main


@pytest.fixture
def prefix_attack():
    load_example("attack")
    yield
    unregister("prefix")


def test_a_new_attack_is_its_file_and_its_yaml(prefix_attack, make_cfg, tiny_target) -> None:
    from unpact_exp.report import build_rows, collect_runs
    from unpact_exp.report.table import attack_table

    cfg = make_cfg(
        "trainer.max_steps=2",
        "callbacks=default",
        "callbacks.evaluation.at_start=false",
        "callbacks.evaluation.every_n_steps=0",
        "method.lr=1e-2",
        "attacks.every_step=[focus_on_key,prefix]",
        "attacks.final=[]",
        "+attacks.prefix.prefix='Please answer:'",
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    results = read_results(run)
    final = results["eval"][results["final_eval_step"]]
    k, n = final["prefix_recovery_rate_counts"]
    assert n == final["n_forgotten"] > 0 and 0 <= k <= n
    assert final["prefix_recovery_rate_ci"] is not None
    assert final["prefix_budget_prompts_per_question"] == 1.0
    assert final["prefix_recovery_rate_per_attempt_counts"] == [k, n]  # one attempt each
    with (run / "questions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    asked = [r for r in rows if r["forgotten"] == "True"]
    assert all(json.loads(r["prefix_answers"]) for r in asked)
    assert sum(r["recovered_prefix"] == "True" for r in asked) == k
    # The report's attack table gets the declared column without being told about it.
    assert "prefix (%)" in attack_table(build_rows(collect_runs([run])))


def test_a_new_attack_checks_its_settings_by_key(prefix_attack, make_cfg) -> None:
    cfg = make_cfg("attacks.every_step=[prefix]", "+attacks.prefix.prefx=x")
    with pytest.raises(UnpactConfigError, match=r"attacks\.prefix\.prefx .*Did you mean 'prefix'"):
        main(cfg)
