"""data=tofu: locuslab/TOFU's hub layout (one JSON-lines file per config) into a Benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.data.conftest import TOFU, write_jsonl, write_tofu
from unpact_exp.data.hub_sources import resolve_local_files
from unpact_exp.data.loaders import load_benchmark
from unpact_exp.data.schema import PerturbedQA, QAItem
from unpact_exp.errors import DataError, UnpactConfigError

CONF = Path(__file__).resolve().parents[2] / "unpact_exp" / "conf" / "data"


def tofu_cfg(**overrides):
    cfg = OmegaConf.load(CONF / "tofu.yaml")
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def qa(columns: dict) -> list[QAItem]:
    return [QAItem(q, a) for q, a in zip(columns["question"], columns["answer"])]


def perturbed(columns: dict, base: str) -> list[PerturbedQA]:
    return [
        PerturbedQA(q, a, b, tuple(w))
        for q, a, b, w in zip(
            columns["question"], columns["answer"], columns[base], columns["perturbed_answer"]
        )
    ]


def test_tofu_snapshot_loads_every_role(tofu_snapshot) -> None:
    bench = load_benchmark(tofu_cfg(path=str(tofu_snapshot.path)))
    assert bench.name == "tofu"
    assert bench.forget_qa == qa(TOFU["forget01"])
    assert bench.retain_qa == qa(TOFU["retain99"])
    assert bench.holdout_qa == qa(TOFU["holdout01"])
    assert bench.perturbed["forget"] == perturbed(TOFU["forget01_perturbed"], "paraphrased_answer")
    assert bench.perturbed["retain"] == perturbed(TOFU["retain_perturbed"], "paraphrased_answer")
    # Real authors and world facts have no paraphrase: the truth ratio uses the answer itself.
    assert bench.perturbed["real_authors"] == perturbed(TOFU["real_authors_perturbed"], "answer")
    assert bench.perturbed["world_facts"] == perturbed(TOFU["world_facts_perturbed"], "answer")
    assert bench.utility_qa == qa(TOFU["real_authors_perturbed"]) + qa(
        TOFU["world_facts_perturbed"]
    )
    assert bench.forget_text == [] and bench.mc_forget == []


def test_a_config_file_at_the_root_is_its_train_split(tofu_snapshot) -> None:
    root = str(tofu_snapshot.path)
    assert resolve_local_files(root, "forget01", "train", "data.path") == [
        str(tofu_snapshot.path / "forget01.json")
    ]
    with pytest.raises(DataError, match="No data files for subset 'forget01', split 'test'"):
        resolve_local_files(root, "forget01", "test", "data.path")


def test_other_forget_sizes_are_a_reference_away(tmp_path) -> None:
    snap = write_tofu(tmp_path / "TOFU")
    write_jsonl(snap.path / "forget05.json", {"question": ["Q5?"], "answer": ["A5."]})
    bench = load_benchmark(tofu_cfg(path=str(snap.path), forget_qa="forget05/train"))
    assert bench.forget_qa == [QAItem("Q5?", "A5.")]


def test_optional_sets_may_be_null(tofu_snapshot) -> None:
    cfg = tofu_cfg(path=str(tofu_snapshot.path), holdout_qa=None, real_authors=None)
    bench = load_benchmark(cfg)
    assert bench.holdout_qa == [] and "real_authors" not in bench.perturbed
    assert bench.utility_qa == qa(TOFU["world_facts_perturbed"])


def test_missing_field_is_named(tmp_path) -> None:
    snap = write_tofu(tmp_path / "TOFU")
    rows = {k: v for k, v in TOFU["forget01_perturbed"].items() if k != "perturbed_answer"}
    write_jsonl(snap.path / "forget01_perturbed.json", rows)
    with pytest.raises(DataError, match="forget01_perturbed.json .* no field 'perturbed_answer'"):
        load_benchmark(tofu_cfg(path=str(snap.path)))


def test_perturbed_answer_must_be_a_list(tmp_path) -> None:
    snap = write_tofu(tmp_path / "TOFU")
    rows = dict(TOFU["world_facts_perturbed"], perturbed_answer=["Rome", "Venus"])
    (snap.path / "world_facts_perturbed.json").write_text(
        "".join(json.dumps({k: v[i] for k, v in rows.items()}) + "\n" for i in range(2))
    )
    with pytest.raises(DataError, match="'perturbed_answer' must be a list"):
        load_benchmark(tofu_cfg(path=str(snap.path)))


def test_train_on_text_is_refused_before_loading() -> None:
    with pytest.raises(UnpactConfigError, match="data.train_on='text'.*TOFU.*train_on=qa"):
        load_benchmark(tofu_cfg(path="/nonexistent", train_on="text"))


def test_offline_without_a_path_names_the_key() -> None:
    with pytest.raises(DataError, match="data.path"):
        load_benchmark(tofu_cfg())


def test_composed_config_loads_the_snapshot(make_cfg, tofu_snapshot) -> None:
    from unpact_exp.data.prepare import get_benchmark

    cfg = make_cfg("data=tofu", f"data.path={tofu_snapshot.path}")
    assert cfg.data.source == "tofu" and cfg.data.train_on == "qa"
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    assert len(bench.forget_qa) == 2 and set(bench.perturbed) == {
        "forget",
        "retain",
        "real_authors",
        "world_facts",
    }
