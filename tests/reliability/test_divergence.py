"""Divergence: a non-finite loss, gradient or weight stops the run with ``status: diverged``.

The step is recorded, ``last.ckpt`` stays the last finite checkpoint, ``unlearned/`` holds
the last finite weights (the refused update is never applied) or is absent when the weights
themselves became non-finite, and the evaluation still reports what it can.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

from tests.reliability.helpers import FAST_EVAL, checkpoint, weights
from unpact_exp.results import read_results
from unpact_exp.run import main

EVERY_STEP = ["trainer.checkpoint_every_n_steps=1", "trainer.max_steps=12"]
EVAL_EVERY_2 = [*FAST_EVAL, "callbacks.evaluation.every_n_steps=2"]


def _policy_weights(run_dir) -> dict[str, torch.Tensor]:
    state = checkpoint(run_dir)["state_dict"]
    return {k.removeprefix("policy."): v for k, v in state.items() if k.startswith("policy.")}


def _all_finite(tensors: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors.values())


def _assert_unlearned_is_last_checkpoint(run_dir, step: int) -> None:
    assert checkpoint(run_dir)["global_step"] == step
    saved, ckpt = weights(run_dir), _policy_weights(run_dir)
    assert _all_finite(saved) and _all_finite(ckpt)
    for name, tensor in saved.items():
        assert torch.equal(tensor, ckpt[name]), name


def test_huge_learning_rate_diverges_and_keeps_last_finite_state(
    make_cfg, tiny_target, caplog
) -> None:
    """A learning rate of 1e15 overflows at step 2, whatever the trained weights are.

    AdamW's first update moves every weight that has a gradient by lr * g / (|g| + eps), i.e.
    by +-1e15 whatever its value or its gradient's size, so the step-1 weights are finite
    (their sum stays far below the float32 limit of 3.4e38) while the step-2 forward pass
    overflows (attention scores grow as lr**4). The step-1 model's logits overflow too: its
    evaluation must still complete (PROBAB samples from non-finite logits without crashing).
    """
    cfg = make_cfg("method=ga", "method.lr=1e15", *EVERY_STEP, *EVAL_EVERY_2)
    with caplog.at_level(logging.WARNING, logger="unpact_exp.callbacks.finalize"):
        main(cfg)  # a divergence is a result, not an error: no exception
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "diverged"
    step = results["diverged_at_step"]
    # On the console too (issue 26: method.lr=inf diverged at step 1 with nothing printed).
    assert f"training diverged at step {step} (non-finite" in caplog.text
    assert f"unlearned/ = weights of step {step - 1}" in caplog.text
    assert step == 2 and "non-finite" in results["divergence"]
    assert results["steps"] == results["last_checkpoint_step"] == step - 1
    _assert_unlearned_is_last_checkpoint(cfg.paths.output_dir, step - 1)
    # The evaluation of the last finite weights is there, keyed by their step.
    assert results["final_eval_step"] == str(step - 1)
    final = results["eval"][str(step - 1)]
    assert final["n_forget_questions"] == 3 and final["utility"] is not None
    assert all(v is None or math.isfinite(v) for v in results["final_losses"].values())


def test_nan_loss_is_refused_before_the_update(make_cfg, tiny_target, monkeypatch) -> None:
    from unpact_exp.methods.ga import GradientAscent

    original = GradientAscent.loss

    def nan_at_step_4(self, ctx, forget, retain):
        loss, logs = original(self, ctx, forget, retain)
        return (loss * float("nan"), logs) if ctx.trainer.global_step == 3 else (loss, logs)

    monkeypatch.setattr(GradientAscent, "loss", nan_at_step_4)
    cfg = make_cfg("method=ga", *EVERY_STEP)
    main(cfg)
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "diverged"
    assert results["diverged_at_step"] == 4 and results["steps"] == 3
    assert results["divergence"] == "non-finite loss at step 4"
    _assert_unlearned_is_last_checkpoint(cfg.paths.output_dir, 3)


def test_non_finite_weights_leave_no_unlearned_model(make_cfg, tiny_target, monkeypatch) -> None:
    """The post-step guard: weights that went NaN are never saved, last.ckpt stays finite."""
    calls = {"n": 0}
    original = torch.optim.AdamW.step

    def poisoning_step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoning_step)
    cfg = make_cfg("method=ga", *EVERY_STEP, *EVAL_EVERY_2)
    main(cfg)
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "diverged"
    assert results["divergence"] == "non-finite weights after step 3"
    assert results["last_checkpoint_step"] == 2 and results["unlearned_dir"] is None
    run_dir = Path(cfg.paths.output_dir)
    assert not (run_dir / "unlearned").exists()
    assert checkpoint(run_dir)["global_step"] == 2 and _all_finite(_policy_weights(run_dir))
    assert sorted(results["eval"], key=int) == ["0", "2"]  # the history before it is kept
