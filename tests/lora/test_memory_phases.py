"""``unpact_exp.memory`` beyond one plain step: KL's tensors, TV's snapshot, the evaluation
phase, and the paper experiments as shipped (every row fits an 80 GB GPU).

The model is test_memory_estimate.py's: V = 100, H = 16, I = 32, L = 2, KV = 16, float32
(b = 4), P = 8400 (33600 bytes); batch 2 x 8 tokens per stream.

KL, 2 streams of 16 tokens: layers 2 * (6*16 + 2*16 + 4*32) * 4 = 2048 per token in both;
the forget stream's logits V * (b + 8) = 1200, KL's retain stream V * (2b + 20) = 2800:
16 * (2048 + 1200) + 16 * (2048 + 2800) = 51968 + 77568 = 129536 (103936 without KL).

Evaluation, S = 4 variants x A = 8 answer tokens, G = 2 prompts x T = 8 tokens, PrivLeak
B = 2 texts x T_p = 8 tokens; one layer's transient (2H + 3I) * b = 128 * 4 = 512 per token:
scoring 4 * 8 * 100 * (4 + 8) = 38400;
generation 2 * 8 * (2 * 2 * 16 * 4 + 512) = 16 * 768 = 12288;
PrivLeak 2 * 8 * (16 * 4 + 512) + 8 * 100 * 12 = 9216 + 9600 = 18816: forward 38400.
One GPU (npo+kl): state 33600 * 5 = 168000, + M0 33600 + forward 38400 = 240000.
FSDP x2: state 16800 + 16800 + 33600 + 16800 + 20736 = 104736, + M0 33600 + M1 copy 33600
+ 38400 = 210336.

Final evaluation, one sequence of 8 tokens backpropagated (relearning, GradNorm): gradients
P * b = 33600 and 8 * (2048 + 1200) = 25984 of activations = 59584, which replaces the forward
(38400): one GPU 240000 - 38400 + 59584 = 261184.

RMU trains layer 1's MLP down-projection only: P_t = 32 * 16 = 512, so gradients 512 * 4 = 2048
and AdamW 4096 bytes, while the weights stay 33600.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lora.test_memory_estimate import work
from unpact_exp.memory import (
    GPU_BYTES,
    EvalWorkload,
    Workload,
    activation_bytes,
    estimate,
    estimate_eval,
    main,
    paper_rows,
)


@pytest.fixture
def shape():
    from transformers import AutoConfig

    from tests.lora.test_memory_estimate import CONFIG, TARGETS
    from unpact_exp.memory import model_shape

    values = dict(CONFIG)
    return model_shape(AutoConfig.for_model(values.pop("model_type"), **values), 4, TARGETS)


def test_kl_retain_stream_holds_five_float32_vocabulary_tensors(shape) -> None:
    kl = Workload(2, 8, 2, 4, True, False, 2, kl=True)
    assert activation_bytes(shape, work(False)) == 103936
    assert activation_bytes(shape, kl) == 129536


def test_task_vector_snapshot_is_one_more_copy(shape) -> None:
    tv = Workload(2, 8, 1, 4, False, False, 2, snapshot=True)
    single, _, fsdp, _ = estimate(shape, tv)
    assert single.reference == 33600 and fsdp.reference == 16800


def test_evaluation_rows_by_hand(shape) -> None:
    ev = EvalWorkload(4, 8, 2, 8, 2, 8)
    rows = {r.strategy: r for r in estimate_eval(shape, work(False), ev)}
    single, fsdp = rows["full, 1 GPU"], rows["full, FSDP x2"]
    assert (single.training_state, single.original, single.m1_copy, single.forward) == (
        168000,
        33600,
        0,
        38400,
    )
    assert single.total == 240000
    assert (fsdp.training_state, fsdp.m1_copy) == (104736, 33600)
    assert fsdp.total == 210336
    # Without scoring, PrivLeak is the largest; without PrivLeak either, generation.
    (no_scoring, *_) = estimate_eval(shape, work(False), EvalWorkload(0, 8, 2, 8, 2, 8))
    assert no_scoring.forward == 18816
    (generation, *_) = estimate_eval(shape, work(False), EvalWorkload(0, 8, 2, 8, 2, 0))
    assert generation.forward == 12288


def test_final_evaluation_backward_by_hand(shape) -> None:
    ev = EvalWorkload(4, 8, 2, 8, 2, 8, backward=((1, 8), (1, 4)))
    single = estimate_eval(shape, work(False), ev)[0]
    assert single.final_backward == 33600 + 25984
    assert single.final == 261184
    (plain, *_) = estimate_eval(shape, work(False), EvalWorkload(4, 8, 2, 8, 2, 8))
    assert plain.final == plain.total == 240000  # no backward: the forward is the peak
    # TOFU's scoring of 64 tokens: 64 * 100 * (4 + 8) = 76800, above the forward and backward
    tofu = estimate_eval(shape, work(False), EvalWorkload(4, 8, 2, 8, 2, 8, ((1, 8),), 64))[0]
    assert tofu.final_forward == 76800 and tofu.final == 240000 - 38400 + 76800


def test_only_trained_parameters_get_gradients_and_moments() -> None:
    from transformers import AutoConfig

    from tests.lora.test_memory_estimate import CONFIG, TARGETS
    from unpact_exp.memory import model_shape

    values = dict(CONFIG)
    hf = AutoConfig.for_model(values.pop("model_type"), **values)
    rmu = model_shape(hf, 4, TARGETS, lambda name: "layers.1.mlp.down_proj." in name)
    assert (rmu.n_params, rmu.trainable_params) == (8400, 512)
    single = estimate(rmu, work(False))[0]
    assert (single.weights, single.grads, single.optimizer) == (33600, 2048, 4096)


def test_the_method_decides_what_is_trained() -> None:
    """RMU's ``method.trainable_layers`` reach the estimate through its own ``trainable``."""
    from transformers import AutoConfig

    from unpact_exp.memory import KNOWN_CONFIGS, compose, shape_of

    values = dict(KNOWN_CONFIGS["meta-llama/Llama-3.1-8B-Instruct"])
    hf = AutoConfig.for_model(values.pop("model_type"), **values)
    rmu = shape_of(compose("llama31_8b_instruct", "rmu"), hf)
    assert rmu.trainable_params == 3 * 4096 * 14336  # layers 5, 6, 7's down-projections
    npo = shape_of(compose("llama31_8b_instruct", "npo+kl"), hf)
    assert npo.trainable_params == npo.n_params == 8_030_261_248


def test_paper_experiments_fit_an_80_gb_gpu_as_shipped() -> None:
    rows = paper_rows(eval_len=512)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["experiment"]] = counts.get(row["experiment"], 0) + 1
        assert row["checkpointing"] or row["experiment"] == "wmdp_paper", row
        assert max(row["train"], row["evaluation"], row["final"]) <= GPU_BYTES, row
    # MUSE: 7 settings; TOFU: 7 settings x 3 models; WMDP: RMU on the 8B model
    assert counts == {
        "muse_news_paper": 7,
        "muse_books_paper": 7,
        "tofu_paper": 21,
        "wmdp_paper": 1,
    }
    strategies = {(r["experiment"], r["strategy"]) for r in rows}
    assert strategies == {
        ("muse_news_paper", "full, FSDP x8"),
        ("muse_books_paper", "full, FSDP x8"),
        ("tofu_paper", "full, FSDP x4"),
        ("wmdp_paper", "full, 1 GPU"),
    }


def test_readme_and_guide_carry_the_paper_tables_as_computed() -> None:
    """The tables are generated (``python -m unpact_exp.memory --paper``), never edited."""
    from unpact_exp.memory import paper_summary, paper_table

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    guide = (root / "docs" / "guide.md").read_text(encoding="utf-8")
    assert paper_summary(512) in readme
    assert paper_table(512) in guide


def test_cli_experiment_and_paper_table(capsys) -> None:
    assert main(["--experiment", "muse_news_paper", "--setting", "npo+kl"]) == 0
    out = capsys.readouterr().out
    assert "muse_news_target: 6.74B parameters (bfloat16)" in out
    assert "gradient checkpointing on" in out and "full, FSDP x8" in out
    assert "evaluation during training" in out and "M1 copy" in out
    assert main(["--paper"]) == 0
    table = capsys.readouterr().out
    assert table.count("| muse_news_paper |") == 1 + 7  # the summary's row, every setting's
    assert main([]) == 2
