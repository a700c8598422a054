"""Empty or whitespace-only questions are refused (issue 17 case 7: ``analyze.py question=""``).

analyze.py refuses before any model is loaded; the data loaders refuse a blank question in
any free-form or multiple-choice split, naming the row and the file.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.conftest import SMALL_WORLD, compose_cfg
from tests.reliability.helpers import never_loads_a_model
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.run import main


@pytest.mark.parametrize("question", ["", "   ", "\t\n"], ids=["empty", "spaces", "tab-newline"])
def test_analyze_refuses_an_empty_question(question, tmp_path, artifacts, monkeypatch) -> None:
    cfg = compose_cfg(
        [*SMALL_WORLD, f"question='{question}'"], tmp_path / "x", artifacts, "analyze"
    )
    assert cfg.question == question
    never_loads_a_model(monkeypatch)  # refused before any model is loaded
    with pytest.raises(
        UnpactConfigError, match=rf"^{re.escape(f'question={question!r}')} is empty"
    ):
        main(cfg)


@pytest.mark.parametrize(
    ("rel", "key"),
    [("knowmem/forget_qa.jsonl", "forget_qa"), ("knowmem/retain_qa.jsonl", "retain_qa"),
     ("mc/forget.jsonl", "mc_forget")],
)  # fmt: skip
def test_loaders_refuse_a_whitespace_question_naming_the_row(rel, key, make_cfg, tmp_path) -> None:
    from unpact_exp.data.loaders import load_benchmark
    from unpact_exp.data.prepare import ensure_synthetic

    base = make_cfg()
    copy = tmp_path / "data"
    shutil.copytree(ensure_synthetic(base.data, base.paths.data_dir), copy)
    path = copy / rel
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["question"] = " \n "
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = make_cfg("data.source=muse", f"data.path={copy}")
    with pytest.raises(
        DataError, match=rf"Row 1 of {path}.*\(data\.{key}=.*\) has an empty 'question'"
    ):
        load_benchmark(cfg.data)
