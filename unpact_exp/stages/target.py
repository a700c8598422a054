"""``stage=target``: build and train the tiny target model on a synthetic benchmark.

The target is what unlearning starts from. It is saved as a normal HF folder
under ``<paths.artifacts_dir>/targets/<model>-<data>`` (written to a temporary
name, then renamed), so ``from_pretrained`` loads it and later runs reuse it.

``model.build.without_forget=true`` builds the *retrain oracle* instead: the same
model (same tokenizer, same initialisation, same training settings) trained on
everything but the forget set (the forget texts and forget QA pairs), in
``<model>-<data>-without_forget``. It never saw the forget facts, so it is the
exact-unlearning gold standard: ``method=retrain`` evaluates it as the unlearned
model (:func:`ensure_oracle`). Its build stops once the retain QA reach
``build.stop_at_correct_rate`` (the forget rate is expected to stay near chance).

The first run on a model/data pair builds its target before anything else, which takes a
minute or more: the build is announced before it starts (what, where it is cached, for
how long at most), its bar says ``target build tiny-synthetic: epoch 3/40`` rather than
the user's run's epochs, and in a batch job (``trainer.progress``, see
:mod:`unpact_exp.training.progress`) each correctness check is one log line with the
rates, the time spent and the time left at most.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from filelock import FileLock, Timeout
from torch.utils.data import DataLoader

from unpact_exp.data.prepare import get_benchmark
from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.tasks import QATask, TaskContext
from unpact_exp.models.loading import built_dir, is_hf_folder
from unpact_exp.models.prompt import LETTERS
from unpact_exp.models.saving import save_hf_folder
from unpact_exp.models.tiny import build_tiny_llama, build_word_tokenizer
from unpact_exp.results import write_results
from unpact_exp.stages.settings import RunSettings
from unpact_exp.training.finetune import CausalLMFinetune
from unpact_exp.training.progress import loss_text, progress_callbacks, training_progress
from unpact_exp.training.sequences import PadCollator, encode_qa, encode_texts
from unpact_exp.unpact.progress import progress_mode

log = logging.getLogger(__name__)


def vocabulary_texts(
    bench: Benchmark, settings: RunSettings, vocabulary: Sequence[str]
) -> list[str]:
    """Every text the tiny model may ever see, so its word-level vocabulary covers it.

    Includes the prompt templates and ``model.build.vocabulary`` (the shipped FocusOnKey
    templates: their words would otherwise be ``<unk>``), the lettered MC choices, and all
    splits. The target so depends on the model and the data alone, never on which FocusOnKey
    templates an evaluation uses.
    """
    prompt = settings.prompt
    texts = [prompt.template, prompt.icl_template, *vocabulary]
    texts += [f"{letter}." for letter in LETTERS[:8]]
    texts += bench.forget_text + bench.retain_text
    for items in (
        bench.forget_qa,
        bench.retain_qa,
        bench.icl,
        bench.retain_icl,
        bench.utility_qa,
        bench.verbmem_forget,
    ):
        texts += [f"{i.question} {i.answer}" for i in items]
    for mc in (*bench.mc_forget, *bench.mc_retain):
        texts += [mc.question, *mc.choices]
    return texts


def correct_rate(model: Any, tokenizer: Any, items: list[QAItem], settings: RunSettings) -> float:
    """Fraction of ``items`` answered correctly, judged exactly as the analysis judges them."""
    if not items:
        return float("nan")
    ctx = TaskContext(
        tokenizer=tokenizer,
        prompt_format=settings.prompt,
        icl=(),
        unpact=settings.unpact,
        eval=settings.eval,
    )
    ok = QATask(ctx).answer(model, items).correct
    return sum(ok) / len(ok)


class _StopWhenKnown(pl.Callback):
    """Every ``every`` epochs, measure QA correctness; stop once ``watched`` rates hit ``goal``.

    It also words the build's progress: the bar's description (:meth:`describe`) and, with
    ``lines``, one log line per check.
    """

    def __init__(
        self,
        rates: Any,
        every: int,
        goal: float,
        watched: tuple[str, ...],
        name: str = "target",
        lines: bool = False,
    ) -> None:
        self.rates, self.every, self.goal, self.watched = rates, every, goal, watched
        self.name, self.lines = name, lines
        self.history: list[dict[str, float]] = []
        self.start = time.perf_counter()

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def describe(self, trainer: pl.Trainer) -> str:
        """``target build tiny-synthetic: epoch 3/40 (forget 61%, retain 70% correct)``."""
        text = f"target build {self.name}: epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
        return text + (f" ({self._rates_text(self.history[-1])})" if self.history else "")

    def _rates_text(self, rates: dict[str, float]) -> str:
        shown = [f"{key.split('_')[0]} {100 * rates[key]:.0f}%" for key in self.watched]
        return ", ".join(shown) + f" correct (stops at {100 * self.goal:.0f}%)"

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every:
            return
        module.model.eval()
        rates = self.rates(module.model)
        module.model.train()
        epoch = trainer.current_epoch + 1
        self.history.append({"epoch": epoch, **rates})
        if min(rates[key] for key in self.watched) >= self.goal:
            trainer.should_stop = True
        if self.lines:
            spent = time.perf_counter() - self.start
            left = spent / epoch * (trainer.max_epochs - epoch) if not trainer.should_stop else 0
            log.info(
                "target build %s: epoch %d/%d, %s; %s; %.0f s, at most %.0f s left",
                self.name,
                epoch,
                trainer.max_epochs,
                loss_text(trainer),
                self._rates_text(rates),
                spent,
                left,
            )


def build_target(
    cfg: Any, settings: RunSettings, run_dir: Path, loggers: list[Any]
) -> dict[str, Any]:
    """Build, train, evaluate and save the tiny target; return the results dict."""
    if cfg.model.get("build") is None:
        raise UnpactConfigError(
            f"stage=target builds the tiny model only; model={cfg.model.name} is loaded from "
            "its hub id or model.path. Use model=tiny."
        )
    start = time.time()
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    build = cfg.model.build
    fmt = settings.prompt
    oracle = bool(build.without_forget)
    if oracle:  # the target's own tokenizer, so the oracle's weights fit the target's
        tokenizer = _target_tokenizer(cfg, settings, run_dir)
    else:
        vocabulary = list(build.get("vocabulary") or ())
        tokenizer = build_word_tokenizer(vocabulary_texts(bench, settings, vocabulary))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    model = build_tiny_llama(
        tokenizer,
        build.hidden_size,
        build.num_layers,
        build.num_heads,
        build.intermediate_size,
        cfg.model.max_length,
        build.init_seed,
    )
    length = cfg.model.max_length
    forget_text, forget_qa = ([], []) if oracle else (bench.forget_text, bench.forget_qa)
    examples = encode_texts(tokenizer, forget_text + bench.retain_text, length)
    examples += encode_qa(
        tokenizer, fmt, forget_qa + bench.retain_qa + bench.utility_qa + bench.icl, length
    )
    loader = DataLoader(
        examples,
        batch_size=build.batch_size,
        shuffle=True,
        collate_fn=PadCollator(tokenizer.pad_token_id),
    )

    def rates(m: Any) -> dict[str, float]:
        with progress_mode(False):  # a few seconds; the build's own progress reports them
            return {
                "forget_correct_rate": correct_rate(m, tokenizer, bench.forget_qa, settings),
                "retain_correct_rate": correct_rate(m, tokenizer, bench.retain_qa, settings),
                "general_correct_rate": correct_rate(m, tokenizer, bench.utility_qa, settings),
            }

    watched = ("retain_correct_rate",) if oracle else ("forget_correct_rate", "retain_correct_rate")
    out = built_dir(cfg.paths.artifacts_dir, cfg.model, cfg.data.name)
    progress = training_progress(cfg.trainer)
    stopper = _StopWhenKnown(
        rates,
        build.check_every_n_epochs,
        build.stop_at_correct_rate,
        watched,
        out.name,
        lines=progress.style == "lines",
    )
    log.info(
        "building the %s %s (one-time: saved to %s and reused by every later run on this "
        "model and data): up to %d epochs over %d sequences, stopping once %s reach %.0f%% "
        "correct; typically a minute or two on a CPU",
        "retrain oracle" if oracle else "tiny target",
        out.name,
        out,
        build.max_epochs,
        len(examples),
        " and ".join(key.split("_")[0] + " QA" for key in watched),
        100 * build.stop_at_correct_rate,
    )
    bar = progress_callbacks(progress, stopper.describe) if progress.style == "bars" else []
    trainer = pl.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=1,
        max_epochs=build.max_epochs,
        logger=loggers,
        callbacks=[stopper, *bar],
        enable_checkpointing=False,
        enable_progress_bar=bool(bar),
        enable_model_summary=False,
        log_every_n_steps=5,
        default_root_dir=str(run_dir),
    )
    trainer.fit(CausalLMFinetune(model, build.lr, build.weight_decay, build.warmup_steps), loader)
    model.eval()
    final = rates(model)
    save_hf_folder(model, tokenizer, out)
    log.info(
        "built %s in %.0f s (%d epochs): %s; saved to %s",
        out.name,
        time.time() - start,
        trainer.current_epoch,
        ", ".join(f"{key} {100 * value:.0f}%" for key, value in final.items()),
        out,
    )
    results = {
        "status": "completed",
        "stage": "target",
        "without_forget": oracle,
        "model": cfg.model.name,
        "data": cfg.data.name,
        "seed": cfg.seed,
        "target_dir": str(out),
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "runtime_s": time.time() - start,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        **final,
        "history": stopper.history,
    }
    write_results(run_dir, results)
    return results


def _with_forget(cfg: Any, without_forget: bool) -> Any:
    """A copy of ``cfg`` whose ``model.build.without_forget`` is ``without_forget``."""
    import copy

    from omegaconf import open_dict

    out = copy.deepcopy(cfg)
    with open_dict(out):
        out.model.build.without_forget = without_forget
    return out


def _target_tokenizer(cfg: Any, settings: RunSettings, run_dir: Path) -> Any:
    """The tokenizer saved with this model/data's target, building the target if absent."""
    from unpact_exp.models.loading import load_tokenizer

    target_cfg = _with_forget(cfg, False)
    if not target_ready(target_cfg):
        build_target(target_cfg, settings, run_dir / "target_first", loggers=[])
    folder = built_dir(cfg.paths.artifacts_dir, target_cfg.model, cfg.data.name)
    return load_tokenizer(str(folder), False)


def target_ready(cfg: Any) -> bool:
    """Whether the built target (or oracle) for this model/data already exists."""
    return is_hf_folder(built_dir(cfg.paths.artifacts_dir, cfg.model, cfg.data.name))


def ensure_target(cfg: Any, settings: RunSettings, log_dir: Path | None = None) -> None:
    """Build the tiny target if it is not on disk yet (one builder at a time, via a lock).

    Args:
        cfg: the run's config (``model``, ``data``, ``paths``).
        settings: the run's typed settings (prompt format, FocusOnKey templates, judging).
        log_dir: where the build logs (default: a fresh temporary folder, for callers
            such as ``analyze.py`` that keep no run folder).
    """
    if cfg.model.get("build") is None or cfg.model.get("path") or target_ready(cfg):
        return
    folder = built_dir(cfg.paths.artifacts_dir, cfg.model, cfg.data.name)
    lock_path = Path(cfg.paths.artifacts_dir) / "targets" / ".build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        log.info("waiting for another job, which is building a tiny target in %s", folder.parent)
        lock.acquire()
    try:
        if not target_ready(cfg):  # another job may have built it while we waited
            if log_dir is None:
                log_dir = Path(tempfile.mkdtemp(prefix="unpact-target-"))
            build_target(cfg, settings, log_dir / "target_build", loggers=[])
    finally:
        lock.release()


def ensure_oracle(cfg: Any, settings: RunSettings, log_dir: Path | None = None) -> str:
    """The folder of the retrain oracle for this run's model and data, built if absent.

    What ``method=retrain`` loads as its unlearned model. The oracle is ``cfg``'s tiny
    target with ``model.build.without_forget=true`` (see the module docstring).

    Raises:
        UnpactConfigError: the model is not framework-built (a pretrained model cannot be
            retrained from scratch here).
    """
    if cfg.model.get("build") is None or cfg.model.get("path"):
        raise UnpactConfigError(
            f"method=retrain needs the retrain oracle, which the framework builds only for its "
            f"own tiny model (model.build); model={cfg.model.name} is pretrained. Use model=tiny, "
            "or give a model retrained without the forget set to eval.retrain_model."
        )
    ensure_target(_with_forget(cfg, False), settings, log_dir)  # first: the oracle's tokenizer
    oracle_cfg = _with_forget(cfg, True)
    ensure_target(oracle_cfg, settings, log_dir)
    return str(built_dir(cfg.paths.artifacts_dir, oracle_cfg.model, cfg.data.name))
