"""Exact Memorization and Extraction Strength as a registered metric: the forget answers scored
without their EOS, equal to the formulas on single-sequence greedy predictions."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from tests.model_fixtures import eval_settings
from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics import registry
from unpact_exp.metrics.memorization import exact_memorization, extraction_strength
from unpact_exp.metrics.memorization_metric import answer_examples
from unpact_exp.training.sequences import encode_qa

NOTHING = Answered([], [], [], [])
FORGET_QA = [
    QAItem("Where was Alice Smith born?", "Alice Smith was born in Paris."),
    QAItem("What does Dan Brown do for work?", "He is a baker in Rome."),
    QAItem("Who is the mother of Bob Jones?", "Carol White."),
]


def context(cfg, tokenizer, prompt_format, items) -> MetricContext:
    bench = Benchmark(name="handmade", forget_qa=list(items))
    return MetricContext(tokenizer, prompt_format, bench, eval_settings(cfg), "float32", False)


def test_settings_and_list(cfg) -> None:
    metric = registry.build("memorization", cfg)
    assert (metric.max_length, metric.batch_size) == (512, 8)
    assert "memorization" in [m.name for m in registry.build_plan(cfg).every_step]
    bad = OmegaConf.merge(cfg, {"metrics": {"memorization": {"batch_size": 0}}})
    with pytest.raises(UnpactConfigError, match=r"metrics\.memorization\.batch_size=0"):
        registry.build("memorization", bad)
    assert not metric.applies(Benchmark(name="none"))
    assert metric.applies(Benchmark(name="qa", forget_qa=FORGET_QA))


def test_the_final_eos_is_not_a_target(tokenizer, prompt_format) -> None:
    full = encode_qa(tokenizer, prompt_format, FORGET_QA, 64)
    cut = answer_examples(tokenizer, prompt_format, FORGET_QA, 64)
    for f, c in zip(full, cut):
        assert f.labels[-1] == tokenizer.eos_token_id
        assert c.input_ids == f.input_ids[:-1] and c.labels == f.labels[:-1]


def test_means_of_single_sequence_scores(cfg, tokenizer, prompt_format, tiny_factory) -> None:
    m0, m1 = tiny_factory(0), tiny_factory(1)
    ctx = context(cfg, tokenizer, prompt_format, FORGET_QA)
    metric = registry.build(
        "memorization",
        OmegaConf.merge(cfg, {"metrics": {"memorization": {"max_length": 64, "batch_size": 2}}}),
    )
    original = metric.prepare(m0, ctx, NOTHING)
    values = metric.measure(m1, ctx, NOTHING)
    for model, got, suffix in ((m1, values, ""), (m0, original, "_original")):
        em, es = [], []
        for e in answer_examples(tokenizer, prompt_format, FORGET_QA, 64):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([e.input_ids])).logits[0]
            at = [t for t in range(1, len(e.labels)) if e.labels[t] != -100]
            predictions = [int(logits[t - 1].argmax()) for t in at]
            targets = [e.labels[t] for t in at]
            em.append(exact_memorization(predictions, targets))
            es.append(extraction_strength(predictions, targets))
        assert got[f"exact_memorization{suffix}"] == pytest.approx(sum(em) / len(em))
        assert got[f"extraction_strength{suffix}"] == pytest.approx(sum(es) / len(es))


class Parrot(torch.nn.Module):
    """Predicts, at every position, the token that follows it in ``ids`` (teacher forcing
    handed the model the gold answer): EM = ES = 1 on that sequence."""

    def __init__(self, ids: list[int], vocab: int) -> None:
        super().__init__()
        self.ids, self.vocab = ids, vocab
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, **kwargs):
        nxt = torch.tensor(self.ids[1:] + [0])
        logits = torch.nn.functional.one_hot(nxt, self.vocab).float()[None]
        return type("Out", (), {"logits": logits.expand(input_ids.shape[0], -1, -1)})()


def test_a_model_that_reproduces_the_answer_scores_one(cfg, tokenizer, prompt_format) -> None:
    """Hand check: predictions equal to every answer token give EM = 1 and ES = 1 - 0/n = 1."""
    item = [FORGET_QA[0]]
    (example,) = answer_examples(tokenizer, prompt_format, item, 64)
    parrot = Parrot(example.input_ids, len(tokenizer))
    metric = registry.build(
        "memorization",
        OmegaConf.merge(cfg, {"metrics": {"memorization": {"max_length": 64, "batch_size": 1}}}),
    )
    values = metric.measure(parrot, context(cfg, tokenizer, prompt_format, item), NOTHING)
    assert values == {"exact_memorization": 1.0, "extraction_strength": 1.0}
