"""``benchmarks/bench_eval_memory.py --quick``: both models measured, estimate beside each,
for an evaluation during training and for the final one.

The numbers at test sizes are meaningless (a 2-layer model is smaller than the interpreter's
noise); the real comparison (6-layer bench model: -18% during training, -15% for the final
evaluation; with a 32k vocabulary: -3% and -14%) is in
benchmarks/README.md. Here: the script runs, each side in a fresh process, and reports.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_eval_memory


def test_quick_run_measures_both_models(tmp_path: Path) -> None:
    out = tmp_path / "eval_memory.json"
    args = ["--quick", "--threads", "1", "--out", str(out), "--artifacts", str(tmp_path / "a")]
    result = bench_eval_memory.main(args)
    assert out.is_file() and set(result["results"]) == {"bench", "bench-32k"}
    for side in result["results"].values():
        assert side["measured_mb"] > 0 and side["estimate_mb"] > 0
        assert side["sizes"]["scoring_batch"] == 64 and side["sizes"]["length"] > 32
        # the final evaluation: relearning ran (on the never-known questions) beside GradNorm
        assert side["relearned_questions"] > 0 and side["final_measured_mb"] > 0
        assert side["backward_mb"] > 0 and side["host_mb"] > 0
    big = result["results"]["bench-32k"]
    assert big["vocab"] == 32000 and big["forward_mb"] > big["models_mb"]
