"""Writing failures and Ctrl-C (issue 26 item 6), in process.

A full disk while saving ``unlearned/``, a folder that cannot be written and Ctrl-C each
ended in a traceback or a wrong record ("SystemExit: 1"). Each is now one message naming
the place and the fix, and messages name only files that exist. The real ``ulimit -f`` and
Ctrl-C of a ``train.py`` process are in ``test_entry_messages.py``.
"""

from __future__ import annotations

import errno
import signal
from pathlib import Path

import pytest

from tests.reliability.helpers import checkpoint
from unpact_exp.errors import StorageError
from unpact_exp.results import read_results
from unpact_exp.run import SIGINT_EXIT, main
from unpact_exp.storage import storage_failure
from unpact_exp.training.module import UnlearnModule

RUN = ["method=ga", "trainer.max_steps=4", "trainer.checkpoint_every_n_steps=2"]


def test_disk_full_while_saving_unlearned_is_one_message_and_the_rerun_completes(
    make_cfg, tiny_target, monkeypatch
) -> None:
    from transformers import PreTrainedModel

    original = PreTrainedModel.save_pretrained

    def disk_full(self, folder, *args, **kwargs):
        path = Path(folder) / "model.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 100)  # what the disk took before it was full
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    cfg = make_cfg(*RUN)
    run_dir = Path(cfg.paths.output_dir)
    monkeypatch.setattr(PreTrainedModel, "save_pretrained", disk_full)
    with pytest.raises(StorageError) as err:
        main(cfg)
    last = run_dir / "checkpoints" / "last.ckpt"
    message = str(err.value)
    assert message == (
        f"cannot write into {run_dir} (No space left on device): free space on that disk; "
        f"then rerun the same command: it resumes from {last} (step 4)."
    )  # the half-written temporary folder is gone, so the run folder is what it names
    assert not (run_dir / ".unlearned.tmp").exists() and not (run_dir / "unlearned").exists()
    results = read_results(run_dir)
    assert results["status"] == "failed" and results["error"] == f"StorageError: {message}"
    assert "traceback" not in results

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", original)
    main(make_cfg(*RUN))  # the same command, with space again
    assert read_results(run_dir)["status"] == "completed" and (run_dir / "unlearned").is_dir()
    assert checkpoint(run_dir)["global_step"] == 4  # resumed at its end: nothing retrained


def test_a_run_folder_that_cannot_be_written_is_one_message(make_cfg, tmp_path) -> None:
    """/sys refuses new folders even to root: a real write failure on any Linux machine."""
    target = Path("/sys/unpact-run-folder")
    try:
        target.mkdir()
    except PermissionError:
        pass
    else:  # pragma: no cover - a machine where /sys accepts folders
        target.rmdir()
        pytest.skip("/sys accepts new folders here")
    cfg = make_cfg()
    cfg.paths.output_dir = str(target)
    with pytest.raises(StorageError) as err:
        main(cfg)
    assert str(err.value) == (
        "cannot write into /sys (Operation not permitted): make it writable for you, or write "
        "the run elsewhere (hydra.run.dir=DIR); then rerun the same command: it starts the run."
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (OSError(errno.EFBIG, "File too large"), errno.EFBIG),
        (RuntimeError("PytorchStreamWriter failed writing file data/3: file write failed"), None),
        (RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                      'message: "No space left on device" })'), errno.ENOSPC),
    ],
    ids=["efbig", "torch-zip-writer", "safetensors"],
)  # fmt: skip
def test_wrapped_write_failures_are_recognised(error, code) -> None:
    failure = storage_failure(error)
    assert failure is not None and failure.errno == code
    assert storage_failure(ValueError("bad value")) is None


def test_ctrl_c_is_recorded_as_keyboard_interrupt(make_cfg, tiny_target, monkeypatch) -> None:
    """Lightning turns Ctrl-C into ``sys.exit(1)``: results.json said "SystemExit: 1"."""
    before = signal.getsignal(signal.SIGINT)

    def ctrl_c_at_step_2(self, *args):
        if self.trainer.global_step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(UnlearnModule, "on_train_batch_end", ctrl_c_at_step_2, raising=False)
    cfg = make_cfg(*RUN)
    with pytest.raises(SystemExit) as exit_info:
        main(cfg)
    assert exit_info.value.code == SIGINT_EXIT == 130
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "interrupted" and "SystemExit" not in results["error"]
    assert results["error"].startswith("KeyboardInterrupt (Ctrl-C); rerun the same command")
    assert signal.getsignal(signal.SIGINT) == before  # Lightning had left it ignored
