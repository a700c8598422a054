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
from unpact_exp.models.loading import target_dir
from unpact_exp.models.safetensors_file import safetensors_problem
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
    path.write_bytes(whole[:-1])  # the data stops one byte early
    expected = 8 + len(header) + 8
    problem = safetensors_problem(path)
    assert problem.startswith(f"{expected - 1} bytes on disk") and "not fully covered" in problem
    path.write_bytes(whole + b"\0")  # one byte too many is as wrong
    assert "not fully covered" in safetensors_problem(path)
    path.write_bytes(whole[:20])  # the header itself is cut
    assert "invalid header length" in safetensors_problem(path)
    path.write_bytes(b"\1\0")
    assert (
        safetensors_problem(path)
        == "2 bytes on disk; safetensors: Error while deserializing header: header too small"
    )


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


# ------------------------------------------------- issue 26: checkpoints that are not ours


class _Opens:
    """Unpickled without torch's guard, this would create ``path`` (a harmless marker)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("kind", ["zip-without-checkpoint", "forbidden-global"])
def test_a_last_ckpt_that_is_not_a_checkpoint_is_one_message(
    kind, make_cfg, tiny_target, tmp_path, monkeypatch
) -> None:
    import zipfile

    import torch

    from tests.reliability.helpers import never_trains

    cfg = make_cfg()
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    marker = tmp_path / "unpickled.marker"
    if kind == "zip-without-checkpoint":
        with zipfile.ZipFile(last, "w") as archive:
            archive.writestr("notes.txt", "not a checkpoint")
        expected = f"checkpoint '{last}' is a zip archive but not a PyTorch checkpoint"
    else:
        torch.save({"state_dict": {}, "global_step": 3, "x": _Opens(marker)}, last)
        expected = f"checkpoint '{last}' cannot be loaded safely (UnpicklingError: "
    never_trains(monkeypatch)
    with pytest.raises(ModelLoadError) as err:
        main(cfg)
    message = str(err.value)
    assert message.startswith(expected) and "delete it to start this run" in message
    if kind == "forbidden-global":
        assert "Unsupported global: GLOBAL io.open" in message
        assert "Nothing in it was executed" in message
    assert not marker.exists()
    assert read_results(cfg.paths.output_dir)["status"] == "failed"


# ------------------------------------------------------------------ issue 26: LoRA adapters


@pytest.fixture
def adapter(make_cfg, tiny_target, tmp_path) -> Path:
    """A LoRA adapter saved by peft on the tiny target (base_model_name_or_path = its folder)."""
    from peft import LoraConfig, get_peft_model

    from unpact_exp.models.loading import load_model

    base = target_dir(make_cfg().paths.artifacts_dir, "tiny", "synthetic")
    model = get_peft_model(load_model(str(base), "float32", False), LoraConfig(r=2))
    folder = tmp_path / "adapter"
    model.save_pretrained(folder)
    return folder


def _set_base(folder: Path, base: str) -> Path:
    import json

    config = folder / "adapter_config.json"
    data = json.loads(config.read_text())
    data["base_model_name_or_path"] = base
    config.write_text(json.dumps(data))
    return config


def test_adapter_loads_when_whole(adapter) -> None:
    from unpact_exp.models.loading import load_model

    model = load_model(str(adapter), "float32", False)  # the control: the fixture is sound
    assert any("lora" in name for name, _ in model.named_parameters())


@pytest.mark.parametrize("file", ["adapter_model.safetensors", "adapter_config.json"])
def test_truncated_adapter_file_is_named(adapter, file) -> None:
    from unpact_exp.models.loading import load_model

    path = adapter / file
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelLoadError) as err:
        load_model(str(adapter), "float32", False)
    message = str(err.value)
    assert message.startswith(f"'{path}' is truncated or corrupt (")
    assert "copy the adapter folder again" in message


@pytest.mark.parametrize("base", ["/gone/tiny-base", "someone/missing-model"])
def test_adapter_base_that_cannot_be_loaded_names_adapter_config(adapter, base) -> None:
    from unpact_exp.models.loading import load_model

    config = _set_base(adapter, base)
    with pytest.raises(ModelLoadError) as err:
        load_model(str(adapter), "float32", False)
    message = str(err.value)
    assert f"set base_model_name_or_path in '{config}'" in message
    assert repr(base) in message and "model.path" not in message
    if base.startswith("/"):
        assert "which does not exist" in message
    else:
        assert "HF_HUB_OFFLINE is set" in message


def test_eval_py_on_a_broken_adapter_is_one_message(adapter, make_cfg) -> None:
    _set_base(adapter, "/gone/tiny-base")
    cfg = make_cfg(f"unlearned={adapter}", config_name="evaluate")
    with pytest.raises(ModelLoadError, match=r"names its base model '/gone/tiny-base'"):
        main(cfg)
    assert read_results(cfg.paths.output_dir)["status"] == "failed"
