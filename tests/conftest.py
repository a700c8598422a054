"""Shared fixtures: composed configs shrunk for CPU tests, and one tiny target per session.

Configs come from the real ``conf/`` tree through Hydra's ``compose`` (in-process:
a ``python train.py`` subprocess costs ~10 s of imports), then shrunk: a smaller
synthetic world, no W&B, no progress bar, outputs under ``tmp_path``. The tiny
target is built once per session into a shared artifacts folder and reused.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

# Tiny real-architecture models (Llama-3.1, Qwen3, Llama-2) and hub-layout dataset snapshots.
pytest_plugins = ("tests.fixtures.families",)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "unpact_exp" / "conf"

# A world small enough to train in seconds, big enough for rates to mean something
# (the same values as conf/experiment/tiny_world.yaml, which subprocess tests use).
SMALL_WORLD = [
    "data.n_forget=6",
    "data.n_retain=12",
    "data.n_holdout=2",
    "data.n_general_lands=4",
    "data.n_icl=2",
    "model.build.hidden_size=48",
    "model.build.max_epochs=80",
    "model.build.lr=5e-3",
    "model.build.batch_size=16",
    "model.build.check_every_n_epochs=10",
]
QUIET = ["logger=none", "trainer.enable_progress_bar=false", "callbacks=none"]


def train_command(tmp_path: Path, artifacts: Path, run_dir: Path, *overrides: str) -> list[str]:
    """``python train.py`` for one run in ``run_dir`` on the small world, quiet."""
    return [
        sys.executable,
        str(ROOT / "train.py"),
        *SMALL_WORLD,
        *QUIET,
        f"paths.root_dir={tmp_path}",
        f"paths.artifacts_dir={artifacts}",
        f"paths.data_dir={artifacts}/data",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]


def compose_cfg(
    overrides: list[str], output_dir: Path, artifacts_dir: Path, config_name: str = "train"
) -> object:
    """Compose ``conf/<config_name>.yaml`` with overrides, paths redirected, HydraConfig set."""
    from unpact_exp.compose import compose_config

    return compose_config(
        overrides, output_dir, artifacts_dir, artifacts_dir.parent, config_name=config_name
    )


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session-wide artifacts folder (synthetic data and the built tiny target)."""
    return tmp_path_factory.mktemp("session") / "artifacts"


@pytest.fixture
def make_cfg(tmp_path: Path, artifacts: Path) -> Callable[..., object]:
    """``make_cfg(*overrides)`` -> a small, quiet config writing into ``tmp_path/run``."""

    def make(*overrides: str, output: str = "run", config_name: str = "train") -> object:
        other_model = any(o.startswith("model=") and o != "model=tiny" for o in overrides)
        other_data = any(o.startswith("data=") and o != "data=synthetic" for o in overrides)
        world = [
            o
            for o in SMALL_WORLD
            if not (other_model and o.startswith("model.build"))
            and not (other_data and o.startswith("data."))
        ]
        quiet = QUIET if config_name == "train" else QUIET[:1]
        return compose_cfg([*world, *quiet, *overrides], tmp_path / output, artifacts, config_name)

    return make


@pytest.fixture(scope="session")
def tiny_target(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> dict:
    """Build the small-world tiny target once; returns its results dict."""
    from unpact_exp.run import main

    out = tmp_path_factory.mktemp("target_run")
    cfg = compose_cfg([*SMALL_WORLD, *QUIET, "stage=target"], out, artifacts)
    main(cfg)
    from unpact_exp.results import read_results

    return read_results(out)


@pytest.fixture(autouse=True)
def _clear_hydra() -> Iterator[None]:
    yield
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
