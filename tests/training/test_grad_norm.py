"""The global gradient norm and clipping by it under FSDP (v1) and FSDP2, on 2 CPU ranks.

Lightning refuses norm clipping under FSDP and the framework used to switch clipping off
under FSDP2 (``gradient_clip_val=None``): both now clip every rank's local gradient shard
by the norm of the whole gradient. Here two gloo ranks shard a small model, each backpropagates
its own input, and the norm and the clipped gradients must equal those of an unsharded copy
that sees both inputs (``clip_grad_norm_`` on the averaged gradient).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from unpact_exp.training.grad_norm import clip_by_total_norm, global_grad_norm

MAX_NORM = 0.01  # far below the norm (about 0.3): every gradient is scaled


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3))


def _inputs(rank: int) -> torch.Tensor:
    return torch.randn(4, 6, generator=torch.Generator().manual_seed(100 + rank))


def _reference() -> tuple[float, list[torch.Tensor]]:
    """Norm and clipped gradients of one unsharded model over both ranks' inputs."""
    model = _model()
    loss = sum(model(_inputs(r)).square().mean() for r in range(2)) / 2
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
    return float(norm), [p.grad.clone() for p in model.parameters()]


def _shard(kind: str, model: nn.Module) -> nn.Module:
    if kind == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        for layer in (model[0], model[2]):
            fully_shard(layer)
        return fully_shard(model)
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    return FullyShardedDataParallel(
        model,
        auto_wrap_policy=ModuleWrapPolicy({nn.Linear}),
        use_orig_params=True,
        device_id=torch.device("cpu"),
    )


def _full_grads(kind: str, model: nn.Module) -> list[torch.Tensor]:
    if kind == "fsdp2":
        return [p.grad.full_tensor().clone() for p in model.parameters()]
    from torch.distributed.fsdp import FullyShardedDataParallel

    with FullyShardedDataParallel.summon_full_params(model, with_grads=True):
        return [p.grad.clone() for p in model.parameters()]


def _worker(rank: int, kind: str, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        model = _shard(kind, _model())
        model(_inputs(rank)).square().mean().backward()
        norm = global_grad_norm(model, model.parameters())
        clip_by_total_norm(list(model.parameters()), MAX_NORM, norm)
        grads = _full_grads(kind, model)
        if rank == 0:
            want_norm, want = _reference()
            diff = max(float((g - w).abs().max()) for g, w in zip(grads, want, strict=True))
            Path(out).write_text(json.dumps({"norm": float(norm), "want": want_norm, "diff": diff}))
        dist.barrier()
    except BaseException:
        dist.destroy_process_group()
        raise
    # Both ranks leave together, and without tearing gloo down: its destructors race with
    # its own worker threads at exit and abort the process now and then ("terminate called
    # without an active exception", SIGABRT), after the test's work is done and written.
    # os._exit skips them; the spawn parent reads exit status 0 as success.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("kind", ["fsdp", "fsdp2"])
def test_sharded_clipping_equals_clipping_the_whole_gradient(kind, tmp_path) -> None:
    out = tmp_path / "result.json"
    mp.spawn(_worker, args=(kind, _free_port(), str(out)), nprocs=2, join=True)
    result = json.loads(out.read_text())
    assert result["norm"] == pytest.approx(result["want"], rel=1e-5)
    assert result["want"] > 10 * MAX_NORM  # the clip acted
    assert result["diff"] < 1e-7


def test_every_strategy_gets_the_configured_clip_value(make_cfg) -> None:
    from unpact_exp.training.trainer import build_trainer

    for trainer in ("cpu", "fsdp2"):
        cfg = make_cfg(f"trainer={trainer}", "trainer.gradient_clip_val=0.25")
        built = build_trainer(cfg.trainer, cfg.model.decoder_layer_cls, [], [], "/tmp", 1, -1)
        assert built.gradient_clip_val == 0.25, trainer
