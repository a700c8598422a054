"""Recovery attacks: configuration, paraphrase choice, exact restoration after relearning,
and each attack's rate, counts and budget in the pair analysis."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from tests.model_fixtures import HANDMADE, make_evaluator, task_context
from unpact_exp.attacks import registry
from unpact_exp.attacks.paraphrase import paraphrases
from unpact_exp.attacks.relearn import Relearn
from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.attacking import AttackContext, Target
from unpact_exp.evaluation.tasks import QATask
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


def root(cfg, **attacks):
    """``cfg`` with the attacks group changed (``relearn`` merged into its node)."""
    return OmegaConf.merge(cfg, {"attacks": attacks})


def test_config_refuses_unknown_attacks_duplicates_and_bad_templates(cfg) -> None:
    with pytest.raises(UnpactConfigError, match=r"attacks\.every_step.*'paraphrse'.*paraphrase"):
        registry.build_plan(root(cfg, every_step=["paraphrse"]))
    with pytest.raises(UnpactConfigError, match=r"attacks\.final.*'relearn'.*more than once"):
        registry.build_plan(root(cfg, final=["relearn", "relearn"]))
    with pytest.raises(UnpactConfigError, match=r"both list \['icl'\]"):
        registry.build_plan(root(cfg, final=["icl", "relearn"]))
    with pytest.raises(UnpactConfigError, match=r"attacks\.paraphrase\.templates.*\{question\}"):
        registry.build_plan(root(cfg, paraphrase={"templates": ["Tell me."]}))
    with pytest.raises(UnpactConfigError, match=r"attacks\.icl\.k=0"):
        registry.build_plan(root(cfg, icl={"k": 0}))
    with pytest.raises(UnpactConfigError, match=r"attacks\.relearn\.lr='x' is not valid"):
        registry.build_plan(root(cfg, relearn={"lr": "x"}))


def relearn_target(tokenizer, prompt_format, cfg, items) -> Target:
    task = QATask(task_context(tokenizer, prompt_format, cfg, max_new_tokens=4))
    return Target(task, items, [() for _ in items], [[] for _ in items], [[] for _ in items])


CTX = AttackContext(budget=3, retain_demonstrations=(), seed=0)


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
    attack = Relearn(steps=3, lr=1e-2, batch_size=8, max_length=64)
    with analysis_mode(model):
        run = attack.run(model, relearn_target(tokenizer, prompt_format, cfg, items), CTX)
    attacked = [o.attacked for o in run.outcomes]
    assert attacked == [False, True, False, True, False]  # measured: odd positions
    assert run.budget["train_facts"] == 3
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
    attack = Relearn(steps=30, lr=3e-2, batch_size=8, max_length=64)
    target = relearn_target(tokenizer, prompt_format, cfg, items)
    stops = target.task.ctx.eval.stop_strings
    prompts = [prompt_format.parts(q) for q in FORGET]
    with analysis_mode(model):
        before = greedy_answers(model, tokenizer, prompts, 4, stops, 8)
        run = attack.run(model, target, CTX)
        after = greedy_answers(model, tokenizer, prompts, 4, stops, 8)
    assert not any("lazy dog" in before[i] for i in (1, 3)), before  # the measured half
    recovered = [o.recovered for o in run.outcomes if o.attacked]
    assert recovered == [True, True], [o.answers for o in run.outcomes]
    assert after == before  # and the model was given back as it was


@pytest.fixture(scope="module")
def handmade(tiny_llama, tokenizer, prompt_format, cfg) -> Benchmark:
    """Golds = M0's own answers (so M0 knows them), except one question M0 never knew."""

    def known(questions):
        prompts = [prompt_format.parts(q) for q in questions]
        answers = greedy_answers(tiny_llama, tokenizer, prompts, 6, cfg.eval.stop_strings, 8)
        return [QAItem(q, a) for q, a in zip(questions, answers)]

    forget = known(FORGET)
    forget[-1] = QAItem(FORGET[-1], "zebra zebra zebra")  # M0 never knew this one
    return Benchmark(name="handmade", forget_qa=forget, retain_qa=known(RETAIN))


@pytest.fixture(scope="module")
def analysis(tiny_llama, tokenizer, prompt_format, cfg, handmade):
    changes = {"eval": {"max_new_tokens": 6, "batch_size": 8, **HANDMADE}}
    attacks = {"icl": {"k": 2}, "relearn": {"lr": 1e-2, "max_length": 64}}
    config = OmegaConf.merge(cfg, changes, {"attacks": attacks})
    return make_evaluator(tiny_llama, tokenizer, prompt_format, handmade, config)


def test_every_attack_reports_rate_counts_and_budget(analysis, tiny_factory) -> None:
    names = tuple(a.name for a in analysis.attacks.due(final=True))
    expected = (
        "focus_on_key",
        "probab",
        "focus_on_random",
        "focus_on_neutral",
        "reask",
        "focus_on_key_m0_self",
        "paraphrase",
        "icl",
        "focus_on_key_control",
        "relearn",
    )
    assert names == expected
    result = analysis.evaluate(tiny_factory(1), final=True)
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
    never = [r for r in result.records() if not r["known"]]
    assert len(never) == 1 and never[0]["recovered_focus_on_key_control"] is not None
    assert never[0]["recovered_m0_self"] is not None
    assert m["focus_on_key_m0_self_rate_counts"][1] == 1
    assert m["m1_never_known_accuracy_counts"][1] == 1
    hits, tried = m["icl_recovery_rate_per_attempt_counts"]
    assert tried == forgotten and hits == m["icl_recovery_rate_counts"][0]


def test_nothing_forgotten_gives_null_rates_over_zero(analysis, tiny_llama) -> None:
    m = analysis.evaluate(tiny_llama, final=True).metrics
    assert math.isnan(m["paraphrase_recovery_rate"]) and m["paraphrase_recovery_rate_counts"] == [
        0,
        0,
    ]
    assert math.isnan(m["relearn_recovery_rate"]) and m["relearn_recovery_rate_counts"] == [0, 0]


def test_final_only_attacks_run_only_at_the_final_evaluation(analysis, tiny_factory) -> None:
    m = analysis.evaluate(tiny_factory(1), final=False).metrics
    assert "paraphrase_recovery_rate" in m and "relearn_recovery_rate" not in m


def test_every_control_runs_on_focus_on_keys_questions(analysis, tiny_factory) -> None:
    """The same-budget controls attack exactly the forgotten questions FocusOnKey attacked
    (random words: those with KeyTokens; pooled over its draws), and the excess is the
    difference against the strongest of them, inside its own interval."""
    result = analysis.evaluate(tiny_factory(1), final=False)
    m, rows = result.metrics, result.records()
    forgotten = [r for r in rows if r["forgotten"]]
    assert forgotten
    focus = [r for r in forgotten if r["recovered_focus"] is not None]
    for column in ("probab", "focus_on_neutral", "reask"):
        assert all(r[f"recovered_{column}"] is not None for r in forgotten), column
        assert all(r[f"recovered_{column}"] is None for r in rows if not r["forgotten"]), column
    attacked = [r for r in forgotten if r["recovered_focus_on_random"] is not None]
    assert {r["question"] for r in attacked} <= {r["question"] for r in focus}
    draws = analysis.attacks.every_step[2].draws
    assert m["focus_on_random_rate_counts"][1] == draws * len(attacked)
    for column in ("focus_on_neutral", "reask"):
        assert m[f"{column}_rate_counts"][1] == len(forgotten)
        first, second = m[f"focus_vs_{column}_discordant"]
        only_focus = sum(bool(r["recovered_focus"]) and not r[f"recovered_{column}"] for r in focus)
        assert first == only_focus
    assert m["strongest_control"] in ("probab", "focus_on_random", "focus_on_neutral", "reask")
    low, high = m["focus_on_key_excess_ci"]
    assert low <= m["focus_on_key_excess"] <= high
    assert m["focus_on_key_excess"] == m[f"focus_vs_{m['strongest_control']}_difference"]


NULL_ATTACKS = ("focus_on_key", "focus_on_neutral", "reask", "focus_on_key_m0_self")


def test_the_null_asks_every_attack_on_the_never_known_questions(
    tiny_llama, tokenizer, prompt_format, cfg, handmade
) -> None:
    """``eval.attack_questions=never_known`` with M1 = M0: nothing is forgotten, FocusOnKey
    and its controls ask the question M0 never knew, and FocusOnKey on M1 = M0 is exactly
    FocusOnKey on M0 (the ``focus_on_key_m0_self`` control), so the two agree count for count."""
    config = OmegaConf.merge(
        cfg,
        {"eval": {"max_new_tokens": 6, "batch_size": 8, **HANDMADE}},
        {"eval": {"attack_questions": "never_known"}},
        {"attacks": {"every_step": list(NULL_ATTACKS), "final": []}},
    )
    null = make_evaluator(tiny_llama, tokenizer, prompt_format, handmade, config)
    result = null.evaluate(tiny_llama, final=True)
    m, rows = result.metrics, result.records()
    assert m["forget_rate_counts"] == [0, m["n_known"]] and m["n_known"] >= 2
    never = [r for r in rows if not r["known"]]
    assert len(never) == 1
    for column in ("focus", "focus_on_neutral", "reask"):
        assert never[0][f"recovered_{column}"] is not None, column
        assert all(r[f"recovered_{column}"] is None for r in rows if r["known"]), column
    assert m["recovery_rate_counts"] == m["focus_on_key_m0_self_rate_counts"]
    assert m["recovery_rate_counts"][1] == m["reask_rate_counts"][1] == 1
    low, high = m["focus_on_key_excess_ci"]
    assert low <= m["focus_on_key_excess"] <= high


def test_relearning_gradients_one_sequence_at_a_time_are_the_batch_gradients(
    tiny_factory, tokenizer, prompt_format
) -> None:
    """Relearning forwards a batch one sequence at a time (activations of one sequence, not of
    ``attacks.relearn.batch_size``): the accumulated gradients are those of the whole padded
    batch's token-mean NLL, up to the order of float sums."""
    from unpact_exp.attacks.relearn import accumulate_gradients
    from unpact_exp.methods.token_logprobs import mean_nll
    from unpact_exp.training.sequences import PadCollator, encode_qa

    items = [QAItem(q, "lazy dog") for q in FORGET]
    batch = PadCollator(tokenizer.pad_token_id)(encode_qa(tokenizer, prompt_format, items, 64))
    assert batch["attention_mask"].sum(dim=1).unique().numel() > 1  # rows of several lengths
    model = tiny_factory(5)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    mean_nll(out.logits, batch["labels"]).backward()
    whole = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    accumulate_gradients(model, batch, "cpu")
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, whole[name], rtol=1e-5, atol=1e-7)


def test_relearning_steps_adamw_on_the_host_as_on_the_model(tiny_factory) -> None:
    """AdamW's weights and moments live on the host; given the same gradients, a step there
    writes back exactly what ``torch.optim.AdamW`` over the model's own parameters computes,
    and frees the model's gradients."""
    from unpact_exp.attacks.relearn import host_step

    stepped, plain = tiny_factory(5), tiny_factory(5)
    params, reference = list(stepped.parameters()), list(plain.parameters())
    host = [p.detach().to("cpu", copy=True) for p in params]
    optimizer = torch.optim.AdamW(host, lr=3e-2, weight_decay=0.0)
    expected = torch.optim.AdamW(reference, lr=3e-2, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        for param, ref in zip(params, reference, strict=True):
            ref.grad = torch.randn(param.shape, generator=generator)
            param.grad = ref.grad.clone()
        host_step(optimizer, params, host)
        expected.step()
    assert all(torch.equal(p, r) for p, r in zip(params, reference, strict=True))
    start = list(tiny_factory(5).parameters())
    assert all(not torch.equal(p, s) for p, s in zip(params, start, strict=True))  # it moved
    assert all(p.grad is None for p in params)
