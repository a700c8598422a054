"""UNPACT evaluation during training: at step 0, every ``every_n_steps``, and at the end.

The callback is a thin user of :class:`~unpact_exp.evaluation.evaluator.Evaluator`:
it evaluates a full copy of the current policy against the original model (whose
answers and KeyTokens are computed once, at the first evaluation). Under several ranks
(DDP, FSDP, FSDP2) every rank holds the full policy and its own M0 on its device,
evaluates its shard of the items, and receives every other rank's per-item results
(:mod:`unpact_exp.evaluation.sharding`), so the numbers equal one process's and no
rank waits idle; rank 0 records and logs them, with ``eval_world_size`` in
``results.json``. Scalars go to every logger under ``eval/``; a per-question table and a
contribution heatmap go to W&B; the same metrics go into ``results.json`` keyed
by step, and the per-question rows of the latest evaluation (the final one, once the
run ends) into ``questions.csv`` beside it.

For methods whose intermediate weights are not an unlearned model
(``evaluates_during_fit = False``, e.g. ``tv``, whose fit is the fine-tuning stage)
only the start and the end are analysed.

Each evaluation's phases are named after its step (``step 10 / M1 / forget_qa (20 items) /
generation``, :mod:`unpact_exp.unpact.progress`), and it ends with one log line of its
headline rates with their counts (:func:`unpact_exp.summary.headline`), so a batch job's log
follows the run evaluation by evaluation.

Resume: the evaluations already in ``results.json`` are kept (the run's
:class:`~unpact_exp.results.RunRecord` starts from them), except those after the
checkpoint's step, which the resumed run recomputes. Divergence: no evaluation is
made after it mid-run; the final one evaluates the last finite weights (keyed by
their step), or is skipped when the weights are non-finite.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from unpact_exp.evaluation.sharding import Shard, all_gather_objects
from unpact_exp.evaluation.writing import write_evaluation
from unpact_exp.results import RunRecord
from unpact_exp.summary import headline
from unpact_exp.training.distributed import barrier, full_copy_on_every_rank
from unpact_exp.unpact.inference import model_device
from unpact_exp.unpact.progress import scope

log = logging.getLogger(__name__)


class EvaluationCallback(pl.Callback):
    """Evaluate the policy against the original model at checkpoints.

    Args:
        make_evaluator: builds the Evaluator (loads M0 onto the given device, the one the
            evaluated model sits on) for the given shard of the items (None: one process);
            called once, on every rank.
        every_n_steps: evaluate when ``global_step % every_n_steps == 0`` (0: never mid-run).
        at_start: also evaluate before the first step.
        heatmap_questions: forget questions drawn in the heatmap (0: no heatmap).
        record: the run's results record.
        loggers: where scalars, the table and the heatmap are logged.
        run_dir: the heatmap PNGs go to ``<run_dir>/plots``.
    """

    def __init__(
        self,
        make_evaluator: Callable[[torch.device, Shard | None], Any],
        every_n_steps: int,
        at_start: bool,
        heatmap_questions: int,
        record: RunRecord,
        loggers: list[Any],
        run_dir: str | Path,
    ) -> None:
        self.make_evaluator = make_evaluator
        self.every_n_steps = every_n_steps
        self.at_start = at_start
        self.heatmap_questions = heatmap_questions
        self.record = record
        self.loggers = loggers
        self.run_dir = Path(run_dir)
        self.evaluator: Any = None
        self.last_step: int | None = None
        self.last_was_final = False

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        """Evaluate the untouched model (it must match the original); after a resume, the
        checkpoint's step if it was due and is not on record (SIGTERM stopped its evaluation
        after the step was saved: :mod:`unpact_exp.callbacks.checkpoints`)."""
        step = trainer.global_step
        if self.at_start and step == 0:
            self.evaluate(trainer, module)
            return
        due = self.every_n_steps > 0 and step > 0 and step % self.every_n_steps == 0
        missing = due and str(step) not in self.record.data["eval"]
        if trainer.strategy.reduce_boolean_decision(missing, all=False):
            self.evaluate(trainer, module, final=0 < trainer.max_steps <= step)

    def on_load_checkpoint(self, trainer: pl.Trainer, module: Any, checkpoint: dict) -> None:
        """Drop recorded evaluations after the checkpoint's step: the resumed run redoes them."""
        if trainer.global_rank == 0:
            self.record.drop_evals_after(int(checkpoint["global_step"]))

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        """Evaluate every ``every_n_steps`` optimizer steps (not after a divergence)."""
        step = trainer.global_step
        if module.divergence is not None:
            return
        if self.every_n_steps > 0 and step % self.every_n_steps == 0 and step != self.last_step:
            # The last step's evaluation is the final one: it runs the final-only attacks.
            self.evaluate(trainer, module, final=0 < trainer.max_steps <= step)

    def on_fit_end(self, trainer: pl.Trainer, module: Any) -> None:
        """Always evaluate the final model (after any post-fit step such as TV negation)."""
        module.finish()  # the post-fit step, if Lightning skipped on_train_end (resumed at end)
        divergence = module.divergence
        if divergence is not None:
            if divergence["weights_finite"] and divergence["last_finite_step"] != self.last_step:
                self.evaluate(trainer, module, step=divergence["last_finite_step"], final=True)
            return
        if trainer.global_step != self.last_step or self._final_attacks_missing():
            self.evaluate(trainer, module, final=True)

    def _final_attacks_missing(self) -> bool:
        """Whether the last evaluation lacked the final-only attacks or metrics (an epoch-bound
        run whose last step fell on the evaluation cadence): then the final step is evaluated
        again."""
        if self.last_was_final or self.evaluator is None:
            return False
        return self.evaluator.has_final_only()

    def evaluate(
        self, trainer: pl.Trainer, module: Any, step: int | None = None, final: bool = False
    ) -> None:
        """Evaluate on every rank (each its shard of the items); rank 0 records and logs.

        Args:
            step: the key of this evaluation (default: the trainer's global step).
            final: the last evaluation of the run: the final-only attacks run too.
        """
        step = trainer.global_step if step is None else step
        start = time.perf_counter()
        model = full_copy_on_every_rank(module.policy)
        if self.evaluator is None:
            self.evaluator = self.make_evaluator(model_device(model), _shard(trainer))
        use_cache = model.config.use_cache
        model.config.use_cache = True  # generation as a user would run it (and as eval.py)
        try:
            with scope(f"step {step}"):
                result = self.evaluator.evaluate(model, final=final)
        finally:
            model.config.use_cache = use_cache
        del model  # a gathered copy under FSDP: free it before training resumes
        if trainer.global_rank == 0:
            self.record.update(eval_world_size=int(trainer.world_size))
            title = f"UNPACT contributions at step {step}"
            write_evaluation(
                self.run_dir, self.record, step, result, self.loggers, self.heatmap_questions, title
            )
            log.info(
                "evaluation at step %s%s in %.1f s: %s",
                step,
                " (final)" if final else "",
                time.perf_counter() - start,
                headline(result.metrics),
            )
        self.last_step = step
        self.last_was_final = final
        barrier(trainer)


def _shard(trainer: pl.Trainer) -> Shard | None:
    """This rank's share of the evaluated items (None in a single process)."""
    if trainer.world_size <= 1:
        return None
    return Shard(int(trainer.global_rank), int(trainer.world_size), all_gather_objects)


class EvaluatorFactory:
    """Builds the Evaluator (loading the original model) when first needed, on every rank.

    A class rather than a closure so ``ddp_spawn`` can pickle the callback.

    Args:
        source: where M0 is loaded from (the run's model source).
        dtype: ``model.dtype``.
        trust_remote_code: ``model.trust_remote_code``.
        build: builds the Evaluator from M0 and this rank's shard (a picklable callable).
    """

    def __init__(
        self,
        source: str,
        dtype: str,
        trust_remote_code: bool,
        build: Callable[[torch.nn.Module, Shard | None], Any],
    ) -> None:
        self.source, self.dtype, self.trust_remote_code, self.build = (
            source,
            dtype,
            trust_remote_code,
            build,
        )

    def __call__(self, device: torch.device, shard: Shard | None = None) -> Any:
        """Load M0 onto ``device`` (M1's) and analyse it once (under several ranks, each rank
        its ``shard`` of the items)."""
        from unpact_exp.models.loading import load_model

        original = load_model(self.source, self.dtype, self.trust_remote_code)
        return self.build(original.to(device).eval(), shard)
