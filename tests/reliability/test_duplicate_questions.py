"""Duplicated forget questions (issue 26): 5 exact repeats were counted twice in ``known``, 5
repeats with another answer were accepted without a word. Repeats are now dropped with a
warning naming their rows; the same question with another answer is refused, naming both rows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from unpact_exp.data.loaders import load_benchmark
from unpact_exp.errors import DataError


def _copy_with(make_cfg, tmp_path: Path, change) -> tuple[object, Path]:
    from unpact_exp.data.prepare import ensure_synthetic

    base = make_cfg()
    copy = tmp_path / "data"
    shutil.copytree(ensure_synthetic(base.data, base.paths.data_dir), copy)
    path = copy / "knowmem" / "forget_qa.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in change(rows)))
    return make_cfg("data.source=muse", f"data.path={copy}"), path


def test_exact_repeats_are_dropped_with_a_warning_naming_the_rows(make_cfg, tmp_path) -> None:
    original = load_benchmark(_copy_with(make_cfg, tmp_path / "a", list)[0].data).forget_qa
    cfg, path = _copy_with(make_cfg, tmp_path / "b", lambda rows: rows + rows[:5])
    n = len(original)
    with pytest.warns(UserWarning, match=r"5 rows repeat an earlier question and answer") as w:
        items = load_benchmark(cfg.data).forget_qa
    assert items == original  # each question once: `known` counts it once
    message = str(w[0].message)
    assert str(path) in message and f"rows {n} (= row 0), {n + 1} (= row 1)" in message


def test_the_same_question_with_another_answer_is_refused(make_cfg, tmp_path) -> None:
    def conflict(rows):
        return rows + [dict(rows[3], answer="somewhere else")]

    n = len(load_benchmark(_copy_with(make_cfg, tmp_path / "a", list)[0].data).forget_qa)
    cfg, path = _copy_with(make_cfg, tmp_path / "b", conflict)
    with pytest.raises(DataError) as err:
        load_benchmark(cfg.data)
    message = str(err.value)
    assert message.startswith(f"Rows 3 and {n} of {path}")
    assert "with different answers" in message and "'somewhere else'" in message
