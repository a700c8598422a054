"""Pre-emption under submitit/SLURM, tested without SLURM.

What a requeue relies on, piece by piece: submitit's signal (faked here with its real
semantics: SIGTERM ignored, SIGUSR2 -> requeue -> ``sys.exit(-1)``) is deferred to a step
boundary with a checkpoint first; Lightning does not requeue on its own under SLURM;
hydra-submitit-launcher resubmits the same job with the same arguments and the job folder
(``${now:...}`` included) resolves to the same path; the rerun resumes and ends as an
uninterrupted run.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import QUIET, SMALL_WORLD, compose_cfg
from tests.reliability.helpers import assert_same_run, checkpoint
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.training.module import UnlearnModule

RUN = ["method=npo", "trainer.max_steps=7", "trainer.checkpoint_every_n_steps=5"]


class FakeSubmitit:
    """submitit's job-side handlers: bypass SIGTERM; requeue and exit on SIGUSR2."""

    def __init__(self) -> None:
        self.bypassed: list[int] = []
        self.requeued: list[int] = []

    def bypass(self, signum, frame) -> None:
        self.bypassed.append(signum)

    def checkpoint_and_requeue(self, signum, frame) -> None:
        self.requeued.append(signum)
        raise SystemExit(-1)  # submitit's SignalHandler._exit after requeueing

    def __enter__(self) -> FakeSubmitit:
        self._saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR2)}
        signal.signal(signal.SIGTERM, self.bypass)
        signal.signal(signal.SIGUSR2, self.checkpoint_and_requeue)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)


def test_submitit_preemption_checkpoints_at_step_boundary_then_requeues(
    tmp_path, artifacts, tiny_target, monkeypatch
) -> None:
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    reference = tmp_path / "reference"
    with FakeSubmitit():
        main(compose_cfg([*SMALL_WORLD, *QUIET, *RUN], reference, artifacts))

    run_dir = tmp_path / "job"

    def signals(self, *args):
        if self.trainer.global_step == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # SLURM's first signal: must not stop the run
        if self.trainer.global_step == 3:
            os.kill(os.getpid(), signal.SIGUSR2)  # submitit's pre-emption signal

    with FakeSubmitit() as submitit, monkeypatch.context() as patch:
        patch.setattr(UnlearnModule, "on_train_batch_end", signals, raising=False)
        with pytest.raises(SystemExit) as exit_info:
            main(compose_cfg([*SMALL_WORLD, *QUIET, *RUN], run_dir, artifacts))
    assert exit_info.value.code == -1  # submitit's own exit, passed through
    assert submitit.bypassed == [signal.SIGTERM]
    assert submitit.requeued == [signal.SIGUSR2]  # called once, by the deferred handler
    # Saved at the first step boundary after the signal (step 4; the periodic one is at 5).
    assert checkpoint(run_dir)["global_step"] == 4
    assert read_results(run_dir)["status"] == "interrupted"

    with FakeSubmitit():  # the requeued job: same arguments, same folder
        main(compose_cfg([*SMALL_WORLD, *QUIET, *RUN], run_dir, artifacts))
    assert read_results(run_dir)["status"] == "completed"
    assert_same_run(run_dir, reference)


def test_lightning_does_not_requeue_under_slurm(make_cfg, monkeypatch) -> None:
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    from unpact_exp.training.trainer import build_trainer

    for key, value in {
        "SLURM_NTASKS": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "train.py",
        "SLURM_NODELIST": "node1",
    }.items():
        monkeypatch.setenv(key, value)
    cfg = make_cfg()
    trainer = build_trainer(
        cfg.trainer, cfg.model.decoder_layer_cls, [], [], str(Path(cfg.paths.output_dir)), 2, -1
    )
    environment = trainer._accelerator_connector.cluster_environment
    assert isinstance(environment, SLURMEnvironment) and environment.auto_requeue is False
    before = signal.getsignal(signal.SIGUSR1)
    trainer._signal_connector.register_signal_handlers()
    try:
        assert signal.getsignal(signal.SIGUSR1) == before  # no `scontrol requeue` handler
    finally:
        trainer._signal_connector.teardown()


def test_submitit_launcher_requeues_the_same_job_into_the_same_folder(tmp_path) -> None:
    """``checkpoint()`` resubmits the launcher with the same arguments, and the job folder,
    timestamp included, resolves identically in the requeued process (Hydra caches ``now``
    in the pickled config)."""
    from hydra.core.utils import setup_globals
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
    from omegaconf import OmegaConf

    launcher = SlurmLauncher(submitit_folder=str(tmp_path))
    args = (["method=ga"], "hydra.sweep.dir", 3, "job3", {})
    delayed = launcher.checkpoint(*args)
    assert delayed.function is launcher and tuple(delayed.args) == args

    setup_globals()  # registers Hydra's cached `now` resolver, as in every job
    cfg = OmegaConf.create({"sweep": {"dir": "multirun/${now:%H-%M-%S-%f}"}})
    first = str(cfg.sweep.dir)
    time.sleep(0.01)
    requeued = pickle.loads(pickle.dumps(cfg))
    assert str(requeued.sweep.dir) == first
