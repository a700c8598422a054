"""The membership-inference suite as a registered metric: its settings, which texts it scores,
and each AUC equal to :func:`unpact_exp.metrics.mia.mia_auc` of scores computed by hand from
unpadded single-text forwards."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from tests.model_fixtures import eval_settings
from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics import registry
from unpact_exp.metrics.mia import (
    loss_score,
    mia_auc,
    min_k_plus_plus_score,
    min_k_score,
    text_gradnorm,
    zlib_score,
)
from unpact_exp.metrics.privleak import privleak_auc
from unpact_exp.training.sequences import encode_qa

NOTHING = Answered([], [], [], [])
FORGET = [
    "Alice Smith was born in Paris.",
    "He is a baker in Rome.",
    "Question: Who is the mother of Bob Jones? Answer: Bob Jones's mother is Carol White.",
]
HOLDOUT = [
    "The capital of France is Paris.",
    "The quick brown fox jumps over the lazy dog near the river bank today.",
]
FORGET_QA = [
    QAItem("Where was Alice Smith born?", "Alice Smith was born in Paris."),
    QAItem("What does Dan Brown do for work?", "He is a baker in Rome."),
]
HOLDOUT_QA = [
    QAItem("Who is the mother of Bob Jones?", "Bob Jones's mother is Carol White."),
    QAItem("Which city is the capital of France?", "The capital of France is Paris."),
]
FIVE = ("loss", "zlib", "min_k", "min_k_plus_plus", "gradnorm")


def mia(cfg, **changes):
    return registry.build("mia", OmegaConf.merge(cfg, {"metrics": {"mia": changes}}))


def context(cfg, tokenizer, prompt_format, **parts) -> MetricContext:
    bench = Benchmark(name="handmade", **parts)
    return MetricContext(tokenizer, prompt_format, bench, eval_settings(cfg), "float32", False)


def by_hand(model, tokenizer, ids: list[int], labels: list[int], k: float) -> dict[str, float]:
    """Each attack's score of one sequence from its own unpadded forward (labels: -100 where
    not scored)."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    scored = torch.tensor([label != -100 for label in labels[1:]])
    targets = torch.tensor(ids[1:])[scored]
    rows = logits[scored]
    logp = torch.log_softmax(rows, -1).gather(-1, targets[:, None])[:, 0].tolist()
    batch = {
        "input_ids": torch.tensor([ids]),
        "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
        "labels": torch.tensor([labels]),
    }
    return {
        "loss": loss_score(logp),
        "zlib": zlib_score(logp, tokenizer.decode(targets.tolist(), skip_special_tokens=True)),
        "min_k": min_k_score(logp, k),
        "min_k_plus_plus": min_k_plus_plus_score(rows, targets, k),
        "gradnorm": text_gradnorm(model, batch, 2),
    }


def aucs_by_hand(model, tokenizer, forget, holdout, k) -> dict[str, float]:
    """``forget``/``holdout``: lists of (ids, labels)."""
    f = [by_hand(model, tokenizer, ids, labels, k) for ids, labels in forget]
    h = [by_hand(model, tokenizer, ids, labels, k) for ids, labels in holdout]
    return {a: mia_auc([s[a] for s in f], [s[a] for s in h]) for a in FIVE}


def text_pairs(tokenizer, texts):
    encoded = [tokenizer(t).input_ids for t in texts]
    return [(ids, [-100, *ids[1:]]) for ids in encoded]


def test_settings_are_bound_from_the_yaml(cfg) -> None:
    metric = registry.build("mia", cfg)
    assert (metric.k, metric.attacks, metric.p) == (0.4, FIVE, 2.0)
    assert metric.reference_model is None
    assert mia(cfg, gradnorm_p="inf").p == float("inf")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("attacks", ["loss", "minkk"], r"metrics\.mia\.attacks"),
        ("attacks", ["loss", "loss"], r"metrics\.mia\.attacks"),
        ("attacks", [], r"nothing to run"),
        ("gradnorm_p", 3, r"metrics\.mia\.gradnorm_p=3"),
        ("k", 0.0, r"metrics\.mia\.k=0\.0 is out of range"),
    ],
)
def test_bad_values_name_the_key(cfg, key, value, match) -> None:
    with pytest.raises(UnpactConfigError, match=match):
        mia(cfg, **{key: value})


def test_applies_to_member_and_non_member_texts_or_qa(cfg) -> None:
    metric = registry.build("mia", cfg)
    assert metric.applies(Benchmark(name="muse", privleak_forget=FORGET, privleak_holdout=HOLDOUT))
    assert metric.applies(Benchmark(name="tofu", forget_qa=FORGET_QA, holdout_qa=HOLDOUT_QA))
    assert not metric.applies(Benchmark(name="synthetic", forget_qa=FORGET_QA))
    assert not metric.applies(Benchmark(name="half", privleak_forget=FORGET))


def test_texts_auc_equal_single_text_scores(cfg, tokenizer, prompt_format, tiny_factory) -> None:
    """On PrivLeak's texts: every AUC from hand scores, and Min-K% is 1 - PrivLeak's AUC."""
    m0, m1 = tiny_factory(0), tiny_factory(1)
    ctx = context(cfg, tokenizer, prompt_format, privleak_forget=FORGET, privleak_holdout=HOLDOUT)
    metric = mia(cfg, batch_size=2)
    original = metric.prepare(m0, ctx, NOTHING)
    values = metric.measure(m1, ctx, NOTHING)
    assert set(values) == {f"mia_{a}_auc" for a in FIVE}
    assert set(original) == {f"mia_{a}_auc_original" for a in FIVE}
    for model, got, suffix in ((m1, values, ""), (m0, original, "_original")):
        want = aucs_by_hand(
            model, tokenizer, text_pairs(tokenizer, FORGET), text_pairs(tokenizer, HOLDOUT), 0.4
        )
        for attack in FIVE:
            assert got[f"mia_{attack}_auc{suffix}"] == pytest.approx(want[attack]), attack
        muse = privleak_auc(model, tokenizer, FORGET, HOLDOUT, 0.4, "min_k", 2)
        assert got[f"mia_min_k_auc{suffix}"] == pytest.approx(1.0 - muse)


def test_qa_auc_scores_the_answer_tokens(cfg, tokenizer, prompt_format, tiny_factory) -> None:
    """On TOFU-style QA: the answer tokens and EOS after the prompt, as the methods train."""
    m1 = tiny_factory(1)
    ctx = context(cfg, tokenizer, prompt_format, forget_qa=FORGET_QA, holdout_qa=HOLDOUT_QA)
    values = mia(cfg, batch_size=3, max_length=64).measure(m1, ctx, NOTHING)

    def pairs(items):
        return [(e.input_ids, e.labels) for e in encode_qa(tokenizer, prompt_format, items, 64)]

    want = aucs_by_hand(m1, tokenizer, pairs(FORGET_QA), pairs(HOLDOUT_QA), 0.4)
    assert values == pytest.approx({f"mia_{a}_auc": want[a] for a in FIVE})


def test_reference_attack_with_a_reference_model(
    cfg, tokenizer, prompt_format, tiny_factory, tmp_path
) -> None:
    """The reference's scores are read once; the model measured against itself scores 0 on
    every text, so its reference AUC is one half (all ties)."""
    m0, reference = tiny_factory(0), tiny_factory(3)
    reference.save_pretrained(tmp_path / "reference")
    ctx = context(cfg, tokenizer, prompt_format, privleak_forget=FORGET, privleak_holdout=HOLDOUT)
    metric = mia(cfg, attacks=["loss"], reference_model=str(tmp_path / "reference"))
    original = metric.prepare(m0, ctx, NOTHING)
    assert set(original) == {"mia_loss_auc_original", "mia_reference_auc_original"}
    f = [
        by_hand(m, tokenizer, *p, 0.4)["loss"]
        for p in text_pairs(tokenizer, FORGET)
        for m in (m0, reference)
    ]
    h = [
        by_hand(m, tokenizer, *p, 0.4)["loss"]
        for p in text_pairs(tokenizer, HOLDOUT)
        for m in (m0, reference)
    ]
    want = mia_auc(
        [a - b for a, b in zip(f[::2], f[1::2])], [a - b for a, b in zip(h[::2], h[1::2])]
    )
    assert original["mia_reference_auc_original"] == pytest.approx(want)
    assert metric.measure(reference, ctx, NOTHING)["mia_reference_auc"] == 0.5


def test_gradnorm_leaves_the_model_as_it_was(cfg, tokenizer, prompt_format, tiny_factory) -> None:
    """GradNorm runs inside the evaluation's inference mode on a frozen copy: it backpropagates
    anyway, then puts back every requires_grad flag and leaves no gradient."""
    from unpact_exp.unpact.inference import analysis_mode

    model = tiny_factory(4)
    for param in model.parameters():
        param.requires_grad_(False)
    ctx = context(cfg, tokenizer, prompt_format, forget_qa=FORGET_QA, holdout_qa=HOLDOUT_QA)
    with analysis_mode(model):
        values = mia(cfg, attacks=["gradnorm"], max_length=64).measure(model, ctx, NOTHING)
    assert 0.0 <= values["mia_gradnorm_auc"] <= 1.0
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())
