"""The evaluation callback during a short GA run, and eval.py reproducing its numbers."""

from __future__ import annotations

import math
from pathlib import Path

from unpact_exp.results import read_results
from unpact_exp.run import main

KEYS = [
    "knowmem_forget",
    "knowmem_retain",
    "forget_rate",
    "recovery_rate",
    "probab_recovery_rate",
    "destructive_rate",
    "keytoken_similarity",
    "contribution_similarity",
    "prompt_ignorance",
    "utility",
    "n_known",
    "n_forgotten",
    "mc_forget_acc",
]


def same(a, b) -> bool:
    return (
        a == b
        or (a is None and b is None)
        or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    )


def test_callback_results_wandb_and_eval_py(make_cfg, tiny_target) -> None:
    cfg = make_cfg(
        "method=ga",
        "regularizer=none",
        "trainer.max_steps=6",
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=3",
        "logger=wandb",
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    results = read_results(run)
    assert results["status"] == "completed" and results["eval_world_size"] == 1
    assert list(results["eval"]) == ["0", "3", "6"]
    start, final = results["eval"]["0"], results["eval"]["6"]
    for key in KEYS:
        assert key in final, key
    # The step-0 model is the original: nothing forgotten, nothing destroyed.
    assert start["forget_rate"] == 0.0 and start["destructive_rate"] == 0.0
    assert start["keytoken_similarity"] == 1.0
    # A short GA run forgets; the recovery rates are over the same forgotten set.
    assert final["forget_rate"] > 0.0 and final["n_forgotten"] > 0
    assert 0.0 <= final["recovery_rate"] <= 1.0 and 0.0 <= final["probab_recovery_rate"] <= 1.0
    assert final["n_forgotten"] == round(final["forget_rate"] * final["n_known"])
    # Every step has the focus-shift split, the counts with intervals, and the paired test.
    for metrics in results["eval"].values():
        for key in ("keytoken_similarity", "contribution_similarity"):
            assert f"{key}_forgotten" in metrics and f"{key}_retained" in metrics
        assert metrics["forget_rate_counts"] == [metrics["n_forgotten"], metrics["n_known"]]
        assert 0.0 <= metrics["focus_vs_probab_mcnemar_p"] <= 1.0
    assert start["keytoken_similarity_forgotten"] is None  # nothing forgotten at step 0
    # MUSE's VerbMem and PrivLeak at every step (the synthetic data has the splits); without
    # eval.retrain_model only the raw AUC, never MUSE's relative `privleak`.
    for metrics in results["eval"].values():
        assert 0.0 <= metrics["verbmem_forget"] <= 100.0
        assert 0.0 <= metrics["privleak_auc"] <= 1.0
        assert metrics["verbmem_forget_original"] == start["verbmem_forget_original"]
        assert metrics["privleak_auc_original"] == start["privleak_auc_original"]
        assert "privleak" not in metrics and "privleak_original" not in metrics
    assert start["verbmem_forget"] == start["verbmem_forget_original"]  # M1 = M0 at step 0
    assert start["privleak_auc"] == start["privleak_auc_original"]
    low, high = final["recovery_rate_ci"]
    assert low <= final["recovery_rate"] <= high
    questions = (run / "questions.csv").read_text().splitlines()
    assert questions[0].startswith("step,kind,index,question,gold,m0_answer,m1_answer")
    assert len(questions) == 1 + final["n_forget_questions"]
    assert all(line.startswith("6,") for line in questions[1:])  # the final evaluation
    # The same numbers reached the W&B offline run (its binary log holds the keys and values).
    (wandb_file,) = run.glob("wandb/offline-run-*/run-*.wandb")
    blob = wandb_file.read_bytes()
    assert b"eval/forget_rate" in blob and b"eval/recovery_rate" in blob
    assert list(run.glob("wandb/offline-run-*/files/media/table/eval/*.json"))
    assert list(run.glob("plots/contributions_step*.png"))

    # eval.py on the saved models reproduces the callback's final numbers exactly.
    ev = make_cfg(f"unlearned={run / 'unlearned'}", output="eval", config_name="evaluate")
    main(ev)
    offline_results = read_results(Path(ev.paths.output_dir))
    assert offline_results["eval_world_size"] == 1  # eval.py runs in one process
    offline = offline_results["eval"]["final"]
    assert offline.keys() == final.keys()
    for key, value in final.items():
        assert same(value, offline[key]), (key, value, offline[key])
    assert (Path(ev.paths.output_dir) / "questions.jsonl").exists()
    offline_questions = (Path(ev.paths.output_dir) / "questions.csv").read_text().splitlines()
    assert [q.split(",", 1)[1] for q in offline_questions[1:]] == [
        q.split(",", 1)[1] for q in questions[1:]
    ]  # same rows as the callback's final evaluation, step "final" instead of 6


def test_eval_py_rejects_a_folder_that_is_not_a_model(make_cfg, tmp_path, tiny_target) -> None:
    import pytest

    from unpact_exp.errors import ModelLoadError

    ev = make_cfg(f"unlearned={tmp_path}", output="eval", config_name="evaluate")
    with pytest.raises(ModelLoadError, match="config.json"):
        main(ev)
    assert read_results(Path(ev.paths.output_dir))["status"] == "failed"
