"""Recovery attacks: configuration, paraphrase choice, exact restoration after relearning,
and each attack's rate, counts and budget in the pair analysis."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import CONF
from unpact_exp.attacks.recovery_attacks import AttackConfig, paraphrases, relearn_attack
from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.evaluator import Evaluator
from unpact_exp.unpact.config import EvalConfig
from unpact_exp.unpact.generation import greedy_answers
from unpact_exp.unpact.inference import analysis_mode

FORGET = [
    "Where was Alice Smith born?",
    "Who is the mother of Bob Jones?",
    "What does Dan Brown do for work?",
    "Which city is the capital of France?",
    "Who is Carol White?",
]
RETAIN = ["What is Paris?", "Where is the river bank?", "Who is Dan Brown?"]


def attacks_node(**changes) -> dict:
    node = OmegaConf.to_container(OmegaConf.load(CONF / "attacks" / "default.yaml"))
    node.update({"max_length": 64, "relearn_lr": 1e-2, **changes})
    return node


def test_config_refuses_unknown_attacks_and_bad_templates() -> None:
    with pytest.raises(UnpactConfigError, match=r"attacks\.every_step.*'paraphrse'"):
        AttackConfig.from_config(attacks_node(every_step=["paraphrse"]))
    with pytest.raises(UnpactConfigError, match=r"has no \{question\}"):
        AttackConfig.from_config(attacks_node(paraphrase_templates=["Tell me."]))
    with pytest.raises(UnpactConfigError, match=r"attacks\.icl_k"):
        AttackConfig.from_config(attacks_node(icl_k=0))


def test_paraphrases_prefer_the_data_and_respect_the_budget() -> None:
    own = QAItem("Where was A born?", "X", ("In which city was A born?", "Where was A born?"))
    assert paraphrases(own, ["T: {question}"], 3) == ["In which city was A born?"]
    plain = QAItem("Where was A born?", "X")
    assert paraphrases(plain, ["T: {question}", "{question} U", "V"], 2) == [
        "T: Where was A born?",
        "Where was A born? U",
    ]


def test_relearning_restores_the_model_exactly(tiny_factory, tokenizer, prompt_format, cfg):
    model = tiny_factory(3)
    frozen = "model.layers.0.mlp.down_proj.weight"
    for name, param in model.named_parameters():
        param.requires_grad_(name != frozen)
    marker = torch.full_like(dict(model.named_parameters())["lm_head.weight"], 0.5)
    dict(model.named_parameters())["lm_head.weight"].grad = marker
    before = {k: v.clone() for k, v in model.state_dict().items()}
    items = [QAItem(q, "Paris") for q in FORGET]
    config = AttackConfig.from_config(attacks_node(relearn_steps=3))
    with analysis_mode(model):
        result = relearn_attack(
            model, tokenizer, prompt_format, items, (), config, EvalConfig.from_config(cfg.eval)
        )
    assert result.attacked == [False, True, False, True, False]  # measured: odd positions
    assert result.counts[1] == 2 and result.budget["train_facts"] == 3
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    params = dict(model.named_parameters())
    assert not params[frozen].requires_grad and params["lm_head.weight"].requires_grad
    assert params["lm_head.weight"].grad is marker
    assert params["model.embed_tokens.weight"].grad is None


def test_relearning_teaches_the_held_out_half_something(
    tiny_factory, tokenizer, prompt_format, cfg
):
    """Every fact has the same answer: training on half of them must reach the other half."""
    model = tiny_factory(4)
    items = [QAItem(q, "lazy dog") for q in FORGET]
    eval_cfg = EvalConfig.from_config(OmegaConf.merge(cfg.eval, {"max_new_tokens": 4}))
    config = AttackConfig.from_config(attacks_node(relearn_steps=30, relearn_lr=3e-2))
    prompts = [prompt_format.parts(q) for q in FORGET]
    with analysis_mode(model):
        before = greedy_answers(model, tokenizer, prompts, 4, eval_cfg.stop_strings, 8)
        result = relearn_attack(model, tokenizer, prompt_format, items, (), config, eval_cfg)
        after = greedy_answers(model, tokenizer, prompts, 4, eval_cfg.stop_strings, 8)
    assert not any("lazy dog" in before[i] for i in (1, 3)), before  # the measured half
    assert result.counts == (2, 2), result.answers
    assert after == before  # and the model was given back as it was


@pytest.fixture(scope="module")
def analysis(tiny_llama, tokenizer, prompt_format, cfg):
    def known(questions):
        prompts = [prompt_format.parts(q) for q in questions]
        answers = greedy_answers(tiny_llama, tokenizer, prompts, 6, cfg.eval.stop_strings, 8)
        return [QAItem(q, a) for q, a in zip(questions, answers)]

    forget = known(FORGET)
    forget[-1] = QAItem(FORGET[-1], "zebra zebra zebra")  # M0 never knew this one
    bench = Benchmark(name="handmade", forget_qa=forget, retain_qa=known(RETAIN))
    root = OmegaConf.merge(cfg, {"eval": {"max_new_tokens": 6, "batch_size": 8}})
    root.attacks = attacks_node(icl_k=2)
    return Evaluator.from_config(tiny_llama, tokenizer, prompt_format, bench, root)


def test_every_attack_reports_rate_counts_and_budget(analysis, tiny_factory) -> None:
    names = analysis.attack_names(final=True)
    assert names == ("paraphrase", "icl", "focus_on_key_control", "relearn")
    result = analysis.evaluate(tiny_factory(1), names)
    m = result.metrics
    forgotten = int(m["n_forgotten"])
    assert forgotten >= 2
    for rate, attacked in [
        ("paraphrase_recovery_rate", forgotten),
        ("icl_recovery_rate", forgotten),
        ("relearn_recovery_rate", forgotten // 2),
        ("focus_on_key_control_rate", 1),
    ]:
        hits, n = m[f"{rate}_counts"]
        assert n == attacked and 0 <= hits <= n
        assert m[rate] == pytest.approx(hits / n)
    assert m["icl_budget_demonstrations"] == 2.0
    assert m["paraphrase_budget_prompts_per_question"] == 3.0
    assert m["relearn_budget_steps"] == 5.0
    never = [r for r in result.rows if not r["known"]]
    assert len(never) == 1 and never[0]["recovered_focus_on_key_control"] is not None


def test_nothing_forgotten_gives_null_rates_over_zero(analysis, tiny_llama) -> None:
    m = analysis.evaluate(tiny_llama, ("paraphrase", "relearn")).metrics
    assert math.isnan(m["paraphrase_recovery_rate"]) and m["paraphrase_recovery_rate_counts"] == [
        0,
        0,
    ]
    assert math.isnan(m["relearn_recovery_rate"]) and m["relearn_recovery_rate_counts"] == [0, 0]
    assert "icl_recovery_rate" not in m  # only the attacks asked for
