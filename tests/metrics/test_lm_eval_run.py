"""lm-eval's WMDP/MMLU accuracies at every evaluation step of a synthetic run, from local files."""

from __future__ import annotations

import json
from pathlib import Path

from unpact_exp.results import read_results
from unpact_exp.run import main

ROWS = [
    ("Where was Alice born?", ["Paris", "Rome", "Oslo", "Bern"], 0, "virology"),
    ("Who is the mother of Bob?", ["Carol", "Alice", "Dan", "Eve"], 1, "virology"),
    ("What is the capital of France?", ["Rome", "Paris", "Oslo", "Bern"], 2, "anatomy"),
]


def write_rows(path: Path, subject: bool) -> Path:
    """Hub-schema JSON lines: question, choices, answer (and MMLU's subject)."""
    lines = []
    for question, choices, answer, topic in ROWS:
        row = dict(question=question, choices=choices, answer=answer)
        lines.append(json.dumps(dict(row, subject=topic) if subject else row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_results_have_lm_eval_accuracy_at_every_step(make_cfg, tiny_target, tmp_path) -> None:
    bio = write_rows(tmp_path / "wmdp_bio.jsonl", subject=False)
    mmlu = write_rows(tmp_path / "mmlu.jsonl", subject=True)
    cfg = make_cfg(
        "method=ga",
        "regularizer=none",
        "trainer.max_steps=2",
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=2",
        "metrics.lm_eval.tasks=[wmdp_bio,mmlu]",
        f"metrics.lm_eval.data_files.wmdp_bio={bio}",
        f"metrics.lm_eval.data_files.mmlu={mmlu}",
    )
    main(cfg)
    results = read_results(Path(cfg.paths.output_dir))
    assert list(results["eval"]) == ["0", "2"]
    for metrics in results["eval"].values():
        for task in ("wmdp_bio", "mmlu"):
            for suffix in ("", "_original"):
                key = f"lm_eval_{task}_acc{suffix}"
                k, n = metrics[f"{key}_counts"]
                assert n == 3 and metrics[key] == k / 3
                low, high = metrics[f"{key}_ci"]
                assert low <= k / 3 <= high
    start = results["eval"]["0"]
    for task in ("wmdp_bio", "mmlu"):  # step 0 is the original model
        assert start[f"lm_eval_{task}_acc"] == start[f"lm_eval_{task}_acc_original"]
