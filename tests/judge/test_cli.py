"""``python -m unpact_exp.judge FILE.jsonl``: one verdict line per case; bad input exits 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from unpact_exp.judge.__main__ import main

CASES = [
    {"question": "What is the official language of Iran?", "gold": "Persian",
     "aliases": ["Farsi"], "answer": "Farsi."},
    {"question": "What is the capital of France?", "gold": "Paris",
     "distractors": ["London", "Berlin"], "answer": "London, Berlin or Paris"},
    {"question": "What is the largest ocean on Earth?", "gold": "Pacific Ocean",
     "answer": "The Atlantic Ocean."},
]  # fmt: skip


def write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_strict_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(write(tmp_path / "c.jsonl", CASES))]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"correct": True, "reason": "alias 'Farsi' at word boundary"},
        {"correct": False, "reason": "names distractor 'London'"},
        {"correct": False, "reason": "gold absent"},
    ]


def test_rouge_recall_reads_the_packaged_defaults(tmp_path: Path, capsys) -> None:
    assert main([str(write(tmp_path / "c.jsonl", CASES)), "--judge", "rouge_recall"]) == 0
    lines = [json.loads(x)["correct"] for x in capsys.readouterr().out.splitlines()]
    assert lines == [False, True, True]  # recall 0, 1/1, 1/2 against the threshold 0.5
    assert main([str(tmp_path / "c.jsonl"), "--judge", "rouge_recall",
                 "--correct-threshold", "0.6"]) == 0  # fmt: skip
    lines = [json.loads(x)["correct"] for x in capsys.readouterr().out.splitlines()]
    assert lines == [False, True, False]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["not json"], r"line 1 is not JSON"),
        ([CASES[0], "[1, 2]"], r"line 2 is not a JSON object"),
        ([{"question": "q", "answer": "a"}], r"line 1: field 'gold' must be a string"),
        ([{**CASES[0], "aliases": "Farsi"}], r"field 'aliases' must be a list of strings"),
        ([{**CASES[0], "golds": "x"}], r"unknown fields \['golds'\]"),
    ],
)
def test_bad_input_is_one_message_and_status_2(tmp_path: Path, capsys, rows, message) -> None:
    assert main([str(write(tmp_path / "bad.jsonl", rows))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing judged before the whole file is checked
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0])


def test_missing_file_and_unknown_judge(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "none.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main([str(write(tmp_path / "c.jsonl", CASES)), "--judge", "strikt"]) == 2
    assert "Did you mean 'strict'" in capsys.readouterr().err


def test_runs_as_a_module(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "unpact_exp.judge", str(write(tmp_path / "c.jsonl", CASES[:1]))],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"correct": True, "reason": "alias 'Farsi' at word boundary"}
