"""docs/architecture.md's "A metric" example, run as written: its file and its list entry.

The metric is registered from the page's code and listed on the command line; it runs in a
real training run on the tiny target, and its keys and its report table come out of its
declarations alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_examples import load_example
from unpact_exp.metrics.registry import unregister
from unpact_exp.results import read_results
from unpact_exp.run import main


@pytest.fixture
def answer_length():
    load_example("metric")
    yield
    unregister("answer_length")


def test_a_new_metric_is_its_file_and_its_list_entry(answer_length, make_cfg, tiny_target):
    from unpact_exp.report import build_rows, collect_runs
    from unpact_exp.report.table import metric_tables

    cfg = make_cfg(
        "trainer.max_steps=2",
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=0",
        "method.lr=1e-2",
        "attacks.every_step=[]",
        "attacks.final=[]",
        "metrics.every_step=[knowmem,answer_length]",
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    results = read_results(run)
    start, final = results["eval"]["0"], results["eval"][results["final_eval_step"]]
    assert start["answer_length"] == start["answer_length_original"] > 0  # M1 = M0 at step 0
    assert final["answer_length_original"] == start["answer_length_original"]
    assert "verbmem_forget" not in final  # only the metrics listed run
    titles = [title for title, _, _ in metric_tables(build_rows(collect_runs([run])))]
    assert "Answer length" in titles
