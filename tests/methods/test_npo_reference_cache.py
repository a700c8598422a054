"""NPO's reference cache: under the training precision, only for the examples the fit trains on.

- with ``trainer.precision=bf16-mixed`` (CPU autocast to bfloat16) the first step's log-ratio
  ``logp_theta - logp_ref`` is exactly 0, as NPO defines it; computed outside autocast (the old
  way) it is not;
- a 2-step run computes references for the examples of those 2 steps and no others;
- a resumed run that reaches further than its checkpoint's cache is refused, by name.

Resume of a run within its cache stays bit-identical: tests/reliability/test_resume.py.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch

from tests.conftest import QUIET, SMALL_WORLD, compose_cfg
from tests.reliability.helpers import checkpoint
from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods import npo
from unpact_exp.run import main
from unpact_exp.training.module import UnlearnModule


def _cfg(run_dir: Path, artifacts: Path, *overrides: str):
    return compose_cfg([*SMALL_WORLD, *QUIET, *overrides], run_dir, artifacts)


def _spy_npo(monkeypatch) -> tuple[list[torch.Tensor], list[list[int]]]:
    """Record every step's log-ratios and forget indices."""
    ratios: list[torch.Tensor] = []
    indices: list[list[int]] = []
    original_loss, original_npo_loss = npo.NPO.loss, npo.npo_loss

    def loss(self, ctx, forget, retain):
        indices.append(forget["index"].tolist())
        return original_loss(self, ctx, forget, retain)

    def npo_loss(policy, ref, beta):
        ratios.append((policy - ref.to(policy.dtype)).detach().clone())
        return original_npo_loss(policy, ref, beta)

    monkeypatch.setattr(npo.NPO, "loss", loss)
    monkeypatch.setattr(npo, "npo_loss", npo_loss)
    return ratios, indices


@pytest.mark.parametrize("under_autocast", [True, False])
def test_bf16_mixed_first_log_ratio_is_exactly_zero(
    under_autocast, tmp_path, artifacts, tiny_target, monkeypatch
) -> None:
    ratios, _ = _spy_npo(monkeypatch)
    if not under_autocast:  # the old behaviour: reference outside the training precision
        monkeypatch.setattr(
            UnlearnModule, "reference_context", lambda self: contextlib.nullcontext()
        )
    overrides = ["method=npo", "trainer.max_steps=1", "trainer.precision=bf16-mixed"]
    main(_cfg(tmp_path / "run", artifacts, *overrides))
    assert len(ratios) == 1 and ratios[0].numel() > 0
    if under_autocast:
        assert torch.equal(ratios[0], torch.zeros_like(ratios[0]))
    else:
        assert ratios[0].abs().max() > 0


def test_two_steps_cache_exactly_the_trained_examples(
    tmp_path, artifacts, tiny_target, monkeypatch
) -> None:
    _, indices = _spy_npo(monkeypatch)
    run_dir = tmp_path / "run"
    overrides = ["method=npo", "method.batch_size=2", "trainer.max_steps=2"]
    main(_cfg(run_dir, artifacts, *overrides))
    state = checkpoint(run_dir)["state_dict"]
    known = state["objective.ref_known"]
    trained = sorted(i for step in indices for i in step)
    assert len(indices) == 2 and len(trained) == 4 == len(set(trained))
    assert known.numel() > 4  # the forget set is larger than what 2 steps reach
    assert sorted(torch.nonzero(known).flatten().tolist()) == trained
    assert bool((state["objective.ref_logp"][~known] == 0).all())
    assert bool((state["objective.ref_logp"][known] < 0).all())  # real log-probs


def test_resume_reaching_past_the_cache_is_refused(tmp_path, artifacts, tiny_target) -> None:
    run_dir = tmp_path / "run"
    base = ["method=npo", "method.batch_size=2", "trainer.checkpoint_every_n_steps=1"]
    main(_cfg(run_dir, artifacts, *base, "trainer.max_steps=1"))
    with pytest.raises(
        UnpactConfigError,
        match=r"for 2 forget examples, but this run reaches 4 more.*trainer\.max_steps was raised",
    ):
        main(_cfg(run_dir, artifacts, *base, "trainer.max_steps=3"))


def test_checkpoint_without_the_mask_counts_as_fully_cached() -> None:
    """Checkpoints written before ``ref_known`` existed held the whole forget set."""
    objective = npo.NPO(
        0.1, "uniform", 1.0, {}, 8, n_forget=3, forget_prompts=None, formula="standard"
    )
    old = {"ref_logp": torch.tensor([-1.0, -2.0, -3.0]), "cache_ready": torch.tensor(True)}
    objective.load_state_dict(old, strict=False)
    assert bool(objective.ref_known.all()) and bool(objective.cache_ready)
    fresh = npo.NPO(0.1, "uniform", 1.0, {}, 8, n_forget=3, forget_prompts=None, formula="standard")
    assert not bool(fresh.ref_known.any())
