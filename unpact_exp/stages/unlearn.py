"""``stage=unlearn``: one unlearning run, from config to ``results.json`` and ``unlearned/``.

The steps are: validate the config (before anything heavy is loaded), load the
dataset, make sure the target exists (building the tiny one when absent), encode
forget/retain data, compose objective + regularizer into an :class:`UnlearnModule`,
and fit. Saving and evaluation happen in callbacks inside the training processes,
so the same code serves one CPU, DDP and FSDP.

Resume: rerunning the same command in the same run dir (``hydra.run.dir=...``, or
the same sweep job dir) continues from ``<run dir>/checkpoints/last.ckpt``; so does
``ckpt_path=last`` (an error if that file is missing) or ``ckpt_path=FILE``. The
``results.json`` evaluation history is kept across the restart. See
:mod:`unpact_exp.callbacks.checkpoints` for when checkpoints are written.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from unpact_exp.class_names import config_class
from unpact_exp.config.binder import coerce
from unpact_exp.data.loaders import check_max_retain
from unpact_exp.data.prepare import get_benchmark
from unpact_exp.data.schema import Benchmark
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.methods import registry
from unpact_exp.methods.regularizers import build_regularizer, check_combination
from unpact_exp.models.loading import load_model, load_model_tokenizer, resolve_source
from unpact_exp.models.lora import check_strategy
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.results import RunRecord, method_label, read_results, setting_name
from unpact_exp.stages.settings import (
    RunSettings,
    evaluation_schedule,
    lora_settings,
    run_limits,
    run_settings,
    training_settings,
)
from unpact_exp.tracking import wandb_record
from unpact_exp.training.sequences import (
    AnswerSwap,
    Example,
    PadCollator,
    check_text_encoding,
    encode_qa,
    encode_texts,
    pad_token_for,
)

TrainOn = Literal["qa", "text"]
"""``data.train_on``: unlearn on the QA pairs' answer tokens or on raw text."""
LAST_CKPT = "last"
log = logging.getLogger(__name__)


def validate(cfg: Any) -> None:
    """Config checks that need no data or model (fail in milliseconds, not minutes).

    Binds the typed settings every stage uses (:func:`~unpact_exp.stages.settings.run_settings`:
    ``unpact``, ``eval``, the attacks, the metrics, the prompt) and the training-only ones:
    the method's training keys and objective, the regularizer and the pair, the run length,
    the evaluation schedule, ``data.train_on`` and ``data.max_retain_examples``, LoRA, the
    accelerator, the configured decoder-layer class and how progress is shown.
    """
    from unpact_exp.training.progress import training_progress

    run_settings(cfg)
    training_settings(cfg)
    run_limits(cfg.trainer)
    training_progress(cfg.trainer)
    evaluation_schedule(cfg)
    check_accelerator(cfg.trainer)
    config_class("model.decoder_layer_cls", cfg.model.decoder_layer_cls)
    check_max_retain(cfg.data.max_retain_examples)
    coerce("data.train_on", cfg.data.train_on, TrainOn)
    check_text_encoding(cfg.data.padding_side, cfg.data.forget_chunking, cfg.data.forget_max_length)
    method = registry.check(cfg.method)
    build_regularizer(cfg.regularizer)
    check_combination(method, cfg.regularizer.name)
    lora_settings(cfg.peft)
    check_strategy(cfg.peft.name, cfg.trainer.strategy)


GPU_ACCELERATORS = ("gpu", "cuda")


def check_accelerator(trainer: Any) -> None:
    """Refuse ``trainer=gpu`` (``trainer.accelerator=gpu``) where torch sees no CUDA device.

    Lightning would fail later with a traceback about its accelerator registry; this is
    the same fact in one line, before any data or model is loaded.

    Raises:
        UnpactConfigError: naming the accelerator, what torch sees and the fix.
    """
    import torch

    accelerator = str(trainer.accelerator).lower()
    if accelerator not in GPU_ACCELERATORS or torch.cuda.is_available():
        return
    why = "this torch build has no CUDA" if torch.version.cuda is None else "no GPU is visible"
    raise UnpactConfigError(
        f"trainer.accelerator={trainer.accelerator!r} (trainer=gpu) needs a CUDA GPU, but "
        f"torch.cuda.is_available() is False ({why}); use trainer=cpu here, or run on a "
        "machine with a GPU."
    )


def encode_split(
    tokenizer: Any,
    fmt: PromptFormat,
    bench: Benchmark,
    which: str,
    train_on: str,
    max_length: int,
    chunking: str = "all",
) -> list[Example]:
    """Encode the forget or retain training data as the config says (QA or raw text).

    ``chunking`` (``data.forget_chunking``) picks every ``max_length`` chunk of a raw forget
    document or only its first; QA pairs are one example each whatever it says.
    """
    if train_on == "qa":
        items = bench.forget_qa if which == "forget" else bench.retain_qa
        examples = encode_qa(tokenizer, fmt, items, max_length)
    else:
        texts = bench.forget_text if which == "forget" else bench.retain_text
        examples = encode_texts(tokenizer, texts, max_length, chunking)
    if not examples:
        raise DataError(
            f"the {which} set of data={bench.name} is empty for data.train_on={train_on}; "
            f"check the dataset's {which} split."
        )
    return examples


def encode_retain(
    tokenizer: Any,
    fmt: PromptFormat,
    bench: Benchmark,
    train_on: str,
    max_length: int,
    max_examples: int | None,
) -> Sequence[Example]:
    """The retain training examples: QA pairs encoded now, raw documents when fetched.

    Raw documents become a :class:`~unpact_exp.training.lazy_examples.LazyTextExamples` (one
    example per document, tokenized in ``__getitem__``); the corpus was already cut to
    ``data.max_retain_examples`` documents by the loader. QA pairs (small) are encoded up
    front, the first ``max_examples`` of them.
    """
    from unpact_exp.training.lazy_examples import LazyTextExamples

    if train_on == "qa":
        return encode_split(tokenizer, fmt, bench, "retain", train_on, max_length)[:max_examples]
    texts = bench.retain_text[:max_examples]
    if not texts:
        raise DataError(
            f"the retain set of data={bench.name} is empty for data.train_on={train_on}; "
            "check the dataset's retain split."
        )
    return LazyTextExamples(tokenizer, texts, max_length)


def forget_prompts(
    tokenizer: Any, fmt: PromptFormat, bench: Benchmark, train_on: str, forget: list[Example]
) -> Any:
    """What token-weighted objectives call for the forget examples' units.

    A partial, so the units are only computed (with the weighting's granularity) when a
    method asks for them. Raw-text chunks are weighted window by window (no question).
    """
    from unpact_exp.methods.token_weights import question_units, text_units

    if train_on != "qa":
        return functools.partial(text_units, tokenizer)

    kept = [next(t for t, v in enumerate(e.labels) if v != -100) for e in forget]
    questions = [item.question for item in bench.forget_qa]
    return functools.partial(question_units, tokenizer, fmt, questions, kept)


def forget_alternates(
    tokenizer: Any,
    fmt: PromptFormat,
    bench: Benchmark,
    train_on: str,
    max_length: int,
    collate: PadCollator,
) -> AnswerSwap | None:
    """What objectives that swap the forget answers (IdkDPO) call; None for raw-text data."""
    if train_on != "qa":
        return None
    questions = [item.question for item in bench.forget_qa]
    return AnswerSwap(tokenizer, fmt, questions, max_length, collate)


def forget_length(data_cfg: Any, model_max_length: int) -> int:
    """Tokens per forget example: ``data.forget_max_length`` (null: ``data.max_length``),
    capped by ``model.max_length``."""
    length = data_cfg.forget_max_length
    if length is None:
        length = data_cfg.max_length
    return min(int(length), model_max_length)


def warn_truncated(splits: dict[str, list[Example]], max_length: int) -> None:
    """One warning per run naming how many QA pairs were cut to fit ``max_length``."""
    counts = {name: sum(e.truncated for e in ex) for name, ex in splits.items() if ex}
    if not any(counts.values()):
        return
    detail = ", ".join(f"{n} of {len(splits[k])} {k}" for k, n in counts.items() if n)
    warnings.warn(
        f"{detail} QA pairs are longer than max_length={max_length} tokens "
        "(min of data.max_length and model.max_length): their prompts were cut from the "
        "left so the answer is kept whole (answers longer than that are cut on the right). "
        "Raise data.max_length/model.max_length if the model's context allows.",
        UserWarning,
        stacklevel=2,
    )


def run_unlearning(
    cfg: Any, settings: RunSettings, run_dir: Path, loggers: list[Any]
) -> dict[str, Any]:
    """Run one unlearning job; return the final results dict (rank 0's view)."""
    import lightning.pytorch as pl
    from transformers import AutoConfig

    from unpact_exp.stages.target import ensure_oracle, ensure_target
    from unpact_exp.training.datamodule import UnlearnDataModule
    from unpact_exp.training.module import UnlearnModule
    from unpact_exp.training.trainer import build_trainer
    from unpact_exp.unpact.prompt_bounds import check_benchmark_prompts

    start = time.time()
    validate(cfg)
    training = training_settings(cfg)
    limits = run_limits(cfg.trainer)
    resume = resume_path(cfg, run_dir)
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    ensure_target(cfg, settings, run_dir)
    source = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    tokenizer = load_model_tokenizer(cfg.model, source)
    fmt = settings.prompt
    check_benchmark_prompts(bench, tokenizer, fmt, settings.limits)
    max_length = min(int(cfg.data.max_length), int(cfg.model.max_length))
    forget_max = forget_length(cfg.data, int(cfg.model.max_length))
    train_on, chunking = cfg.data.train_on, cfg.data.forget_chunking
    forget = encode_split(tokenizer, fmt, bench, "forget", train_on, forget_max, chunking)
    hidden = AutoConfig.from_pretrained(source).hidden_size
    collate = PadCollator(pad_token_for(tokenizer, cfg.data.padding_side), cfg.data.padding_side)
    runtime = {
        "n_forget": len(forget),
        "hidden_size": hidden,
        "seed": settings.seed,
        "forget_prompts": forget_prompts(tokenizer, fmt, bench, cfg.data.train_on, forget),
        "unpact": settings.unpact,
        # method=retrain's model: the target trained without the forget set (tiny models only).
        "oracle": (
            functools.partial(ensure_oracle, cfg, settings, run_dir)
            if cfg.model.get("build") is not None and not cfg.model.get("path")
            else None
        ),
        "forget_alternates": forget_alternates(
            tokenizer, fmt, bench, train_on, forget_max, collate
        ),
    }
    objective = registry.build(cfg.method, runtime)
    regularizer = build_regularizer(cfg.regularizer)
    uses_retain = objective.uses_retain or regularizer.uses_retain
    retain = None
    if uses_retain:
        cap = cfg.data.max_retain_examples
        retain = encode_retain(tokenizer, fmt, bench, cfg.data.train_on, max_length, cap)
    # Lazily tokenized documents are not counted (that would tokenize them all).
    warn_truncated(
        {"forget": forget, "retain": retain if isinstance(retain, list) else []}, max_length
    )
    data = UnlearnDataModule(
        forget,
        retain,
        training.batch_size,
        collate.pad_id,
        settings.seed,
        cfg.data.padding_side,
    )
    loader = functools.partial(load_model, source, cfg.model.dtype, cfg.model.trust_remote_code)
    from unpact_exp.training.sharded_init import empty_model

    empty = functools.partial(empty_model, source, cfg.model.dtype, cfg.model.trust_remote_code)
    module = UnlearnModule(
        load_model=loader,
        objective=objective,
        regularizer=regularizer,
        lr=training.lr,
        weight_decay=training.weight_decay,
        forget_nll_stop=training.forget_nll_stop,
        forget_batches_in_order=data.forget_batches_in_order,
        fsdp2=cfg.trainer.strategy == "fsdp2",
        decoder_layer_cls=config_class("model.decoder_layer_cls", cfg.model.decoder_layer_cls),
        lora=lora_settings(cfg.peft),
        gradient_checkpointing=limits.gradient_checkpointing,
        build_empty=empty,
    )
    max_steps, max_epochs = objective.fit_length(limits.max_steps, limits.max_epochs)
    fields = {
        "stage": "unlearn",
        "method": cfg.method.name,
        "regularizer": cfg.regularizer.name,
        "peft": cfg.peft.name,
        "token_weighting": cfg.method.get("token_weighting"),
        "setting": setting_name(
            method_label(cfg.method.name, cfg.method.get("token_weighting")),
            cfg.regularizer.name,
        ),
        "model": cfg.model.name,
        "data": cfg.data.name,
        "seed": settings.seed,
        "overrides": _overrides(),
        "source": source,
        "n_forget_examples": len(forget),
        "n_retain_examples": len(retain or []),
        # The step budget it trains under: the report never pools runs of different budgets.
        "max_steps": max_steps,
        "max_epochs": max_epochs,
        "error": None,
        "wandb": wandb_record(loggers),  # where report.py --wandb files the report
    }
    if resume is None:
        record = RunRecord(run_dir, fields)
    else:  # keep the evaluation history of the interrupted run
        record = RunRecord.resume(run_dir, {**fields, "resumed_from": resume})
        log.info("resuming from %s", resume)
    trainer = build_trainer(
        cfg.trainer,
        cfg.model.decoder_layer_cls,
        loggers,
        build_callbacks(cfg, settings, run_dir, source, tokenizer, bench, record, loggers, start),
        str(run_dir),
        max_steps=max_steps,
        max_epochs=max_epochs,
    )
    if trainer.global_rank == 0:
        record.save()
    trainer.fit(module, datamodule=data, ckpt_path=resume)
    # Under ddp_spawn the record was completed in the worker processes: read it back.
    return read_results(run_dir)


def build_callbacks(
    cfg: Any,
    settings: RunSettings,
    run_dir: Path,
    source: str,
    tokenizer: Any,
    bench: Benchmark,
    record: RunRecord,
    loggers: list[Any],
    start: float,
) -> list[Any]:
    """Evaluation, final save, checkpoints (in this order: the final eval precedes the save)."""
    from unpact_exp.callbacks.checkpoints import RngState, RunCheckpoint
    from unpact_exp.callbacks.finalize import SaveUnlearned
    from unpact_exp.callbacks.preemption import SubmititPreemption

    limits = run_limits(cfg.trainer)
    checkpoint = RunCheckpoint(run_dir / "checkpoints", limits.checkpoint_every_n_steps)
    callbacks = [
        evaluation_callback(cfg, settings, source, tokenizer, bench, record, loggers),
        SaveUnlearned(run_dir, tokenizer, record, start, cfg.model.trust_remote_code),
        checkpoint,
        RngState(),
        SubmititPreemption.if_under_submitit(checkpoint),
    ]
    return [cb for cb in callbacks if cb is not None]


def evaluation_callback(
    cfg: Any,
    settings: RunSettings,
    source: str,
    tokenizer: Any,
    bench: Benchmark,
    record: RunRecord,
    loggers: list[Any],
) -> Any:
    """The evaluation callback, or None when ``callbacks.evaluation.enabled`` is off.

    Methods whose intermediate weights are not an unlearned model
    (``evaluates_during_fit = False``, e.g. ``tv``) are evaluated at the start and the end only.
    """
    from unpact_exp.callbacks.evaluation import EvaluationCallback, EvaluatorFactory
    from unpact_exp.stages.evaluator_build import build_evaluator

    schedule = evaluation_schedule(cfg)
    if not schedule.enabled:
        return None
    dtype, trust = cfg.model.dtype, cfg.model.trust_remote_code
    build = functools.partial(
        build_evaluator,
        tokenizer=tokenizer,
        benchmark=bench,
        settings=settings,
        dtype=dtype,
        trust_remote_code=trust,
    )
    during_fit = registry.get(cfg.method.name).evaluates_during_fit
    return EvaluationCallback(
        EvaluatorFactory(source, dtype, trust, build),
        schedule.every_n_steps if during_fit else 0,
        schedule.at_start,
        settings.eval.heatmap_questions,
        record,
        loggers,
        cfg.paths.output_dir,
    )


def resume_path(cfg: Any, run_dir: Path) -> str | None:
    """The checkpoint to resume from, or None for a fresh start.

    - ``ckpt_path=null`` (default): ``<run dir>/checkpoints/last.ckpt`` when it exists;
    - ``ckpt_path=last``: that same file, which must exist;
    - ``ckpt_path=FILE``: that file, which must exist.

    Raises:
        UnpactConfigError: ``ckpt_path`` names a checkpoint that does not exist.
        ModelLoadError: the checkpoint is truncated or corrupt (see ``check_checkpoint``).
    """
    from unpact_exp.callbacks.checkpoints import check_checkpoint

    last = run_dir / "checkpoints" / "last.ckpt"
    wanted = cfg.get("ckpt_path")
    if not wanted:
        if not last.exists():
            return None
        check_checkpoint(last)
        return str(last)
    path = last if str(wanted) == LAST_CKPT else Path(str(wanted)).expanduser()
    if not path.is_file():
        hint = (
            f"no checkpoint at {last}; rerun in the interrupted run's folder "
            "(hydra.run.dir=<that folder>) or drop ckpt_path to start fresh."
            if str(wanted) == LAST_CKPT
            else f"{path} does not exist."
        )
        raise UnpactConfigError(f"ckpt_path={wanted}: {hint}")
    check_checkpoint(path, wanted)
    return str(path)


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)
