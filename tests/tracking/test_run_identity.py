"""How W&B files a run: setting and seed in the name, flat keys, tags, job type, sweep group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unpact_exp.run_identity import run_identity, sweep_group


def test_a_training_run_says_its_setting_and_seed(make_cfg) -> None:
    cfg = make_cfg("setting=npo+kl", "seed=3", "logger=wandb")
    identity = run_identity(cfg)
    assert identity.name == "npo+kl seed=3"
    assert identity.job_type == "train"
    assert identity.tags == ("npo+kl", "tiny", "synthetic", "unlearn")
    assert identity.keys == {
        "setting": "npo+kl",
        "method": "npo",
        "regularizer": "kl",
        "seed": 3,
        "token_weighting": "uniform",
        "peft": "none",
        "model": "tiny",
        "data": "synthetic",
        "stage": "unlearn",
    }
    assert identity.group is None  # a single run, no sweep id: not grouped
    config = identity.config(cfg)
    assert config["setting"] == "npo+kl" and config["cfg"]["method"]["name"] == "npo"


def test_weighting_and_lora_are_part_of_the_setting_and_name(make_cfg) -> None:
    cfg = make_cfg("method=ga", "regularizer=gd", "method.token_weighting=keytoken", "peft=lora")
    identity = run_identity(cfg)
    assert identity.keys["setting"] == "ga@keytoken+gd"  # the report's row key
    assert identity.keys["token_weighting"] == "keytoken" and identity.keys["peft"] == "lora"
    assert identity.name == "ga@keytoken+gd lora seed=0"


def test_the_target_build_is_a_training_job(make_cfg) -> None:
    identity = run_identity(make_cfg("stage=target"))
    assert identity.job_type == "train" and identity.name == "target seed=0"
    assert identity.tags == ("target", "tiny", "synthetic")  # setting and stage: one tag


def test_an_eval_run_carries_the_evaluated_runs_keys(make_cfg, tmp_path: Path) -> None:
    run = tmp_path / "trained"
    (run / "unlearned").mkdir(parents=True)
    recorded = {"setting": "npo+kl", "method": "npo", "regularizer": "kl", "seed": 1}
    (run / "results.json").write_text(json.dumps(recorded))
    cfg = make_cfg(f"unlearned={run / 'unlearned'}", config_name="evaluate")
    identity = run_identity(cfg)
    assert identity.job_type == "eval"
    assert identity.name == "eval npo+kl seed=1"
    assert identity.keys["setting"] == "npo+kl" and identity.keys["stage"] == "eval"
    assert identity.tags == ("npo+kl", "tiny", "synthetic", "eval")


def test_an_eval_run_of_an_unknown_folder_still_gets_a_name(make_cfg, tmp_path: Path) -> None:
    identity = run_identity(make_cfg(f"unlearned={tmp_path}", config_name="evaluate"))
    assert identity.name == "eval unknown seed=0" and identity.job_type == "eval"


@pytest.mark.parametrize(
    ("logger", "group"),
    [
        ({"group": "paper-2026", "sweep_id": "x"}, "paper-2026"),  # logger.group wins
        ({"group": None, "sweep_id": "s1"}, "smollm2_worldfacts-s1"),  # experiment + sweep id
        ({"group": None, "sweep_id": None}, None),  # a single run outside a sweep
    ],
)
def test_the_group_is_the_sweep(logger, group) -> None:
    assert sweep_group(logger, "smollm2_worldfacts") == group


def test_the_experiment_names_the_group(make_cfg) -> None:
    cfg = make_cfg("experiment=tiny_world", "logger=wandb", "logger.sweep_id=s1")
    assert run_identity(cfg).group == "tiny_world-s1"
    assert run_identity(make_cfg("logger=wandb", "logger.sweep_id=s1")).group == "train-s1"
