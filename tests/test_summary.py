"""The lines a run ends with: key rates at the final step with k/n and intervals, and its files."""

from __future__ import annotations

from pathlib import Path

from unpact_exp.summary import excess_text, headline, rate_text, run_summary

FINAL = {
    "forget_rate": 0.5,
    "forget_rate_counts": [9, 18],
    "forget_rate_ci": [0.29031, 0.70969],
    "recovery_rate": 0.1111,
    "recovery_rate_counts": [1, 9],
    "recovery_rate_ci": [0.01989, 0.435],
    "focus_on_key_excess": -0.1111,
    "focus_on_key_excess_ci": [-0.4651, 0.2757],
    "strongest_control": "probab",
    "destructive_rate": 0.0816,
    "destructive_rate_counts": [4, 49],
    "destructive_rate_ci": [0.0322, 0.1919],
    "utility": 0.9,
    "utility_counts": [45, 50],
    "utility_ci": None,
}


def _results(**final: object) -> dict:
    return {
        "status": "completed",
        "stage": "unlearn",
        "setting": "ga+gd",
        "model": "tiny",
        "data": "synthetic",
        "final_eval_step": "20",
        "eval": {"0": {"forget_rate": 0.0}, "20": final},
    }


def test_rate_with_counts_and_interval() -> None:
    assert rate_text(FINAL, "forget_rate") == "50.0%  (9/18)  95% CI 29.0-71.0%"
    assert rate_text(FINAL, "utility") == "90.0%  (45/50)"  # no interval stored
    assert rate_text(FINAL, "mc_forget_rate") is None  # absent: not shown
    over_nothing = {"recovery_rate": None, "recovery_rate_counts": [0, 0], "recovery_rate_ci": None}
    assert rate_text(over_nothing, "recovery_rate") == "n/a  (0/0)"


def test_excess_names_the_strongest_control() -> None:
    assert excess_text(FINAL) == (
        "-11.1 points  95% CI -46.5 to +27.6, against probab (the strongest control)"
    )
    unmeasured = {"focus_on_key_excess": None, "strongest_control": None}
    assert excess_text(unmeasured).startswith("n/a")
    assert excess_text({}) is None


def test_headline_is_one_line_of_counts() -> None:
    assert headline(FINAL) == (
        "forget_rate 50.0% (9/18), recovery_rate 11.1% (1/9), destructive_rate 8.2% (4/49)"
    )


def test_run_summary_reads_the_final_step_and_points_to_the_files(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "questions.csv").write_text("")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "contributions_step000020.png").write_bytes(b"")
    (tmp_path / "train.log").write_text("")
    lines = run_summary(_results(**FINAL), tmp_path).splitlines()
    assert lines[0] == "run completed: ga+gd on tiny/synthetic, final evaluation at step 20"
    labels = [line.split("  ")[1].strip() for line in lines[1:6]]
    assert labels == [
        "forget_rate",
        "recovery_rate (FocusOnKey)",
        "focus_on_key_excess",
        "destructive_rate",
        "utility",
    ]
    assert lines[1].endswith("50.0%  (9/18)  95% CI 29.0-71.0%")
    files = lines[lines.index("files:") + 1 :]
    assert files[0].split() == ["run", "dir", str(tmp_path)]
    assert files[1].split() == ["results.json", str(tmp_path / "results.json")]
    assert files[2].split() == ["questions.csv", str(tmp_path / "questions.csv")]
    assert files[3].split() == ["plots", str(tmp_path / "plots"), "(1", "PNG)"]
    assert files[4].split() == ["log", str(tmp_path / "train.log")]
    assert len(files) == 5  # questions.jsonl and unlearned/ do not exist here


def test_run_without_evaluation_says_so(tmp_path: Path) -> None:
    results = {**_results(), "eval": {}}
    results.pop("final_eval_step")
    text = run_summary(results, tmp_path)
    assert "rates" in text and "no evaluation on record" in text


def test_target_build_summary(tmp_path: Path) -> None:
    results = {
        "status": "completed",
        "stage": "target",
        "without_forget": False,
        "model": "tiny",
        "data": "synthetic",
        "target_dir": "/art/targets/tiny-synthetic",
        "forget_correct_rate": 1.0,
        "retain_correct_rate": 0.975,
        "general_correct_rate": 0.9,
    }
    lines = run_summary(results, tmp_path).splitlines()
    assert lines[0] == "tiny target built: tiny/synthetic"
    assert lines[1].split() == ["forget_correct_rate", "100.0%"]
    assert lines[2].split() == ["retain_correct_rate", "97.5%"]
    assert lines[-1].split() == ["target", "model", "/art/targets/tiny-synthetic"]
