"""The on-disk cache of M0's analysis: same numbers reused, keys, races, damaged entries."""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.model_fixtures import HANDMADE
from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.evaluation import original as m0_side
from unpact_exp.evaluation import original_cache
from unpact_exp.evaluation.evaluator import Evaluator
from unpact_exp.evaluation.schedule import Schedule
from unpact_exp.unpact.generation import greedy_answers

FORGET = [
    "Where was Alice Smith born?",
    "Who is the mother of Bob Jones?",
    "What does Dan Brown do for work?",
    "Which city is the capital of France?",
]
RETAIN = ["Who is Carol White?", "What is Paris?"]
UTILITY = ["The quick brown fox jumps over the lazy dog?", "Where is the river bank?"]


@pytest.fixture(scope="module")
def root_cfg(cfg):
    return OmegaConf.merge(
        cfg, {"eval": {"max_new_tokens": 6, "batch_size": 8, **HANDMADE}, "probab": {"seed": 3}}
    )


@pytest.fixture(scope="module")
def bench(tiny_llama, tokenizer, prompt_format, root_cfg) -> Benchmark:
    """Gold answers are M0's (tiny_llama's) own greedy answers, so M0 knows the items, except
    one forget and one utility item given a nonsense gold."""
    icl = [QAItem("Who is Dan Brown?", "a baker in Rome")]

    def known(questions):
        prompts = [prompt_format.parts(q, icl=icl) for q in questions]
        answers = greedy_answers(tiny_llama, tokenizer, prompts, 6, root_cfg.eval.stop_strings, 8)
        return [QAItem(q, a) for q, a in zip(questions, answers)]

    nonsense = QAItem("Where is Rome?", "zebra zebra zebra")
    return Benchmark(
        name="cache",
        forget_qa=known(FORGET) + [nonsense],
        retain_qa=known(RETAIN),
        utility_qa=known(UTILITY) + [nonsense],
        icl=icl,
        retain_icl=icl,
    )


def _analysis(model, tokenizer, prompt_format, bench, cfg, cache_dir):
    from unpact_exp.attacks import registry as attacks
    from unpact_exp.config.binder import bind
    from unpact_exp.evaluation.config import EvalConfig
    from unpact_exp.unpact.config import UnpactConfig

    # FocusOnKey and PROBAB only: the cache is about M0's side, the attacks act on M1.
    cfg = OmegaConf.merge(cfg, {"attacks": {"every_step": ["focus_on_key", "probab"], "final": []}})
    return Evaluator(
        model,
        tokenizer,
        prompt_format,
        bench,
        bind(UnpactConfig, cfg.unpact, "unpact"),
        bind(EvalConfig, cfg.eval, "eval"),
        attacks=attacks.build_plan(cfg),
        metrics=Schedule(),
        focus_templates=attacks.build("focus_on_key", cfg).templates,
        seed=int(cfg.seed),
        cache_dir=cache_dir,
    )


def _results_json(analysis: Evaluator, m1: torch.nn.Module) -> str:
    """What results.json and questions.jsonl would hold for M1 (NaN written as NaN)."""
    result = analysis.evaluate(m1)
    return json.dumps({"metrics": result.metrics, "rows": result.records()}, sort_keys=True)


def test_reused_analysis_gives_the_same_results(
    tmp_path, tiny_factory, tokenizer, prompt_format, bench, root_cfg, monkeypatch
):
    m0, m1 = tiny_factory(0), tiny_factory(1)  # m0 is tiny_llama's twin (same seed)
    fresh = _analysis(m0, tokenizer, prompt_format, bench, root_cfg, None)
    first = _analysis(m0, tokenizer, prompt_format, bench, root_cfg, tmp_path)
    entries = list(tmp_path.glob("*.json"))
    assert len(entries) == 1
    # The second construction must not analyse M0 at all: make that impossible.
    monkeypatch.setattr(m0_side, "forget_group", lambda *a: pytest.fail("recomputed"))
    monkeypatch.setattr(m0_side, "utility_group", lambda *a: pytest.fail("recomputed"))
    reused = _analysis(m0, tokenizer, prompt_format, bench, root_cfg, tmp_path)
    expected = _results_json(fresh, m1)
    metrics = json.loads(expected)["metrics"]
    assert metrics["n_known"] == 4 and metrics["n_forgotten"] > 0  # a test that can fail
    assert _results_json(first, m1) == expected
    assert _results_json(reused, m1) == expected
    original = json.dumps(fresh._original_metrics, sort_keys=True)
    assert json.dumps(reused._original_metrics, sort_keys=True) == original


def _key(model, tokenizer, prompt_format, bench, cfg) -> str:
    analysis = _analysis(model, tokenizer, prompt_format, bench, cfg, None)
    ctx = analysis.ctx
    forget = [(g.task.kind, g.items) for g in analysis._forget]
    utility = [(n, g.items) for n, g in analysis._utility.items()]
    return original_cache.analysis_key(model, ctx, bench.retain_icl, forget, utility)


@pytest.mark.parametrize(
    "change, changes_key",
    [
        ({"unpact": {"alpha": 0.5}}, True),
        ({"unpact": {"removal": "replace"}}, True),
        ({"eval": {"max_new_tokens": 5}}, True),
        ({"eval": {"correct_threshold": 0.9}}, True),
        ({"eval": {"max_forget_questions": 2}}, True),
        ({"probab": {"temperature": 0.5}}, False),  # acts on M1 only
        ({"focus_on_key": {"keytokens_from": "unlearned"}}, False),
        ({"eval": {"cache_original": False}}, False),  # the switch itself
    ],
)
def test_key_follows_the_settings_that_change_m0s_results(
    tiny_llama, tokenizer, prompt_format, bench, root_cfg, change, changes_key
):
    base = _key(tiny_llama, tokenizer, prompt_format, bench, root_cfg)
    other = _key(tiny_llama, tokenizer, prompt_format, bench, OmegaConf.merge(root_cfg, change))
    assert (other != base) == changes_key


def test_key_follows_weights_items_and_prompt(
    tiny_factory, tokenizer, prompt_format, bench, root_cfg
):
    m0 = tiny_factory(0)
    base = _key(m0, tokenizer, prompt_format, bench, root_cfg)
    assert _key(tiny_factory(0), tokenizer, prompt_format, bench, root_cfg) == base
    with torch.no_grad():
        next(m0.parameters()).view(-1)[0] += 1e-6  # one weight, one ulp-scale change
    assert _key(m0, tokenizer, prompt_format, bench, root_cfg) != base
    m0 = tiny_factory(0)
    items = Benchmark(
        **{**vars(bench), "forget_qa": [QAItem(FORGET[0], "Rome"), *bench.forget_qa[1:]]}
    )
    assert _key(m0, tokenizer, prompt_format, items, root_cfg) != base
    other_format = type(prompt_format)(**{**vars(prompt_format), "answer_prefix": ""})
    assert _key(m0, tokenizer, other_format, bench, root_cfg) != base


def _race(cache_dir: str, key: str, marker_dir: str, queue) -> None:
    def compute() -> dict:
        # Every computation leaves a marker; slow enough that the racers overlap.
        (Path(marker_dir) / f"computed-{multiprocessing.current_process().pid}").touch()
        time.sleep(0.5)
        return {"value": [0.1, 0.2, 1 / 3]}

    result, reused = original_cache.load_or_compute(
        Path(cache_dir), key, compute, lambda p: p, lambda p: p
    )
    queue.put((result, reused))


def test_racing_processes_compute_once_and_leave_one_valid_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    markers = tmp_path / "markers"
    markers.mkdir()
    cache = tmp_path / "cache"
    procs = [
        ctx.Process(target=_race, args=(str(cache), "k", str(markers), queue)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(list(markers.iterdir())) == 1  # one computation, the others read its entry
    assert sorted(reused for _, reused in outcomes) == [False, True, True]
    assert all(result == {"value": [0.1, 0.2, 1 / 3]} for result, _ in outcomes)
    assert sorted(p.name for p in cache.iterdir()) == ["k.json", "k.lock"]  # no temp files
    assert json.loads((cache / "k.json").read_text())["payload"] == {"value": [0.1, 0.2, 1 / 3]}


@pytest.mark.parametrize(
    "damage",
    ['{"format": 1, "payl', '{"format": 999, "payload": {}}', '{"format": 1, "payload": {"x": 1}}'],
    ids=["truncated", "other-format", "does-not-fit"],
)
def test_damaged_entry_is_recomputed_with_a_warning(tmp_path, caplog, damage):
    def decode(payload: dict) -> dict:
        return {"value": float(payload["value"])}  # KeyError on a payload that does not fit

    (tmp_path / "k.json").write_text(damage)
    with caplog.at_level(logging.WARNING, logger=original_cache.__name__):
        result, reused = original_cache.load_or_compute(
            tmp_path, "k", lambda: {"value": 2.5}, lambda p: p, decode
        )
    assert (result, reused) == ({"value": 2.5}, False)
    assert "recomputing" in caplog.text and "k.json" in caplog.text
    again, reused = original_cache.load_or_compute(
        tmp_path, "k", lambda: pytest.fail("recomputed"), lambda p: p, decode
    )
    assert (again, reused) == ({"value": 2.5}, True)


def test_cache_dir_follows_the_switch_and_paths(make_cfg):
    from unpact_exp.stages.settings import run_settings

    cfg = make_cfg()
    assert run_settings(cfg).cache_dir == Path(cfg.paths.cache_dir) / "m0_analysis"
    assert run_settings(make_cfg("eval.cache_original=false")).cache_dir is None


def test_filesystem_without_flock_still_caches_with_a_warning(tmp_path, caplog, monkeypatch):
    import errno
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with caplog.at_level(logging.WARNING, logger=original_cache.__name__):
        first = original_cache.load_or_compute(tmp_path, "k", lambda: {"v": 1}, dict, dict)
    assert first == ({"v": 1}, False) and "cannot lock" in caplog.text
    assert original_cache.load_or_compute(tmp_path, "k", dict, dict, dict) == ({"v": 1}, True)


def test_key_follows_the_analysis_code(
    tiny_llama, tokenizer, prompt_format, bench, root_cfg, monkeypatch
):
    base = _key(tiny_llama, tokenizer, prompt_format, bench, root_cfg)
    assert len(original_cache.code_fingerprint()) == 64
    monkeypatch.setattr(original_cache, "code_fingerprint", lambda: "edited")
    assert _key(tiny_llama, tokenizer, prompt_format, bench, root_cfg) != base
