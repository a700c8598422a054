"""benchmarks/bench_memory.py: a worker measures one side; the section marks the goals."""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_memory, bench_unlearn, render, run_all


def test_lora_worker_trains_and_reports(tmp_path: Path) -> None:
    model_dir = tmp_path / "bench-model"
    bench_unlearn.save_bench_model(True, tmp_path / "artifacts", model_dir)
    spec = {
        "artifacts": str(tmp_path / "artifacts"),
        "tiny": True,
        "threads": 1,
        "warmup": 1,
        "steps": 1,
        "model_dir": str(model_dir),
        "side": "lora+gc",
    }
    result = bench_memory.memory_worker(spec)
    assert result["lora_r"] == 4 and result["batch_size"] == 8
    assert result["tokens_per_s"] > 0 and result["tokens_per_step"] > 0
    assert result["peak_rss_training_mb"] >= result["rss_after_imports_mb"] > 0
    estimate = bench_memory.estimate_mb(str(model_dir), result, 4)
    assert estimate["lora+gc"] < estimate["lora"] < estimate["full"]


def test_section_marks_each_goal_and_run_all_lists_it() -> None:
    side = {"training_mb": 100.0, "tokens_per_s": 10.0}
    fig = {
        "warmup": 1,
        "steps": 2,
        "goals": bench_memory.GOALS,
        "models": {
            "bench": {"name": "bench", "parameters": 1e6, "layers": 2, "hidden": 8, "vocab": 9}
        },
        "results": {
            "bench": {
                "sides": {"full": side, "lora": {**side, "training_mb": 45.0}},
                "ratios": {"lora / full": 0.45, "lora / baseline": 0.41},
                "estimate_mb": {"full": 90.0, "lora": 40.0},
            }
        },
    }
    goals: list[str] = []
    text = "\n".join(render.memory_section(fig, goals))
    assert "| lora | 45 | 40 | 10 |" in text
    assert goals == [
        "| memory lora / full <= 0.5 | bench / npo+kl | 0.45 | **met** |",
        "| memory lora / baseline <= 0.4 | bench / npo+kl | 0.41 | **not met** |",
    ]
    assert run_all.FIGURES["memory"] == "bench_memory.py"
