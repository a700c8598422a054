"""Fixtures shared by the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from unpact_exp.results import read_results
from unpact_exp.run import main


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, artifacts, tiny_target) -> Path:
    """A tiny ga run with a final evaluation that forgot something, saved as Hydra would."""
    from tests.conftest import QUIET, SMALL_WORLD, compose_cfg

    run = tmp_path_factory.mktemp("finished") / "run"
    overrides = ["method=ga", "trainer.max_steps=6", "callbacks.evaluation.every_n_steps=6"]
    cfg = compose_cfg([*SMALL_WORLD, *QUIET, "callbacks=default", *overrides], run, artifacts)
    main(cfg)
    assert read_results(run)["eval"]["6"]["n_forgotten"] > 0
    (run / ".hydra").mkdir()
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml")
    OmegaConf.save(
        {"hydra": {"runtime": {"cwd": str(artifacts.parent)}}}, run / ".hydra/hydra.yaml"
    )
    return run
