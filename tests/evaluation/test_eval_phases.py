"""Per-phase evaluation batch sizes (``eval.*_batch_size``) and the per-phase progress bars."""

from __future__ import annotations

import io
import logging
import re

import pytest

from tests.model_fixtures import eval_settings, unpact_settings
from unpact_exp.config.binder import bind
from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.config import EvalConfig
from unpact_exp.evaluation.tasks import Answers, MCTask, QATask, TaskContext
from unpact_exp.unpact import progress
from unpact_exp.unpact.progress import phase, progress_mode, scope

PHASES = ("generation_batch_size", "sampling_batch_size", "mc_batch_size", "scoring_batch_size")


def _eval(cfg, **changes) -> EvalConfig:
    return eval_settings(cfg, **changes)


def test_phase_sizes_default_to_the_sizes_used_before(cfg) -> None:
    ev = _eval(cfg)
    assert (ev.generation_batch_size, ev.sampling_batch_size, ev.mc_batch_size) == (32, 32, 32)
    assert ev.scoring_batch_size == unpact_settings(cfg).batch_size == 64
    assert ev.progress == "auto"


def test_batch_size_moves_every_phase_and_a_phase_key_only_its_own(cfg) -> None:
    ev = _eval(cfg, batch_size=8, mc_batch_size=2)
    assert (ev.generation_batch_size, ev.sampling_batch_size, ev.mc_batch_size) == (8, 8, 2)
    assert ev.scoring_batch_size == 64  # follows unpact.batch_size, not eval.batch_size


@pytest.mark.parametrize("config_name", ["train", "evaluate"])
def test_knobs_compose_from_the_command_line(make_cfg, config_name) -> None:
    cfg = make_cfg(
        "eval.generation_batch_size=4",
        "eval.sampling_batch_size=3",
        "eval.mc_batch_size=5",
        "eval.scoring_batch_size=6",
        "eval.progress=false",
        config_name=config_name,
    )
    ev = bind(EvalConfig, cfg.eval, "eval")
    assert [getattr(ev, p) for p in PHASES] == [4, 3, 5, 6]
    assert ev.progress is False
    default = bind(
        EvalConfig, make_cfg("unpact.batch_size=16", config_name=config_name).eval, "eval"
    )
    assert default.scoring_batch_size == 16 and default.generation_batch_size == 32


@pytest.mark.parametrize("key", PHASES)
def test_bad_phase_size_is_named(cfg, key) -> None:
    with pytest.raises(UnpactConfigError, match=rf"eval\.{key}=0 is out of range; it must be >= 1"):
        _eval(cfg, **{key: 0})


def test_bad_progress_mode_is_named(cfg) -> None:
    with pytest.raises(UnpactConfigError, match=r"eval\.progress='sometimes' is not valid.*'auto'"):
        _eval(cfg, progress="sometimes")


def test_each_phase_gets_its_own_size(cfg, tokenizer, prompt_format, monkeypatch) -> None:
    """The tasks hand each loop its phase's size (spies record the ``batch_size`` argument)."""
    import unpact_exp.evaluation.tasks as tasks

    seen: dict[str, int] = {}

    def spy(name, result):
        def record(*args):
            seen[name] = args[-1]
            return result(*args)

        return record

    caller = {"name": ""}  # greedy answers all go through tasks.greedy_answers

    def greedy_spy(*args):
        return spy(caller["name"], lambda *a: ["x"] * len(a[2]))(*args)

    monkeypatch.setattr(tasks, "greedy_answers", greedy_spy)
    monkeypatch.setattr(
        tasks, "sampled_answers", spy("sample", lambda *a: [["x"] * a[3]] * len(a[2]))
    )
    monkeypatch.setattr(tasks, "mc_predictions", spy("mc", lambda *a: [0] * len(a[3])))
    monkeypatch.setattr(tasks, "prompt_contributions", spy("score", lambda *a: []))
    ev = _eval(
        cfg,
        generation_batch_size=3,
        sampling_batch_size=5,
        mc_batch_size=7,
        scoring_batch_size=11,
    )
    ctx = TaskContext(tokenizer, prompt_format, (), unpact_settings(cfg), ev)
    qa, mc = QATask(ctx), MCTask(ctx)
    items = [QAItem("Where was Alice Smith born?", "Paris")]
    caller["name"] = "answer"
    qa.answer(None, items)
    caller["name"] = "ask"
    qa.ask(None, items, [["Focus on Alice. Where was Alice Smith born?"]])
    qa.sample(None, items, 2, 1.0, 1.0, 0)
    qa.contributions(None, items, Answers(["Paris"], [True]))
    mc.answer(None, [MCItem("Which city?", ("Paris", "Rome"), 0)])
    assert seen == {"answer": 3, "ask": 3, "sample": 5, "mc": 7, "score": 11}


def test_no_bar_under_pytest_or_when_off() -> None:
    assert not progress.enabled()  # auto: pytest is running
    with progress_mode(False), phase("generation", 3) as advance:
        assert advance is progress._noop
    with progress_mode(True), phase("generation", 0) as advance:
        assert advance is progress._noop  # nothing to count


def test_forced_bar_shows_the_phase_and_its_count(monkeypatch) -> None:
    import rich
    from rich.console import Console

    out = io.StringIO()
    monkeypatch.setattr(rich, "_console", Console(file=out, force_terminal=True, width=100))
    with progress_mode(True, "M1"):
        with phase("generation", 4) as advance:
            with phase("inner helper", 9) as inner:
                assert inner is progress._noop  # the outer bar counts this work
            advance(2)
            advance(2)
    text = out.getvalue()
    assert "M1 / generation" in text and "0/4" in text and "4/4" in text
    assert "inner helper" not in text


def test_without_a_terminal_each_phase_is_one_line_naming_model_set_and_attack(caplog) -> None:
    """``auto`` without a terminal (here: pytest) and ``lines`` log one line per phase."""
    assert progress.style() == "lines"
    for mode in ("auto", "lines"):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="unpact_exp.progress"):
            with progress_mode(mode, "M1"), scope("focus_on_key"), scope("forget_qa", 9):
                with phase("generation", 4, "prompts") as advance:
                    with phase("inner helper", 9):
                        pass  # counted by the outer phase: no line of its own
                    advance(4)
        (line,) = [r.getMessage() for r in caplog.records]
        assert re.fullmatch(
            r"eval M1 / focus_on_key / forget_qa \(9 items\) / generation: 4 prompts in "
            r"\d+\.\d s",
            line,
        ), line


def test_no_line_when_off_or_nothing_to_count(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="unpact_exp.progress"):
        with progress_mode(False, "M0"), phase("generation", 3):
            pass
        with progress_mode("lines", "M0"), phase("generation", 0):
            pass
    assert caplog.records == []


def test_lines_mode_is_a_valid_setting(cfg) -> None:
    assert _eval(cfg, progress="lines").progress == "lines"


def test_terminal_detection(monkeypatch) -> None:
    """``auto``: bars only when stdout and stderr are both a terminal, outside pytest."""
    import sys

    from unpact_exp import console

    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    for out, err, expected in [
        (True, True, "bars"),
        (False, True, "lines"),
        (True, False, "lines"),
    ]:
        monkeypatch.setattr(sys, "stdout", Stream(out))
        monkeypatch.setattr(sys, "stderr", Stream(err))
        assert console.progress_style("auto") == expected
    assert console.progress_style(True) == "bars" and console.progress_style(False) == "off"
    assert console.progress_style("lines") == "lines" and console.progress_style("bar") == "bars"


def test_knobs_compose_in_analyze_py(tmp_path) -> None:
    from tests.conftest import compose_cfg

    cfg = compose_cfg(
        ["eval.mc_batch_size=3", "unpact.batch_size=7"], tmp_path / "o", tmp_path / "a", "analyze"
    )
    ev = bind(EvalConfig, cfg.eval, "eval")
    assert (ev.mc_batch_size, ev.scoring_batch_size, ev.generation_batch_size) == (3, 7, 32)
