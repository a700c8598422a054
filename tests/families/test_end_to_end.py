"""``train.py`` -> ``eval.py`` -> ``analyze.py`` on each family with the paper's own configs.

``model=llama31_8b_instruct`` / ``qwen3_14b`` / ``muse_news_target`` pointed at the tiny
folders (``model.path``, and Llama-2-7b-hf's tokenizer folder in ``model.tokenizer_path``),
``data=news`` at a MUSE-News snapshot in the hub layout, ``setting=npo+kl``: the run trains
with the evaluation callback at step 0 and at the end, ``eval.py``'s stage re-evaluates the
saved ``unlearned/`` folder and ``analyze.py``'s stage explains a forget question. The
models were taught the MUSE-News questions, so the step-0 evaluation finds them known and
the numbers mean something. In-process (``compose`` + ``main``), as the entry points run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import compose_cfg
from unpact_exp.results import read_results
from unpact_exp.run import main

QUIET = ["logger=none", "trainer.enable_progress_bar=false"]
# The same numbers from the callback's final evaluation and from eval.py on the saved folder.
SAME_IN_EVAL_PY = (
    "knowmem_forget",
    "knowmem_retain",
    "n_known",
    "forget_rate",
    "utility",
    "verbmem_forget",
    "privleak_auc",
)


def data_overrides(news) -> list[str]:
    # The models were taught each question in one prompt, so one ask labels it (several asks
    # are tested on the tiny target and on SmolLM2).
    return ["data=news", f"data.path={news.path}", "eval.labels.asks=1"]


def train(family, news, tmp_path: Path, *extra: str) -> tuple[Path, dict]:
    run = tmp_path / "train"
    cfg = compose_cfg(
        [*family.overrides, *data_overrides(news), *QUIET, *extra], run, tmp_path / "artifacts"
    )
    main(cfg)
    return run, read_results(run)


def evaluate(family, news, tmp_path: Path, unlearned: Path) -> dict:
    run = tmp_path / "eval"
    cfg = compose_cfg(
        [*family.overrides, *data_overrides(news), "logger=none", f"unlearned={unlearned}"],
        run,
        tmp_path / "artifacts",
        config_name="evaluate",
    )
    main(cfg)
    return read_results(run)


def explain(family, tmp_path: Path, question: str, capsys) -> dict:
    cfg = compose_cfg(
        [*family.overrides, f"question={question}"],
        tmp_path / "analyze",
        tmp_path / "artifacts",
        config_name="analyze",
    )
    capsys.readouterr()
    main(cfg)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def expected_prompt_ids(family, question: str) -> list[int]:
    """What a user of the model would send: the chat template's ids, or MUSE's plain prompt."""
    from unpact_exp.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(family.tokenizer_folder), False)
    if family.name == "llama2":
        return tokenizer(f"Question: {question}\nAnswer: ")["input_ids"]
    kwargs = {"enable_thinking": False} if family.name == "qwen3" else {}
    out = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}],
        tokenize=True,
        add_generation_prompt=True,
        **kwargs,
    )
    return list(out["input_ids"] if hasattr(out, "keys") else out)


@pytest.mark.parametrize("family_name", ("llama31", "qwen3", "llama2"))
def test_train_eval_analyze_npo_kl(family_name, muse_news_hub, tmp_path, capsys, request) -> None:
    family = request.getfixturevalue(f"{family_name}_family")
    run, results = train(
        family,
        muse_news_hub,
        tmp_path,
        "setting=npo+kl",
        "trainer.max_steps=4",
        "method.lr=5e-3",
        "callbacks.evaluation.every_n_steps=0",
        "attacks.relearn.steps=2",
    )
    assert results["status"] == "completed", results.get("error")
    assert results["model"] == family.model_config and results["data"] == "news"
    assert sorted(results["eval"], key=int) == ["0", "4"]
    start, final = results["eval"]["0"], results["eval"]["4"]
    # The taught model knows both forget questions; step 0 is the original model.
    assert start["n_known"] == 2 and start["forget_rate"] == 0.0
    assert start["knowmem_forget"] == pytest.approx(100.0)  # MUSE scale: x 100
    assert final["n_known"] == 2 and final["forget_rate"] is not None
    # NPO on the forget corpus moved the model the intended way: less of it is reproduced.
    assert start["verbmem_forget"] == 100.0 and final["verbmem_forget"] < 100.0

    # The saved folder is a valid HF folder whose generation config generate() accepts.
    from transformers import GenerationConfig

    saved = GenerationConfig.from_pretrained(run / "unlearned")
    assert isinstance(saved.pad_token_id, int)
    assert saved.eos_token_id == (
        list(family.eos_ids) if len(family.eos_ids) > 1 else family.eos_ids[0]
    )
    assert saved.do_sample is True and saved.temperature == 0.6  # the model's own, kept

    evaluated = evaluate(family, muse_news_hub, tmp_path, run / "unlearned")
    assert evaluated["status"] == "completed", evaluated.get("error")
    again = evaluated["eval"]["final"]
    for key in SAME_IN_EVAL_PY:
        assert again[key] == pytest.approx(final[key], nan_ok=True), key

    question = "Who did Rovers sign?"
    explanation = explain(family, tmp_path, question, capsys)
    assert explanation["target"] == "Ana Lopez"  # the original model's greedy answer
    assert explanation["prompt_token_ids"] == expected_prompt_ids(family, question)
    assert len(explanation["contributions"]) == len(explanation["units"]) > 0


RMU_TINY = [
    "setting=rmu",
    "method.layer=1",
    "method.trainable_layers=[0,1]",
    "method.steering_coeff=10.0",
    "method.retain_weight=1.0",
    "method.lr=1e-2",
]


@pytest.mark.parametrize("family_name", ("llama31", "qwen3"))
def test_wmdp_rmu_on_chat_models(family_name, wmdp_hub, tmp_path, request) -> None:
    """WMDP-Bio (four hub repos) with RMU: multiple-choice items through the chat template;
    on Qwen3 (padded vocabulary) also lm-evaluation-harness's tasks, as experiment=wmdp_paper."""
    family = request.getfixturevalue(f"{family_name}_family")
    data = ["data=wmdp_bio", *(f"data.{key}={snap.path}" for key, snap in wmdp_hub.items())]
    wmdp, mmlu = wmdp_hub["path"].path, wmdp_hub["utility_path"].path
    tasks = ("wmdp_bio", "mmlu") if family_name == "qwen3" else ()
    lm_eval = [  # experiment=wmdp_paper's lm-eval tasks, on the snapshots' files
        f"metrics.lm_eval.tasks=[{','.join(tasks)}]",
        "metrics.lm_eval.limit=2",
        f"metrics.lm_eval.data_files.wmdp_bio={wmdp}/wmdp-bio/test-00000-of-00001.parquet",
        f"metrics.lm_eval.data_files.mmlu={mmlu}/all/test-00000-of-00001.parquet",
    ]
    run = tmp_path / "train"
    cfg = compose_cfg(
        [*family.overrides, *data, *QUIET, *RMU_TINY, *lm_eval, "trainer.max_steps=2"],
        run,
        tmp_path / "artifacts",
    )
    main(cfg)
    results = read_results(run)
    assert results["status"] == "completed", results.get("error")
    final = results["eval"][str(results["final_eval_step"])]
    assert 0.0 <= final["mc_forget_acc"] <= 1.0 and final["n_forget_questions"] == 3
    for task in tasks:
        assert 0.0 <= final[f"lm_eval_{task}_acc"] <= 1.0, task


def test_muse_books_on_the_llama2_target(llama2_family, muse_books_hub, tmp_path) -> None:
    """``model=muse_books_target data=books``: the same Llama-2 path on the Books snapshot."""
    overrides = [
        "model=muse_books_target",
        f"model.path={llama2_family.folder}",
        f"model.tokenizer_path={llama2_family.tokenizer_folder}",
        "data=books",
        f"data.path={muse_books_hub.path}",
    ]
    run = tmp_path / "train"
    cfg = compose_cfg(
        [*overrides, *QUIET, "setting=ga+gd", "trainer.max_steps=2"], run, tmp_path / "artifacts"
    )
    main(cfg)
    results = read_results(run)
    assert results["status"] == "completed", results.get("error")
    assert results["model"] == "muse_books_target" and results["data"] == "books"


@pytest.mark.parametrize("family_name", ("llama31", "qwen3", "llama2"))
def test_forgotten_questions_go_through_every_attack(family_name, muse_news_hub, tmp_path, request):
    """GA on the knowmem QA pairs forgets them: FocusOnKey, PROBAB and every attack then run
    on forgotten questions, through each family's prompt format."""
    family = request.getfixturevalue(f"{family_name}_family")
    run, results = train(
        family,
        muse_news_hub,
        tmp_path,
        "setting=ga",
        "data.train_on=qa",
        "trainer.max_steps=4",
        "method.lr=1e-2",
        "callbacks.evaluation.every_n_steps=0",
        "attacks.relearn.steps=2",
    )
    assert results["status"] == "completed", results.get("error")
    final = results["eval"]["4"]
    assert final["n_known"] == 2 and final["n_forgotten"] >= 1
    for key in ("recovery_rate", "probab_recovery_rate", "paraphrase_recovery_rate"):
        assert 0.0 <= final[key] <= 1.0, key
    assert final["keytoken_similarity_forgotten"] is not None
