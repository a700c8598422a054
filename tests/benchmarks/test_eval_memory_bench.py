"""``benchmarks/bench_eval_memory.py --quick``: both models measured, estimate beside each.

The numbers at test sizes are meaningless (a 2-layer model is smaller than the interpreter's
noise); the real comparison (6-layer bench model: -28%, with a 32k vocabulary: -3%) is in
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
    big = result["results"]["bench-32k"]
    assert big["vocab"] == 32000 and big["forward_mb"] > big["models_mb"]
