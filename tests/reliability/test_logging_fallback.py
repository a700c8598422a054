"""Logging never blocks work: ``logger=wandb_online`` with no network falls back to offline
within ``logger.init_timeout`` seconds, with one warning, and the run goes on.

``WANDB_API_KEY`` is set to a dummy value so W&B really attempts an online run (without a
key it gives up at once, which would test nothing).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest

from tests.reliability.helpers import SLACK_S
from unpact_exp.results import read_results
from unpact_exp.run import main

TIMEOUT_S = 3


@pytest.fixture
def online_without_network(monkeypatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the test session forces offline
    monkeypatch.setenv("WANDB_SILENT", "true")


def test_online_init_falls_back_within_init_timeout(make_cfg, online_without_network) -> None:
    import lightning.pytorch.loggers  # noqa: F401  (imports are not part of the bound)
    import wandb  # noqa: F401

    from unpact_exp.tracking import build_loggers, finish_loggers

    cfg = make_cfg("logger=wandb_online", f"logger.init_timeout={TIMEOUT_S}", "logger.csv=false")
    run_dir = Path(cfg.paths.output_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.monotonic()
        loggers = build_loggers(cfg.logger, cfg, run_dir)
        elapsed = time.monotonic() - start
        try:
            loggers[0].log_metrics({"x": 1.0}, step=0)  # logging works, offline
            assert loggers[0].experiment.settings.mode == "offline"
        finally:
            finish_loggers(loggers)
    assert elapsed < TIMEOUT_S + SLACK_S, f"fallback took {elapsed:.1f} s"
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "logging offline" in messages[0], messages
    assert list((run_dir / "wandb").glob("offline-run-*"))


def test_run_with_wandb_online_completes_offline(make_cfg, tiny_target, online_without_network):
    cfg = make_cfg("logger=wandb_online", f"logger.init_timeout={TIMEOUT_S}", "trainer.max_steps=1")
    with pytest.warns(UserWarning, match="W&B online init failed") as caught:
        main(cfg)
    assert sum("W&B" in str(w.message) for w in caught) == 1
    assert read_results(cfg.paths.output_dir)["status"] == "completed"
    assert list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))


@pytest.mark.parametrize("env_mode", ["offline", "disabled"])
def test_wandb_online_honours_wandb_mode(make_cfg, monkeypatch, env_mode: str) -> None:
    """``WANDB_MODE=offline``/``disabled`` keeps ``logger=wandb_online`` off the network: no
    probe, no wait, no warning."""
    import unpact_exp.tracking as tracking
    from unpact_exp.tracking import build_loggers, finish_loggers

    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_MODE", env_mode)
    monkeypatch.setattr(tracking, "reachable", lambda *a: pytest.fail("probed the W&B server"))
    cfg = make_cfg("logger=wandb_online", "logger.csv=false")
    run_dir = Path(cfg.paths.output_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        loggers = build_loggers(cfg.logger, cfg, run_dir)
        try:
            loggers[0].log_metrics({"x": 1.0}, step=0)
            assert loggers[0].experiment.settings.mode == env_mode
        finally:
            finish_loggers(loggers)
    assert bool(list((run_dir / "wandb").glob("offline-run-*"))) == (env_mode == "offline")
