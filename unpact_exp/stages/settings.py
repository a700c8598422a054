"""The typed settings of a run, bound once at the entry point.

:func:`run_settings` binds every group the framework's own code reads (``unpact``, ``eval``,
the attacks with ``focus_on_key`` and ``probab``, the metrics, ``model.prompt``, ``peft``,
the evaluation schedule and the training keys of ``method``) with
:mod:`unpact_exp.config.binder`, so a bad value fails in milliseconds, before any data or
model is loaded, with the key as the user typed it. The stages then pass these objects down;
no module below a stage reads ``cfg.unpact`` or ``cfg.eval``. The ``model``, ``data``,
``trainer`` and ``paths`` nodes are handed to their own loaders, which read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from unpact_exp.config import checks
from unpact_exp.config.binder import bind, coerce
from unpact_exp.evaluation.config import EvalConfig
from unpact_exp.evaluation.original_cache import SUBDIR
from unpact_exp.evaluation.schedule import Schedule
from unpact_exp.models.lora import PEFT_NAMES, LoraSettings
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.unpact.config import UnpactConfig
from unpact_exp.unpact.prompt_bounds import PromptLimits, prompt_limits


@dataclass(frozen=True)
class EvaluationSchedule:
    """``callbacks.evaluation``: when the training callback evaluates.

    Attributes:
        enabled: evaluate during training at all (the end included).
        every_n_steps: evaluate when ``global_step % every_n_steps == 0`` (0: never mid-run).
        at_start: also evaluate the step-0 model (it should equal the original).
    """

    enabled: bool
    every_n_steps: int
    at_start: bool

    def __post_init__(self) -> None:
        checks.at_least("callbacks.evaluation.every_n_steps", self.every_n_steps, 0)


@dataclass(frozen=True)
class TrainingSettings:
    """The keys of ``method`` the training stage reads (the objective binds the rest).

    Attributes:
        lr: AdamW learning rate (> 0, finite).
        weight_decay: AdamW weight decay (>= 0).
        batch_size: forget (and paired retain) sequences per step, per device.
        forget_nll_stop: stop early once the forget-set NLL exceeds this (None: never).
    """

    lr: float
    weight_decay: float
    batch_size: int
    forget_nll_stop: float | None

    def __post_init__(self) -> None:
        checks.positive("method.lr", self.lr)
        checks.at_least("method.weight_decay", self.weight_decay, 0)
        checks.at_least("method.batch_size", self.batch_size, 1)
        if self.forget_nll_stop is not None:
            checks.at_least("method.forget_nll_stop", self.forget_nll_stop, 0)


@dataclass(frozen=True)
class RunLimits:
    """How long training runs (``trainer``), checked before anything is loaded.

    Attributes:
        max_steps: optimizer steps (-1: no limit of this kind).
        max_epochs: epochs (-1: no limit of this kind).
        allow_endless: let ``max_steps=-1 max_epochs=-1`` train until stopped.
        checkpoint_every_n_steps: ``last.ckpt`` cadence (0: at epoch ends).
        gradient_checkpointing: recompute activations in the backward pass.
    """

    max_steps: int
    max_epochs: int
    allow_endless: bool
    checkpoint_every_n_steps: int
    gradient_checkpointing: bool

    def __post_init__(self) -> None:
        checks.at_least("trainer.max_steps", self.max_steps, -1)
        checks.at_least("trainer.max_epochs", self.max_epochs, -1)
        checks.at_least("trainer.checkpoint_every_n_steps", self.checkpoint_every_n_steps, 0)
        if self.max_steps == -1 and self.max_epochs == -1 and not self.allow_endless:
            from unpact_exp.errors import UnpactConfigError

            raise UnpactConfigError(
                "trainer.max_steps=-1 with trainer.max_epochs=-1 never ends; set one of them "
                "(e.g. trainer.max_steps=100), or pass trainer.allow_endless=true to train until "
                "stopped (SIGTERM)."
            )


RUN_LIMIT_KEYS = tuple(RunLimits.__dataclass_fields__)


@dataclass(frozen=True)
class RunSettings:
    """Everything a stage needs from the config beside the model/data/trainer/paths nodes.

    Attributes:
        seed: the run seed.
        unpact: the ``unpact`` group.
        eval: the ``eval`` group.
        attacks: the attacks of each evaluation step (built from ``attacks``,
            ``focus_on_key`` and ``probab``).
        metrics: the metrics of each evaluation step (``metrics``).
        focus_templates: FocusOnKey's templates (``focus_on_key.templates``); their number
            is the budget PROBAB and the controls spend.
        prompt: ``model.prompt``.
        limits: the bounds every evaluated prompt is checked against.
        cache_dir: where M0's analysis is cached (None: ``eval.cache_original`` off).
    """

    seed: int
    unpact: UnpactConfig
    eval: EvalConfig
    attacks: Schedule
    metrics: Schedule
    focus_templates: tuple[str, ...]
    prompt: PromptFormat
    limits: PromptLimits
    cache_dir: Path | None

    @property
    def budget(self) -> int:
        """FocusOnKey's attempts per question."""
        return len(self.focus_templates)


def run_settings(cfg: Any) -> RunSettings:
    """Bind the groups every entry point shares (module docstring)."""
    from unpact_exp.attacks import registry as attacks
    from unpact_exp.metrics import registry as metrics

    seed = coerce("seed", cfg.get("seed"), int)
    unpact = bind(UnpactConfig, cfg.unpact, "unpact")
    eval_cfg = bind(EvalConfig, cfg.eval, "eval")
    attack_plan = attacks.build_plan(cfg)
    metric_plan = metrics.build_plan(cfg)
    max_length = coerce("model.max_length", cfg.model.max_length, int)
    checks.at_least("model.max_length", max_length, 1)
    prompt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    paths = cfg.get("paths")
    cache_dir = None
    if eval_cfg.cache_original and paths is not None:
        cache_dir = Path(str(paths.cache_dir)) / SUBDIR
    return RunSettings(
        seed=seed,
        unpact=unpact,
        eval=eval_cfg,
        attacks=attack_plan,
        metrics=metric_plan,
        focus_templates=attacks.build("focus_on_key", cfg).templates,
        prompt=prompt,
        limits=prompt_limits(unpact, eval_cfg.max_new_tokens, max_length),
        cache_dir=cache_dir,
    )


def training_settings(cfg: Any) -> TrainingSettings:
    """The training keys of ``method`` (the objective's own keys are the registry's)."""
    from unpact_exp.methods.base import TRAINING_KEYS

    node = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items()}
    keys = {k: node[k] for k in TRAINING_KEYS if k != "name" and k in node}
    return bind(TrainingSettings, keys, "method", owner=f"method={node.get('name')}")


def run_limits(trainer: Any) -> RunLimits:
    """The run-length keys of ``trainer``."""
    node = OmegaConf.to_container(trainer, resolve=True)
    return bind(RunLimits, {k: node[k] for k in RUN_LIMIT_KEYS if k in node}, "trainer")


def evaluation_schedule(cfg: Any) -> EvaluationSchedule:
    """``callbacks.evaluation``."""
    return bind(EvaluationSchedule, cfg.callbacks.evaluation, "callbacks.evaluation")


def lora_settings(peft: Any) -> LoraSettings | None:
    """``peft``: None for ``peft=none`` (full fine-tuning), else the LoRA settings."""
    name = coerce("peft.name", peft.get("name"), str)
    if name not in PEFT_NAMES:
        from unpact_exp.errors import UnpactConfigError

        raise UnpactConfigError(f"peft={name!r} is not one of {list(PEFT_NAMES)}.")
    if name == "none":
        return None
    return bind(LoraSettings, peft, "peft", ignore=("name",))
