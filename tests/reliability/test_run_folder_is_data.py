"""A run folder is data, never code (issue 26, security).

A run folder from someone else recorded ``model.trust_remote_code: true`` and shipped an
``auto_map`` in ``unlearned/config.json`` naming a module beside the weights:
``threshold_grid.py`` read the flag from the recording and transformers ran the module
(it wrote a file; exit 0, no warning). Here the module writes a harmless marker file when
imported; the control shows that loading the folder *with* the flag does run it.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from omegaconf import OmegaConf

from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.stages.threshold_grid import main as grid_main

ROGUE = """
from pathlib import Path

Path({marker!r}).write_text("ran")

from transformers import LlamaConfig, LlamaForCausalLM


class RogueConfig(LlamaConfig):
    pass


class RogueForCausalLM(LlamaForCausalLM):
    config_class = RogueConfig
"""


def _hostile_copy(run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The run, with the flag recorded, decoy paths, and a module the weights name."""
    hostile, marker = tmp_path / "hostile", tmp_path / "rogue-ran.marker"
    shutil.copytree(run, hostile)
    saved = hostile / ".hydra" / "config.yaml"
    recorded = OmegaConf.load(saved)
    recorded.model.trust_remote_code = True
    recorded.paths.artifacts_dir = str(tmp_path / "decoy")  # someone else's machine
    OmegaConf.save(recorded, saved)
    config = hostile / "unlearned" / "config.json"
    data = json.loads(config.read_text())
    data["auto_map"] = {
        "AutoConfig": "rogue.RogueConfig",
        "AutoModelForCausalLM": "rogue.RogueForCausalLM",
    }
    config.write_text(json.dumps(data))
    (hostile / "unlearned" / "rogue.py").write_text(ROGUE.format(marker=str(marker)))
    return hostile, marker


def test_threshold_grid_never_takes_trust_remote_code_or_paths_from_the_run(
    finished_run, artifacts, tmp_path, capsys, caplog
) -> None:
    hostile, marker = _hostile_copy(finished_run, tmp_path)
    command = [str(hostile), "--alpha", "0.22", "--beta", "0.24", "--out", str(tmp_path / "g")]
    with caplog.at_level(logging.WARNING, logger="unpact_exp.stages.threshold_grid"):
        code = grid_main([*command, f"paths.root_dir={artifacts.parent}"])
    assert code == 0, capsys.readouterr().err
    assert not marker.exists()  # no module of the run folder was imported
    assert (tmp_path / "g" / "threshold_grid.csv").is_file()
    said = caplog.text
    assert "records model.trust_remote_code=True: ignored (a run folder is data" in said
    assert "using False from this command or the defaults" in said
    assert f"records paths.artifacts_dir='{tmp_path / 'decoy'}': ignored" in said


def test_the_hostile_folder_does_run_code_when_trusted(finished_run, tmp_path, monkeypatch):
    """The control: the same folder loaded with trust_remote_code=True imports the module."""
    import transformers.dynamic_module_utils as dynamic

    from unpact_exp.models.loading import load_model

    hostile, marker = _hostile_copy(finished_run, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # sys.path is restored after the test
    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    load_model(str(hostile / "unlearned"), "float32", True)
    assert marker.read_text() == "ran"


def test_eval_py_reports_and_ignores_the_recorded_flag(
    finished_run, make_cfg, tmp_path, caplog
) -> None:
    hostile, marker = _hostile_copy(finished_run, tmp_path)
    cfg = make_cfg(
        f"unlearned={hostile / 'unlearned'}",
        "eval.max_forget_questions=2",
        "eval.max_utility_items=2",
        "attacks.final=[]",
        "attacks.every_step=[]",
        "eval.heatmap_questions=0",
        config_name="evaluate",
    )
    with caplog.at_level(logging.WARNING, logger="unpact_exp.stages.evaluate"):
        main(cfg)
    assert not marker.exists()
    assert read_results(cfg.paths.output_dir)["status"] == "completed"
    assert "records model.trust_remote_code=True: ignored" in caplog.text
    assert "paths." not in caplog.text  # eval.py runs from anywhere: paths are not compared


def test_report_reads_a_hostile_folder_without_running_it(finished_run, tmp_path) -> None:
    from unpact_exp.report import write_report

    hostile, marker = _hostile_copy(finished_run, tmp_path)
    report = write_report([hostile], tmp_path / "report")
    assert [r.state for r in report.records] == ["completed"]
    assert not marker.exists()
