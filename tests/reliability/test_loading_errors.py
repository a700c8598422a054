"""Broken model folders and checkpoints end in one framework error naming the file and the fix.

Issue 17 cases 4 and 5: a folder with only ``config.json`` failed with a message about
sentencepiece or tiktoken, a truncated ``model.safetensors`` with a header error that did
not name the file, a truncated ``checkpoints/last.ckpt`` with a raw zip-reader error.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from tests.reliability.helpers import checkpoint
from unpact_exp.errors import ModelLoadError
from unpact_exp.models.loading import safetensors_problem, target_dir
from unpact_exp.results import read_results
from unpact_exp.run import main


def _target_copy(make_cfg, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(target_dir(make_cfg().paths.artifacts_dir, "tiny", "synthetic"), folder)
    return folder


def test_folder_with_only_config_json_names_the_missing_tokenizer(
    make_cfg, tiny_target, tmp_path
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(_target_copy(make_cfg, tmp_path / "full") / "config.json", folder)
    cfg = make_cfg(f"model.path={folder}")
    with pytest.raises(ModelLoadError) as err:
        main(cfg)
    message = str(err.value)
    assert f"'{folder}' has no tokenizer files" in message and "files there: config.json" in message
    assert "sentencepiece" not in message and "not installed" not in message
    assert read_results(cfg.paths.output_dir)["status"] == "failed"


def test_folder_without_weights_is_named(make_cfg, tiny_target, tmp_path) -> None:
    from unpact_exp.models.loading import load_model

    folder = _target_copy(make_cfg, tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=rf"'{folder}' has no model weights"):
        load_model(str(folder), "float32", False)


def test_truncated_safetensors_names_the_file(make_cfg, tiny_target, tmp_path) -> None:
    folder = _target_copy(make_cfg, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    cfg = make_cfg(f"model.path={folder}")
    with pytest.raises(ModelLoadError) as err:
        main(cfg)
    message = str(err.value)
    assert f"'{weights}' is truncated or corrupt" in message
    assert "bytes on disk" in message and "Re-download or re-save" in message


def test_safetensors_framing_check_by_hand(tmp_path) -> None:
    # Header {"w": F32 [2] at bytes 0..8}: 8-byte length + header + 8 data bytes.
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    whole = struct.pack("<Q", len(header)) + header + b"\0" * 8
    path = tmp_path / "x.safetensors"
    path.write_bytes(whole)
    assert safetensors_problem(path) is None
    path.write_bytes(whole[:-1])
    expected = 8 + len(header) + 8
    assert (
        safetensors_problem(path)
        == f"{expected - 1} bytes on disk, {expected} expected from its header"
    )  # noqa: E501
    path.write_bytes(whole[:20])
    assert "header announces" in safetensors_problem(path)
    path.write_bytes(b"\1\0")
    assert safetensors_problem(path) == "2 bytes, too short for a header"


def test_truncated_last_ckpt_says_delete_it_or_pass_ckpt_path(
    make_cfg, tiny_target, tmp_path
) -> None:
    run = ["trainer.max_steps=2", "trainer.checkpoint_every_n_steps=1"]
    cfg = make_cfg(*run)
    main(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert checkpoint(cfg.paths.output_dir)["global_step"] == 2
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(ModelLoadError) as err:
        main(make_cfg(*run))  # the same command: resumes from last.ckpt
    message = str(err.value)
    assert f"checkpoint '{last}' is truncated or corrupt" in message
    assert "delete it" in message and "ckpt_path=FILE" in message
    assert read_results(cfg.paths.output_dir)["status"] == "failed"
    assert last.exists()  # nothing is deleted for the user
