"""At the entry points a user error is one message on stderr and exit status 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

QUIET = ["logger=none", "trainer.enable_progress_bar=false"]


def run_entry(script: str, *args: str, full_error: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    if full_error:
        env["HYDRA_FULL_ERROR"] = "1"
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


CASES = [
    (
        "train.py",
        ["method=tv", "regularizer=gd", *QUIET],
        r"method=tv carries its own retain handling",
    ),
    ("eval.py", ["unlearned=/nonexistent/unlearned", "logger=none"], "not a Hugging Face model"),
    ("analyze.py", ["question=Who?", "unpact.alpha=2"], "unpact.alpha"),
    (  # a config resolver's refusal, which OmegaConf wraps
        "train.py",
        ["experiment=tofu_paper", "model=llama31_8b_instruct", "trainer=cpu", *QUIET],
        r"does not end in '_full'",
    ),
]


@pytest.mark.parametrize(("script", "args", "message"), CASES, ids=[c[0] for c in CASES])
def test_user_error_is_one_message_and_exit_2(script, args, message, tmp_path) -> None:
    proc = run_entry(script, *args, f"hydra.run.dir={tmp_path}/run")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], proc.stderr


def test_hydra_full_error_shows_the_traceback(tmp_path) -> None:
    script, args, message = CASES[0]
    proc = run_entry(script, *args, f"hydra.run.dir={tmp_path}/run", full_error=True)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and message in proc.stderr
