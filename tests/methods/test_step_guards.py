"""The per-step guards are cheap and change nothing: one gradient norm per step, reused
to clip; the non-finite-weights check sees NaN and inf in any tensor."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from unpact_exp.models.loading import load_pretrained
from unpact_exp.run import main
from unpact_exp.training.module import UnlearnModule

# A small clip value so that every step is clipped: the reuse is exercised, not skipped.
RUN = ["method=ga", "regularizer=gd", "trainer.max_steps=3", "trainer.gradient_clip_val=0.01"]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    model, _ = load_pretrained(str(run / "unlearned"), "float32", False)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_clipping_with_the_reused_norm_equals_lightnings_own(
    make_cfg, tiny_target, monkeypatch
) -> None:
    calls = []

    def counting(real):
        def norm(*args, **kwargs):
            calls.append(1)
            return real(*args, **kwargs)

        return norm

    # The module's own call, and the one inside clip_grad_norm_ (Lightning's clipping).
    clip_grad = torch.nn.utils.clip_grad
    monkeypatch.setattr(torch.nn.utils, "get_total_norm", counting(torch.nn.utils.get_total_norm))
    monkeypatch.setattr(clip_grad, "_get_total_norm", counting(clip_grad._get_total_norm))
    cfg = make_cfg(*RUN, output="reused")
    main(cfg)
    reused = _weights(Path(cfg.paths.output_dir))
    assert len(calls) == 3  # one global norm per step: logged, checked and clipped with

    calls.clear()
    monkeypatch.setattr(
        UnlearnModule, "configure_gradient_clipping", pl.LightningModule.configure_gradient_clipping
    )
    cfg = make_cfg(*RUN, output="lightning")
    main(cfg)
    assert len(calls) == 6  # Lightning's clip_grad_norm_ computes it a second time
    own = _weights(Path(cfg.paths.output_dir))
    assert reused.keys() == own.keys()
    for key in reused:
        assert torch.equal(reused[key], own[key]), key


def _guard(*tensors: torch.Tensor) -> bool:
    policy = nn.Module()
    policy.params = nn.ParameterList([nn.Parameter(t) for t in tensors])
    strategy = SimpleNamespace(reduce_boolean_decision=lambda flag, all=True: flag)
    host = SimpleNamespace(policy=policy, trainer=SimpleNamespace(strategy=strategy))
    return UnlearnModule.weights_finite(host)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_weights_guard_finds_one_bad_value_anywhere(bad: float) -> None:
    ok = [torch.randn(4, 4), torch.randn(7), torch.randn(3, 2, dtype=torch.bfloat16)]
    assert _guard(*ok)
    for i in range(len(ok)):
        broken = [t.clone() for t in ok]
        broken[i].view(-1)[-1] = bad
        assert not _guard(*broken), (i, bad)


def test_weights_guard_large_but_finite_weights_pass() -> None:
    # Sums are taken in fp32 and would only overflow near 1e38 in total.
    assert _guard(torch.full((1000,), 1e30), torch.full((10,), -1e30))
