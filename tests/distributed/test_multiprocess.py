"""Two CPU processes (gloo): DDP, FSDP (v1) and FSDP2 train, every rank ends with the same
model, and the evaluation split across both ranks gives the numbers of one process.

These drive `train.py` as a subprocess because Lightning's `ddp` relaunches the
script for rank 1; each run is a few steps on the small tiny target. FSDP (v1) runs on CPU
through the strategy subclass of unpact_exp/training/fsdp.py (Lightning refuses it
otherwise); it is the same wrapping code a GPU run takes.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from tests.distributed.runner import DDP_CPU, FSDP2_CPU, FSDP_CPU, run_train
from unpact_exp.results import read_results
from unpact_exp.run import main


@pytest.mark.parametrize("strategy", [DDP_CPU, FSDP2_CPU, FSDP_CPU], ids=["ddp", "fsdp2", "fsdp"])
@pytest.mark.parametrize(("method", "reg"), [("npo", "kl"), ("rmu", "none")])
def test_two_processes_agree(strategy, method, reg, tmp_path, artifacts, tiny_target) -> None:
    results = run_train(
        tmp_path,
        artifacts,
        f"method={method}",
        f"regularizer={reg}",
        "trainer.max_steps=3",
        *strategy,
    )
    assert results["status"] == "completed"
    assert results["world_size"] == 2
    assert results["sharded"] == (strategy != DDP_CPU)
    assert results["steps"] == 3
    first, second = results["rank_weight_checksums"]
    assert first == pytest.approx(second, rel=0, abs=0)
    assert (tmp_path / "run" / "unlearned" / "config.json").exists()
    if strategy != DDP_CPU:  # sharded: only rank 0 read the weights; rank 1 built them empty
        logs = "".join(log.read_text() for log in (tmp_path / "run").glob("*.log"))
        assert "rank 0: policy read from disk" in logs
        assert "rank 1: policy built empty" in logs and "rank 1: policy read" not in logs


def same(key: str, a: object, b: object) -> bool:
    """Equal (NaN equal to NaN), except the continuous similarity means: equal to 1e-6.

    Rates, counts, intervals and p-values come from per-item booleans and must match
    exactly. A similarity averages float UNPACT scores, whose last bits depend on which
    items share a forward pass (padding lengths), and sharding regroups the items.
    """
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if "similarity" in key:
            return a == pytest.approx(b, rel=1e-6, abs=1e-9)
    return a == b


SHARDED_NPO_KL = ("method=npo", "regularizer=kl", "trainer.max_steps=6")
EVALUATED = {
    "ddp": (*DDP_CPU, "method=ga", "regularizer=none", "trainer.max_steps=6"),
    "fsdp2": (*FSDP2_CPU, *SHARDED_NPO_KL),
    # bf16-mixed: FSDP's own mixed precision, which must leave NPO's float32 buffer alone.
    "fsdp": (*FSDP_CPU, *SHARDED_NPO_KL, "trainer.precision=bf16-mixed"),
    # The same on 2 GPUs (NCCL, Lightning's own FSDPStrategy): make test-all on such a machine.
    "fsdp-gpu": ("trainer=fsdp", "trainer.devices=2", *SHARDED_NPO_KL),
}
TWO_GPUS = [
    pytest.mark.gpu,
    pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs"),
]


@pytest.mark.parametrize(
    "run", [pytest.param(r, marks=TWO_GPUS if r.endswith("gpu") else []) for r in EVALUATED]
)
def test_evaluation_across_ranks_matches_one_process(
    run, tmp_path, artifacts, tiny_target, make_cfg
) -> None:
    """Both ranks evaluate their half of the items; the gathered numbers equal one process's.

    One process here is ``eval.py`` (``eval_world_size: 1``) on the two-rank run's saved
    model: every metric of the final evaluation (rates, counts, intervals, similarities,
    attacks including relearn, which fine-tunes M1) must be identical, and so must the
    per-question rows, the unlearned model's answers included: the saved ``unlearned/``
    reloads as the model the ranks evaluated. The sharded runs train npo+kl (NPO's cache
    and KL's reference through FSDP units) and gather M1 on every rank to evaluate it.
    """
    results = run_train(
        tmp_path / "train",
        artifacts,
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=0",
        "eval.heatmap_questions=0",
        *EVALUATED[run],
    )
    assert results["status"] == "completed" and results["world_size"] == 2
    assert results["eval_world_size"] == 2
    assert results["sharded"] == (run != "ddp")  # sharded: M1 gathered on every rank
    first, second = results["rank_weight_checksums"]
    assert first == second
    final = results["eval"]["6"]
    # Something was forgotten, so FocusOnKey, PROBAB and the attacks ran on shards too.
    assert final["n_forgotten"] >= 2 and final["relearn_recovery_rate_counts"][1] >= 1

    run_dir = tmp_path / "train" / "run"
    if run in ("fsdp", "fsdp-gpu"):  # FSDP (v1) bf16-mixed: NPO's cache stayed float32
        cache = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
        ref = cache["state_dict"]["objective.ref_logp"]
        assert ref.dtype == torch.float32
        assert not torch.equal(ref.to(torch.bfloat16).float(), ref)
    ev = make_cfg(f"unlearned={run_dir / 'unlearned'}", output="eval", config_name="evaluate")
    main(ev)
    offline = read_results(Path(ev.paths.output_dir))
    assert offline["eval_world_size"] == 1
    single = offline["eval"]["final"]
    assert single.keys() == final.keys()
    differ = {k: (v, single[k]) for k, v in final.items() if not same(k, v, single[k])}
    assert not differ
    rows = read_rows(run_dir / "questions.csv")
    offline_rows = read_rows(Path(ev.paths.output_dir) / "questions.csv")
    assert len(rows) == len(offline_rows) == final["n_forget_questions"]
    for row, offline_row in zip(rows, offline_rows):
        for column, value in row.items():
            if column.endswith("_contributions"):  # float32 sums regrouped by sharding
                # Differences of float32 log-probs of a few nats: other padding moves them by
                # a few ulps of the log-probs (1.4e-6 seen), not of the difference.
                got, want = json.loads(value), json.loads(offline_row[column])
                assert got == pytest.approx(want, rel=1e-5, abs=1e-5), (column, row)
            elif column != "step" and "similarity" not in column:
                assert value == offline_row[column], (column, row, offline_row)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The per-question rows of ``questions.csv``."""
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
