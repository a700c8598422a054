"""The benchmark scripts run end to end on tiny sizes and write what RESULTS.md needs.

Timings are never asserted (they depend on the machine and its load); what is checked
is that every side ran, that the sides agree where they must (UNPACT scores within
1e-4 of the naive loop, identical greedy answers), and that the report renders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench_eval, bench_pipeline, bench_unlearn, bench_unpact, render, run_all


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench")


def quick(workdir: Path, name: str) -> list[str]:
    return ["--quick", "--threads", "1", "--out", str(workdir / f"{name}.json")]


@pytest.fixture(scope="module")
def unpact(workdir: Path) -> dict:
    args = [*quick(workdir, "unpact"), "--artifacts", str(workdir / "artifacts")]
    return bench_unpact.main(args)


@pytest.fixture(scope="module")
def unlearn(workdir: Path) -> dict:
    args = [*quick(workdir, "unlearn"), "--artifacts", str(workdir / "artifacts")]
    return bench_unlearn.main(args)


@pytest.fixture(scope="module")
def evaluation(workdir: Path) -> dict:
    args = [*quick(workdir, "eval"), "--artifacts", str(workdir / "artifacts")]
    return bench_eval.main(args)


@pytest.fixture(scope="module")
def pipeline(workdir: Path) -> dict:
    return bench_pipeline.main(quick(workdir, "pipeline"))


def test_unpact_sides_agree_and_rates_are_counted(unpact: dict, workdir: Path) -> None:
    assert json.loads((workdir / "unpact.json").read_text())["figure"] == "unpact"
    assert {(r["model"]["name"], r["prompt_format"]) for r in unpact["runs"]} >= {
        ("tiny target", "plain"),
        ("bench", "plain"),
    }
    for run in unpact["runs"]:
        assert set(run["sides"]) == {"naive", "pairs", "framework"}
        assert max(run["max_abs_diff"].values()) <= 1e-4
        fw, naive = run["sides"]["framework"], run["sides"]["naive"]
        # Shared prefixes: strictly fewer tokens forwarded than the naive definition.
        assert 0 < fw["real_tokens"] < naive["real_tokens"]
        assert fw["forwards"] < naive["forwards"]
        assert fw["mac_rate"] > 0 and fw["ceiling_fraction"] > 0
    assert all(run["ceiling_macs_per_s"]["max"] > 0 for run in unpact["runs"])


def test_unlearn_both_sides_train_and_report_memory(unlearn: dict) -> None:
    assert set(unlearn["settings"]) == set(bench_unlearn.QUICK_SETTINGS)
    for result in unlearn["settings"].values():
        for side in ("framework", "baseline"):
            r = result[side]
            assert r["steps"] == 1 + 1  # warm-up + timed steps, per fit
            assert len(r["window_tokens_per_s"]) == 3  # one per round
            assert r["tokens_per_s"] > 0 and r["tokens_per_step"] > 0
            assert r["peak_rss_mb"] >= r["rss_before_mb"] > 0
        assert result["speedup"] > 0


def test_unlearn_worker_runs_in_its_own_process(tmp_path: Path, workdir: Path) -> None:
    """The isolated path ``make bench`` uses (one subprocess per side and setting)."""
    model_dir = tmp_path / "model"
    bench_unlearn.save_bench_model(True, workdir / "artifacts", model_dir)
    spec = {
        "side": "baseline",
        "setting": "npo",
        "model_dir": str(model_dir),
        "artifacts": str(workdir / "artifacts"),
        "quick": True,
        "threads": 1,
        "warmup": 1,
        "steps": 1,
    }
    result = bench_unlearn.run_worker("memory", spec, isolate=True)
    assert result["peak_rss_mb"] >= result["rss_after_imports_mb"] >= result["rss_before_mb"]
    profiled = bench_unlearn.run_side(spec, "framework", "ga", profile=True)
    assert profiled["profile"]["share_by_package"] and profiled["steps"] == 2


def test_eval_batched_answers_equal_one_at_a_time(evaluation: dict) -> None:
    for run in evaluation["runs"]:
        assert run["agreement"]["greedy_identical"] == 1.0
        assert run["agreement"]["sample_counts_match"]
        assert set(run["sides"]) == {"one_at_a_time", "framework"}
        budget = run["sequences"]["focus_on_key"] // run["questions"]  # FocusOnKey templates
        assert run["sequences"] == {
            "correctness": run["questions"],
            "focus_on_key": run["questions"] * budget,
            "probab": run["questions"] * budget,  # PROBAB spends FocusOnKey's budget
        }


def test_pipeline_phases_cover_the_grid(pipeline: dict) -> None:
    phases = pipeline["phases"]
    for phase in ("start-up", "data", "target build", "unlearning", "reporting", "saving"):
        assert phases.get(phase, 0) > 0, phase
    assert any(p.startswith("evaluation: ") for p in phases)
    assert [job["setting"] for job in pipeline["jobs"]] == list(bench_pipeline.QUICK_GRID)
    assert pipeline["total_s"] == pytest.approx(sum(phases.values()))


def test_results_markdown_renders_every_figure(
    unpact: dict, unlearn: dict, evaluation: dict, pipeline: dict
) -> None:
    figures = {"unpact": unpact, "unlearn": unlearn, "eval": evaluation, "pipeline": pipeline}
    text = render.render(figures, {"threads": 1, "date": "today", "wall_s": 1.0, "quick": True})
    for heading in ("## Machine", "## Goals (issue 7)", "## 1. UNPACT", "## 2. Unlearning"):
        assert heading in text
    assert "## 3. Evaluation" in text and "## 4. End to end" in text
    assert "| 2 unlearning >= 1.0x baseline tokens/s | ga+gd |" in text
    assert text.count("| 1 UNPACT") == 2  # one goal row per model with the plain prompt


def test_run_all_runs_scripts_and_writes_results(tmp_path: Path, workdir: Path) -> None:
    results = tmp_path / "RESULTS.md"
    args = ["--quick", "--only", "unpact", "--threads", "1", "--out-dir", str(tmp_path)]
    args += ["--results", str(results), "--artifacts", str(workdir / "artifacts")]
    assert run_all.main(args) == 0
    assert (tmp_path / "unpact.json").exists()
    assert "## 1. UNPACT" in results.read_text()
    with pytest.raises(SystemExit):
        run_all.main(["--only", "nonsense"])
