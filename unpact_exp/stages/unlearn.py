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
from typing import Any

from unpact_exp.data.loaders import check_max_retain
from unpact_exp.data.prepare import get_benchmark
from unpact_exp.data.schema import Benchmark
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.methods import registry
from unpact_exp.methods.regularizers import build_regularizer, check_combination
from unpact_exp.models.loading import load_model, load_tokenizer, resolve_source, tokenizer_source
from unpact_exp.models.lora import LoraSettings, check_strategy
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.results import RunRecord, read_results, setting_name
from unpact_exp.training.sequences import Example, encode_qa, encode_texts

TRAIN_ON = ("qa", "text")
LAST_CKPT = "last"
log = logging.getLogger(__name__)


def validate(cfg: Any) -> None:
    """Config checks that need no data or model (fail in milliseconds, not minutes).

    Covers the learning rate, batch size, ``data.train_on``, the method/regularizer
    pair, the checkpoint cadence, and the analysis groups (``unpact`` alpha/beta in
    (0, 1], ``focus_on_key``, ``probab``, ``eval``) that the evaluation callback would
    otherwise only read after training had started.
    """
    from unpact_exp.metrics.lm_eval_config import LmEvalConfig
    from unpact_exp.unpact.config import (
        EvalConfig,
        FocusOnKeyConfig,
        ProbabConfig,
        UnpactConfig,
    )
    from unpact_exp.unpact.prompt_bounds import PromptLimits

    _check_number("method.lr", cfg.method.lr, minimum=0.0, strict=True)
    _check_number("method.weight_decay", cfg.method.weight_decay, minimum=0.0)
    check_run_length(cfg.trainer)
    check_evaluation_callback(cfg.callbacks.evaluation)
    if cfg.method.forget_nll_stop is not None:
        _check_number("method.forget_nll_stop", cfg.method.forget_nll_stop, minimum=0.0)
    _check_int(
        "trainer.checkpoint_every_n_steps",
        cfg.trainer.checkpoint_every_n_steps,
        0,
        " (0: after the last batch of each epoch)",
    )
    UnpactConfig.from_config(cfg.unpact)
    PromptLimits.from_config(cfg)
    FocusOnKeyConfig.from_config(cfg.focus_on_key)
    ProbabConfig.from_config(cfg.probab)
    EvalConfig.from_config(cfg.eval)
    LmEvalConfig.from_config(cfg.eval.get("lm_eval"))
    _check_int("method.batch_size", cfg.method.batch_size, 1)
    check_max_retain(cfg.data.max_retain_examples)
    if cfg.data.train_on not in TRAIN_ON:
        raise UnpactConfigError(f"data.train_on={cfg.data.train_on!r} is not one of {TRAIN_ON}.")
    method = registry.check(cfg.method)
    build_regularizer(cfg.regularizer)
    check_combination(method, cfg.regularizer.name)
    LoraSettings.from_config(cfg.peft)
    check_strategy(cfg.peft.name, cfg.trainer.strategy)
    _check_bool("trainer.gradient_checkpointing", cfg.trainer.gradient_checkpointing)


def _method_label(method_cfg: Any) -> str:
    """The method's name in the setting, with a non-uniform token weighting: ``ga@keytoken``.

    So the report keeps weighted and plain runs of the same method apart.
    """
    weighting = method_cfg.get("token_weighting")
    if weighting in (None, "uniform"):
        return str(method_cfg.name)
    return f"{method_cfg.name}@{weighting}"


def check_evaluation_callback(node: Any) -> None:
    """Type-check ``callbacks.evaluation`` (read only once training has started).

    Raises:
        UnpactConfigError: naming the key as the user typed it.
    """
    for key in ("enabled", "at_start"):
        _check_bool(f"callbacks.evaluation.{key}", node[key])
    for key in ("every_n_steps", "heatmap_questions"):
        _check_int(f"callbacks.evaluation.{key}", node[key], 0)


def check_run_length(trainer: Any) -> None:
    """Refuse non-integer step/epoch limits, and a run that can never end unless asked for.

    ``trainer.max_steps=-1 trainer.max_epochs=-1`` means no limit at all: on a cluster
    that burns the whole allocation. It runs only with ``trainer.allow_endless=true``.

    Raises:
        UnpactConfigError: naming the key as the user typed it.
    """
    for key in ("max_steps", "max_epochs"):
        _check_int(f"trainer.{key}", trainer[key], -1, " (-1: no limit of this kind)")
    endless = trainer.max_steps == -1 and trainer.max_epochs == -1
    allow = trainer.allow_endless
    _check_bool("trainer.allow_endless", allow)
    if endless and not allow:
        raise UnpactConfigError(
            "trainer.max_steps=-1 with trainer.max_epochs=-1 never ends; set one of them "
            "(e.g. trainer.max_steps=100), or pass trainer.allow_endless=true to train until "
            "stopped (SIGTERM)."
        )


def _check_int(key: str, value: Any, minimum: int, note: str = "") -> None:
    """Refuse a non-integer (``true`` included) or one below ``minimum``, naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UnpactConfigError(f"{key}={value!r} must be an integer >= {minimum}{note}.")


def _check_bool(key: str, value: Any) -> None:
    """Refuse anything but ``true``/``false``, naming ``key``."""
    if not isinstance(value, bool):
        raise UnpactConfigError(f"{key}={value!r} must be true or false.")


def _check_number(key: str, value: Any, minimum: float, strict: bool = False) -> None:
    """Refuse a non-number (``method.lr=abc``) or one below ``minimum``, naming ``key``."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise UnpactConfigError(f"{key}={value!r} must be {bound} (a number).")


def encode_split(
    tokenizer: Any, fmt: PromptFormat, bench: Benchmark, which: str, train_on: str, max_length: int
) -> list[Example]:
    """Encode the forget or retain training data as the config says (QA or raw text)."""
    if train_on == "qa":
        items = bench.forget_qa if which == "forget" else bench.retain_qa
        examples = encode_qa(tokenizer, fmt, items, max_length)
    else:
        texts = bench.forget_text if which == "forget" else bench.retain_text
        examples = encode_texts(tokenizer, texts, max_length)
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


def run_unlearning(cfg: Any, run_dir: Path, loggers: list[Any]) -> dict[str, Any]:
    """Run one unlearning job; return the final results dict (rank 0's view)."""
    import lightning.pytorch as pl
    from transformers import AutoConfig

    from unpact_exp.stages.target import ensure_target
    from unpact_exp.training.datamodule import UnlearnDataModule
    from unpact_exp.training.module import UnlearnModule
    from unpact_exp.training.trainer import build_trainer
    from unpact_exp.unpact.prompt_bounds import PromptLimits, check_benchmark_prompts

    start = time.time()
    validate(cfg)
    resume = resume_path(cfg, run_dir)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    ensure_target(cfg, run_dir)
    source = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    tokenizer = load_tokenizer(tokenizer_source(cfg.model, source), cfg.model.trust_remote_code)
    fmt = PromptFormat.from_config(cfg.model.prompt)
    check_benchmark_prompts(bench, tokenizer, fmt, PromptLimits.from_config(cfg))
    max_length = min(int(cfg.data.max_length), int(cfg.model.max_length))
    forget = encode_split(tokenizer, fmt, bench, "forget", cfg.data.train_on, max_length)
    hidden = AutoConfig.from_pretrained(source).hidden_size
    runtime = {
        "n_forget": len(forget),
        "hidden_size": hidden,
        "seed": int(cfg.seed),
        "forget_prompts": forget_prompts(tokenizer, fmt, bench, cfg.data.train_on, forget),
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
        forget, retain, int(cfg.method.batch_size), tokenizer.pad_token_id, int(cfg.seed)
    )
    loader = functools.partial(load_model, source, cfg.model.dtype, cfg.model.trust_remote_code)
    from unpact_exp.training.sharded_init import empty_model

    empty = functools.partial(empty_model, source, cfg.model.dtype, cfg.model.trust_remote_code)
    from hydra.utils import get_class

    module = UnlearnModule(
        load_model=loader,
        objective=objective,
        regularizer=regularizer,
        lr=float(cfg.method.lr),
        weight_decay=float(cfg.method.weight_decay),
        forget_nll_stop=cfg.method.forget_nll_stop,
        forget_batches_in_order=data.forget_batches_in_order,
        fsdp2=cfg.trainer.strategy == "fsdp2",
        decoder_layer_cls=get_class(cfg.model.decoder_layer_cls),
        lora=LoraSettings.from_config(cfg.peft),
        gradient_checkpointing=cfg.trainer.gradient_checkpointing,
        build_empty=empty,
    )
    fields = {
        "stage": "unlearn",
        "method": cfg.method.name,
        "regularizer": cfg.regularizer.name,
        "peft": cfg.peft.name,
        "setting": setting_name(_method_label(cfg.method), cfg.regularizer.name),
        "model": cfg.model.name,
        "data": cfg.data.name,
        "seed": cfg.seed,
        "overrides": _overrides(),
        "source": source,
        "n_forget_examples": len(forget),
        "n_retain_examples": len(retain or []),
        "error": None,
    }
    if resume is None:
        record = RunRecord(run_dir, fields)
    else:  # keep the evaluation history of the interrupted run
        record = RunRecord.resume(run_dir, {**fields, "resumed_from": resume})
        log.info("resuming from %s", resume)
    max_steps, max_epochs = objective.fit_length(
        int(cfg.trainer.max_steps), int(cfg.trainer.max_epochs)
    )
    trainer = build_trainer(
        cfg.trainer,
        cfg.model.decoder_layer_cls,
        loggers,
        build_callbacks(cfg, run_dir, source, tokenizer, fmt, bench, record, loggers, start),
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
    run_dir: Path,
    source: str,
    tokenizer: Any,
    fmt: PromptFormat,
    bench: Benchmark,
    record: RunRecord,
    loggers: list[Any],
    start: float,
) -> list[Any]:
    """Evaluation, final save, checkpoints (in this order: the final eval precedes the save)."""
    from unpact_exp.callbacks.checkpoints import RngState, RunCheckpoint
    from unpact_exp.callbacks.evaluation import build_evaluation_callback
    from unpact_exp.callbacks.finalize import SaveUnlearned
    from unpact_exp.callbacks.preemption import SubmititPreemption

    checkpoint = RunCheckpoint(run_dir / "checkpoints", int(cfg.trainer.checkpoint_every_n_steps))
    callbacks = [
        build_evaluation_callback(cfg, source, tokenizer, fmt, bench, record, loggers),
        SaveUnlearned(run_dir, tokenizer, record, start, cfg.model.trust_remote_code),
        checkpoint,
        RngState(),
        SubmititPreemption.if_under_submitit(checkpoint),
    ]
    return [cb for cb in callbacks if cb is not None]


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
