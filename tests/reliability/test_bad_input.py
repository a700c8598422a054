"""Bad input: a clear error that names the bad value (and the choices or the fix), fast, and
nothing half-written: no ``unlearned/``, no checkpoint, no temp file, and a ``results.json``
(when the run got that far) that says ``failed`` with the same message.

Dataset rows are corrupted in a copy of the generated synthetic benchmark, read through the
MUSE loader (``data.source=muse data.path=COPY``), the path every real dataset takes.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.helpers import never_trains
from unpact_exp.config.binder import bind
from unpact_exp.errors import DataError, ModelLoadError, UnpactConfigError
from unpact_exp.results import RESULTS_FILE, read_results, write_results
from unpact_exp.run import main

GROUP_TYPOS = [
    ("model", "tinyy", "tiny"),
    ("data", "synthetc", "synthetic"),
    ("method", "gaa", "ga"),
    ("regularizer", "kll", "kl"),
    ("setting", "ga_xx", "ga+gd"),
    ("trainer", "tpu", "ddp"),
    ("logger", "wandbx", "wandb_online"),
    ("callbacks", "alll", "default"),
    ("unpact", "defualt", "default"),
    ("focus_on_key", "x", "paper"),
    ("probab", "x", "default"),
    ("eval", "x", "default"),
    ("experiment", "paper_gird", "paper_grid"),
]


@pytest.mark.parametrize(("group", "typo", "choice"), GROUP_TYPOS, ids=[g for g, *_ in GROUP_TYPOS])
def test_unknown_option_in_any_group_lists_the_choices(group, typo, choice, make_cfg) -> None:
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException) as err:
        make_cfg(f"{group}={typo}")
    message = str(err.value)
    assert f"Could not find '{group}/{typo}'" in message
    assert f"Available options in '{group}'" in message and f"\t{choice}\n" in message + "\n"


def _corrupt(rel: str, change: Callable[[list[dict]], list[dict]]) -> Callable[[Path], Path]:
    """Rewrite one JSONL split of the benchmark copy with ``change(rows)``."""

    def apply(folder: Path) -> Path:
        path = folder / rel
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(r) + "\n" for r in change(rows)))
        return path

    return apply


def _rename_field(rows: list[dict]) -> list[dict]:
    return [{"question": r["question"], "gold": r["answer"]} for r in rows]


def _blank_answer(rows: list[dict]) -> list[dict]:
    rows[2]["answer"] = " "
    return rows


# (id, overrides, data corruption or None, exception, message pattern; {file} = corrupted file)
CASES = [
    ("tv+gd", ["method=tv", "regularizer=gd"], None, UnpactConfigError,
     r"method=tv carries its own retain handling and cannot be combined with regularizer=gd"),
    ("rmu+kl", ["method=rmu", "regularizer=kl"], None, UnpactConfigError,
     r"method=rmu carries its own retain handling .* regularizer=none"),
    ("lr=0", ["method.lr=0"], None, UnpactConfigError,
     r"method\.lr=0\.0 is out of range; it must be > 0"),
    ("lr<0", ["method.lr=-1e-5"], None, UnpactConfigError,
     r"method\.lr=-1e-05 is out of range; it must be > 0"),
    ("lr=inf", ["method.lr=inf"], None, UnpactConfigError,
     r"method\.lr=inf is not valid; it must be a finite number"),
    ("lr=nan", ["method.lr=nan"], None, UnpactConfigError,
     r"method\.lr=nan is not valid; it must be a finite number"),
    ("weight_decay=inf", ["method.weight_decay=inf"], None, UnpactConfigError,
     r"method\.weight_decay=inf is not valid; it must be a finite number"),
    ("max_forget_questions=0", ["eval.max_forget_questions=0"], None, UnpactConfigError,
     r"eval\.max_forget_questions=0 would evaluate nothing; use null \(all items\) or an "
     r"integer >= 1"),
    ("max_utility_items=0", ["eval.max_utility_items=0"], None, UnpactConfigError,
     r"eval\.max_utility_items=0 would evaluate nothing; use null \(all items\) or an "
     r"integer >= 1"),
    ("decoder_layer_cls", ["model.decoder_layer_cls=this.Nothing"], None, UnpactConfigError,
     r"model\.decoder_layer_cls='this\.Nothing' is not a class of the allowed packages "
     r"\['transformers', 'torch', 'unpact_exp'\]"),
    ("decoder_layer_cls-typo", ["model.decoder_layer_cls=transformers.NoSuchLayer"], None,
     UnpactConfigError, r"model\.decoder_layer_cls='transformers\.NoSuchLayer' cannot be "
     r"imported as a class"),
    ("alpha=0", ["unpact.alpha=0"], None, UnpactConfigError,
     r"unpact\.alpha=0\.0 is out of range; it must lie in \(0, 1\]"),
    ("alpha>1", ["unpact.alpha=1.5"], None, UnpactConfigError,
     r"unpact\.alpha=1\.5 is out of range"),
    ("beta=0", ["unpact.beta=0"], None, UnpactConfigError, r"unpact\.beta=0\.0 is out of range"),
    ("beta<0", ["unpact.beta=-0.2"], None, UnpactConfigError,
     r"unpact\.beta=-0\.2 is out of range"),
    ("ckpt-every<0", ["trainer.checkpoint_every_n_steps=-1"], None, UnpactConfigError,
     r"trainer\.checkpoint_every_n_steps=-1 is out of range; it must be >= 0"),
    ("ckpt_path=last", ["ckpt_path=last"], None, UnpactConfigError,
     r"ckpt_path=last: no checkpoint at .*last\.ckpt"),
    ("ckpt_path=missing", ["ckpt_path=/nonexistent/last.ckpt"], None, UnpactConfigError,
     r"ckpt_path=/nonexistent/last\.ckpt: /nonexistent/last\.ckpt does not exist"),
    ("empty-forget", [], _corrupt("knowmem/forget_qa.jsonl", lambda rows: []), DataError,
     r"The forget_qa split 'knowmem/forget_qa' of 'synthetic' is empty: {file}"),
    ("empty-retain", ["regularizer=gd"], _corrupt("knowmem/retain_qa.jsonl", lambda rows: []),
     DataError, r"The retain_qa split 'knowmem/retain_qa' of 'synthetic' is empty: {file}"),
    ("missing-field", [], _corrupt("knowmem/forget_qa.jsonl", _rename_field), DataError,
     r"{file} \(data\.forget_qa=knowmem/forget_qa\) has no field 'answer'"),
    ("empty-answer", [], _corrupt("knowmem/forget_qa.jsonl", _blank_answer), DataError,
     r"Row 2 of {file} \(data\.forget_qa=knowmem/forget_qa\) has an empty 'answer'"),
    ("not-hf-folder", ["model.path={tmp}"], None, ModelLoadError,
     r"model\.path='{tmp}' is not a Hugging Face model folder \(no config\.json"),
    ("hub-offline", ["model=llama31_8b_instruct"], None, ModelLoadError,
     r"Cannot load (model|tokenizer) 'meta-llama/Llama-3\.1-8B-Instruct' .*HF_HUB_OFFLINE is set"
     r".*model\.path=DIR"),
]  # fmt: skip


def _leftovers(run_dir: Path) -> list[str]:
    """Anything that could pass for a finished output, or a temp file left behind."""
    found = [p.name for p in run_dir.glob(".*tmp*")]
    found += [name for name in ("unlearned", "checkpoints") if (run_dir / name).exists()]
    return found


@pytest.mark.parametrize(("overrides", "corrupt", "error", "pattern"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_bad_input_fails_fast_with_a_clear_message(
    overrides, corrupt, error, pattern, make_cfg, artifacts, tiny_target, tmp_path, monkeypatch
) -> None:
    from unpact_exp.data.prepare import ensure_synthetic

    extra = [o.format(tmp=tmp_path) for o in overrides]
    file = ""
    if corrupt is not None:
        base = make_cfg()
        copy = tmp_path / "data"
        shutil.copytree(ensure_synthetic(base.data, base.paths.data_dir), copy)
        file = str(corrupt(copy))
        extra += ["data.source=muse", f"data.path={copy}"]
    cfg = make_cfg(*extra)
    run_dir = Path(cfg.paths.output_dir)
    expected = pattern.format(file=re.escape(file), tmp=re.escape(str(tmp_path)))

    never_trains(monkeypatch)  # refused before any model is trained
    with pytest.raises(error, match=expected):
        main(cfg)

    assert read_results(run_dir)["status"] == "failed"
    assert re.search(expected, read_results(run_dir)["error"])
    assert _leftovers(run_dir) == []


def test_hub_id_without_network_fails_within_seconds(make_cfg, monkeypatch) -> None:
    """No offline flag set: the hub is probed once (TCP, 3 s) instead of retried for ~20 s."""
    from unpact_exp import hub

    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    probes: list[int] = []
    monkeypatch.setattr(hub, "hub_reachable", lambda: probes.append(1) or False)
    cfg = make_cfg("model=llama31_8b_instruct")
    never_trains(monkeypatch)
    with pytest.raises(ModelLoadError, match=r"huggingface\.co is not reachable \(no network\)"):
        main(cfg)
    assert probes == [1]  # one probe, then the verdict: no retries
    assert hub.PROBE_TIMEOUT_S <= 5


def test_prompts_longer_than_the_context_are_cut_from_the_left_with_one_warning(
    make_cfg, tiny_target
) -> None:
    cfg = make_cfg("method=ga", "regularizer=gd", "trainer.max_steps=1", "data.max_length=12")
    with pytest.warns(UserWarning, match="longer than max_length=12") as caught:
        main(cfg)
    ours = [w for w in caught if "longer than max_length" in str(w.message)]
    assert len(ours) == 1  # once per run, forget and retain together
    assert re.search(r"\d+ of 20 forget, \d+ of \d+ retain QA pairs", str(ours[0].message))
    assert read_results(cfg.paths.output_dir)["status"] == "completed"


def test_truncation_keeps_the_answer_whole(make_cfg, tiny_target) -> None:
    from unpact_exp.data.schema import QAItem
    from unpact_exp.models.loading import load_tokenizer, target_dir
    from unpact_exp.models.prompt import PromptFormat
    from unpact_exp.training.sequences import IGNORE, encode_qa

    cfg = make_cfg()
    tokenizer = load_tokenizer(str(target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic")), False)
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    item = QAItem("Where " + "and where " * 40 + "was Ada born?", "in Oslo")
    full = encode_qa(tokenizer, fmt, [item], 1000)[0]
    cut = encode_qa(tokenizer, fmt, [item], 16)[0]
    answer = [t for t in full.labels if t != IGNORE]
    assert not full.truncated and cut.truncated and len(cut.input_ids) == 16
    assert [t for t in cut.labels if t != IGNORE] == answer  # answer + EOS kept whole
    assert cut.input_ids[-len(answer) :] == answer
    assert cut.input_ids[: -len(answer)] == full.input_ids[len(full.input_ids) - 16 : -len(answer)]


def test_results_json_is_replaced_atomically(tmp_path, monkeypatch) -> None:
    import os

    write_results(tmp_path, {"status": "running", "eval": {"0": {"x": 1.0}}})

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_results(tmp_path, {"status": "completed", "eval": {}})
    assert read_results(tmp_path)["status"] == "running"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESULTS_FILE]  # no temp file left


def test_crash_while_saving_the_model_leaves_no_unlearned_folder(
    make_cfg, tiny_target, monkeypatch
) -> None:
    from transformers import PreTrainedModel

    original = PreTrainedModel.save_pretrained

    def half_then_crash(self, folder, *args, **kwargs):
        original(self, folder, *args, **kwargs)
        (Path(folder) / "model.safetensors").write_bytes(b"truncated")
        raise OSError("killed mid-save")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", half_then_crash)
    cfg = make_cfg("method=ga", "trainer.max_steps=1")
    with pytest.raises(OSError, match="killed mid-save"):
        main(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert not (run_dir / "unlearned").exists()  # only the hidden temp folder may remain
    assert read_results(run_dir)["status"] == "failed"


def test_trainer_gpu_without_cuda_is_one_message(make_cfg, monkeypatch) -> None:
    """Issue 26: ``trainer=gpu`` on a CPU machine ended in a Lightning traceback."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU machine, anywhere
    cfg = make_cfg("trainer=gpu")
    never_trains(monkeypatch)
    with pytest.raises(UnpactConfigError) as err:
        main(cfg)
    message = str(err.value)
    assert message.startswith("trainer.accelerator='gpu' (trainer=gpu) needs a CUDA GPU")
    assert "torch.cuda.is_available() is False" in message and "use trainer=cpu" in message
    assert read_results(cfg.paths.output_dir)["status"] == "failed"


def test_a_config_named_class_never_imports_its_module(make_cfg, tmp_path, monkeypatch) -> None:
    """Issue 26: ``model.decoder_layer_cls=this.Nothing`` imported whatever module it named.

    The module here writes a harmless marker file when imported; it is on ``sys.path``, so an
    unguarded import would find and run it.
    """
    marker = tmp_path / "imported.marker"
    (tmp_path / "rogue_layers.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nclass Layer:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = make_cfg("model.decoder_layer_cls=rogue_layers.Layer")
    never_trains(monkeypatch)
    with pytest.raises(UnpactConfigError, match=r"'rogue_layers\.Layer' is not a class of the"):
        main(cfg)
    assert not marker.exists()
    import importlib

    importlib.import_module("rogue_layers")  # the control: importing it does write the marker
    assert marker.read_text() == "ran"
