"""Bounded work on any input: prompts longer than the context, or with too many UNPACT units,
are refused when the data is loaded (naming the row), in seconds, before any model is trained.

Issue 17 case 1: one forget question of ~10,000 words made an evaluation run for over 13
minutes. Here the question is 10,000 words long: the tiny model's context is 128 tokens,
so the prompt exceeds it many times over.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import SMALL_WORLD, compose_cfg
from tests.reliability.helpers import never_loads_a_model
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.models.prompt import PromptParts
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.unpact.prompt_bounds import PromptLimits, check_prompt, count_units

LONG_QUESTION = "Where " + "and where " * 5000 + "was Ada born?"  # 10,003 words


def _benchmark_copy(make_cfg, tmp_path: Path) -> Path:
    from unpact_exp.data.prepare import ensure_synthetic

    base = make_cfg()
    copy = tmp_path / "data"
    shutil.copytree(ensure_synthetic(base.data, base.paths.data_dir), copy)
    return copy


def _set_question(path: Path, row: int, question: str) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[row]["question"] = question
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_very_long_forget_question_is_refused_at_load_in_seconds(
    make_cfg, tiny_target, tmp_path, monkeypatch
) -> None:
    copy = _benchmark_copy(make_cfg, tmp_path)
    _set_question(copy / "knowmem" / "forget_qa.jsonl", 2, LONG_QUESTION)
    cfg = make_cfg("data.source=muse", f"data.path={copy}", "callbacks=default")
    never_loads_a_model(monkeypatch)  # refused before any training or evaluation
    with pytest.raises(DataError) as err:
        main(cfg)
    message = str(err.value)
    assert "item 2 (0-based, in file order) of forget_qa of data=synthetic" in message
    assert "model.max_length=128" in message and "Shorten or remove that row" in message
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "failed" and "item 2" in results["error"]
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_eval_py_refuses_the_same_row(make_cfg, tiny_target, tmp_path, monkeypatch) -> None:
    from unpact_exp.models.loading import target_dir

    copy = _benchmark_copy(make_cfg, tmp_path)
    _set_question(copy / "mc" / "retain.jsonl", 0, LONG_QUESTION)
    folder = target_dir(make_cfg().paths.artifacts_dir, "tiny", "synthetic")
    cfg = make_cfg(
        "data.source=muse",
        f"data.path={copy}",
        f"unlearned={folder}",
        config_name="evaluate",
    )
    never_loads_a_model(monkeypatch)
    with pytest.raises(DataError, match=r"item 0 .* of mc_retain of data=synthetic"):
        main(cfg)


def test_analyze_refuses_a_question_longer_than_the_context(
    tmp_path, artifacts, tiny_target, monkeypatch
):
    cfg = compose_cfg(
        [*SMALL_WORLD, f"question={LONG_QUESTION}"], tmp_path / "x", artifacts, "analyze"
    )
    never_loads_a_model(monkeypatch)
    with pytest.raises(DataError, match=r"question=: its prompt is \d+ tokens .* > model\."):
        main(cfg)


class WordTokenizer:
    """One token per whitespace word, BOS = 1: token counts are the word counts."""

    bos_token = "<s>"

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        ids = [7] * len(text.split())
        return {"input_ids": ([1] if add_special_tokens else []) + ids}


def _parts(question: str) -> PromptParts:
    # Whole-text tokenization: the spaces keep template words apart from question words.
    return PromptParts(prefix="Question: ", question=question, suffix=" Answer:")


def _limits(max_length: int, max_units: int, granularity: str = "token") -> PromptLimits:
    return PromptLimits(max_length, 4, max_units, granularity, "generated")


def test_length_bound_counts_template_question_and_answer_by_hand() -> None:
    # BOS + "Question:" + 3 question words + "Answer:" = 1 + 1 + 3 + 1 = 6 prompt tokens,
    # plus 4 reserved for the answer = 10 tokens.
    tok = WordTokenizer()
    check_prompt(tok, _parts("who is Ada"), 4, _limits(10, 100), "row")  # 10 <= 10: fits
    with pytest.raises(DataError, match=r"row: its prompt is 6 tokens .* 4 for the answer: 10 > "):
        check_prompt(tok, _parts("who is Ada"), 4, _limits(9, 100), "row")


def test_unit_cap_is_max_units_by_hand() -> None:
    tok = WordTokenizer()
    check_prompt(tok, _parts("a b c"), 1, _limits(100, 3), "row")  # 3 units, cap 3
    with pytest.raises(DataError, match=r"3 UNPACT units .* > unpact\.max_units=2"):
        check_prompt(tok, _parts("a b c"), 1, _limits(100, 2), "row")
    assert count_units("Ada  Love-lace?", 5, "word") == 2  # words, not tokens
    assert count_units("Ada  Love-lace?", 5, "token") == 5


def test_max_units_knob_composes_with_its_default_and_is_validated(
    make_cfg, tmp_path, artifacts
) -> None:
    from unpact_exp.stages.settings import run_settings
    from unpact_exp.stages.unlearn import validate

    assert make_cfg().unpact.max_units == 1024
    assert make_cfg(config_name="evaluate").unpact.max_units == 1024
    analyze = compose_cfg(["question=q"], tmp_path / "x", artifacts, "analyze")
    assert analyze.unpact.max_units == 1024
    cfg = make_cfg("unpact.max_units=5")
    assert run_settings(cfg).limits.max_units == 5
    with pytest.raises(UnpactConfigError, match=r"unpact\.max_units=0 is out of range"):
        validate(make_cfg("unpact.max_units=0"))
