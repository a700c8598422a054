"""``benchmarks/gpu_check.py`` on CPU: the no-GPU exit, the commands, the placement verdicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check

ROOT = Path(__file__).resolve().parents[2]


def test_without_cuda_it_exits_2_with_a_clear_message(monkeypatch, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == gpu_check.EXIT_NO_GPU == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU is visible" in err and "nothing was run" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_the_script_itself_exits_2_on_this_machine() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "no CUDA GPU" in proc.stderr


def test_overrides_name_both_trainers_and_a_final_evaluation() -> None:
    gpu = gpu_check.overrides("gpu", 3)
    fsdp = gpu_check.overrides("fsdp", 3)
    assert "trainer=gpu" in gpu and "trainer=fsdp" not in gpu
    assert "trainer=fsdp" in fsdp and "trainer.devices=1" in fsdp
    for ov in (gpu, fsdp):
        assert {"experiment=smollm2_worldfacts", "trainer.max_steps=3"} <= set(ov)
        assert "callbacks.evaluation.every_n_steps=3" in ov
    with pytest.raises(KeyError):
        gpu_check.overrides("tpu", 3)
    cmd = gpu_check.child_command("fsdp", 3, Path("/tmp/x"))
    assert cmd[0] == sys.executable and cmd[2:] == [
        "--one",
        "fsdp",
        "--steps",
        "3",
        "--out",
        "/tmp/x",
    ]


def test_overrides_compose_to_bf16_gpu_trainers(tmp_path) -> None:
    from unpact_exp.compose import compose_config

    for name, strategy in (("gpu", None), ("fsdp", "fsdp")):
        cfg = compose_config(gpu_check.overrides(name, 2), tmp_path, tmp_path / "a", ROOT)
        assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
        assert cfg.trainer.get("strategy") == strategy or strategy is None
        assert cfg.trainer.devices == 1 and cfg.model.name == "smollm2_135m"


def test_placement_errors_flag_any_model_off_the_gpu() -> None:
    ok = {"m0_devices": ["cuda"], "m1_devices": [["cuda"], ["cuda"]]}
    assert gpu_check.placement_errors(ok) == []
    cpu_m1 = {"m0_devices": ["cuda"], "m1_devices": [["cuda"], ["cpu"]]}
    assert gpu_check.placement_errors(cpu_m1) == [
        "M1 at evaluation 1 sat on ['cpu'], expected cuda"
    ]
    split = {"m0_devices": ["cpu", "cuda"], "m1_devices": []}
    assert gpu_check.placement_errors(split) == [
        "M0 sat on ['cpu', 'cuda'], expected cuda",
        "M1 was never evaluated",
    ]
    record = {
        **ok,
        "name": "gpu",
        "steps": 4,
        "step_s": 0.25,
        "m0_analysis_s": 3.0,
        "eval_s": 5.0,
        "peak_gib": 1.5,
        "forget_rate": 0.5,
    }
    assert gpu_check.summary_line(record) == "| gpu | 4 | 0.250 | 3.0 | 5.0 | 1.50 | 0.5 | ok |"


def test_two_ranks_run_when_two_gpus_are_visible() -> None:
    assert list(gpu_check.configs(1)) == ["gpu", "fsdp"]
    two = gpu_check.configs(2)
    assert list(two) == ["gpu", "fsdp", "ddp-2", "fsdp-2", "fsdp2-2"]
    for name in ("ddp-2", "fsdp-2", "fsdp2-2"):
        assert "trainer.devices=2" in gpu_check.overrides(name, 3)
    assert gpu_check.configs(8) == two


def test_two_rank_configs_compose_to_gpu_trainers(tmp_path) -> None:
    from unpact_exp.compose import compose_config

    for name, strategy in (("ddp-2", "ddp"), ("fsdp-2", "fsdp"), ("fsdp2-2", "fsdp2")):
        cfg = compose_config(gpu_check.overrides(name, 2), tmp_path, tmp_path / "a", ROOT)
        assert cfg.trainer.strategy == strategy and cfg.trainer.devices == 2
        assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"


def test_only_rank_zero_reports() -> None:
    assert gpu_check.is_rank_zero({})
    assert gpu_check.is_rank_zero({"LOCAL_RANK": "0"})
    assert not gpu_check.is_rank_zero({"LOCAL_RANK": "1"})
