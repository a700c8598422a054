"""M0 is analysed on the device of the model being evaluated (callback and eval.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from unpact_exp.callbacks.evaluation import EvaluationCallback, EvaluatorFactory
from unpact_exp.models.loading import evaluation_device_map, load_model
from unpact_exp.models.tiny import build_tiny_llama, build_word_tokenizer
from unpact_exp.results import RunRecord

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def tiny_folder(tmp_path: Path) -> Path:
    """A saved 1-layer Llama (what a run's ``unlearned/`` or a target folder holds)."""
    tokenizer = build_word_tokenizer(["who is alice smith paris"])
    model = build_tiny_llama(tokenizer, 16, 1, 2, 32, 64, seed=0)
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def analysed_devices(monkeypatch, m1: torch.nn.Module, m0: torch.nn.Module, tmp_path: Path):
    """Run one callback evaluation of ``m1``; return (device M0 was analysed on, M1's device)."""
    seen: dict[str, Any] = {}

    def build(model, shard) -> Any:
        seen["m0"] = next(model.parameters()).device
        return SimpleNamespace(
            evaluate=lambda m, final=False: SimpleNamespace(
                metrics={}, rows=[], scalars=dict, records=list, table_columns=list
            ),
            has_final_only=lambda: False,
        )

    monkeypatch.setattr("unpact_exp.models.loading.load_model", lambda *a: m0)
    factory = EvaluatorFactory("unused", "float32", False, build)
    record = RunRecord(tmp_path / "run", {"stage": "unlearn"})
    callback = EvaluationCallback(factory, 1, True, 0, record, [], tmp_path / "run")
    trainer = SimpleNamespace(global_step=0, global_rank=0, world_size=1)
    callback.evaluate(trainer, SimpleNamespace(policy=m1))
    return seen["m0"], next(m1.parameters()).device


def test_callback_puts_m0_on_m1s_device(monkeypatch, tmp_path) -> None:
    """M1 on the meta device (a stand-in for an accelerator): M0, loaded on CPU, follows it."""
    tokenizer = build_word_tokenizer(["a b c"])
    m1 = build_tiny_llama(tokenizer, 16, 1, 2, 32, 64, seed=0).to("meta")
    m0 = build_tiny_llama(tokenizer, 16, 1, 2, 32, 64, seed=1)
    m0_device, m1_device = analysed_devices(monkeypatch, m1, m0, tmp_path)
    assert m1_device.type == "meta" and m0_device == m1_device


def test_eval_py_places_models_on_gpus_only_when_cuda_is_present(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert evaluation_device_map() is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert evaluation_device_map() == "auto"


def test_cpu_placement_loads_on_cpu(tmp_path) -> None:
    model = load_model(str(tiny_folder(tmp_path)), "float32", False, evaluation_device_map())
    assert {p.device.type for p in model.parameters()} == {"cpu"}


@pytest.mark.gpu
@requires_cuda
def test_on_a_gpu_both_models_sit_on_the_gpu(monkeypatch, tmp_path) -> None:
    folder = str(tiny_folder(tmp_path))
    m1 = load_model(folder, "float32", False, evaluation_device_map())
    assert {p.device.type for p in m1.parameters()} == {"cuda"}
    m0_cpu = load_model(folder, "float32", False)
    m0_device, m1_device = analysed_devices(monkeypatch, m1, m0_cpu, tmp_path)
    assert m0_device.type == "cuda" and m0_device == m1_device
