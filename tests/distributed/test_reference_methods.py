"""Every method that caches values of M0 trains on two CPU ranks (DDP, gloo) and evaluates
as one process does; token weights also under FSDP (v1) and FSDP2.

NPO caches M0's log-probs and token-weighted objectives cache M0's token weights, both per
forget example, at fit start; ``kl`` and ``gd`` add a retain stream with its own sharded
order. Before the fix, ``setting=npo+kl trainer=ddp trainer.devices=2`` crashed at its
first step: a rank trained on examples that were never cached. Here each run is cut
(batch 2, 2 steps: a third of the forget set per rank) so the cache must hold exactly what
the ranks reach, and the final evaluation (split over both ranks) is compared with
``eval.py`` in one process on the saved model.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.distributed.runner import DDP_CPU, FSDP2_CPU, FSDP_CPU, run_train
from unpact_exp.results import read_results
from unpact_exp.run import main

QUICK_EVAL = (
    "callbacks=default",
    "callbacks.evaluation.every_n_steps=0",
    "callbacks.evaluation.at_start=false",
    "eval.heatmap_questions=0",
    "attacks.every_step=[paraphrase]",
    "attacks.final=[]",
)
"""Only the final evaluation, one attack: the split evaluation itself is tested in full by
tests/distributed/test_multiprocess.py; here what differs is the training."""

KEYTOKEN = ("method=npo", "method.token_weighting=keytoken")
SETTINGS = {
    "npo": ("method=npo", "regularizer=none", *DDP_CPU),
    "npo+gd": ("method=npo", "regularizer=gd", *DDP_CPU),
    "npo+kl": ("method=npo", "regularizer=kl", *DDP_CPU),
    "ga+kl": ("method=ga", "regularizer=kl", *DDP_CPU),
    "npo@keytoken": (*KEYTOKEN, "regularizer=none", *DDP_CPU),
    # Sharded: the token weights' UNPACT passes run the policy outside any training step,
    # the same passes on both ranks (every rank's examples), so FSDP's collectives pair up.
    "npo@keytoken+kl, fsdp": (*KEYTOKEN, "regularizer=kl", *FSDP_CPU),
    "npo@keytoken+kl, fsdp2": (*KEYTOKEN, "regularizer=kl", *FSDP2_CPU),
}


def same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN (a rate over no items)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_trains_on_two_ranks_and_evaluates_as_one_process(
    setting, tmp_path, artifacts, tiny_target, make_cfg
) -> None:
    results = run_train(
        tmp_path / "train",
        artifacts,
        *SETTINGS[setting],
        "method.batch_size=2",
        "trainer.max_steps=2",
        *QUICK_EVAL,
    )
    assert results["status"] == "completed" and results["steps"] == 2
    assert results["world_size"] == 2 and results["eval_world_size"] == 2
    first, second = results["rank_weight_checksums"]
    assert first == second
    if setting.startswith("npo"):
        # Step 2's log-ratio is not 0 any more, but bounded: a missing cache row read as 0
        # would put the sequence log-prob (tens of nats) into it and the loss near 0.
        assert 1.0 < results["final_losses"]["forget"] < 30.0
    final = results["eval"]["2"]

    run = tmp_path / "train" / "run"
    ev = make_cfg(
        f"unlearned={run / 'unlearned'}", *QUICK_EVAL[4:], output="eval", config_name="evaluate"
    )
    main(ev)
    single = read_results(Path(ev.paths.output_dir))["eval"]["final"]
    assert single.keys() == final.keys()
    similarity = {k for k in final if "similarity" in k}  # float sums regrouped by sharding
    differ = {
        k: (final[k], single[k]) for k in final.keys() - similarity if not same(final[k], single[k])
    }
    assert not differ
    for key in similarity:  # a mean over nothing is null in results.json
        if final[key] is not None or single[key] is not None:
            assert final[key] == pytest.approx(single[key], rel=1e-6, abs=1e-9, nan_ok=True)
