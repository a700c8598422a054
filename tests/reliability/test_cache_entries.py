"""M0 cache entries record their key's inputs and are verified on read (issue 26 item 4);
a cache folder that cannot be written never stops a run (item 6).

The issue's case: the entry computed for ``unpact.alpha=0.22`` placed under the
``alpha=0.5`` key was reused without a check (keytoken similarity 0.509 -> 0.550).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from unpact_exp.evaluation import original_cache
from unpact_exp.evaluation.original_cache import AnalysisKey, load_or_compute
from unpact_exp.results import read_results
from unpact_exp.run import main

LOGGER = original_cache.__name__


def _same(payload: dict) -> dict:
    return payload


def test_an_entry_under_another_key_is_recomputed_naming_the_difference(tmp_path, caplog):
    key_022 = AnalysisKey({"unpact": {"alpha": 0.22, "beta": 0.24}, "code": "c"})
    key_05 = AnalysisKey({"unpact": {"alpha": 0.5, "beta": 0.24}, "code": "c"})
    load_or_compute(tmp_path, key_022, lambda: {"sim": 0.509}, _same, _same)
    shutil.copy(tmp_path / f"{key_022}.json", tmp_path / f"{key_05}.json")  # misplaced
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result, reused = load_or_compute(tmp_path, key_05, lambda: {"sim": 0.55}, _same, _same)
    assert (result, reused) == ({"sim": 0.55}, False)
    assert "was not computed for this key" in caplog.text
    assert "unpact.alpha: entry 0.22, this run 0.5" in caplog.text
    again = load_or_compute(tmp_path, key_05, lambda: {"sim": -1.0}, _same, _same)
    assert again == ({"sim": 0.55}, True)  # the overwritten entry is now its own


def test_an_entry_whose_recorded_inputs_were_edited_is_recomputed(tmp_path, caplog) -> None:
    key = AnalysisKey({"unpact": {"alpha": 0.22}})
    load_or_compute(tmp_path, key, lambda: {"sim": 0.5}, _same, _same)
    entry = tmp_path / f"{key}.json"
    data = json.loads(entry.read_text())
    data["material"]["unpact"]["alpha"] = 0.5  # the inputs edited, the key kept
    entry.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result, reused = load_or_compute(tmp_path, key, lambda: {"sim": 0.7}, _same, _same)
    assert (result, reused) == ({"sim": 0.7}, False)
    assert "do not hash to its key" in caplog.text


def test_eval_py_never_reuses_the_analysis_of_another_alpha(make_cfg, tiny_target, tmp_path):
    """End to end: the alpha=0.22 entry copied over the alpha=0.5 one changes nothing."""
    cache = tmp_path / "cache"
    unlearned = Path(make_cfg().paths.artifacts_dir) / "targets" / "tiny-synthetic"

    def evaluate(output: str, alpha: float, *extra: str) -> dict:
        cfg = make_cfg(
            f"unlearned={unlearned}",
            f"paths.cache_dir={cache}",
            f"unpact.alpha={alpha}",
            "attacks.every_step=[]",
            "attacks.final=[]",
            *extra,
            output=output,
            config_name="evaluate",
        )
        main(cfg)
        return read_results(Path(cfg.paths.output_dir))["eval"]["final"]

    fresh = evaluate("fresh", 0.5, "eval.cache_original=false")
    evaluate("cold-05", 0.5)
    (entry_05,) = (cache / "m0_analysis").glob("*.json")
    other = evaluate("cold-022", 0.22)
    (entry_022,) = set((cache / "m0_analysis").glob("*.json")) - {entry_05}
    assert other["n_known"] == fresh["n_known"]
    # A comparison that could fail: M0's KeyTokens differ between the two alphas.
    m0_keys = [
        json.loads(p.read_text())["payload"]["forget"][0]["keytokens"]
        for p in (entry_05, entry_022)
    ]
    assert m0_keys[0] != m0_keys[1]
    shutil.copy(entry_022, entry_05)  # the misplaced entry
    warm = evaluate("warm", 0.5)
    assert json.dumps(warm, sort_keys=True) == json.dumps(fresh, sort_keys=True)


def test_a_cache_dir_that_cannot_be_written_is_skipped_with_a_warning(
    make_cfg, tiny_target, tmp_path, caplog
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    unlearned = Path(make_cfg().paths.artifacts_dir) / "targets" / "tiny-synthetic"
    cfg = make_cfg(
        f"unlearned={unlearned}",
        f"paths.cache_dir={blocker / 'cache'}",
        "attacks.every_step=[]",
        "attacks.final=[]",
        config_name="evaluate",
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        main(cfg)
    assert read_results(Path(cfg.paths.output_dir))["status"] == "completed"
    assert (
        f"the M0 analysis cache {blocker / 'cache' / 'm0_analysis'} cannot be used" in caplog.text
    )
    assert "continuing without it" in caplog.text


def test_an_entry_that_cannot_be_saved_is_skipped_with_a_warning(tmp_path, monkeypatch, caplog):
    import errno
    import os

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = load_or_compute(tmp_path, "k", lambda: {"v": 1}, _same, _same)
    assert result == ({"v": 1}, False)
    assert "cannot write the M0 analysis cache entry" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.lock"]  # no temporary file left
