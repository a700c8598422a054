"""A ``peft=lora`` run is evaluated the same by the callback and eval.py on the adapter
folder (exactly), and eval.py on the merged folder (rates exactly, continuous similarities
to 1e-6 relative); analyze.py reads the adapter folder as ``model.path``."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.conftest import SMALL_WORLD, compose_cfg
from unpact_exp.models.lora import MERGED_DIR
from unpact_exp.results import read_results
from unpact_exp.run import main


def same(a, b, rel: float = 0.0) -> bool:
    """Equal; NaN equals NaN; floats within ``rel`` (merged weights round differently)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=0)
    return a == b


def evaluate(make_cfg, folder: Path, output: str) -> dict:
    cfg = make_cfg(f"unlearned={folder}", output=output, config_name="evaluate")
    main(cfg)
    return read_results(Path(cfg.paths.output_dir))["eval"]["final"]


def test_callback_eval_adapter_and_eval_merged_agree(
    make_cfg, artifacts, tiny_target, capsys
) -> None:
    cfg = make_cfg(
        "method=npo",
        "regularizer=kl",
        "peft=lora",
        "peft.save_merged=true",
        "trainer.max_steps=4",
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=0",
        "eval.heatmap_questions=0",
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    results = read_results(run)
    assert results["status"] == "completed"
    final = results["eval"]["4"]
    assert results["eval"]["0"]["forget_rate"] == 0.0  # step 0: adapters at B = 0 = original
    adapter = evaluate(make_cfg, run / "unlearned", "eval_adapter")
    merged = evaluate(make_cfg, run / "unlearned" / MERGED_DIR, "eval_merged")
    assert adapter.keys() == final.keys() == merged.keys()
    for key, value in final.items():
        assert same(value, adapter[key]), (key, value, adapter[key])
        # W x + s B A x vs (W + s B A) x: same answers, continuous scores equal to ~1e-8.
        assert same(value, merged[key], rel=1e-6), (key, value, merged[key])

    question = "Where was Ada born?"
    analyze = compose_cfg(
        [*SMALL_WORLD, f"model.path={run / 'unlearned'}", f"question='{question}'"],
        run / "analyze",
        artifacts,
        "analyze",
    )
    main(analyze)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])
